"""The client backend: connect, GATT reads/writes/notifications, errors, link loss."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode

from simulators.radio.client import BumbleClient
from simulators.radio.radio import VirtualRadio
from tests.radio.conftest import scan_for
from tests.radio.kit import (
    EVENTS_UUID,
    REJECT_APP,
    REJECT_VALUE,
    SERVICE_UUID,
    VALUE_UUID,
    KitPeripheral,
)


async def test_read_write_notify_round_trip(radio: VirtualRadio, peripheral: KitPeripheral) -> None:
    device = await scan_for(radio, peripheral.address)
    async with BleakClient(device, **radio.transport().client_options()) as client:
        assert client.is_connected
        assert client.name == "TestTENS"
        service = client.services.get_service(SERVICE_UUID)
        assert service is not None
        value = service.get_characteristic(VALUE_UUID)
        assert value is not None
        assert value.properties == ["read", "write-without-response", "write"]
        events = client.services.get_characteristic(EVENTS_UUID)
        assert events is not None and "notify" in events.properties
        assert [d.uuid for d in events.descriptors] == ["00002902-0000-1000-8000-00805f9b34fb"]

        assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")
        await client.write_gatt_char(VALUE_UUID, b"\x01\x02", response=True)
        assert peripheral.writes == [b"\x01\x02"]
        await client.write_gatt_char(VALUE_UUID, b"\x03", response=False)
        await asyncio.wait_for(peripheral.wait_for_writes(2), 1.0)
        assert peripheral.writes[-1] == b"\x03"
        assert await client.read_gatt_char(value) == bytearray(b"\x03")

        received: asyncio.Queue[tuple[str, bytearray]] = asyncio.Queue()

        def on_notify(char: BleakGATTCharacteristic, data: bytearray) -> None:
            received.put_nowait((char.uuid, data))

        await client.start_notify(EVENTS_UUID, on_notify)
        await peripheral.notify(b"\x10\x20")
        assert await asyncio.wait_for(received.get(), 1.0) == (EVENTS_UUID, bytearray(b"\x10\x20"))
        await client.stop_notify(EVENTS_UUID)
        await peripheral.notify(b"\x30")
        await asyncio.sleep(0.05)
        assert received.empty()
    assert not client.is_connected


async def test_mtu_and_write_without_response_size(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    device = await scan_for(radio, peripheral.address)
    async with BleakClient(device, **radio.transport().client_options()) as client:
        assert client.mtu_size > 23
        value = client.services.get_characteristic(VALUE_UUID)
        assert value is not None
        assert value.max_write_without_response_size == client.mtu_size - 3
        await client.write_gatt_char(VALUE_UUID, bytes(range(100)), response=True)
        assert peripheral.writes == [bytes(range(100))]


@pytest.mark.parametrize(
    ("data", "code"),
    [(REJECT_VALUE, BleakGATTProtocolErrorCode.VALUE_NOT_ALLOWED), (REJECT_APP, 0x80)],
)
async def test_att_error_surfaces_with_its_code(
    radio: VirtualRadio, peripheral: KitPeripheral, data: bytes, code: int
) -> None:
    device = await scan_for(radio, peripheral.address)
    async with BleakClient(device, **radio.transport().client_options()) as client:
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.write_gatt_char(VALUE_UUID, data, response=True)
        assert info.value.code == code
        assert int(info.value.code) == code
        assert peripheral.writes == []
        # The link survives a refused write.
        assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")


async def test_peripheral_side_disconnect_fires_callback_and_reconnect_works(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    device = await scan_for(radio, peripheral.address)
    lost: asyncio.Queue[BleakClient] = asyncio.Queue()
    client = BleakClient(device, lost.put_nowait, **radio.transport().client_options())
    await client.connect()
    await peripheral.drop_links()
    assert await asyncio.wait_for(lost.get(), 1.0) is client
    assert not client.is_connected
    with pytest.raises(BleakError, match="Not connected"):
        await client.write_gatt_char(VALUE_UUID, b"\x01", response=True)

    await peripheral.advertise()  # a connection ends advertising; the simulator restarts it
    await client.connect()
    assert client.is_connected
    await client.write_gatt_char(VALUE_UUID, b"\x07", response=True)
    assert peripheral.writes == [b"\x07"]
    await client.disconnect()
    assert await asyncio.wait_for(lost.get(), 1.0) is client  # as BlueZ: every disconnection


async def test_client_without_radio_is_refused() -> None:
    with pytest.raises(BleakError, match="radio"):
        BleakClient("C0:00:00:00:00:01", backend=BumbleClient)


async def test_link_loss_during_a_request_is_a_bleak_error_not_a_cancellation(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    device = await scan_for(radio, peripheral.address)
    lost = asyncio.Event()
    client = BleakClient(device, lambda _c: lost.set(), **radio.transport().client_options())
    await client.connect()
    answering = asyncio.Event()
    never = asyncio.Event()

    async def slow_read() -> bytes:
        answering.set()
        await never.wait()
        return b""

    peripheral.slow_read = slow_read
    read = asyncio.create_task(client.read_gatt_char(VALUE_UUID))
    await asyncio.wait_for(answering.wait(), 1.0)
    await peripheral.drop_links()
    with pytest.raises(BleakError, match="link lost"):
        await asyncio.wait_for(read, 1.0)
    assert not read.cancelled()
    assert lost.is_set()


async def test_cancelling_the_caller_still_cancels(
    radio: VirtualRadio, peripheral: KitPeripheral
) -> None:
    device = await scan_for(radio, peripheral.address)
    async with BleakClient(device, **radio.transport().client_options()) as client:
        answering = asyncio.Event()
        release = asyncio.Event()

        async def slow_read() -> bytes:
            answering.set()
            await release.wait()
            return b"late"

        peripheral.slow_read = slow_read
        read = asyncio.create_task(client.read_gatt_char(VALUE_UUID))
        await asyncio.wait_for(answering.wait(), 1.0)
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        release.set()
