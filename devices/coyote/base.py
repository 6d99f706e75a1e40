"""What the Coyote 3.0 and 2.0 drivers share: the link, the 100 ms stream, the host watchdog.

Both devices need a frame every 100 ms to keep output on, so the driver streams by itself on
fixed deadlines of the injected clock (no busy-waiting, no drift; a late tick resynchronises
instead of bursting). The session runner still calls :meth:`keepalive`; if neither it nor any
other command arrives within the *host watchdog* (1 s), the driver zeroes every channel and
reports :attr:`Fault.WATCHDOG`: the stream never keeps a crashed controller's output on.

Stop takes the I/O lock only to order itself after the one frame write that may be in flight;
it never waits for a tick. It returns once the device confirmed it (each family's way), else,
within ``stop_confirm_s`` (1 s at most), the driver drops the link and raises
:class:`StopUnconfirmed`. Nothing resumes by itself: after a link loss every channel is
stopped in the driver, and a new connect starts from strength 0.

Intensities are abstract levels: a requested intensity is rounded *down* to a whole level
(never more than asked), and a request above the configured level limit is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from devices.bleak_link import (
    DEFAULT_CONNECT_ATTEMPTS,
    characteristic_present,
    connect_client,
    disconnect_client,
    map_bleak_error,
)
from devices.coyote.render import RenderError
from devices.transport import BleTransport
from tens import channels as channel_numbers
from tens.clock import Clock, LoopClock
from tens.device import (
    LINK_UNPROTECTED,
    STOP_CONFIRM_MAX_S,
    Advertisement,
    Capabilities,
    ChannelOutput,
    ChannelStatus,
    DeviceDisconnected,
    DeviceError,
    DeviceInfo,
    DeviceRejected,
    DeviceStatus,
    EventFanout,
    EventSink,
    Fault,
    LinkLost,
    ProtocolViolation,
    StopUnconfirmed,
)

log = logging.getLogger(__name__)

FRAME_S = 0.1
HOST_WATCHDOG_S = 1.0
LOW_BATTERY_PERCENT = 5
CHANNELS = 2


@dataclass(frozen=True, slots=True)
class CoyoteTimeouts:
    """Every wait of the drivers is bounded by one of these (seconds)."""

    connect_s: float = 20.0
    read_s: float = 5.0
    write_s: float = 1.0
    ack_s: float = 1.0
    """Coyote 3.0: how long a strength change may wait for its B1 before we call it unsure."""
    stop_confirm_s: float = STOP_CONFIRM_MAX_S
    """A stop written and confirmed (3.0: its B1 with strength 0; 2.0: the strength read back
    as 0) within this, else the link is dropped. At most ``STOP_CONFIRM_MAX_S`` (1 s)."""

    def __post_init__(self) -> None:
        if not 0 < self.stop_confirm_s <= STOP_CONFIRM_MAX_S:
            raise ValueError(
                f"stop_confirm_s must be > 0 and at most {STOP_CONFIRM_MAX_S:g} s, "
                f"not {self.stop_confirm_s!r}"
            )


def to_level(intensity: float, ceiling: int) -> int:
    """A requested intensity as a whole level, rounded down; refused above ``ceiling``."""
    if not math.isfinite(intensity) or intensity < 0:
        raise DeviceRejected(f"intensity must be a finite level >= 0, got {intensity!r}")
    level = math.floor(intensity + 1e-6)
    if level > ceiling:
        raise DeviceRejected(f"intensity {intensity:g} is above the level limit {ceiling}")
    return level


class CoyoteDriverBase(EventFanout):
    """Shared behaviour; subclasses speak their generation's protocol."""

    driver_name = "coyote"
    model_name = "Coyote"
    capabilities_value: Capabilities
    required_uuids: tuple[tuple[str, str], ...] = ()
    level_max = 0
    battery_uuid: str
    decode_battery: Callable[[bytes], int]
    """The family's battery-level decoder (raises ``protocol_error`` on bad bytes)."""
    protocol_error: type[Exception] = ValueError
    _device_levels: list[int]
    """The strengths the device last reported (each family keeps it up to date)."""

    def __init__(
        self,
        ble_device: BLEDevice,
        transport: BleTransport,
        *,
        advertisement: Advertisement | None = None,
        level_limit: int | None = None,
        clock: Clock | None = None,
        timeouts: CoyoteTimeouts | None = None,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
    ) -> None:
        self._ble_device = ble_device
        self._transport = transport
        self._clock: Clock = clock or LoopClock()
        self._timeouts = timeouts or CoyoteTimeouts()
        self._connect_attempts = connect_attempts
        name = (advertisement.name if advertisement else None) or ble_device.name
        self._info = DeviceInfo(
            address=ble_device.address,
            name=name or ble_device.address,
            driver=self.driver_name,
            link_security=LINK_UNPROTECTED,  # no pairing in the published protocol
        )
        self._level_limit = 0 if level_limit is None else self._checked_limit(level_limit)
        self._watchdog_s = HOST_WATCHDOG_S
        self._client: BleakClient | None = None
        self._connected = False
        self._closing = False
        self._sinks: list[EventSink] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stream: asyncio.Task[None] | None = None
        self._io_lock = asyncio.Lock()
        self._outputs: list[ChannelOutput | None] = [None] * CHANNELS
        self._levels = [0] * CHANNELS
        """The level each channel should have now (0 when stopped)."""
        self._pattern_start = [0] * CHANNELS
        self._frame = 0
        self._last_command_t = 0.0
        self._battery: int | None = None
        self._stopping_after_fault = False
        self._write_modes: dict[str, bool] = {}
        self._device_max: int | None = None
        """A device-side level limit found below the family's maximum (None: none known)."""
        self._init_protocol()

    def _init_protocol(self) -> None:
        """Generation-specific state, set up once at construction."""

    # --- Device protocol: properties ------------------------------------------------------

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def capabilities(self) -> Capabilities:
        """The family's capabilities; ``intensity_max`` is lowered to a device-side limit
        found stricter than ours (Coyote 3.0's soft limit), so the governor keeps it too."""
        device_max = self._device_max
        if device_max is None or device_max >= self.capabilities_value.intensity_max:
            return self.capabilities_value
        return replace(self.capabilities_value, intensity_max=float(device_max))

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def level_limit(self) -> int:
        """The configured level limit (both channels); 0 until :meth:`set_device_limits`."""
        return self._level_limit

    @property
    def battery_percent(self) -> int | None:
        return self._battery

    def _checked_limit(self, value: float) -> int:
        if not math.isfinite(value) or value < 0:
            raise DeviceError(f"a level limit must be a finite number >= 0, got {value!r}")
        return min(self.level_max, math.floor(value + 1e-6))

    # --- events ---------------------------------------------------------------------------

    def _delivered(self, device_levels: list[int]) -> tuple[ChannelStatus, ...]:
        """What each channel carries: its strength while we stream a waveform to it, else 0."""
        return tuple(
            ChannelStatus(
                delivered=float(device_levels[ch]) if self._outputs[ch] is not None else 0.0
            )
            for ch in range(CHANNELS)
        )

    def _emit_status(
        self,
        device_levels: list[int],
        faults: frozenset[Fault] = frozenset(),
        acked_seq: int | None = None,
    ) -> None:
        battery_faults = (
            frozenset({Fault.LOW_BATTERY})
            if self._battery is not None and self._battery <= LOW_BATTERY_PERCENT
            else frozenset()
        )
        self._emit(
            DeviceStatus(
                channels=self._delivered(device_levels),
                battery_percent=self._battery,
                faults=faults | battery_faults,
                acked_seq=acked_seq,
            )
        )

    def _violation(self, detail: str) -> None:
        """Unsure of the device's state: report it and zero every channel ourselves."""
        log.error("%s: %s", self._info.name, detail)
        self._emit(ProtocolViolation(detail=detail))
        self._stop_in_background()

    def _device_silent(self, detail: str) -> None:
        """The device stopped answering: say so and drop the link now. A stop it would not
        confirm cannot help (waiting out its bound kept a hung device's output on for another
        second, campaign seed 8026); without frames a Coyote's output ends. The stop frame is
        still written first, in case the device is only slow."""
        log.error("%s: %s; dropping the link", self._info.name, detail)
        self._emit(ProtocolViolation(detail=detail))
        if self._connected and not self._stopping_after_fault:
            self._stopping_after_fault = True
            self._spawn(self._drop_after_silence(detail))

    async def _drop_after_silence(self, detail: str) -> None:
        try:
            self._clear_outputs()  # the stream sends nothing non-zero meanwhile
            client = self._client
            if client is not None and self._connected:
                with contextlib.suppress(DeviceError, TimeoutError):
                    async with asyncio.timeout(FRAME_S):  # at most the frame write in flight
                        async with self._io_lock:
                            await self._write_stop(client, tuple(range(CHANNELS)))
            await self._drop_link(f"{detail}: the device stopped answering")
        finally:
            self._stopping_after_fault = False

    def _stop_in_background(self) -> None:
        if self._connected and not self._stopping_after_fault:
            self._stopping_after_fault = True
            self._spawn(self._stop_after_fault())

    async def _stop_after_fault(self) -> None:
        try:
            await self.stop(None)
        except DeviceError as exc:
            log.error("%s: stop after a fault failed: %s", self._info.name, exc)
        finally:
            self._stopping_after_fault = False

    # --- connect / disconnect -------------------------------------------------------------

    async def connect(self) -> None:
        if self._connected:
            return
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
        self._clear_outputs()
        self._device_max = None  # read again with the limits (the person may have changed it)
        self._frame = 0
        try:
            for uuid, what in self.required_uuids:
                if not characteristic_present(client, uuid):
                    raise DeviceError(
                        f"{self._info.name} has no {self.model_name} {what} characteristic; "
                        "refusing to drive it"
                    )
            self._write_modes = {}
            await self._setup(client)
        except BaseException:
            self._closing = True
            self._connected = False
            await disconnect_client(client)
            self._client = None
            raise
        self._touch()
        self._stream = self._spawn(self._run_stream())
        self._stream.add_done_callback(self._stream_ended)

    def _stream_ended(self, task: asyncio.Task[None]) -> None:
        """The stream must run as long as the link is up; if it dies, say so (unsure)."""
        if task.cancelled() or not self._connected:
            return
        exc = task.exception()
        log.error("%s: the 100 ms stream ended: %r", self._info.name, exc)
        self._emit(ProtocolViolation(detail=f"the 100 ms frame stream stopped ({exc!r})"))

    async def _setup(self, client: BleakClient) -> None:
        """Generation-specific: subscribe, zero the strength, send limits (before any wave)."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        client = self._client
        if client is not None and self._connected:
            with contextlib.suppress(DeviceError):
                await self.stop(None)
        self._closing = True
        self._connected = False
        self._clear_outputs()
        self._cancel_tasks()
        if client is not None:
            await disconnect_client(client)
        self._client = None

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is not self._client:
            return  # a callback from an earlier link
        was_connected = self._connected
        self._connected = False
        self._clear_outputs()  # never resume by itself
        self._link_down()
        self._cancel_tasks()
        if was_connected and not self._closing:
            self._emit(LinkLost(reason=f"the link to {self._info.name} was lost"))

    def _link_down(self) -> None:
        """Generation-specific clean-up of per-link state."""

    def _clear_outputs(self) -> None:
        self._outputs = [None] * CHANNELS
        self._levels = [0] * CHANNELS

    # --- Device protocol: output ----------------------------------------------------------

    def _ensure_connected(self) -> BleakClient:
        if not self._connected or self._client is None:
            raise DeviceDisconnected(f"{self._info.name} is not connected")
        return self._client

    def _ensure_streaming(self) -> None:
        stream = self._stream
        if stream is None or stream.done():
            raise DeviceError(
                f"{self._info.name}: the 100 ms frame stream is not running; output is off"
            )

    def _check_channel(self, channel: int) -> None:
        if not 0 <= channel < CHANNELS:
            raise DeviceRejected(
                f"{self._info.name} has {channel_numbers.named(range(CHANNELS))} (A and B), "
                f"not {channel_numbers.label(channel)}"
            )

    def _touch(self) -> None:
        self._last_command_t = self._clock.monotonic()

    async def arm(self, channels: tuple[int, ...]) -> None:
        """The Coyote has no arming: check the channels and start them from level 0."""
        self._ensure_connected()
        for ch in channels:
            self._check_channel(ch)
        for ch in channels:
            if self._outputs[ch] is None:
                self._levels[ch] = 0
        self._touch()

    def _check_renderable(self, output: ChannelOutput) -> None:
        raise NotImplementedError

    async def set_output(self, channel: int, output: ChannelOutput) -> None:
        """Take a new setting; the stream sends it with the next 100 ms frame."""
        self._ensure_connected()
        self._ensure_streaming()
        self._check_channel(channel)
        level = to_level(output.intensity, self._level_limit)
        try:
            self._check_renderable(output)
        except RenderError as exc:
            raise DeviceRejected(f"{self._info.name} cannot render that: {exc}") from exc
        previous = self._outputs[channel]
        if previous is None or (
            previous.waveform,
            previous.frequency_hz,
            previous.pulse_width_us,
        ) != (output.waveform, output.frequency_hz, output.pulse_width_us):
            self._pattern_start[channel] = self._frame
        self._outputs[channel] = output
        self._levels[channel] = level
        self._touch()

    async def stop(self, channel: int | None = None) -> None:
        """Level 0 on one channel or both, written now (not at the next tick), and confirmed
        by the device within ``stop_confirm_s``; else the link is dropped (no more frames:
        output ends) and :class:`StopUnconfirmed` raised."""
        channels = tuple(range(CHANNELS)) if channel is None else (channel,)
        for ch in channels:
            self._check_channel(ch)
            self._outputs[ch] = None
            self._levels[ch] = 0
        self._touch()
        client = self._ensure_connected()
        bound = self._timeouts.stop_confirm_s
        try:
            async with asyncio.timeout(bound):
                async with self._io_lock:
                    token = await self._write_stop(client, channels)
                await self._confirm_stop(client, channels, token)
        except TimeoutError:
            failure = f"{self._info.name} did not confirm the stop within {bound:g} s"
        except DeviceError as exc:
            failure = f"the stop could not be confirmed ({exc})"
        else:
            return
        log.error("%s: %s; dropping the link", self._info.name, failure)
        await self._drop_link(failure)
        raise StopUnconfirmed(f"{failure}; link dropped so the frames (and output) stop")

    async def _write_stop(self, client: BleakClient, channels: tuple[int, ...]) -> Any:
        """Write the stop; returns what :meth:`_confirm_stop` needs to recognise its answer."""
        raise NotImplementedError

    async def _confirm_stop(
        self, client: BleakClient, channels: tuple[int, ...], token: Any
    ) -> None:
        """Return once the device shows strength 0 on ``channels``; raise DeviceError if it
        shows anything else (the caller bounds the wait)."""
        raise NotImplementedError

    async def keepalive(self) -> None:
        """The stream is the device's keepalive; this one feeds the host watchdog."""
        self._ensure_connected()
        self._ensure_streaming()
        self._touch()

    async def set_device_limits(
        self, max_level: float, max_ramp_per_s: float | None = None, watchdog_s: float | None = None
    ) -> None:
        """Our configured level limit, enforced here and (Coyote 3.0) by the device too.

        The controller calls this after every connect. ``max_ramp_per_s`` is not a device
        feature (the governor ramps); ``watchdog_s`` may shorten the host watchdog.
        """
        limit = self._checked_limit(max_level)
        if self._connected and any(out is not None for out in self._outputs):
            raise DeviceError(f"{self._info.name}: device limits are set only while output is off")
        if watchdog_s is not None and math.isfinite(watchdog_s) and watchdog_s > 0:
            self._watchdog_s = min(HOST_WATCHDOG_S, watchdog_s)
        self._level_limit = limit
        for ch in range(CHANNELS):
            self._levels[ch] = min(self._levels[ch], self._level_limit)
        if self._connected and self._client is not None:
            try:
                await self._send_limits(self._client)
            except BaseException:
                self._level_limit = 0  # unsure what the device enforces: nothing goes out
                raise

    async def _send_limits(self, client: BleakClient) -> None:
        """Generation-specific: push the limit to the device, where it has such a setting."""

    async def _pause_stream(self) -> bool:
        """Stop the 100 ms stream (no frame goes out until :meth:`_resume_stream`); returns
        whether it was running."""
        stream, self._stream = self._stream, None
        if stream is None or stream.done():
            return False
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream
        return True

    def _resume_stream(self) -> None:
        if self._connected and (self._stream is None or self._stream.done()):
            self._touch()
            self._stream = self._spawn(self._run_stream())
            self._stream.add_done_callback(self._stream_ended)

    # --- the stream -----------------------------------------------------------------------

    async def _run_stream(self) -> None:
        next_t = self._clock.monotonic()
        while self._connected:
            now = self._clock.monotonic()
            if now - self._last_command_t > self._watchdog_s and any(self._outputs):
                await self._watchdog_trip()
            client = self._client
            if client is None:
                return
            try:
                async with self._io_lock:
                    if self._connected:
                        await self._write_frame(client, self._frame)
            except DeviceError as exc:
                if not self._connected:
                    return
                self._violation(f"a 100 ms frame could not be written: {exc}")
            self._frame += 1
            next_t += FRAME_S
            now = self._clock.monotonic()
            if next_t < now - FRAME_S:
                next_t = now  # far behind (a stalled loop): resynchronise, never burst
            await self._clock.sleep(next_t - now)

    async def _watchdog_trip(self) -> None:
        log.error(
            "%s: no command from the controller for %.1f s; zeroing output",
            self._info.name,
            self._watchdog_s,
        )
        try:
            await self.stop(None)
        except DeviceError:
            return
        self._emit_status([0] * CHANNELS, faults=frozenset({Fault.WATCHDOG}))

    async def _write_frame(self, client: BleakClient, frame: int) -> None:
        raise NotImplementedError

    # --- GATT helpers ---------------------------------------------------------------------

    def _with_response(self, client: BleakClient, uuid: str) -> bool:
        """Write with response where the characteristic allows it (errors then surface),
        else without (the Coyote 3.0's 0x150A is write-without-response on real devices)."""
        mode = self._write_modes.get(uuid)
        if mode is None:
            services: Any = client.services
            char = services.get_characteristic(uuid) if services is not None else None
            properties = set(char.properties) if char is not None else set()
            if "write" in properties:
                mode = True
            elif "write-without-response" in properties:
                mode = False
            else:
                raise DeviceError(
                    f"{self._info.name}: characteristic {uuid} is not writable; "
                    "refusing to drive it"
                )
            self._write_modes[uuid] = mode
        return mode

    async def _write(self, client: BleakClient, uuid: str, data: bytes, doing: str) -> None:
        try:
            response = self._with_response(client, uuid)
            async with asyncio.timeout(self._timeouts.write_s):
                await client.write_gatt_char(uuid, data, response=response)
        except (BleakError, TimeoutError, EOFError, OSError) as exc:
            raise map_bleak_error(exc, doing) from exc

    async def _setup_battery(self, client: BleakClient) -> None:
        """Read the battery and follow its notifications; a device without a usable one
        still works (battery unknown)."""
        try:
            self._battery = self.decode_battery(
                await self._read(client, self.battery_uuid, "the battery level")
            )
            await client.start_notify(self.battery_uuid, self._on_battery)
        except (self.protocol_error, DeviceError, BleakError) as exc:
            log.warning("%s: battery unusable: %s", self._info.name, exc)

    def _on_battery(self, _char: Any, data: bytearray) -> None:
        try:
            self._battery = self.decode_battery(bytes(data))
        except self.protocol_error as exc:
            self._violation(f"malformed battery level from {self._info.name}: {exc}")
            return
        self._emit_status(self._device_levels)

    async def _read(self, client: BleakClient, uuid: str, what: str) -> bytes:
        try:
            async with asyncio.timeout(self._timeouts.read_s):
                return bytes(await client.read_gatt_char(uuid))
        except (BleakError, TimeoutError, EOFError, OSError) as exc:
            raise map_bleak_error(exc, f"reading {what}") from exc

    async def _drop_link(self, reason: str) -> None:
        """Last resort when a stop cannot be written: without frames the output stops."""
        client = self._client
        if client is None:
            return
        was_connected = self._connected
        self._closing = True
        self._connected = False
        self._clear_outputs()
        self._cancel_tasks()
        if was_connected:  # said before the await: a task of ours may be cancelled in it
            self._emit(LinkLost(reason=f"{reason}; link dropped so the frames stop"))
        await disconnect_client(client)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_tasks(self) -> None:
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
