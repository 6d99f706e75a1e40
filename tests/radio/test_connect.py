"""Connecting: missing devices end in bounded time, two links at once, bleak-retry-connector."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak_retry_connector import (
    BleakClientWithServiceCache,
    BleakNotFoundError,
    establish_connection,
)
from bumble import hci

from simulators.radio.radio import VirtualRadio
from tests.radio.conftest import scan_for
from tests.radio.kit import VALUE_UUID, KitPeripheral, make_peripheral

MISSING = "C1:23:45:67:89:AB"


class DriverClient(BleakClientWithServiceCache):
    """What a driver passes to establish_connection."""


async def test_connect_to_missing_address_times_out_then_next_connect_works(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    missing = BleakClient(MISSING, timeout=0.3, **radio.transport().client_options())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(missing.connect(), 5.0)
    assert loop.time() - started < 5.0
    assert not missing.is_connected

    device = await scan_for(radio, peripheral.address)
    async with BleakClient(device, timeout=2.0, **radio.transport().client_options()) as client:
        assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")


async def test_connect_by_address_string_without_scanning(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    async with BleakClient(peripheral.address, **radio.transport().client_options()) as client:
        assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")


async def test_two_peripherals_connected_at_once(radio: VirtualRadio) -> None:
    first = await make_peripheral(radio, "First")
    second = await make_peripheral(radio, "Second")
    options = radio.transport().client_options()
    lost: list[str] = []
    clients = [
        BleakClient(await scan_for(radio, p.address), lambda c: lost.append(c.address), **options)
        for p in (first, second)
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    await clients[0].write_gatt_char(VALUE_UUID, b"\x01", response=True)
    await clients[1].write_gatt_char(VALUE_UUID, b"\x02", response=True)
    assert (first.writes, second.writes) == ([b"\x01"], [b"\x02"])
    assert await clients[0].read_gatt_char(VALUE_UUID) == bytearray(b"\x01")
    assert await clients[1].read_gatt_char(VALUE_UUID) == bytearray(b"\x02")

    await second.drop_links()  # only the second link goes down
    await asyncio.sleep(0.05)
    assert lost == [second.address]
    assert clients[0].is_connected and not clients[1].is_connected
    await clients[0].write_gatt_char(VALUE_UUID, b"\x03", response=True)
    assert first.writes[-1] == b"\x03"
    await clients[0].disconnect()


async def test_establish_connection_over_the_radio(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    device = await scan_for(radio, peripheral.address)
    lost: asyncio.Queue[DriverClient] = asyncio.Queue()
    client = await establish_connection(
        DriverClient,
        device,
        "TestTENS",
        disconnected_callback=lost.put_nowait,
        max_attempts=2,
        **radio.transport().client_options(),
    )
    assert isinstance(client, DriverClient)
    await client.write_gatt_char(VALUE_UUID, b"\x05", response=True)
    assert peripheral.writes == [b"\x05"]
    await peripheral.drop_links()
    assert await asyncio.wait_for(lost.get(), 1.0) is client


@pytest.mark.looptime
async def test_establish_connection_to_missing_device_is_not_found() -> None:
    """bleak-retry-connector waits 20 s per attempt; looptime makes that instant.

    Under looptime the radio is made inside the test: timers set up in fixtures run on the
    real clock and would not line up with the test's virtual time.
    """
    radio = await VirtualRadio.local()
    peripheral = await make_peripheral(radio)
    ghost = BLEDevice(MISSING, "Ghost", hci.Address(MISSING, hci.Address.RANDOM_DEVICE_ADDRESS))
    with pytest.raises(BleakNotFoundError):
        await establish_connection(
            DriverClient, ghost, "Ghost", max_attempts=2, **radio.transport().client_options()
        )
    # The radio is still usable afterwards.
    device = await scan_for(radio, peripheral.address)
    client = await establish_connection(
        DriverClient, device, "TestTENS", max_attempts=1, **radio.transport().client_options()
    )
    assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")
    await client.disconnect()
    await radio.close()


async def test_connect_while_two_scanners_run(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    from bleak import BleakScanner

    options = radio.transport().scanner_options()
    async with BleakScanner(**options) as first, BleakScanner(**options) as second:
        device = await scan_for(radio, peripheral.address)
        async with BleakClient(device, **radio.transport().client_options()) as client:
            assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")
        await first.stop()  # the other scanner keeps hearing advertisements
        await peripheral.advertise()

        async def heard_by_second() -> str:
            async for device, _adv in second.advertisement_data():
                if device.address == peripheral.address:
                    return device.address
            raise AssertionError("scanner stopped")

        assert await asyncio.wait_for(heard_by_second(), 1.0) == peripheral.address


async def test_second_client_to_the_same_device_is_refused_at_once(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    from bleak.exc import BleakError

    options = radio.transport().client_options()
    async with BleakClient(peripheral.address, **options):
        other = BleakClient(peripheral.address, timeout=30.0, **options)
        with pytest.raises(BleakError, match="already connected"):
            await asyncio.wait_for(other.connect(), 1.0)


async def test_malformed_address_is_not_found_and_add_peripheral_refuses_bad_addresses(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    from bleak.exc import BleakDeviceNotFoundError

    client = BleakClient("not-an-address", **radio.transport().client_options())
    with pytest.raises(BleakDeviceNotFoundError):
        await asyncio.wait_for(client.connect(), 1.0)
    with pytest.raises(ValueError, match="not a Bluetooth address"):
        await radio.add_peripheral("Bad", "C0:11:22")
    with pytest.raises(ValueError, match="already on this radio"):
        await radio.add_peripheral("Twin", peripheral.address.lower())
    chosen = await radio.add_peripheral("Chosen", "c0:11:22:33:44:55")
    assert chosen.random_address.to_string(with_type_qualifier=False) == "C0:11:22:33:44:55"


async def test_closed_radio_refuses_at_once() -> None:
    from bleak import BleakScanner
    from bleak.exc import BleakError

    radio = await VirtualRadio.local()
    peripheral = await make_peripheral(radio)
    await radio.close()
    with pytest.raises(BleakError, match="closed"):
        await BleakClient(peripheral.address, **radio.transport().client_options()).connect()
    with pytest.raises(BleakError, match="closed"):
        await BleakScanner(**radio.transport().scanner_options()).start()


async def test_two_clients_racing_to_one_device_one_wins_one_is_refused(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    from bleak.exc import BleakError

    options = radio.transport().client_options()
    clients = [BleakClient(peripheral.address, timeout=30.0, **options) for _ in range(2)]
    results = await asyncio.wait_for(
        asyncio.gather(*(c.connect() for c in clients), return_exceptions=True), 2.0
    )
    assert sum(r is None for r in results) == 1
    refused = [r for r in results if r is not None]
    assert len(refused) == 1 and isinstance(refused[0], BleakError)
    assert "already connected" in str(refused[0])
    for client in clients:
        await client.disconnect()
