"""The Coyote 2.0 device model: strength per channel (0-2047) and 100 ms waveform values.

Plain Python on the asyncio loop's clock. Behaviour, as the vendor documents it:

- strength (0x1504): written as one 3-byte value for both channels, notified on change; a
  write with reserved bits set or of the wrong length is ignored;
- waveform (0x1506 = A, 0x1505 = B): each write is 0.1 s of output; one that comes while the
  last still plays is played next (one waits, a newer one replaces it: the model's choice, as
  for the 3.0); when writes stop, output stops 0.1 s after the last began, but the strength
  stays set;
- battery (0x1500): 0-100 %, notified on change.

The delivered-output record holds, per channel, the strength (levels) while a waveform that
emits pulses (X > 0 and Z > 0) plays, else 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from simulators.coyote import wire2
from simulators.opentens.record import DeliveredRecord, DeliveredSample

FRAME_S = 0.1
CHANNELS = 2


@dataclass(frozen=True, slots=True)
class Received2:
    t: float
    what: str
    """"strength", "wave A", "wave B"."""
    data: bytes
    accepted: bool


class Coyote2Model:
    def __init__(self, record: DeliveredRecord | None = None, *, battery: int = 100) -> None:
        self.record = record if record is not None else DeliveredRecord()
        self.strength = [0] * CHANNELS
        self.battery = battery
        self.powered = True
        self.received: list[Received2] = []
        self.notify_strength: Callable[[bytes], None] | None = None
        self.notify_battery: Callable[[bytes], None] | None = None
        self.hung = False
        """Firmware hung: writes are answered at the GATT level but not applied, and nothing
        is notified (reads serve what it last held)."""
        self._playing: list[wire2.WaveValue | None] = [None] * CHANNELS
        self._timers: list[asyncio.TimerHandle | None] = [None] * CHANNELS
        self._waiting: list[wire2.WaveValue | None] = [None] * CHANNELS
        self._delivered = [0.0] * CHANNELS

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def delivered(self, channel: int) -> float:
        return self._delivered[channel]

    def wave(self, channel: int) -> wire2.WaveValue | None:
        return self._playing[channel]

    def strength_bytes(self) -> bytes:
        return wire2.write_strength(self.strength[0], self.strength[1])

    def _update(self, cause: str) -> None:
        t = self.now()
        for ch in range(CHANNELS):
            wave = self._playing[ch]
            on = wave is not None and wave.emits and self.powered
            value = float(self.strength[ch]) if on else 0.0
            if value != self._delivered[ch]:
                self._delivered[ch] = value
                self.record.append(DeliveredSample(t, ch, value, cause))

    def write_strength(self, data: bytes) -> None:
        t = self.now()
        try:
            a, b = wire2.read_strength(bytes(data))
        except wire2.NotAValue:
            self.received.append(Received2(t, "strength", bytes(data), False))
            return
        accepted = self.powered and not self.hung
        self.received.append(Received2(t, "strength", bytes(data), accepted))
        if accepted:
            self._set_strength([a, b], "strength")

    def _set_strength(self, values: list[int], cause: str) -> None:
        changed = values != self.strength
        self.strength = values
        self._update(cause)
        if changed and self.notify_strength is not None:
            self.notify_strength(self.strength_bytes())

    def write_wave(self, channel: int, data: bytes) -> None:
        t = self.now()
        label = "wave " + "AB"[channel]
        try:
            wave = wire2.read_wave(bytes(data))
        except wire2.NotAValue:
            self.received.append(Received2(t, label, bytes(data), False))
            return
        self.received.append(Received2(t, label, bytes(data), self.powered and not self.hung))
        if not self.powered or self.hung:
            return
        if self._timers[channel] is not None:
            self._waiting[channel] = wave  # played when the current 0.1 s is over
            return
        self._start_wave(channel, wave)
        self._update("wave")

    def _start_wave(self, channel: int, wave: wire2.WaveValue) -> None:
        self._playing[channel] = wave
        loop = asyncio.get_running_loop()
        self._timers[channel] = loop.call_at(loop.time() + FRAME_S, self._wave_over, channel)

    def _wave_over(self, channel: int) -> None:
        self._timers[channel] = None
        waiting, self._waiting[channel] = self._waiting[channel], None
        if waiting is not None:
            self._start_wave(channel, waiting)
            self._update("wave")
            return
        self._playing[channel] = None
        self._update("waves stopped")

    def change_strength_on_device(self, a: int, b: int) -> None:
        """Strength changed by something other than this central (another app, a fault)."""
        self._set_strength([max(0, min(a, 2047)), max(0, min(b, 2047))], "device")

    def set_battery(self, percent: int) -> None:
        self.battery = max(0, min(100, percent))
        if self.notify_battery is not None:
            self.notify_battery(bytes([self.battery]))

    def power_off(self) -> None:
        for ch in range(CHANNELS):
            timer = self._timers[ch]
            if timer is not None:
                timer.cancel()
            self._timers[ch] = None
            self._waiting[ch] = None
            self._playing[ch] = None
        self.strength = [0] * CHANNELS
        self.powered = False
        self._update("power-off")

    def power_on(self) -> None:
        self.powered = True

    def link_lost(self) -> None:
        """The central went away: waveform writes stop, output ends after their 0.1 s."""
