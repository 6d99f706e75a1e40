"""The Coyote 3.0 device model: strength, soft limits, the 100 ms waveform engine, the wheel.

Plain Python on the asyncio loop's clock (so ``looptime`` fast-forwards it). Behaviour, as the
vendor documents it:

- B0 strength: per channel keep / add / subtract / set; a value outside 0-200 counts as 0
  (set 201 -> 0; add 201 -> no change). The result never leaves 0..soft limit.
- B0 waveform: a channel's four pairs are 4 x 25 ms = 100 ms of output; any value out of
  range drops that channel's 100 ms (a silent slot). A frame that comes while the last one
  still plays is played next (one frame waits; a newer one replaces it) -- the document does
  not say, this is the model's choice, so a sender at 10 Hz over a link whose events do not
  fall every 100 ms plays without gaps and a slower sender shows them. When frames stop,
  output stops once the last frame's 100 ms are over; the strength stays set.
- B1 (notify): the answer to every B0 with a non-zero sequence (that sequence); a strength
  change by a B0 with sequence 0 is not answered (README_V3, example No. 2); a change made on
  the device (the wheel, a lowered soft limit) is notified with sequence 0.
- BF: soft limits and balances; no reply; a soft limit outside 0-200 leaves that limit as it
  was (the other is still taken); the strength is cut to a lowered limit; kept across
  power-off (the strength is not: power-on starts at 0).
- Battery: 0-100 %, notified on change.

The delivered-output record holds, per channel, the strength (levels) while a waveform with
some non-zero intensity plays, else 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from simulators.coyote import wire3
from simulators.opentens.record import DeliveredRecord, DeliveredSample

FRAME_S = 0.1
TIE_S = 1e-6
"""A frame that arrives within this of the last one's end follows it without a gap (a tie:
both happen at the same instant; far too short to hide a sender that is late)."""
"""One B0 frame: four frequency/intensity pairs of 25 ms each."""
CHANNELS = 2
FACTORY_SOFT_LIMIT = 200
FACTORY_BALANCE = 160


@dataclass(frozen=True, slots=True)
class Received:
    """One write to 0x150A as the device took it."""

    t: float
    data: bytes
    frame: wire3.StrengthFrame | wire3.LimitFrame | None
    """None: the device ignored the write (unknown header, wrong length, powered off)."""

    @property
    def kind(self) -> str:
        if isinstance(self.frame, wire3.StrengthFrame):
            return "B0"
        if isinstance(self.frame, wire3.LimitFrame):
            return "BF"
        return "ignored"

    def plays(self, channel: int) -> bool:
        """This write carried a playable waveform for ``channel``."""
        return isinstance(self.frame, wire3.StrengthFrame) and (
            self.frame.channels[channel].wave_valid
        )


class Coyote3Model:
    """A Coyote 3.0 as its firmware behaves. ``notify_b1``/``notify_battery`` are set by the
    GATT server; the fault switches are plain attributes."""

    def __init__(self, record: DeliveredRecord | None = None, *, battery: int = 100) -> None:
        self.record = record if record is not None else DeliveredRecord()
        self.strength = [0] * CHANNELS
        self.soft_limits = [FACTORY_SOFT_LIMIT] * CHANNELS
        self.frequency_balance = [FACTORY_BALANCE] * CHANNELS
        self.intensity_balance = [0] * CHANNELS
        self.battery = battery
        self.powered = True
        self.received: list[Received] = []
        self.asked_while_hung: list[Received] = []
        self.replies: list[tuple[float, bytes]] = []
        self.notify_b1: Callable[[bytes], None] | None = None
        self.notify_battery: Callable[[bytes], None] | None = None
        # faults
        self.ignore_soft_limits = False
        """Non-conforming firmware: the wheel and B0 may go above the soft limit (up to 200)."""
        self.ignore_bf = False
        """BF writes are lost: the soft limits stay what they were."""
        self.silent = False
        """No B1 replies at all."""
        self.hung = False
        """Hung firmware (see :meth:`hang`): writes are received but not applied, no B1, and
        the last 100 ms waveform keeps playing; only a disconnect or power-off ends it."""
        self._playing: list[wire3.ChannelPart | None] = [None] * CHANNELS
        self._busy = [False] * CHANNELS
        """A slot (playing or silent) is running on the channel."""
        self._ending = [False] * CHANNELS
        """A slot just ended with no frame waiting: one arriving in the same instant follows."""
        self._waiting: list[tuple[wire3.ChannelPart | None] | None] = [None] * CHANNELS
        self._timers: list[asyncio.TimerHandle | None] = [None] * CHANNELS
        self._delivered = [0.0] * CHANNELS

    # -- time ------------------------------------------------------------------------------

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    # -- what the electrodes carry ---------------------------------------------------------

    def delivered(self, channel: int) -> float:
        return self._delivered[channel]

    def playing(self, channel: int) -> bool:
        return self._playing[channel] is not None

    def _update(self, cause: str, at: float | None = None) -> None:
        t = self.now() if at is None else at
        for ch in range(CHANNELS):
            part = self._playing[ch]
            audible = part is not None and any(i > 0 for i in part.intensities)
            value = float(self.strength[ch]) if audible and self.powered else 0.0
            if value != self._delivered[ch]:
                self._delivered[ch] = value
                self.record.append(DeliveredSample(t, ch, value, cause))

    # -- writes ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """A write to 0x150A."""
        t = self.now()
        if not self.powered:
            self.received.append(Received(t, bytes(data), None))
            return
        try:
            frame = wire3.parse(bytes(data))
        except wire3.NotAFrame:
            self.received.append(Received(t, bytes(data), None))
            return
        if self.hung:
            self.received.append(Received(t, bytes(data), None))
            self.asked_while_hung.append(Received(t, bytes(data), frame))
            return
        if isinstance(frame, wire3.LimitFrame) and self.ignore_bf:
            self.received.append(Received(t, bytes(data), None))
            return
        self.received.append(Received(t, bytes(data), frame))
        if isinstance(frame, wire3.StrengthFrame):
            self._take_b0(frame)
        else:
            self._take_bf(frame)

    def _ceiling(self, channel: int) -> int:
        if self.ignore_soft_limits:
            return wire3.MAX_STRENGTH
        return min(wire3.MAX_STRENGTH, self.soft_limits[channel])

    def _take_b0(self, frame: wire3.StrengthFrame) -> None:
        for ch, part in enumerate(frame.channels):
            value = part.value if part.value_valid else 0
            current = self.strength[ch]
            if part.mode == wire3.SET:
                wanted = value
            elif part.mode == wire3.ADD:
                wanted = current + value
            elif part.mode == wire3.SUBTRACT:
                wanted = current - value
            else:
                wanted = current
            self.strength[ch] = max(0, min(wanted, self._ceiling(ch)))
        for ch, part in enumerate(frame.channels):
            self._offer(ch, part if part.wave_valid else None)
        self._update("frame")
        if frame.seq:
            self._reply(frame.seq)

    def _take_bf(self, frame: wire3.LimitFrame) -> None:
        before = list(self.strength)
        self.soft_limits = [
            new if new <= wire3.MAX_STRENGTH else old
            for new, old in zip(frame.soft_limits, self.soft_limits, strict=True)
        ]
        self.frequency_balance = list(frame.frequency_balance)
        self.intensity_balance = list(frame.intensity_balance)
        for ch in range(CHANNELS):
            self.strength[ch] = min(self.strength[ch], self._ceiling(ch))
        self._update("limits")
        if self.strength != before:
            self._reply(0)

    def _offer(self, channel: int, part: wire3.ChannelPart | None) -> None:
        """A frame's 100 ms for ``channel`` (None: dropped, a silent slot)."""
        if self._ending[channel]:  # the last frame just ended: this one follows at once
            self._ending[channel] = False
            timer = self._timers[channel]
            if timer is not None:
                timer.cancel()
            self._timers[channel] = None
            self._busy[channel] = False
        if self._busy[channel]:
            self._waiting[channel] = (part,)
        else:
            self._start_slot(channel, part)

    def _start_slot(self, channel: int, part: wire3.ChannelPart | None) -> None:
        loop = asyncio.get_running_loop()
        self._busy[channel] = True
        self._playing[channel] = part
        self._timers[channel] = loop.call_at(loop.time() + FRAME_S, self._slot_over, channel)

    def _stop_slots(self, channel: int) -> None:
        timer = self._timers[channel]
        if timer is not None:
            timer.cancel()
        self._timers[channel] = None
        self._busy[channel] = False
        self._ending[channel] = False
        self._waiting[channel] = None
        self._playing[channel] = None

    def _slot_over(self, channel: int) -> None:
        self._timers[channel] = None
        if self.hung:
            return  # the waveform engine is frozen: the last frame keeps playing
        if self._waiting[channel] is None:
            # a frame arriving at this very instant (a tie on the connection-event grid)
            # follows without a gap: without this, whichever callback ran first decided, and
            # a zero-length 0 went on the record before the frame (campaign seed 8067)
            loop = asyncio.get_running_loop()
            self._ending[channel] = True
            self._timers[channel] = loop.call_at(loop.time() + TIE_S, self._slot_end, channel)
            return
        self._slot_end(channel)

    def _slot_end(self, channel: int) -> None:
        self._timers[channel] = None
        self._ending[channel] = False
        if self.hung:
            return
        self._busy[channel] = False
        waiting, self._waiting[channel] = self._waiting[channel], None
        if waiting is not None:
            self._start_slot(channel, waiting[0])
            self._update("frame")
        else:
            self._playing[channel] = None
            # it ended when the frame's 100 ms did, not at the end of the tie window
            self._update("frames stopped", at=self.now() - TIE_S)

    def _reply(self, seq: int) -> None:
        if self.silent:
            return
        data = wire3.reply(seq, self.strength[0], self.strength[1])
        self.replies.append((self.now(), data))
        if self.notify_b1 is not None:
            self.notify_b1(data)

    # -- the person at the device ----------------------------------------------------------

    def turn_wheel(self, channel: int, delta: int) -> int:
        """Turn channel ``channel``'s wheel by ``delta`` levels; returns the new strength."""
        if not self.powered:
            return 0
        new = max(0, min(self.strength[channel] + delta, self._ceiling(channel)))
        if new != self.strength[channel]:
            self.strength[channel] = new
            self._update("wheel")
            self._reply(0)
        return new

    def set_battery(self, percent: int) -> None:
        self.battery = max(0, min(100, percent))
        if self.notify_battery is not None:
            self.notify_battery(bytes([self.battery]))

    def power_off(self) -> None:
        """Switch off: output and strength to 0; soft limits and balances are kept."""
        for ch in range(CHANNELS):
            self._stop_slots(ch)
        self.strength = [0] * CHANNELS
        self.powered = False
        self._update("power-off")

    def power_on(self) -> None:
        self.powered = True

    def link_lost(self) -> None:
        """The central went away. Nothing changes at once: frames simply stop coming
        (hung firmware: the output stage is cut, see :meth:`hang`)."""
        if self.hung:
            self._cut_output("disconnect")

    def hang(self, hung: bool = True) -> None:
        """Fault: the firmware hangs (or recovers). While hung, writes reach the device
        (``received`` lists them as ignored, ``asked_while_hung`` as decoded) but change
        nothing, no B1 goes out, and the waveform playing now keeps playing with its
        strength. Non-conforming on purpose: only a disconnect (or power-off) zeroes the
        output, so a controller must drop the link when the device stops answering."""
        self.hung = hung
        if not hung:
            # the frozen engine resumes: the frame playing plays its 100 ms from now, so the
            # next frame the central streams follows it without a gap (ending it at once
            # put a 0 on the record, and the next frame a jump back up, that no device has)
            loop = asyncio.get_running_loop()
            for ch in range(CHANNELS):
                if self._busy[ch] and self._timers[ch] is None:
                    self._timers[ch] = loop.call_at(loop.time() + FRAME_S, self._slot_over, ch)

    def _cut_output(self, cause: str) -> None:
        for ch in range(CHANNELS):
            self._stop_slots(ch)
        self._update(cause)
