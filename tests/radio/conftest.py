from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bleak import BleakScanner
from bleak.backends.device import BLEDevice

from simulators.radio.radio import VirtualRadio
from tests.radio.kit import SERVICE_UUID, KitPeripheral, make_peripheral


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    r = await VirtualRadio.local()
    yield r
    await r.close()


@pytest.fixture
async def peripheral(radio: VirtualRadio) -> KitPeripheral:
    return await make_peripheral(radio)


async def scan_for(radio: VirtualRadio, address: str, within_s: float = 2.0) -> BLEDevice:
    device = await BleakScanner.find_device_by_address(
        address, timeout=within_s, **radio.transport().scanner_options()
    )
    assert device is not None, f"{address} not seen advertising"
    return device


__all__ = ["SERVICE_UUID", "scan_for"]
