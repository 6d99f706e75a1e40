"""The domain's device interface: capabilities as data, output commands, device events.

Drivers in ``devices/`` implement :class:`Device`; the session runner is the only caller of
its output methods, and only with setpoints that the safety governor allowed. Nothing here
imports bleak: drivers translate their transport's errors into :class:`DeviceError`.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class IntensityUnit(enum.StrEnum):
    """How a device expresses intensity: calibrated milliamperes, or the vendor's levels."""

    MILLIAMP = "mA"
    LEVEL = "level"


class Waveform(enum.StrEnum):
    """Waveforms a program may ask for; a device declares the ones it can render."""

    CONTINUOUS = "continuous"
    BURST = "burst"
    MODULATED = "modulated"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a device can do. The governor, the faces and the CLI read ranges from here only."""

    channels: int
    intensity_unit: IntensityUnit
    intensity_max: float
    intensity_step: float
    frequency_hz: tuple[float, float]
    pulse_width_us: tuple[int, int]
    waveforms: frozenset[Waveform]
    keepalive_interval_s: float | None
    """How often the controller must send something to keep output on; None: no keepalive."""
    watchdog_timeout_s: float | None
    """After this long without a valid command the device itself drops output to 0."""
    reports_battery: bool = True
    reports_electrodes: bool = True
    max_ramp_per_s: float | None = None
    """The device-side ramp limit, when the device enforces one itself."""

    def channel_ids(self) -> range:
        return range(self.channels)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Identity of a connected device."""

    address: str
    name: str
    driver: str
    firmware: str = ""
    profile_version: int | None = None
    link_security: str | None = None
    """How the link is protected once connected: ``encrypted_bonded`` (the device takes
    commands only over an encrypted link with a bond: OpenTENS v2) or ``unprotected`` (anyone
    in range can write to it: the published Coyote protocols); None: unknown, not connected."""


@dataclass(frozen=True, slots=True)
class ChannelOutput:
    """One channel's requested output, in the device's intensity unit."""

    intensity: float
    pulse_width_us: int
    frequency_hz: float
    waveform: Waveform = Waveform.CONTINUOUS


class Fault(enum.StrEnum):
    """Fault conditions a device can report. Any of them ends a running session."""

    WATCHDOG = "watchdog"
    ELECTRODE_OFF = "electrode_off"
    LIMIT_REFUSED = "limit_refused"
    LOW_BATTERY = "low_battery"
    INTERNAL = "internal"
    WHEEL_OVER_LIMIT = "wheel_over_limit"


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What one channel is delivering now, as the device reports it."""

    delivered: float
    contact: bool | None = None
    impedance_ohm: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A decoded status report from the device."""

    channels: tuple[ChannelStatus, ...]
    battery_percent: int | None = None
    faults: frozenset[Fault] = frozenset()
    acked_seq: int | None = None


@dataclass(frozen=True, slots=True)
class LinkLost:
    """The link to the device went down (the device drops output itself on disconnect)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The device sent something we could not parse; treated as unsure, so output stops."""

    detail: str


DeviceEvent = DeviceStatus | LinkLost | ProtocolViolation
EventSink = Callable[[DeviceEvent], None]


class EventFanout:
    """Subscriber bookkeeping for drivers: ``subscribe`` and ``_emit`` of :class:`Device`.

    A failing subscriber is logged and skipped, so a face's bug never breaks link handling.
    """

    _sinks: list[EventSink]

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        if not hasattr(self, "_sinks"):
            self._sinks = []
        self._sinks.append(sink)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._sinks.remove(sink)

        return unsubscribe

    def _emit(self, event: DeviceEvent) -> None:
        for sink in list(getattr(self, "_sinks", ())):
            try:
                sink(event)
            except Exception:
                logging.getLogger(type(self).__module__).exception(
                    "event subscriber %r failed on %r", sink, event
                )


class DeviceError(Exception):
    """A device operation failed; the message says why in words a person can act on."""


class DeviceRejected(DeviceError):
    """The device refused a command (an ATT error from its firmware)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""


class DeviceNotFound(DeviceError):
    """No device at that address or with that name answered."""


class DeviceDisconnected(DeviceError):
    """The link is down."""


class StopUnconfirmed(DeviceError):
    """The device did not confirm a stop within :data:`STOP_CONFIRM_MAX_S` (or the driver's
    tighter bound). The driver has dropped the link before raising: a conforming device zeroes
    every output on disconnect, which is all that is left to do."""


LINK_ENCRYPTED_BONDED = "encrypted_bonded"
LINK_UNPROTECTED = "unprotected"


class LinkNotSecure(DeviceError):
    """The device requires an encrypted link with an authenticated bond and this link is not
    one: the device was never paired with this controller, or it forgot the bond. Nothing was
    driven; a driver never retries in plaintext. The way out is to pair again (``tens pair``).

    ``code``: ``insufficient_authentication`` (ATT 0x05), ``insufficient_encryption`` (ATT
    0x0F or 0x0C), or ``not_paired`` (BlueZ's own refusal, before any ATT request)."""

    def __init__(self, message: str, code: str, att_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.att_code = att_code


class PairingFailed(DeviceError):
    """Pairing with the device did not complete; no bond was stored.

    ``code``: ``wrong_passkey`` (the passkey or the number comparison did not match),
    ``refused`` (the device refused to pair: not in pairing mode, bonds full, or a method
    without MITM protection), ``timeout``, or ``failed``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


STOP_CONFIRM_MAX_S = 1.0
"""No driver may take longer than this to confirm a stop (or to give up and drop the link)."""


@runtime_checkable
class Device(Protocol):
    """A connected stimulator. Only the session runner calls the output methods.

    ``stop`` must be written at once, never queued behind a stream or a pending ack. It returns
    only once the device *confirmed* output 0 on the named channels (each family says what a
    confirmation is: docs/drivers.md); otherwise, within a bound of two connection intervals
    plus a margin and never more than :data:`STOP_CONFIRM_MAX_S`, the driver drops the link
    and raises :class:`StopUnconfirmed`.
    """

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def connected(self) -> bool: ...

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        """Register a sink for device events; returns a function that unregisters it."""
        ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def arm(self, channels: tuple[int, ...]) -> None:
        """Ready channels for a new start, from zero (clears a latched fault on the device)."""
        ...

    async def set_output(self, channel: int, output: ChannelOutput) -> None: ...

    async def stop(self, channel: int | None = None) -> None:
        """Output 0 on one channel, or all when None. Always allowed, never queued.

        Returns when the device confirmed it; raises :class:`StopUnconfirmed` (link dropped)
        when it did not within the bound, :class:`DeviceDisconnected` when the link was down.
        """
        ...

    async def keepalive(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Advertisement:
    """What a scan saw, independent of the BLE library."""

    address: str
    name: str | None
    rssi: int | None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
