"""DG-LAB Coyote 3.0 ("V3"): the codec (pure functions), and the driver's registry entry.

Importing this module is light (no bleak): the driver loads when a device is opened. The
codec is :mod:`devices.coyote.v3codec`, waveform rendering :mod:`devices.coyote.render`, the
driver :class:`devices.coyote.driver3.Coyote3Driver`; docs/coyote.md says how they behave.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devices.coyote.v3codec import (
    ADVERTISED_NAME,
    DROPPED,
    SENSOR_NAME,
    SERVICE_UUID,
    B0Frame,
    B1Reply,
    BFFrame,
    CoyoteProtocolError,
    StrengthMode,
    WaveSlots,
    decode_b0,
    decode_b1,
    decode_battery,
    decode_bf,
    encode_b0,
    encode_b1,
    encode_bf,
    period_to_byte,
)
from devices.registry import DriverSpec, Matcher, has_service, name_is

if TYPE_CHECKING:
    from devices.bleak_link import Seen
    from devices.transport import BleTransport
    from tens.device import Device

__all__ = [
    "ADVERTISED_NAME",
    "DRIVER_SPEC",
    "DROPPED",
    "SERVICE_UUID",
    "B0Frame",
    "B1Reply",
    "BFFrame",
    "CoyoteProtocolError",
    "StrengthMode",
    "WaveSlots",
    "decode_b0",
    "decode_b1",
    "decode_battery",
    "decode_bf",
    "encode_b0",
    "encode_b1",
    "encode_bf",
    "period_to_byte",
]


def _open(seen: Seen, transport: BleTransport) -> Device:
    from devices.coyote.driver3 import Coyote3Driver

    return Coyote3Driver(seen.ble_device, transport, advertisement=seen.advertisement)


_not_the_sensor = Matcher(lambda adv: adv.name != SENSOR_NAME, f"name is not {SENSOR_NAME!r}")

DRIVER_SPEC = DriverSpec(
    name="coyote3",
    matches=name_is(ADVERTISED_NAME) | (has_service(SERVICE_UUID) & _not_the_sensor),
    factory=_open,
    description="DG-LAB Coyote 3.0 (vendor-published protocol; levels 0-200)",
)
