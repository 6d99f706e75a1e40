"""The OpenTENS family: profile constants, the codec and the bleak driver.

Importing this package is light (no bleak): the driver module is loaded only when a device is
opened, through :data:`DRIVER_SPEC`'s factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devices.opentens.profile import SERVICE_UUID
from devices.registry import DriverSpec, has_service

if TYPE_CHECKING:
    from devices.bleak_link import Seen
    from devices.transport import BleTransport
    from tens.device import Device


def _open(seen: Seen, transport: BleTransport) -> Device:
    from devices.opentens.driver import OpenTensDriver

    return OpenTensDriver(seen.ble_device, transport, advertisement=seen.advertisement)


DRIVER_SPEC = DriverSpec(
    name="opentens",
    matches=has_service(SERVICE_UUID),
    factory=_open,
    description="OpenTENS profile v2 (tens' own wearable, the simulator, DIY firmware)",
    link_security=True,
)
