"""Bounded waits of the OpenTENS driver, on looptime's virtual clock (the radio is made inside
each test so its timers share the test's clock)."""

from __future__ import annotations

import asyncio

import pytest

from devices.opentens.driver import DriverTimeouts, OpenTensDriver
from devices.registry import find
from simulators.radio.radio import VirtualRadio
from tens.device import (
    DeviceError,
    DeviceEvent,
    DeviceNotFound,
    DeviceTimeout,
    ProtocolViolation,
)
from tests.devices.scripted import start_scripted


@pytest.mark.looptime
async def test_silent_device_is_a_protocol_violation_and_gets_a_stop() -> None:
    radio = await VirtualRadio.local()
    try:
        scripted = await start_scripted(radio)  # it never sends a status on its own
        found = await find(radio.transport(), scripted.address, 2.0)
        driver = OpenTensDriver(
            found.ble_device, radio.transport(), timeouts=DriverTimeouts(status_silence_s=3.5)
        )
        events: list[DeviceEvent] = []
        driver.subscribe(events.append)
        await driver.connect()
        await asyncio.sleep(3.0)
        assert not [e for e in events if isinstance(e, ProtocolViolation)]
        await asyncio.sleep(1.5)  # past the 3.5 s the driver allows
        violations = [e for e in events if isinstance(e, ProtocolViolation)]
        assert violations and "no status" in violations[0].detail
        await asyncio.sleep(0.1)
        assert scripted.writes and scripted.writes[-1][0] == 0x02  # a STOP of its own
        await driver.disconnect()
    finally:
        await radio.close()


@pytest.mark.looptime
async def test_missing_ack_times_out_after_the_default_second() -> None:
    radio = await VirtualRadio.local()
    try:
        scripted = await start_scripted(radio)
        found = await find(radio.transport(), scripted.address, 2.0)
        driver = OpenTensDriver(found.ble_device, radio.transport())
        await driver.connect()
        scripted.ack = False
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DeviceTimeout, match="KEEPALIVE"):
            await driver.keepalive()
        assert 1.0 <= loop.time() - started < 1.5
        await driver.disconnect()
    finally:
        await radio.close()


@pytest.mark.looptime
async def test_device_gone_between_scan_and_connect_fails_in_bounded_time() -> None:
    radio = await VirtualRadio.local()
    try:
        scripted = await start_scripted(radio)
        found = await find(radio.transport(), scripted.address, 2.0)
        await scripted.device.stop_advertising()
        driver = OpenTensDriver(found.ble_device, radio.transport())
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DeviceError) as caught:
            await driver.connect()
        assert loop.time() - started <= 21.0  # the driver's connect bound (20 s)
        assert isinstance(caught.value, DeviceTimeout | DeviceNotFound)
        assert scripted.address in str(caught.value)
        assert not driver.connected
    finally:
        await radio.close()
