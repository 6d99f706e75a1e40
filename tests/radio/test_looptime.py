"""The in-process radio runs the same under looptime's virtual clock as on the real one."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic

from simulators.radio.radio import VirtualRadio
from tests.radio.kit import EVENTS_UUID, SERVICE_UUID, VALUE_UUID, make_peripheral


async def _round_trip(pause_s: float) -> float:
    """Scan, connect, write, get a notification, drop; returns the loop time it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    radio = await VirtualRadio.local()
    try:
        peripheral = await make_peripheral(radio)
        device = await BleakScanner.find_device_by_filter(
            lambda _d, adv: SERVICE_UUID in adv.service_uuids,
            timeout=5.0,
            **radio.transport().scanner_options(),
        )
        assert device is not None
        lost = asyncio.Event()
        async with BleakClient(
            device, lambda _c: lost.set(), **radio.transport().client_options()
        ) as client:
            notes: asyncio.Queue[bytearray] = asyncio.Queue()

            def on_note(_c: BleakGATTCharacteristic, data: bytearray) -> None:
                notes.put_nowait(data)

            await client.start_notify(EVENTS_UUID, on_note)
            await client.write_gatt_char(VALUE_UUID, b"\x2a", response=True)
            await peripheral.notify(peripheral.writes[-1])
            assert await asyncio.wait_for(notes.get(), 5.0) == bytearray(b"\x2a")
            await asyncio.sleep(pause_s)  # the link holds over a pause
            assert client.is_connected
            await peripheral.drop_links()
            await asyncio.wait_for(lost.wait(), 5.0)
    finally:
        await radio.close()
    return loop.time() - started


@pytest.mark.looptime
async def test_round_trip_under_looptime() -> None:
    elapsed = await _round_trip(pause_s=1800)  # half an hour of session, in virtual time
    assert elapsed >= 1800


async def test_round_trip_on_the_real_clock() -> None:
    await _round_trip(pause_s=0.05)
