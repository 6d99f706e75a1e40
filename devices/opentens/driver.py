"""The OpenTENS driver: :class:`tens.device.Device` on bleak, speaking profile v2.

How it behaves (docs/opentens-profile.md is the contract, docs/drivers.md the overview):

* **connect** — through :func:`devices.bleak_link.connect_client` (bleak-retry-connector,
  retries only here, whole connect bounded). Reads the device info and refuses a device whose
  info is malformed or of an unknown profile version (:class:`DeviceError`, link closed).
  Subscribes to the status, reads one status (output must be 0 after a fresh connect; if it
  is not, a STOP for all channels goes out at once), reads and follows the Battery Service
  when present, and sends SET_LIMITS when :meth:`set_device_limits` gave device-side limits.
* **link security** (profile v2) — the status subscription needs an encrypted link and the
  control point an authenticated bond; a device refusing either with Insufficient Encryption
  (0x0F) or Insufficient Authentication (0x05) ends the connect with
  :class:`~tens.device.LinkNotSecure` ("not paired, or the device forgot us: run tens pair"),
  link closed, nothing written. The driver never pairs by itself and never retries in plaintext:
  the host encrypts with a stored bond when it connects (BlueZ, the virtual radio's backend).
* **commands** — numbered 1..255 (0 skipped), written with response; a command counts as
  done only when a status acknowledges its number (bounded wait, else
  :class:`DeviceTimeout`). An ATT error becomes :class:`DeviceRejected` naming the profile's
  code (``OVER_LIMIT (0x83): …``). A command is never retried.
* **stop** — takes no lock: it is written at once, beside whatever command is waiting for its
  ack, and returns when the device confirmed it: the status acknowledging the STOP's number
  and a status showing 0 mA on the stopped channels (:attr:`last_stop_confirmed`). If that
  does not happen within ``stop_confirm_s`` (1 s at most), or the STOP cannot
  be written, the driver drops the link, since a device zeroes every output on disconnect,
  then raises :class:`StopUnconfirmed`.
* **events** — every valid status goes to subscribers as :class:`DeviceStatus` (mA); a
  malformed one (or, when ``status_silence_s`` is set, a silent device) as
  :class:`ProtocolViolation`, and the driver writes a STOP itself; a link loss as
  :class:`LinkLost` at once (bleak's disconnected callback), after which every command raises
  :class:`DeviceDisconnected` until :meth:`connect` is called again. The driver never
  reconnects by itself and sends no keepalive by itself: the session runner calls
  :meth:`keepalive` every ``capabilities.keepalive_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from devices.bleak_link import (
    DEFAULT_CONNECT_ATTEMPTS,
    characteristic_present,
    connect_client,
    disconnect_client,
    map_bleak_error,
)
from devices.opentens.codec import (
    Command,
    Keepalive,
    ProfileInfo,
    ProtocolError,
    SetLimits,
    SetOutput,
    Start,
    StatusReport,
    Stop,
    decode_battery_level,
    decode_info,
    decode_status,
    encode_command,
    status_length,
)
from devices.opentens.profile import (
    ALL_CHANNELS_MASK,
    BATTERY_LEVEL_UUID,
    CONTROL_POINT_UUID,
    DEVICE_INFO_UUID,
    FREQUENCY_UNIT_HZ,
    INTENSITY_UNIT_MA,
    OPEN_CIRCUIT_OHM,
    STATUS_UUID,
    FaultBits,
    WaveformCode,
    WaveformSet,
    describe_att_error,
)
from devices.transport import BleTransport
from tens import channels as channel_numbers
from tens.clock import Clock, LoopClock
from tens.device import (
    LINK_ENCRYPTED_BONDED,
    LINK_UNPROTECTED,
    STOP_CONFIRM_MAX_S,
    Advertisement,
    Capabilities,
    ChannelOutput,
    ChannelStatus,
    DeviceDisconnected,
    DeviceError,
    DeviceInfo,
    DeviceStatus,
    DeviceTimeout,
    EventFanout,
    EventSink,
    Fault,
    IntensityUnit,
    LinkLost,
    ProtocolViolation,
    StopUnconfirmed,
    Waveform,
)

log = logging.getLogger(__name__)

DRIVER_NAME = "opentens"

_WAVEFORM_CODES: dict[Waveform, WaveformCode] = {
    Waveform.CONTINUOUS: WaveformCode.CONTINUOUS,
    Waveform.BURST: WaveformCode.BURST,
    Waveform.MODULATED: WaveformCode.MODULATED,
}
_WAVEFORM_BITS: dict[Waveform, WaveformSet] = {
    Waveform.CONTINUOUS: WaveformSet.CONTINUOUS,
    Waveform.BURST: WaveformSet.BURST,
    Waveform.MODULATED: WaveformSet.MODULATED,
}
_FAULTS: dict[FaultBits, Fault] = {
    FaultBits.WATCHDOG: Fault.WATCHDOG,
    FaultBits.ELECTRODE_OFF: Fault.ELECTRODE_OFF,
    FaultBits.LIMIT_REFUSED: Fault.LIMIT_REFUSED,
    FaultBits.LOW_BATTERY: Fault.LOW_BATTERY,
    FaultBits.INTERNAL: Fault.INTERNAL,
}

KEEPALIVE_FRACTION = 0.25
"""Keepalive every quarter of the device's watchdog timeout."""

STOP_CONFIRM_S = STOP_CONFIRM_MAX_S
"""Two connection intervals (up to 100 ms each) plus a margin for the host's own loop, which
a loaded 2-core machine's TUI can stall for most of a second: the profile's 1 s ceiling."""


@dataclass(frozen=True, slots=True)
class DriverTimeouts:
    """Every wait of the driver is bounded by one of these (seconds)."""

    connect_s: float = 20.0
    read_s: float = 5.0
    write_s: float = 2.0
    ack_s: float = STOP_CONFIRM_S
    """Every command's ack: a device that answers none within this is silent (unsure)."""
    stop_write_s: float = STOP_CONFIRM_S
    stop_confirm_s: float = STOP_CONFIRM_S
    """STOP written, acknowledged and a status showing 0 mA, all within this; else the link
    is dropped. Never more than ``STOP_CONFIRM_MAX_S`` (1 s)."""
    status_silence_s: float | None = None
    """No status for this long while connected -> ProtocolViolation (the profile promises one
    a second). Off (None) by default: while output is on, the keepalives' acks already prove
    the device alive every ``keepalive_interval_s`` (a missing ack is a DeviceTimeout)."""

    def __post_init__(self) -> None:
        if not 0 < self.stop_confirm_s <= STOP_CONFIRM_MAX_S:
            raise ValueError(
                f"stop_confirm_s must be > 0 and at most {STOP_CONFIRM_MAX_S:g} s, "
                f"not {self.stop_confirm_s!r}"
            )


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """Device-side limits sent with SET_LIMITS after every connect."""

    max_ma: float
    max_ramp_ma_s: float
    watchdog_s: float


def ma_to_wire(ma: float, step: int = 1) -> int:
    """mA -> 0.1 mA units, rounded *down* to the device's step (never more than asked)."""
    if not math.isfinite(ma) or ma < 0:
        raise ValueError(f"intensity must be a finite value >= 0 mA, got {ma!r}")
    raw = math.floor(ma / INTENSITY_UNIT_MA + 1e-6)
    return (raw // step) * step


def hz_to_wire(hz: float) -> int:
    if not math.isfinite(hz) or hz < 0:
        raise ValueError(f"frequency must be a finite value >= 0 Hz, got {hz!r}")
    return round(hz / FREQUENCY_UNIT_HZ)


def capabilities_from_info(info: ProfileInfo, limits: DeviceLimits | None = None) -> Capabilities:
    """The domain's capabilities of a device with this info (and these device-side limits)."""
    watchdog_s = info.watchdog_ms / 1000
    max_ma = info.intensity_max * INTENSITY_UNIT_MA
    ramp = info.ramp_max * INTENSITY_UNIT_MA
    if limits is not None:
        watchdog_s = min(watchdog_s, limits.watchdog_s)
        max_ma = min(max_ma, limits.max_ma)
        ramp = min(ramp, limits.max_ramp_ma_s)
    return Capabilities(
        channels=info.channels,
        intensity_unit=IntensityUnit.MILLIAMP,
        intensity_max=round(max_ma, 1),
        intensity_step=round(info.intensity_step * INTENSITY_UNIT_MA, 1),
        frequency_hz=(
            round(info.frequency_min * FREQUENCY_UNIT_HZ, 1),
            round(info.frequency_max * FREQUENCY_UNIT_HZ, 1),
        ),
        pulse_width_us=(info.pulse_width_min, info.pulse_width_max),
        waveforms=frozenset(w for w, bit in _WAVEFORM_BITS.items() if info.waveforms & bit),
        keepalive_interval_s=watchdog_s * KEEPALIVE_FRACTION,
        watchdog_timeout_s=watchdog_s,
        reports_battery=True,
        reports_electrodes=True,
        max_ramp_per_s=round(ramp, 1),
    )


def status_to_domain(report: StatusReport) -> DeviceStatus:
    return DeviceStatus(
        channels=tuple(
            ChannelStatus(
                delivered=round(ch.delivered * INTENSITY_UNIT_MA, 1),
                contact=ch.contact,
                impedance_ohm=None if ch.impedance_ohm == OPEN_CIRCUIT_OHM else ch.impedance_ohm,
            )
            for ch in report.channels
        ),
        battery_percent=report.battery_percent,
        faults=frozenset(fault for bit, fault in _FAULTS.items() if report.faults & bit),
        acked_seq=report.acked_seq or None,
    )


class OpenTensDriver(EventFanout):
    """An OpenTENS wearable over bleak. See the module docstring for the behaviour."""

    driver_name = DRIVER_NAME

    def __init__(
        self,
        ble_device: BLEDevice,
        transport: BleTransport,
        *,
        advertisement: Advertisement | None = None,
        timeouts: DriverTimeouts | None = None,
        clock: Clock | None = None,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
    ) -> None:
        self._ble_device = ble_device
        self._transport = transport
        self._timeouts = timeouts or DriverTimeouts()
        self._clock: Clock = clock or LoopClock()
        self._connect_attempts = connect_attempts
        name = (advertisement.name if advertisement else None) or ble_device.name
        self._info = DeviceInfo(
            address=ble_device.address, name=name or ble_device.address, driver=DRIVER_NAME
        )
        self._client: BleakClient | None = None
        self._connected = False
        self._closing = False
        self._profile: ProfileInfo | None = None
        self._capabilities: Capabilities | None = None
        self._limits: DeviceLimits | None = None
        self._sinks: list[EventSink] = []
        self._seq = 0
        self._pending: dict[int, asyncio.Future[StatusReport]] = {}
        self._status_waiters: list[
            tuple[Callable[[StatusReport], bool], asyncio.Future[StatusReport]]
        ] = []
        self._in_flight: set[asyncio.Future[None]] = set()
        """One future per control-point write in flight, failed when the link goes down: a
        write (a STOP above all) never waits out its bound on a link known to be gone."""
        self._command_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_status: StatusReport | None = None
        self._last_status_at: float | None = None
        self._battery: int | None = None
        self._violation_stop_running = False
        self.last_stop_confirmed: bool | None = None
        """After a stop: None while it waits, True once confirmed, False when no confirmation
        came in time (the link was then dropped)."""

    # --- Device protocol: properties ------------------------------------------------------

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            raise DeviceError(
                f"{self._info.name}: capabilities are read from the device at connect; "
                "connect first"
            )
        return self._capabilities

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def profile_info(self) -> ProfileInfo | None:
        """The device info as read at the last connect (wire units)."""
        return self._profile

    @property
    def last_status(self) -> StatusReport | None:
        return self._last_status

    @property
    def battery_percent(self) -> int | None:
        """The latest battery level, from the status or the Battery Service."""
        return self._battery

    @property
    def device_limits(self) -> DeviceLimits | None:
        return self._limits

    # --- events ---------------------------------------------------------------------------

    # --- connect / disconnect -------------------------------------------------------------

    async def connect(self) -> None:
        async with self._connect_lock:  # two callers racing get one link
            if self._connected:
                return
            await self._connect()

    async def _connect(self) -> None:
        self._closing = False
        client = await connect_client(
            self._transport,
            self._ble_device,
            name=self._info.name,
            disconnected_callback=self._on_disconnected,
            timeout=self._timeouts.connect_s,
            max_attempts=self._connect_attempts,
        )
        self._client = client
        self._connected = True
        self._seq = 0
        self._last_status = None
        try:
            await self._setup(client)
        except BaseException:
            self._closing = True
            self._connected = False
            self._fail_pending(DeviceDisconnected("connect did not complete"))
            await disconnect_client(client)
            self._client = None
            raise

    async def _setup(self, client: BleakClient) -> None:
        name = self._info.name
        for uuid, what in (
            (DEVICE_INFO_UUID, "device info"),
            (CONTROL_POINT_UUID, "control point"),
            (STATUS_UUID, "status"),
        ):
            if not characteristic_present(client, uuid):
                raise DeviceError(
                    f"{name} has no OpenTENS {what} characteristic; refusing to drive it"
                )
        raw_info = await self._read(client, DEVICE_INFO_UUID, "the device info")
        try:
            profile = decode_info(raw_info)
        except ProtocolError as exc:
            raise DeviceError(
                f"{name} sent a device info this driver cannot trust ({exc}); refusing to drive it"
            ) from exc
        if self._limits is not None:
            self._check_limits(profile, self._limits)
        self._profile = profile
        self._capabilities = capabilities_from_info(profile, self._limits)
        self._info = replace(self._info, firmware=profile.firmware, profile_version=profile.version)
        if profile.channels >= 3:
            self._warn_if_mtu_small(client, profile.channels)

        try:
            await client.start_notify(STATUS_UUID, self._on_status_notification)
        except BleakError as exc:
            raise map_bleak_error(exc, "subscribing to the status") from exc
        self._info = replace(self._info, link_security=_link_security(client))
        raw_status = await self._read(client, STATUS_UUID, "the status")
        try:
            first = decode_status(raw_status)
        except ProtocolError as exc:
            raise DeviceError(
                f"{name} sent a malformed status at connect ({exc}); refusing to drive it"
            ) from exc
        if len(first.channels) != profile.channels:
            raise DeviceError(
                f"{name}: the status names {len(first.channels)} channels, the device info "
                f"{profile.channels}; refusing to drive it"
            )
        if self._last_status is None:
            self._accept_status(first, emit=False)
        if any(ch.delivered for ch in first.channels):
            log.warning("%s delivers output right after connect; stopping all channels", name)
            await self._write_stop(ALL_CHANNELS_MASK)

        if characteristic_present(client, BATTERY_LEVEL_UUID):
            await self._setup_battery(client)
        if self._limits is not None:
            await self._send_limits(self._limits)
        if self._timeouts.status_silence_s is not None:
            self._spawn(self._watch_status_silence(client, self._timeouts.status_silence_s))

    def _warn_if_mtu_small(self, client: BleakClient, channels: int) -> None:
        try:
            mtu = client.mtu_size
        except Exception:  # some backends cannot tell; a short status is refused anyway
            return
        needed = status_length(channels) + 3
        if mtu < needed:
            log.warning(
                "%s: %d channels need an ATT MTU >= %d for a whole status, MTU is %d "
                "(BlueZ reports 23 whatever was negotiated); a cut status is refused",
                self._info.name,
                channels,
                needed,
                mtu,
            )

    async def _setup_battery(self, client: BleakClient) -> None:
        try:
            raw = await self._read(client, BATTERY_LEVEL_UUID, "the battery level")
            self._battery = decode_battery_level(raw)
            await client.start_notify(BATTERY_LEVEL_UUID, self._on_battery_notification)
        except (ProtocolError, DeviceError, BleakError) as exc:
            # the status carries the battery too; the Battery Service is a second source only
            log.warning("%s: Battery Service unusable: %s", self._info.name, exc)

    async def disconnect(self) -> None:
        client = self._client
        self._closing = True
        self._connected = False
        self._fail_pending(DeviceDisconnected(f"{self._info.name}: disconnected"))
        self._cancel_tasks()
        if client is not None:
            await disconnect_client(client)
        self._client = None

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is not self._client:
            return  # a callback from an earlier link
        was_connected = self._connected
        self._connected = False
        self._fail_pending(DeviceDisconnected(f"the link to {self._info.name} went down"))
        self._cancel_tasks()
        if was_connected and not self._closing:
            self._emit(LinkLost(reason=f"the link to {self._info.name} was lost"))

    async def _drop_link(self, reason: str) -> None:
        """Last resort when a STOP cannot be written: disconnecting zeroes the device."""
        client = self._client
        if client is None:
            return
        log.error(
            "%s: %s; dropping the link so the device zeroes its output", self._info.name, reason
        )
        was_connected = self._connected
        self._closing = True
        self._connected = False
        self._fail_pending(DeviceDisconnected(f"{self._info.name}: {reason}"))
        self._cancel_tasks()
        if was_connected:  # said before the await: a task of ours may be cancelled in it
            self._emit(LinkLost(reason=f"{reason}; link dropped so the device stops"))
        await disconnect_client(client)

    # --- Device protocol: output ------------------------------------------------------------

    async def set_device_limits(
        self, max_ma: float, max_ramp_ma_s: float, watchdog_s: float
    ) -> None:
        """Device-side limits (SET_LIMITS), sent now when connected and after every connect.

        They may only lower the device's factory values; a higher value is refused here.
        """
        limits = DeviceLimits(max_ma, max_ramp_ma_s, watchdog_s)
        for value, what in (
            (max_ma, "max intensity"),
            (max_ramp_ma_s, "max ramp"),
            (watchdog_s, "watchdog"),
        ):
            if not math.isfinite(value) or value <= 0:
                raise DeviceError(f"device-side {what} must be a positive number, got {value!r}")
        if self._profile is not None:
            self._check_limits(self._profile, limits)
        previous = self._limits
        self._limits = limits
        if self._connected and self._profile is not None:
            try:
                await self._send_limits(limits)
            except DeviceError:
                self._limits = previous
                raise

    def _check_limits(self, profile: ProfileInfo, limits: DeviceLimits) -> None:
        factory = (
            (limits.max_ma, profile.intensity_max * INTENSITY_UNIT_MA, "max intensity", "mA"),
            (limits.max_ramp_ma_s, profile.ramp_max * INTENSITY_UNIT_MA, "max ramp", "mA/s"),
            (limits.watchdog_s, profile.watchdog_ms / 1000, "watchdog", "s"),
        )
        for value, ceiling, what, unit in factory:
            if value > ceiling + 1e-9:
                raise DeviceError(
                    f"device-side {what} {value:g} {unit} is above the device's factory "
                    f"value {ceiling:g} {unit}; limits can only be lowered"
                )

    async def _send_limits(self, limits: DeviceLimits) -> None:
        watchdog_ms = max(1, math.floor(limits.watchdog_s * 1000))
        await self._command(
            lambda seq: SetLimits(
                seq,
                max_intensity=ma_to_wire(limits.max_ma),
                max_ramp=ma_to_wire(limits.max_ramp_ma_s),
                watchdog_ms=watchdog_ms,
            ),
            "SET_LIMITS",
        )
        assert self._profile is not None
        self._capabilities = capabilities_from_info(self._profile, limits)

    async def arm(self, channels: tuple[int, ...]) -> None:
        if not channels:
            raise DeviceError("arm needs at least one channel")
        mask = 0
        for channel in channels:
            self._check_channel(channel)
            mask |= 1 << channel
        await self._command(
            lambda seq: Start(seq, mask), f"START of {channel_numbers.named(channels)}"
        )

    async def set_output(self, channel: int, output: ChannelOutput) -> None:
        command = self._output_command(channel, output)
        await self._command(
            lambda seq: replace(command, seq=seq),
            f"SET_OUTPUT {output.intensity:g} mA on {channel_numbers.named((channel,))}",
        )

    def _output_command(self, channel: int, output: ChannelOutput) -> SetOutput:
        self._ensure_connected()
        self._check_channel(channel)
        profile = self._profile
        assert profile is not None
        try:
            intensity = ma_to_wire(output.intensity, profile.intensity_step)
            frequency = hz_to_wire(output.frequency_hz)
        except ValueError as exc:
            raise DeviceError(str(exc)) from exc
        if intensity > profile.intensity_max:
            raise DeviceError(
                f"{output.intensity:g} mA is above {self._info.name}'s absolute maximum "
                f"{profile.intensity_max * INTENSITY_UNIT_MA:g} mA; not sent"
            )
        if not profile.pulse_width_min <= output.pulse_width_us <= profile.pulse_width_max:
            raise DeviceError(
                f"pulse width {output.pulse_width_us} µs is outside the device's "
                f"{profile.pulse_width_min}–{profile.pulse_width_max} µs; not sent"
            )
        if not profile.frequency_min <= frequency <= profile.frequency_max:
            raise DeviceError(
                f"frequency {output.frequency_hz:g} Hz is outside the device's "
                f"{profile.frequency_min / 10:g}–{profile.frequency_max / 10:g} Hz; not sent"
            )
        waveform = Waveform(output.waveform)
        if not profile.waveforms & _WAVEFORM_BITS[waveform]:
            raise DeviceError(f"{self._info.name} cannot render the {waveform} waveform")
        return SetOutput(
            seq=1,
            channel=channel,
            intensity=intensity,
            pulse_width_us=output.pulse_width_us,
            frequency=frequency,
            waveform=_WAVEFORM_CODES[waveform],
        )

    async def keepalive(self) -> None:
        await self._command(Keepalive, "KEEPALIVE")

    async def stop(self, channel: int | None = None) -> None:
        """STOP now, beside any command still waiting; returns once the device confirmed it
        (its ack and a status with 0 mA there), else drops the link and raises
        :class:`StopUnconfirmed` within ``stop_confirm_s``.

        A channel the device does not have stops every channel (the safe reading).
        """
        mask = ALL_CHANNELS_MASK
        if channel is not None and self._profile is not None:
            if 0 <= channel < self._profile.channels:
                mask = 1 << channel
        await self._write_stop(mask)

    async def confirm_stopped(self, within_s: float | None = None) -> bool:
        """Whether the last stop was confirmed (``stop`` itself now waits for that)."""
        return bool(self.last_stop_confirmed)

    async def read_battery(self) -> int:
        """Read the Battery Service's level now."""
        client = self._ensure_connected()
        raw = await self._read(client, BATTERY_LEVEL_UUID, "the battery level")
        try:
            self._battery = decode_battery_level(raw)
        except ProtocolError as exc:
            raise DeviceError(f"{self._info.name} sent a bad battery level: {exc}") from exc
        return self._battery

    # --- the command path -------------------------------------------------------------------

    def _ensure_connected(self) -> BleakClient:
        if not self._connected or self._client is None:
            raise DeviceDisconnected(f"{self._info.name} is not connected")
        return self._client

    def _check_channel(self, channel: int) -> None:
        profile = self._profile
        if profile is None:
            raise DeviceDisconnected(f"{self._info.name} is not connected")
        if not 0 <= channel < profile.channels:
            raise DeviceError(
                f"{self._info.name} has {channel_numbers.span(profile.channels)}, "
                f"not {channel_numbers.label(channel)}"
            )

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1
        return self._seq

    async def _command(self, build: Callable[[int], Command], doing: str) -> StatusReport:
        """Write one command and wait for the status acknowledging it. Never retried."""
        async with self._command_lock:
            client = self._ensure_connected()
            seq = self._next_seq()
            data = encode_command(build(seq))
            ack = self._expect_ack(seq)
            try:
                await self._write(client, data, doing, self._timeouts.write_s)
                try:
                    async with asyncio.timeout(self._timeouts.ack_s):
                        return await ack
                except TimeoutError:
                    raise DeviceTimeout(
                        f"{self._info.name} did not acknowledge {doing} (sequence {seq}) "
                        f"within {self._timeouts.ack_s:g} s"
                    ) from None
            finally:
                self._forget_ack(seq, ack)

    async def _write_stop(self, mask: int) -> None:
        """STOP, then its ack and a status with 0 mA on the masked channels, all within
        ``stop_confirm_s``; otherwise drop the link (the device zeroes on disconnect) and
        raise :class:`StopUnconfirmed`."""
        client = self._ensure_connected()
        bound = self._timeouts.stop_confirm_s
        seq = self._next_seq()
        data = encode_command(Stop(seq, mask))
        ack = self._expect_ack(seq)
        self.last_stop_confirmed = None

        def zero_on_mask(report: StatusReport) -> bool:
            return all(
                ch.delivered == 0
                for k, ch in enumerate(report.channels)
                if mask == ALL_CHANNELS_MASK or mask & (1 << k)
            )

        failure: str
        try:
            async with asyncio.timeout(bound):
                await self._write(client, data, "STOP", self._timeouts.stop_write_s)
                report = await ack
                if not zero_on_mask(report):
                    await self._wait_status(zero_on_mask)
        except TimeoutError:
            failure = f"{self._info.name} did not confirm STOP (sequence {seq}) within {bound:g} s"
        except DeviceError as exc:
            failure = f"STOP could not be confirmed ({exc})"
        else:
            self.last_stop_confirmed = True
            return
        finally:
            self._forget_ack(seq, ack)
        self.last_stop_confirmed = False
        log.warning("%s: %s", self._info.name, failure)
        await self._drop_link(failure)
        raise StopUnconfirmed(f"{failure}; link dropped so the device zeroes its output")

    def _expect_ack(self, seq: int) -> asyncio.Future[StatusReport]:
        stale = self._pending.pop(seq, None)
        if stale is not None and not stale.done():
            stale.set_exception(DeviceTimeout(f"sequence {seq} was reused before its ack"))
            stale.exception()  # mark retrieved
        future: asyncio.Future[StatusReport] = asyncio.get_running_loop().create_future()
        self._pending[seq] = future
        return future

    def _forget_ack(self, seq: int, future: asyncio.Future[StatusReport]) -> None:
        if self._pending.get(seq) is future:
            del self._pending[seq]

    def _wait_status(self, predicate: Callable[[StatusReport], bool]) -> asyncio.Future[Any]:
        future: asyncio.Future[StatusReport] = asyncio.get_running_loop().create_future()
        self._status_waiters.append((predicate, future))
        return future

    async def _write(self, client: BleakClient, data: bytes, doing: str, limit_s: float) -> None:
        if not self._connected:
            raise DeviceDisconnected(f"the link to {self._info.name} is down ({doing})")
        down: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight.add(down)
        write = asyncio.ensure_future(
            client.write_gatt_char(CONTROL_POINT_UUID, data, response=True)
        )
        abandoned = False
        try:
            async with asyncio.timeout(limit_s):
                await asyncio.wait({write, down}, return_when=asyncio.FIRST_COMPLETED)
            if not write.done():
                # the link went down with the write in flight: fail now, not at the bound;
                # the write ends with the link (its outcome is read, never logged)
                abandoned = True
                raise DeviceDisconnected(f"the link to {self._info.name} went down during {doing}")
            write.result()
        except TimeoutError:
            raise DeviceTimeout(
                f"{self._info.name} did not answer the write of {doing} within {limit_s:g} s"
            ) from None
        except (BleakError, OSError, EOFError) as exc:
            if not self._connected:
                raise DeviceDisconnected(
                    f"the link to {self._info.name} went down during {doing}"
                ) from exc
            raise map_bleak_error(exc, doing, describe_att=describe_att_error) from exc
        finally:
            self._in_flight.discard(down)
            write.add_done_callback(_retrieve)  # whatever ended this call, never "never retrieved"
            if not abandoned and not write.done():
                write.cancel()

    async def _read(self, client: BleakClient, uuid: str, what: str) -> bytes:
        try:
            async with asyncio.timeout(self._timeouts.read_s):
                return bytes(await client.read_gatt_char(uuid))
        except TimeoutError:
            raise DeviceTimeout(
                f"{self._info.name} did not answer a read of {what} within "
                f"{self._timeouts.read_s:g} s"
            ) from None
        except (BleakError, OSError, EOFError) as exc:
            raise map_bleak_error(exc, f"reading {what}", describe_att=describe_att_error) from exc

    def _fail_pending(self, error: DeviceError) -> None:
        pending: list[asyncio.Future[Any]] = list(self._pending.values())
        pending += [f for _, f in self._status_waiters]
        pending += self._in_flight
        self._pending.clear()
        self._status_waiters.clear()
        self._in_flight.clear()
        for future in pending:
            if not future.done():
                future.set_exception(error)
                future.exception()  # a waiter may be gone; never log "never retrieved"

    # --- notifications ----------------------------------------------------------------------

    def _on_status_notification(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        if not self._connected:
            return
        try:
            report = decode_status(bytes(data))
        except ProtocolError as exc:
            self._violation(f"malformed status from {self._info.name}: {exc}")
            return
        profile = self._profile
        if profile is not None and len(report.channels) != profile.channels:
            self._violation(
                f"status from {self._info.name} names {len(report.channels)} channels, "
                f"the device has {profile.channels}"
            )
            return
        self._accept_status(report, emit=True)

    def _accept_status(self, report: StatusReport, *, emit: bool) -> None:
        self._last_status = report
        self._last_status_at = self._clock.monotonic()
        self._battery = report.battery_percent
        if report.acked_seq:
            future = self._pending.get(report.acked_seq)
            if future is not None and not future.done():
                future.set_result(report)
        for entry in list(self._status_waiters):
            predicate, waiter = entry
            if waiter.done():
                self._status_waiters.remove(entry)
            elif predicate(report):
                self._status_waiters.remove(entry)
                waiter.set_result(report)
        if emit:
            self._emit(status_to_domain(report))

    def _on_battery_notification(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        if not self._connected:
            return
        try:
            self._battery = decode_battery_level(bytes(data))
        except ProtocolError as exc:
            self._violation(f"malformed battery level from {self._info.name}: {exc}")

    def _violation(self, detail: str) -> None:
        """Unsure what the device does: tell subscribers and write a STOP ourselves."""
        log.error("%s", detail)
        self._emit(ProtocolViolation(detail=detail))
        if self._connected and not self._violation_stop_running:
            self._violation_stop_running = True
            self._spawn(self._stop_after_violation())

    async def _stop_after_violation(self) -> None:
        try:
            await self._write_stop(ALL_CHANNELS_MASK)
        except DeviceError as exc:
            log.error("%s: STOP after a protocol violation failed: %s", self._info.name, exc)
        finally:
            self._violation_stop_running = False

    async def _watch_status_silence(self, client: BleakClient, limit: float) -> None:
        while self._connected and self._client is client:
            last = self._last_status_at
            now = self._clock.monotonic()
            if last is not None and now - last > limit:
                self._violation(
                    f"{self._info.name} sent no status for {now - last:.1f} s "
                    f"(the profile promises one a second)"
                )
                self._last_status_at = now  # report again only after another full period
            await self._clock.sleep(min(0.5, limit / 2))

    # --- tasks ------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_tasks(self) -> None:
        current = asyncio.current_task() if _loop_running() else None
        for task in list(self._tasks):
            if task is not current:
                task.cancel()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _link_security(client: BleakClient) -> str:
    """After the status subscription, which a profile-v2 device takes only encrypted: the
    virtual radio's backend says whether the link is encrypted (False on the simulator's
    open-link development mode); BlueZ does not say, and a conforming device's acceptance
    stands for it."""
    encrypted = getattr(getattr(client, "_backend", None), "encrypted", None)
    return LINK_UNPROTECTED if encrypted is False else LINK_ENCRYPTED_BONDED


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
