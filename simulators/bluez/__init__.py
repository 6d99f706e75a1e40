"""Tier 2 of the BLE simulation: bleak's real BlueZ backend against a fake ``org.bluez``.

On a Raspberry Pi bleak talks to bluetoothd over the system D-Bus. Here a private
``dbus-daemon`` (:class:`~simulators.bluez.daemon.PrivateBus`) carries a fake bluetoothd
(:class:`~simulators.bluez.service.FakeBlueZ`) that serves the same device models as the bumble
tier: :class:`~simulators.bluez.opentens.OpenTensBlueZ` and the Coyotes
(:mod:`simulators.bluez.coyote`). Point ``DBUS_SYSTEM_BUS_ADDRESS`` at the private bus and the
drivers run unchanged with ``BleTransport()`` (bleak's default backend). See
docs/bluez-tier.md.

Names are imported lazily: importing this package loads neither dbus-fast nor bleak.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PrivateBus": "simulators.bluez.daemon",
    "BusError": "simulators.bluez.daemon",
    "FakeBlueZ": "simulators.bluez.service",
    "BlueZConfig": "simulators.bluez.service",
    "Peripheral": "simulators.bluez.peripheral",
    "Characteristic": "simulators.bluez.peripheral",
    "Service": "simulators.bluez.peripheral",
    "Advertisement": "simulators.bluez.peripheral",
    "AttError": "simulators.bluez.errors",
    "OpenTensBlueZ": "simulators.bluez.opentens",
    "start_bluez_wearable": "simulators.bluez.opentens",
    "Coyote3BlueZ": "simulators.bluez.coyote",
    "Coyote2BlueZ": "simulators.bluez.coyote",
    "start_bluez_coyote": "simulators.bluez.coyote",
    "BlueZSimulation": "simulators.bluez.demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)
