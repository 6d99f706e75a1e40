"""DG-LAB Coyote 2.0 ("V2"): the codec (pure functions), and the driver's registry entry.

Importing this module is light (no bleak): the driver loads when a device is opened. The
codec is :mod:`devices.coyote.v2codec`, waveform rendering :mod:`devices.coyote.render`, the
driver :class:`devices.coyote.driver2.Coyote2Driver`; docs/coyote.md says how they behave.
Channel labelling: 0x1506 is channel A, 0x1505 channel B (the vendor table; pinned by a test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devices.coyote.v2codec import (
    ADVERTISED_NAME,
    SERVICE_UUID,
    WAVE_A_UUID,
    WAVE_B_UUID,
    CoyoteV2ProtocolError,
    Pulse,
    Strength,
    decode_battery,
    decode_pulse,
    decode_strength,
    encode_pulse,
    encode_strength,
    vendor_xy,
)
from devices.registry import DriverSpec, has_service, name_is

if TYPE_CHECKING:
    from devices.bleak_link import Seen
    from devices.transport import BleTransport
    from tens.device import Device

__all__ = [
    "ADVERTISED_NAME",
    "DRIVER_SPEC",
    "SERVICE_UUID",
    "WAVE_A_UUID",
    "WAVE_B_UUID",
    "CoyoteV2ProtocolError",
    "Pulse",
    "Strength",
    "decode_battery",
    "decode_pulse",
    "decode_strength",
    "encode_pulse",
    "encode_strength",
    "vendor_xy",
]


def _open(seen: Seen, transport: BleTransport) -> Device:
    from devices.coyote.driver2 import Coyote2Driver

    return Coyote2Driver(seen.ble_device, transport, advertisement=seen.advertisement)


DRIVER_SPEC = DriverSpec(
    name="coyote2",
    matches=name_is(ADVERTISED_NAME) | has_service(SERVICE_UUID),
    factory=_open,
    description="DG-LAB Coyote 2.0 (vendor-published protocol; levels 0-2047)",
)
