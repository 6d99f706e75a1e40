"""The simulated OpenTENS wearable's firmware: pure Python, no bumble.

The model owns the output engine (setpoints, device-side ramp, delivered intensity), arming,
limits, the watchdog, the battery and the electrodes, and enforces the device-side rules 1–8
of docs/opentens-profile.md. It runs on the asyncio loop's clock: one runner task wakes at
the connection events it needs (a pending write, a ramp step, a status due), at the watchdog
deadline, and otherwise sleeps; with nothing armed it wakes once a second for the status.

The GATT server (``simulators.opentens.server``) feeds it control-point writes with
:meth:`OpenTensModel.write` and forwards what it emits to status and battery notifications.
Fault injection that concerns the device itself (peel-off, battery, stuck firmware, garbage
status, a refused write, a factory reset) lives here so that it can be tested without a radio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from simulators.opentens.codec import (
    ChannelReport,
    Command,
    Keepalive,
    MalformedMessage,
    SetLimits,
    SetOutput,
    Start,
    StatusReport,
    Stop,
    crc8,
    decode_command,
    encode_device_info,
    encode_status,
)
from simulators.opentens.config import SimConfig
from simulators.opentens.link import EPS, ConnectionEvents
from simulators.opentens.profile import (
    ALL_CHANNELS_MASK,
    LOW_BATTERY_CUTOFF_PERCENT,
    LOW_BATTERY_WARN_PERCENT,
    OPEN_CIRCUIT_OHM,
    AttCode,
    ChannelFlag,
    FaultBit,
)
from simulators.opentens.record import DeliveredRecord, DeliveredSample
from tens import channels as channel_numbers

log = logging.getLogger(__name__)

StatusSink = Callable[[bytes], Awaitable[None]]
BatterySink = Callable[[int], Awaitable[None]]

MALFORMED_KINDS = ("crc", "truncated", "reserved-bit", "type")


class CommandRefused(Exception):
    """The device refuses a control-point write; the GATT layer answers with ``code``."""

    def __init__(self, code: AttCode | int, message: str) -> None:
        super().__init__(f"0x{int(code):02X}: {message}")
        self.code = int(code)
        self.detail = message


class LinkDown(Exception):
    """The link went down before a write reached a connection event."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_intensity: int  # 0.1 mA
    max_ramp: int  # 0.1 mA/s
    watchdog_ms: int


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A read-only view of one channel, for tests and the CLI."""

    index: int
    armed: bool
    contact: bool
    electrode_off: bool
    impedance_ohm: int
    setpoint_ma: float
    delivered_ma: float
    pulse_width_us: int
    frequency_hz: float
    waveform: int

    @property
    def ramping(self) -> bool:
        return self.delivered_ma < self.setpoint_ma


@dataclass
class _Channel:
    index: int
    impedance_ohm: int
    armed: bool = False
    contact: bool = True
    electrode_off: bool = False
    setpoint: int = 0  # 0.1 mA
    delivered: float = 0.0  # 0.1 mA, exact (the status rounds it)
    ramp_t: float = 0.0
    pulse_width_us: int = 0
    frequency: int = 0
    waveform: int = 0

    @property
    def ramping(self) -> bool:
        return self.delivered < self.setpoint - EPS

    def reported(self) -> int:
        return int(self.delivered + 0.5 + EPS)


class OpenTensModel:
    """The device model. Use ``async with OpenTensModel(cfg) as m`` or start()/close()."""

    def __init__(self, config: SimConfig | None = None, record: DeliveredRecord | None = None):
        self.config = config or SimConfig()
        self.record = record if record is not None else DeliveredRecord()
        self._rng = random.Random(self.config.seed)
        self._events = ConnectionEvents(
            self.config.interval_ms / 1000.0,
            jitter_s=self.config.jitter_ms / 1000.0,
            loss=self.config.loss,
            rng=self._rng,
        )
        self._factory = Limits(
            self.config.intensity_max_units, self.config.ramp_max_units, self.config.watchdog_ms
        )
        self._limits = self._factory
        self._channels = [
            _Channel(k, self.config.impedance_ohm[k]) for k in range(self.config.channels)
        ]
        self._battery = float(self.config.battery_percent)
        self._battery_reported = self.battery_percent
        self._battery_t: float | None = None
        self._connected = False
        self._acked = 0
        self._watchdog_tripped = False
        self._limit_refused = False
        self._last_write_t = 0.0
        self._last_status_t = 0.0
        self._last_status_bytes: bytes | None = None
        self._dirty = False
        self._battery_dirty = False
        self._pending: list[tuple[Command | MalformedMessage, asyncio.Future[None]]] = []
        self._stuck = False
        self._watchdog_hung = False
        self._malformed: list[str] = []
        self._reject_next: int | None = None
        self._status_sinks: list[StatusSink] = []
        self._battery_sinks: list[BatterySink] = []
        self._acks_muted = False
        self._runner: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.statuses_sent = 0
        self.writes_accepted = 0
        self.asked: list[tuple[float, Command | MalformedMessage]] = []
        """Every control-point write as the device received it, timed (accepted or not):
        what the device was asked, beside the record of what it delivered."""

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            return
        now = self._now()
        self._battery_t = now
        for ch in self._channels:
            self.record.append(DeliveredSample(now, ch.index, 0.0, "power-on"))
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="opentens-model")

    async def close(self) -> None:
        if self._connected:
            self.disconnect("power-off")
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def __aenter__(self) -> OpenTensModel:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add_status_sink(self, sink: StatusSink) -> None:
        """``sink(status_bytes)`` is awaited for each status notification the device sends."""
        self._status_sinks.append(sink)

    def add_battery_sink(self, sink: BatterySink) -> None:
        """``sink(percent)`` is awaited whenever the battery level in whole percent changes."""
        self._battery_sinks.append(sink)

    # --- read-only state -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def acked_seq(self) -> int:
        return self._acked

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def stuck(self) -> bool:
        return self._stuck

    @property
    def battery_percent(self) -> int:
        return max(0, min(100, int(self._battery + 0.5)))

    @property
    def faults(self) -> FaultBit:
        bits = FaultBit(0)
        if self._watchdog_tripped:
            bits |= FaultBit.WATCHDOG
        if any(ch.electrode_off for ch in self._channels):
            bits |= FaultBit.ELECTRODE_OFF
        if self._limit_refused:
            bits |= FaultBit.LIMIT_REFUSED
        if self.battery_percent <= LOW_BATTERY_WARN_PERCENT:
            bits |= FaultBit.LOW_BATTERY
        return bits

    def channel(self, index: int) -> ChannelState:
        ch = self._channels[index]
        return ChannelState(
            index=ch.index,
            armed=ch.armed,
            contact=ch.contact,
            electrode_off=ch.electrode_off,
            impedance_ohm=ch.impedance_ohm if ch.contact else OPEN_CIRCUIT_OHM,
            setpoint_ma=ch.setpoint / 10,
            delivered_ma=round(ch.delivered / 10, 6),
            pulse_width_us=ch.pulse_width_us,
            frequency_hz=ch.frequency / 10,
            waveform=ch.waveform,
        )

    @property
    def channels(self) -> tuple[ChannelState, ...]:
        return tuple(self.channel(k) for k in range(len(self._channels)))

    def status_report(self) -> StatusReport:
        chans = []
        for ch in self._channels:
            flags = ChannelFlag(0)
            if ch.armed:
                flags |= ChannelFlag.ARMED
            if ch.contact:
                flags |= ChannelFlag.CONTACT
            if ch.ramping:
                flags |= ChannelFlag.RAMPING
            impedance = ch.impedance_ohm if ch.contact else OPEN_CIRCUIT_OHM
            chans.append(ChannelReport(ch.reported(), impedance, flags))
        return StatusReport(self._acked, self.battery_percent, int(self.faults), tuple(chans))

    def status_bytes(self) -> bytes:
        """The status characteristic's value for a read (a stuck device serves its last one)."""
        if self._stuck and self._last_status_bytes is not None:
            return self._last_status_bytes
        return encode_status(self.status_report())

    def device_info_bytes(self) -> bytes:
        return encode_device_info(self.config.device_info())

    # --- link ------------------------------------------------------------------------

    def connect(self) -> None:
        """A central connected: connection events start one interval from now."""
        now = self._now()
        self._connected = True
        self._acked = 0
        self._events.reset(now)
        self._last_status_t = now
        self._dirty = True
        self._poke()

    def disconnect(self, cause: str = "disconnect") -> None:
        """Rule 1: the link is gone; every output 0 at once, disarmed, factory limits."""
        if not self._connected:
            return
        now = self._now()
        self._integrate_battery(now)
        self._connected = False
        for ch in self._channels:
            ch.armed = False
            self._zero(ch, now, cause)
        self._limits = self._factory
        self._acked = 0
        self._limit_refused = False
        pending, self._pending = self._pending, []
        for _, fut in pending:
            if not fut.done():
                fut.set_exception(LinkDown("link went down before the write was applied"))
        self._poke()

    async def write(self, data: bytes) -> None:
        """A control-point write; returns at the connection event that applied it.

        Raises :class:`CommandRefused` (the ATT error to answer with) or :class:`LinkDown`.
        """
        if not self._connected:
            raise LinkDown("not connected")
        try:
            item: Command | MalformedMessage = decode_command(data)
        except MalformedMessage as exc:
            item = exc
        self.asked.append((self._now(), item))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._poke()
        await fut

    # --- fault injection (device side) -----------------------------------------------

    def peel_off(self, channel: int) -> None:
        """Rule 6: the electrode comes off; output 0 at once, disarmed, electrode-off bit."""
        ch = self._channels[channel]
        now = self._now()
        self._integrate_battery(now)
        ch.contact = False
        ch.armed = False
        ch.electrode_off = True
        self._zero(ch, now, "peel-off")
        self._dirty = True
        self._poke()

    def reattach(self, channel: int) -> None:
        """Contact is back; output stays 0 until a new START."""
        self._channels[channel].contact = True
        self._dirty = True
        self._poke()

    def set_impedance(self, channel: int, ohm: int) -> None:
        if not 0 < ohm < OPEN_CIRCUIT_OHM:
            raise ValueError("impedance must be 1-65534 ohm (use peel_off for no contact)")
        self._channels[channel].impedance_ohm = ohm
        self._dirty = True
        self._poke()

    def set_battery(self, percent: float) -> None:
        """Set the battery level (it may go up: a charger)."""
        if not 0 <= percent <= 100:
            raise ValueError("battery must be 0-100 %")
        now = self._now()
        self._integrate_battery(now)
        self._battery = float(percent)
        self._check_battery(now)
        self._poke()

    def drain_battery(self, to_percent: float) -> None:
        """Drain the battery down to ``to_percent`` (never raises it)."""
        self.set_battery(min(self._battery, to_percent))

    def stick(self, stuck: bool = True, *, watchdog: bool = True) -> None:
        """Freeze the firmware's application layer, or unfreeze it.

        While stuck, writes still get a successful ATT write response (the BLE stack
        answers) but are dropped: no effect, no acknowledgement, no status notification,
        ramps freeze, reads serve the last status. The watchdog, the electrode cut-off, the
        battery cut-off and the disconnect rule are hardware and keep acting — with writes
        dropped the watchdog trips after its timeout. ``watchdog=False`` hangs the watchdog
        too (non-conforming firmware: output stays on until the link drops); only the
        disconnect rule is left.
        """
        self._stuck = stuck
        was_hung, self._watchdog_hung = self._watchdog_hung, stuck and not watchdog
        if not stuck:
            now = self._now()
            if was_hung:
                self._last_write_t = now  # its watchdog starts counting again from now
            for ch in self._channels:
                ch.ramp_t = now
            self._dirty = True
        self._poke()

    @property
    def acks_muted(self) -> bool:
        return self._acks_muted

    def mute_acks(self, muted: bool = True) -> None:
        """Stuck acknowledgements: the firmware still obeys every write (output changes,
        the watchdog is fed) but sends no status notification, so no write is ever
        acknowledged; reads serve the current status. A central cannot tell whether a
        STOP was applied."""
        self._acks_muted = muted
        if not muted:
            self._dirty = True
        self._poke()

    def send_malformed(self, kind: str = "crc") -> None:
        """The next status notification is garbage of ``kind``: crc, truncated,
        reserved-bit or type; it goes out at the next connection event."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MALFORMED_KINDS)}")
        self._malformed.append(kind)
        self._dirty = True
        self._poke()

    def reject_next_write(self, code: int = AttCode.BUSY) -> None:
        """The next write is refused with ATT error ``code`` and changes nothing."""
        if not 0x80 <= code <= 0xFF:
            raise ValueError("an application or profile ATT error code (0x80-0xFF)")
        self._reject_next = code

    def reset_to_factory(self, cause: str = "reboot") -> None:
        """A reboot: output 0, disarmed, factory limits, faults and injected faults cleared.

        The battery and the electrodes are physical and keep their state.
        """
        if self._connected:
            self.disconnect(cause)
        else:
            now = self._now()
            for ch in self._channels:
                ch.armed = False
                self._zero(ch, now, cause)
        for ch in self._channels:
            ch.electrode_off = not ch.contact
        self._watchdog_tripped = False
        self._limit_refused = False
        self._limits = self._factory
        self._stuck = False
        self._watchdog_hung = False
        self._malformed.clear()
        self._reject_next = None
        self._last_status_bytes = None
        self._acks_muted = False

    # --- internals -------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _poke(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _sleep_until(self, when: float | None) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiter = fut
        handle = None
        if when is not None:
            handle = loop.call_at(when, _resolve, fut)
        try:
            await fut
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    def _set_delivered(self, ch: _Channel, value: float, t: float, cause: str) -> None:
        value = max(0.0, value)
        if abs(value - ch.delivered) <= EPS:
            ch.delivered = value
            return
        ch.delivered = value
        self._dirty = True
        self.record.append(DeliveredSample(t, ch.index, round(value / 10, 6), cause))

    def _zero(self, ch: _Channel, t: float, cause: str) -> None:
        ch.setpoint = 0
        self._set_delivered(ch, 0.0, t, cause)

    def _advance_ramp(self, ch: _Channel, t: float) -> None:
        """Move the channel's exact delivered value along its ramp up to time t, and record
        it: every change of what the electrodes carry is on the record."""
        if ch.ramping and t > ch.ramp_t:
            value = min(float(ch.setpoint), ch.delivered + self._limits.max_ramp * (t - ch.ramp_t))
            if float(ch.setpoint) - value < 1e-6:  # arrived (no float dust on the record)
                value = float(ch.setpoint)
            self._set_delivered(ch, value, t, "ramp")
        ch.ramp_t = max(ch.ramp_t, t)

    def _watchdog_deadline(self) -> float | None:
        if not self._connected or not any(ch.armed for ch in self._channels):
            return None
        if self._watchdog_hung:
            return None
        return self._last_write_t + self._limits.watchdog_ms / 1000.0

    def _trip_watchdog(self, t: float) -> None:
        """Rule 2: outputs 0, every channel disarmed, watchdog bit until the next START."""
        self._watchdog_tripped = True
        for ch in self._channels:
            ch.armed = False
            self._zero(ch, t, "watchdog")
        self._dirty = True

    def _integrate_battery(self, t: float) -> None:
        if self._battery_t is None:
            self._battery_t = t
            return
        dt = t - self._battery_t
        self._battery_t = t
        if dt <= 0:
            return
        load_ma = sum(ch.delivered for ch in self._channels) / 10
        if load_ma > 0:
            self._battery = max(
                0.0, self._battery - load_ma * dt * self.config.battery_drain_pct_per_ma_s
            )

    def _check_battery(self, t: float) -> None:
        """Rule 7: at or below the cut-off every output goes to 0."""
        if self.battery_percent <= LOW_BATTERY_CUTOFF_PERCENT:
            for ch in self._channels:
                self._zero(ch, t, "low-battery")
        if self.battery_percent != self._battery_reported:
            self._battery_reported = self.battery_percent
            self._battery_dirty = True
            self._dirty = True

    async def _run(self) -> None:
        planned: float | None = None
        while True:
            if not self._connected:
                planned = None
                await self._sleep_until(None)
                continue
            now = self._now()
            status_due = self._last_status_t + self.config.status_period_s
            want_event = bool(self._pending) or self._dirty or self._battery_dirty
            want_event = want_event or now >= status_due - EPS
            if not self._stuck and any(ch.ramping for ch in self._channels):
                want_event = True
            if want_event:
                # The event we slept for may be a little in the past (the loop woke late);
                # any other past event went by while nothing needed the link.
                not_before = now if planned is None else min(now, planned)
                event_t, lost = self._events.peek(not_before)
                wake = event_t
            else:
                event_t, lost = float("inf"), False
                wake = status_due
            deadline = self._watchdog_deadline()
            if deadline is not None:
                wake = min(wake, deadline)
            if wake > now + EPS:
                planned = event_t if want_event else None
                await self._sleep_until(wake)
                continue
            planned = None
            if deadline is not None and now >= deadline - EPS:
                self._integrate_battery(now)
                self._trip_watchdog(now)
            if event_t <= now + EPS:
                self._events.consume()
                await self._connection_event(now, lost)

    async def _connection_event(self, t: float, lost: bool) -> None:
        self._integrate_battery(t)
        if not lost:
            pending, self._pending = self._pending, []
            for item, fut in pending:
                if fut.done():
                    continue
                if self._stuck:
                    fut.set_result(None)  # the stack answers; the firmware never sees it
                    continue
                try:
                    self._apply(item, t)
                except CommandRefused as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(None)
        if not self._stuck:
            for ch in self._channels:
                if ch.ramping:
                    self._advance_ramp(ch, t)  # records the step
                else:
                    ch.ramp_t = t
        self._check_battery(t)
        if lost or self._stuck or not self._connected:
            return
        if self._acks_muted:
            self._battery_dirty = False
            self._dirty = False
            self._last_status_t = t
            return
        if self._battery_dirty:
            self._battery_dirty = False
            for bsink in list(self._battery_sinks):
                await self._deliver(bsink, self.battery_percent)
        if self._dirty or t - self._last_status_t >= self.config.status_period_s - EPS:
            await self._emit_status(t)

    async def _deliver(self, sink: Callable[[Any], Awaitable[None]], value: Any) -> None:
        try:
            await sink(value)
        except Exception:  # a sink failing (link gone) must not stop the firmware
            log.exception("simulator notification sink failed")

    async def _emit_status(self, t: float) -> None:
        self._dirty = False
        self._last_status_t = t
        data = encode_status(self.status_report())
        self._last_status_bytes = data
        if self._malformed:
            data = _corrupt(data, self._malformed.pop(0))
        self.statuses_sent += 1
        for sink in list(self._status_sinks):
            await self._deliver(sink, data)

    # --- the command rules -----------------------------------------------------------

    def _apply(self, item: Command | MalformedMessage, t: float) -> None:
        if isinstance(item, MalformedMessage):
            raise CommandRefused(item.att_code or AttCode.BAD_LENGTH, str(item))
        if self._reject_next is not None:
            code, self._reject_next = self._reject_next, None
            raise CommandRefused(code, "injected refusal")
        if isinstance(item, SetOutput):
            self._set_output(item, t)
        elif isinstance(item, Stop):
            self._stop(item, t)
        elif isinstance(item, Start):
            self._start(item, t)
        elif isinstance(item, SetLimits):
            self._set_limits(item, t)
        else:
            assert isinstance(item, Keepalive)
        # accepted
        self._acked = item.seq
        self._limit_refused = False
        self._last_write_t = t
        self._dirty = True
        self.writes_accepted += 1

    def _mask_channels(self, mask: int) -> tuple[list[_Channel], bool]:
        """Channels named by a mask, and whether it names a channel the device lacks."""
        if mask == ALL_CHANNELS_MASK:
            return list(self._channels), False
        named = [ch for ch in self._channels if mask & (1 << ch.index)]
        return named, mask >> len(self._channels) != 0

    def _low_battery(self) -> bool:
        return self.battery_percent <= LOW_BATTERY_CUTOFF_PERCENT

    def _stop(self, cmd: Stop, t: float) -> None:
        """Rule 8: named channels to 0 now, and disarmed until the next START (a SET_OUTPUT
        racing the STOP must not put output back on)."""
        named, unknown = self._mask_channels(cmd.mask)
        if unknown:
            for ch in self._channels:
                ch.armed = False
                self._zero(ch, t, "stop")
            raise CommandRefused(AttCode.BAD_CHANNEL, "STOP names a channel the device lacks")
        for ch in named:
            ch.armed = False
            self._zero(ch, t, "stop")

    def _start(self, cmd: Start, t: float) -> None:
        """Rule 3: arm from zero; clears the watchdog and electrode-off bits."""
        named, unknown = self._mask_channels(cmd.mask)
        if unknown:
            raise CommandRefused(AttCode.BAD_CHANNEL, "START names a channel the device lacks")
        if self._low_battery():
            raise CommandRefused(AttCode.LOW_BATTERY, "battery at or below the cut-off")
        off = [ch.index for ch in named if not ch.contact]
        if off:
            raise CommandRefused(
                AttCode.ELECTRODE_OFF, f"no electrode contact on {channel_numbers.named(off)}"
            )
        for ch in named:
            ch.armed = True
            ch.electrode_off = False
            self._zero(ch, t, "start")
        self._watchdog_tripped = False

    def _set_output(self, cmd: SetOutput, t: float) -> None:
        if not 0 <= cmd.channel < len(self._channels):
            raise CommandRefused(
                AttCode.BAD_CHANNEL,
                f"no {channel_numbers.named((cmd.channel,))} (wire index {cmd.channel})",
            )
        cfg = self.config
        pw_min, pw_max = cfg.pulse_width_us
        f_min, f_max = cfg.frequency_units
        if not pw_min <= cmd.pulse_width_us <= pw_max:
            raise CommandRefused(AttCode.OUT_OF_RANGE, "pulse width out of range")
        if not f_min <= cmd.frequency <= f_max:
            raise CommandRefused(AttCode.OUT_OF_RANGE, "frequency out of range")
        if cmd.waveform not in {int(w) for w in cfg.waveforms}:
            raise CommandRefused(AttCode.OUT_OF_RANGE, f"waveform {cmd.waveform} not supported")
        if cmd.intensity % cfg.intensity_step_units:
            raise CommandRefused(AttCode.OUT_OF_RANGE, "intensity is not a multiple of the step")
        if cmd.intensity > self._limits.max_intensity:
            self._limit_refused = True
            self._dirty = True
            raise CommandRefused(AttCode.OVER_LIMIT, "intensity above the max intensity")
        ch = self._channels[cmd.channel]
        if cmd.intensity > 0:
            if self._low_battery():
                raise CommandRefused(AttCode.LOW_BATTERY, "battery at or below the cut-off")
            if not ch.contact:
                raise CommandRefused(AttCode.ELECTRODE_OFF, "no electrode contact")
            if not ch.armed:
                raise CommandRefused(AttCode.NOT_ARMED, "channel not started")
        self._advance_ramp(ch, t)
        ch.setpoint = cmd.intensity
        ch.pulse_width_us = cmd.pulse_width_us
        ch.frequency = cmd.frequency
        ch.waveform = cmd.waveform
        if cmd.intensity < ch.delivered:
            self._set_delivered(ch, float(cmd.intensity), t, "set")  # rule 5: down at once

    def _set_limits(self, cmd: SetLimits, t: float) -> None:
        """Rule 4: limits may be lowered, never raised above the factory values."""
        f = self._factory
        if not 0 <= cmd.max_intensity <= f.max_intensity:
            raise CommandRefused(AttCode.OUT_OF_RANGE, "max intensity above the factory value")
        if not 0 < cmd.max_ramp <= f.max_ramp:
            raise CommandRefused(AttCode.OUT_OF_RANGE, "max ramp must be 1..factory")
        if not 0 < cmd.watchdog_ms <= f.watchdog_ms:
            raise CommandRefused(AttCode.OUT_OF_RANGE, "watchdog must be 1..factory ms")
        for ch in self._channels:
            self._advance_ramp(ch, t)
        self._limits = Limits(cmd.max_intensity, cmd.max_ramp, cmd.watchdog_ms)
        for ch in self._channels:  # a lowered max applies to what runs now, at once
            if ch.setpoint > cmd.max_intensity:
                ch.setpoint = cmd.max_intensity
            if ch.delivered > cmd.max_intensity:
                self._set_delivered(ch, float(cmd.max_intensity), t, "limits")


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _corrupt(data: bytes, kind: str) -> bytes:
    """A status the central must refuse (see the profile's malformed rules)."""
    if kind == "truncated":
        return data[:6]
    if kind == "reserved-bit":
        body = bytearray(data[:-1])
        body[3] |= 0x80
        return bytes(body) + bytes([crc8(bytes(body))])
    if kind == "type":
        body = bytearray(data[:-1])
        body[0] = 0x00
        return bytes(body) + bytes([crc8(bytes(body))])
    return data[:-1] + bytes([data[-1] ^ 0xFF])
