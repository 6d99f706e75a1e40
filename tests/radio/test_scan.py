"""The scanner backend: bumble advertisements as bleak devices and advertisement data."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bumble import hci

from simulators.radio.radio import VirtualRadio
from simulators.radio.scanner import BumbleScanner
from tests.radio.kit import (
    COMPANY_ID,
    MANUFACTURER_DATA,
    SERVICE_UUID,
    KitPeripheral,
    make_peripheral,
)


async def test_scan_finds_peripheral_by_service_uuid_and_name(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    found = await BleakScanner.discover(
        timeout=0.3,
        return_adv=True,
        service_uuids=[SERVICE_UUID],
        **radio.transport().scanner_options(),
    )
    assert list(found) == [peripheral.address]
    device, adv = found[peripheral.address]
    assert device.name == "TestTENS"
    assert adv.local_name == "TestTENS"
    assert adv.service_uuids == [SERVICE_UUID]
    assert adv.manufacturer_data == {COMPANY_ID: MANUFACTURER_DATA}
    assert adv.service_data == {"0000180f-0000-1000-8000-00805f9b34fb": b"\x55"}
    assert adv.rssi == -50
    assert isinstance(device.details, hci.Address)
    assert device.details.address_type == hci.Address.RANDOM_DEVICE_ADDRESS

    by_name = await BleakScanner.find_device_by_name(
        "TestTENS", timeout=1.0, **radio.transport().scanner_options()
    )
    assert by_name is not None and by_name.address == peripheral.address


async def test_service_filter_hides_other_devices(radio: VirtualRadio) -> None:
    other = await radio.add_peripheral("Other")
    await other.start_advertising(
        advertising_data=bytes([2, 0x01, 0x06, 6, 0x09]) + b"Other",
        advertising_interval_min=20,
        advertising_interval_max=20,
    )
    mine = await make_peripheral(radio)
    everything = await BleakScanner.discover(timeout=0.2, **radio.transport().scanner_options())
    filtered = await BleakScanner.discover(
        timeout=0.2, service_uuids=[SERVICE_UUID], **radio.transport().scanner_options()
    )
    assert {d.name for d in everything} == {"Other", "TestTENS"}
    assert [d.address for d in filtered] == [mine.address]


async def test_first_advertisement_arrives_within_one_interval(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    seen: asyncio.Future[AdvertisementData] = asyncio.get_running_loop().create_future()

    def on_adv(_device: BLEDevice, adv: AdvertisementData) -> None:
        if not seen.done():
            seen.set_result(adv)

    async with BleakScanner(on_adv, **radio.transport().scanner_options()):
        adv = await asyncio.wait_for(seen, 1.0)
    assert adv.local_name == "TestTENS"


async def test_deduplicates_by_address_and_keeps_latest_rssi(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    reports: list[int] = []
    changed = asyncio.Event()

    def on_adv(_device: BLEDevice, adv: AdvertisementData) -> None:
        reports.append(adv.rssi)
        if adv.rssi == -80:
            changed.set()

    scanner = BleakScanner(on_adv, **radio.transport().scanner_options())
    async with scanner:
        await asyncio.sleep(0.1)
        radio.set_rssi(peripheral.address, -80)
        await asyncio.wait_for(changed.wait(), 1.0)
    assert len(reports) > 2  # every 20 ms advertisement is reported ...
    devices = scanner.discovered_devices_and_advertisement_data
    assert list(devices) == [peripheral.address]  # ... but it stays one device
    assert devices[peripheral.address][1].rssi == -80


def test_scanner_without_radio_is_refused() -> None:
    with pytest.raises(BleakError, match="radio"):
        BleakScanner(backend=BumbleScanner)


async def test_name_in_scan_response_is_seen(radio: VirtualRadio) -> None:
    device = await radio.add_peripheral("Split")
    uuid_ad = bytes([17, 0x07]) + bytes(reversed(bytes.fromhex(SERVICE_UUID.replace("-", ""))))
    await device.start_advertising(
        advertising_data=bytes([2, 0x01, 0x06]) + uuid_ad,
        scan_response_data=bytes([10, 0x09]) + b"SplitTENS",
        advertising_interval_min=20,
        advertising_interval_max=20,
    )
    found = await BleakScanner.find_device_by_name(
        "SplitTENS", timeout=1.0, **radio.transport().scanner_options()
    )
    assert found is not None
    adv = await BleakScanner.discover(
        timeout=0.1, return_adv=True, **radio.transport().scanner_options()
    )
    assert adv[found.address][1].service_uuids == [SERVICE_UUID]
    assert adv[found.address][1].local_name == "SplitTENS"


async def test_extended_advertising_set_is_seen_and_connectable(radio: VirtualRadio) -> None:
    from bleak import BleakClient
    from bumble.device import AdvertisingParameters

    from tests.radio.kit import VALUE_UUID, advertising_data

    peripheral = await make_peripheral(radio, "Extended")
    await peripheral.device.stop_advertising()
    await peripheral.device.create_advertising_set(
        advertising_parameters=AdvertisingParameters(
            primary_advertising_interval_min=20, primary_advertising_interval_max=20
        ),
        advertising_data=advertising_data("Extended"),
    )
    found = await BleakScanner.find_device_by_name(
        "Extended", timeout=1.0, **radio.transport().scanner_options()
    )
    assert found is not None and found.address == peripheral.address
    async with BleakClient(found, **radio.transport().client_options()) as client:
        assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")
