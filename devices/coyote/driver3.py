"""The DG-LAB Coyote 3.0 driver: :class:`tens.device.Device` on bleak (see :mod:`.base`).

* **connect** — through :mod:`devices.bleak_link` (bounded, retried only at connect). Checks
  the characteristics, subscribes to B1 (0x150B) and the battery, then, before any waveform:
  a B0 that sets **absolute strength 0** on both channels with both waveforms dropped, and
  waits for its B1 (else the connect fails: we do not drive a device we are unsure of). No BF
  until a level limit is known (until then the driver refuses every level above 0).
* **limits** — :meth:`set_device_limits` (the controller calls it after every connect; a
  reconnect with a known limit does it at connect): strength-only B0 frames (no waveform
  plays) read the device's own soft limit up to ours, **BF** gets the lower of the two, one
  level above it must read back at most the limit (else :class:`DeviceError`: not in force),
  then strength 0 again, confirmed. A stricter device limit lowers ``capabilities``.
* **stream** — a B0 every 100 ms (also the device's keepalive). A strength change goes out
  as an absolute set with a sequence number 1-15; the next change waits until the B1 with
  that number arrives (the waveform keeps streaming meanwhile). A B1 that does not come
  within ``ack_s`` is a :class:`ProtocolViolation`: the device stopped answering, so the
  link is dropped at once (without frames the output ends).
* **liveness** — while the strength holds no B1 is asked, so a hung device would go
  unnoticed with its output latched: every :data:`PROBE_EVERY_S` without a B1 the driver
  asks one with a relative +0 on both channels (a sequence number, nothing changed; being
  relative it can never undo a turn of the wheel). No B1 within ``ack_s`` of the last one is
  a :class:`ProtocolViolation` and the link is dropped at once (the stop frame written
  first): a device that stopped answering would not confirm a stop either.
* **stop** — a B0 with absolute 0 and the waveform dropped on the stopped channels, written
  at once (after at most the one frame write in flight), with its own sequence number;
  confirmed by the B1 answering it with strength 0 there, else the link is dropped.
* **wheel** — a B1 with sequence 0 is a strength change made on the device. The driver takes
  it as the channel's strength (it never turns the wheel back up or down by itself) and
  reports it as a :class:`DeviceStatus`; the controller compares it with the session's
  setpoint. Above the configured level limit (a device ignoring its soft limit) it reports
  :attr:`Fault.WHEEL_OVER_LIMIT` and zeroes both channels at once.
* **capabilities** — 2 channels, levels 0-200, 1-100 Hz (the waveform "frequency" is a pulse
  period of 10-1000 ms), every waveform. **Pulse width is not part of the protocol**: the
  device chooses its own; the range declared (1-1000 µs) means "any, not sent".
"""

from __future__ import annotations

import asyncio
import logging

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from devices.bleak_link import characteristic_present, map_bleak_error
from devices.coyote import render, v3codec
from devices.coyote.base import CHANNELS, CoyoteDriverBase
from devices.coyote.v3codec import B0Frame, BFFrame, CoyoteProtocolError, StrengthMode
from tens.device import (
    Capabilities,
    ChannelOutput,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    Fault,
    IntensityUnit,
    Waveform,
)

log = logging.getLogger(__name__)

DRIVER_NAME = "coyote3"
PULSE_WIDTH_NOT_SENT_US = (1, 1000)
"""B0 has no pulse-width field: any requested pulse width is accepted and not sent."""

CAPABILITIES = Capabilities(
    channels=CHANNELS,
    intensity_unit=IntensityUnit.LEVEL,
    intensity_max=float(v3codec.STRENGTH_MAX),
    intensity_step=1.0,
    frequency_hz=render.FREQUENCY_HZ,
    pulse_width_us=PULSE_WIDTH_NOT_SENT_US,
    waveforms=frozenset(Waveform),
    keepalive_interval_s=0.1,
    watchdog_timeout_s=1.0,
    reports_battery=True,
    reports_electrodes=False,
    max_ramp_per_s=None,
)

PROBE_EVERY_S = 0.25
"""How long the driver goes without a B1 before it asks one (a relative +0)."""

DEFAULT_FREQUENCY_BALANCE = 160
DEFAULT_INTENSITY_BALANCE = 0


class Coyote3Driver(CoyoteDriverBase):
    driver_name = DRIVER_NAME
    model_name = "Coyote 3.0"
    capabilities_value = CAPABILITIES
    level_max = v3codec.STRENGTH_MAX
    battery_uuid = v3codec.BATTERY_UUID
    decode_battery = staticmethod(v3codec.decode_battery)
    protocol_error = CoyoteProtocolError
    required_uuids = (
        (v3codec.WRITE_UUID, "write (0x150A)"),
        (v3codec.NOTIFY_UUID, "notify (0x150B)"),
    )

    def _init_protocol(self) -> None:
        self._seq = 0
        self._pending: int | None = None
        self._pending_since = 0.0
        self._last_reply_t = 0.0
        """When the last B1 arrived (liveness: no B1 within ``ack_s`` of it is a fault)."""
        self._ack_waiters: dict[int, asyncio.Future[v3codec.B1Reply]] = {}
        self._device_levels: list[int] = [0] * CHANNELS
        """The strengths the device last reported (B1)."""
        self.balances = (
            DEFAULT_FREQUENCY_BALANCE,
            DEFAULT_FREQUENCY_BALANCE,
            DEFAULT_INTENSITY_BALANCE,
            DEFAULT_INTENSITY_BALANCE,
        )
        """BF balances: frequency A, B, intensity A, B (0-255)."""

    @property
    def device_levels(self) -> tuple[int, ...]:
        """The channel strengths the device last reported."""
        return tuple(self._device_levels)

    # --- connect ----------------------------------------------------------------------------

    async def _setup(self, client: BleakClient) -> None:
        self._pending = None
        self._seq = 0
        self._last_reply_t = self._clock.monotonic()
        try:
            await client.start_notify(v3codec.NOTIFY_UUID, self._on_notify)
        except BleakError as exc:
            raise map_bleak_error(exc, "subscribing to B1 replies") from exc
        if characteristic_present(client, v3codec.BATTERY_UUID):
            await self._setup_battery(client)
        # absolute strength 0, no waveform, confirmed by its B1; then BF: before any waveform
        seq = self._next_seq()
        zero = B0Frame(
            seq, StrengthMode.SET, StrengthMode.SET, 0, 0, v3codec.DROPPED, v3codec.DROPPED
        )
        reply = await self._write_and_wait(client, zero, "setting strength 0 at connect")
        if (reply.strength_a, reply.strength_b) != (0, 0):
            raise DeviceError(
                f"{self._info.name} reports strength {reply.strength_a}/{reply.strength_b} "
                "after being set to 0; refusing to drive it"
            )
        if self._level_limit > 0:
            await self._send_limits(client)
        # else: no BF until set_device_limits (the driver refuses every level above 0 until
        # then); a BF of 0 here would erase the device's own soft limit before we read it

    async def _write_and_wait(
        self, client: BleakClient, frame: B0Frame, doing: str
    ) -> v3codec.B1Reply:
        future: asyncio.Future[v3codec.B1Reply] = asyncio.get_running_loop().create_future()
        self._ack_waiters[frame.seq] = future
        try:
            await self._write(client, v3codec.WRITE_UUID, v3codec.encode_b0(frame), doing)
            async with asyncio.timeout(self._timeouts.ack_s):
                return await future
        except TimeoutError as exc:
            raise DeviceTimeout(
                f"{self._info.name} did not answer {doing} (no B1 within "
                f"{self._timeouts.ack_s:g} s)"
            ) from exc
        finally:
            self._ack_waiters.pop(frame.seq, None)

    async def _send_limits(self, client: BleakClient) -> None:
        """BF with the lower of our level limit and the device's own soft limit, confirmed in
        force; the stream is paused meanwhile (no waveform can play).

        BF has no reply and cannot be read, so the driver asks with strength-only B0 frames
        (both waveforms dropped: nothing plays): strength = our limit reads back the device's
        soft limit up to ours; after BF, one level above the new limit must read back at most
        the limit (else the device did not take it: refused). Strength 0 again, confirmed by
        its B1, before the stream resumes.
        """
        resume = await self._pause_stream()
        try:
            await self._probe_and_set_limits(client)
        finally:
            if resume:
                self._resume_stream()

    async def _set_strength(self, client: BleakClient, a: int, b: int, doing: str) -> list[int]:
        """Absolute strength a/b with both waveforms dropped; the strengths its B1 reports."""
        frame = B0Frame(
            self._next_seq(),
            StrengthMode.SET,
            StrengthMode.SET,
            a,
            b,
            v3codec.DROPPED,
            v3codec.DROPPED,
        )
        reply = await self._write_and_wait(client, frame, doing)
        return [reply.strength_a, reply.strength_b]

    async def _probe_and_set_limits(self, client: BleakClient) -> None:
        ours = self._level_limit
        name = self._info.name
        try:
            found = await self._set_strength(
                client, ours, ours, "reading the device's soft limit (strength only)"
            )
            limits = [min(ours, lv) for lv in found]
            fa, fb, ia, ib = self.balances
            bf = BFFrame(limits[0], limits[1], fa, fb, ia, ib)
            await self._write(
                client, v3codec.WRITE_UUID, v3codec.encode_bf(bf), "sending BF limits"
            )
            ask = [min(v3codec.STRENGTH_MAX, lv + 1) for lv in limits]
            got = await self._set_strength(
                client, ask[0], ask[1], "confirming the soft limit (strength only)"
            )
            if any(g > lv for g, lv in zip(got, limits, strict=True)):
                raise DeviceError(
                    f"{name} did not take its soft limit {limits[0]}/{limits[1]} (BF): asked "
                    f"for {ask[0]}/{ask[1]} without a waveform, it set {got[0]}/{got[1]}"
                )
        finally:
            zero = await self._set_strength(client, 0, 0, "setting strength 0")
            if zero != [0, 0]:
                raise DeviceError(
                    f"{name} reports strength {zero[0]}/{zero[1]} after being set to 0"
                )
        device_max = min(limits)
        if device_max < ours:
            log.warning(
                "%s: the device's own soft limit %s is below the configured %d; kept",
                name,
                found,
                ours,
            )
        self._device_max = device_max if device_max < ours else None
        self._level_limit = min(ours, device_max)

    def _link_down(self) -> None:
        self._pending = None
        for future in self._ack_waiters.values():
            if not future.done():  # an error, not a cancel: a waiting stop must not look
                future.set_exception(DeviceDisconnected(f"{self._info.name}: link down"))
                future.exception()  # the waiter may be gone
        self._ack_waiters.clear()

    # --- frames -----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = self._seq % v3codec.SEQ_MAX + 1
        return self._seq

    def _check_renderable(self, output: ChannelOutput) -> None:
        render.check_renderable_v3(output)

    def _wave(self, channel: int, frame: int) -> v3codec.WaveSlots:
        output = self._outputs[channel]
        if output is None or self._levels[channel] <= 0:
            return v3codec.DROPPED
        return render.v3_wave(output, frame - self._pattern_start[channel])

    async def _write_frame(self, client: BleakClient, frame: int) -> None:
        now = self._clock.monotonic()
        if self._pending is not None and now - self._pending_since > self._timeouts.ack_s:
            seq, self._pending = self._pending, None
            self._device_silent(
                f"no B1 answer to strength change #{seq} within {self._timeouts.ack_s:g} s"
            )
            return
        seq = 0
        modes = [StrengthMode.KEEP, StrengthMode.KEEP]
        values = [0, 0]
        if self._pending is None:
            for ch in range(CHANNELS):
                if self._levels[ch] != self._device_levels[ch]:
                    modes[ch] = StrengthMode.SET
                    values[ch] = self._levels[ch]
            if StrengthMode.SET in modes:
                seq = self._next_seq()
                self._pending = seq
                self._pending_since = now
            elif now - self._last_reply_t >= PROBE_EVERY_S:
                # liveness: ask a B1 without changing anything; counted from the last B1
                modes = [StrengthMode.ADD, StrengthMode.ADD]
                seq = self._next_seq()
                self._pending = seq
                self._pending_since = self._last_reply_t
        b0 = B0Frame(
            seq,
            modes[0],
            modes[1],
            values[0],
            values[1],
            self._wave(0, frame),
            self._wave(1, frame),
        )
        await self._write(client, v3codec.WRITE_UUID, v3codec.encode_b0(b0), "writing B0")

    async def _write_stop(
        self, client: BleakClient, channels: tuple[int, ...]
    ) -> tuple[int, asyncio.Future[v3codec.B1Reply]]:
        modes = [StrengthMode.KEEP, StrengthMode.KEEP]
        waves = [self._wave(0, self._frame), self._wave(1, self._frame)]
        for ch in channels:
            modes[ch] = StrengthMode.SET
            waves[ch] = v3codec.DROPPED
        seq = self._next_seq()
        self._pending = seq  # the stop's own B1 is the one to wait for now
        self._pending_since = self._clock.monotonic()
        future: asyncio.Future[v3codec.B1Reply] = asyncio.get_running_loop().create_future()
        self._ack_waiters[seq] = future
        b0 = B0Frame(seq, modes[0], modes[1], 0, 0, waves[0], waves[1])
        try:
            await self._write(client, v3codec.WRITE_UUID, v3codec.encode_b0(b0), "writing stop")
        except BaseException:
            self._ack_waiters.pop(seq, None)
            raise
        return seq, future

    async def _confirm_stop(
        self,
        client: BleakClient,
        channels: tuple[int, ...],
        token: tuple[int, asyncio.Future[v3codec.B1Reply]],
    ) -> None:
        """Confirmed: the B1 answering the stop's sequence shows strength 0 there."""
        seq, future = token
        try:
            reply = await future
        finally:
            self._ack_waiters.pop(seq, None)
        levels = (reply.strength_a, reply.strength_b)
        if any(levels[ch] for ch in channels):
            raise DeviceError(
                f"{self._info.name} reports strength {levels[0]}/{levels[1]} after the stop"
            )

    # --- notifications ----------------------------------------------------------------------

    def _on_notify(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            reply = v3codec.decode_b1(bytes(data))
        except CoyoteProtocolError as exc:
            self._violation(f"malformed B1 from {self._info.name}: {exc}")
            return
        self._device_levels = [reply.strength_a, reply.strength_b]
        self._last_reply_t = self._clock.monotonic()
        waiter = self._ack_waiters.get(reply.seq) if reply.seq else None
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
        if reply.seq and reply.seq == self._pending:
            self._pending = None
        faults: frozenset[Fault] = frozenset()
        if reply.from_wheel:
            over = [ch for ch in range(CHANNELS) if self._device_levels[ch] > self._level_limit]
            if over:
                faults = frozenset({Fault.WHEEL_OVER_LIMIT})
                log.error(
                    "%s: strength %s set on the device is above the level limit %d",
                    self._info.name,
                    self._device_levels,
                    self._level_limit,
                )
            # take the device's strength as ours: never turn a person's change back by itself
            self._levels = [min(lv, self._level_limit) for lv in self._device_levels]
            if over:
                self._emit_status(self._device_levels, faults=faults)
                self._stop_in_background()
                return
        self._emit_status(self._device_levels, faults=faults, acked_seq=reply.seq or None)
