"""The OpenTENS driver on both tiers: bumble's virtual radio and bleak's BlueZ backend over a
private D-Bus. Same scenarios, same assertions, judged by the simulator's delivered record."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from devices.opentens.driver import DriverTimeouts, OpenTensDriver
from devices.registry import find
from simulators.opentens.config import SimConfig
from tens.device import (
    ChannelOutput,
    DeviceDisconnected,
    DeviceError,
    DeviceEvent,
    DeviceNotFound,
    DeviceRejected,
    DeviceStatus,
    DeviceTimeout,
    LinkLost,
    ProtocolViolation,
    StopUnconfirmed,
)
from tests.bluez.conftest import TierKit

pytestmark = pytest.mark.timeout(60)

OUT = ChannelOutput(intensity=4.0, frequency_hz=80.0, pulse_width_us=200)


async def open_driver(kit: TierKit, sim: object, **kw: object) -> OpenTensDriver:
    found = await find(kit.transport, sim.name, 5.0)  # type: ignore[attr-defined]
    return OpenTensDriver(found.ble_device, kit.transport, **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def keepalives(driver: OpenTensDriver) -> AsyncIterator[None]:
    async def run() -> None:
        while True:
            with contextlib.suppress(DeviceError):
                await driver.keepalive()
            await asyncio.sleep(0.2)

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_connect_reads_info_and_capabilities(tier: TierKit) -> None:
    sim = await tier.wearable()
    driver = await open_driver(tier, sim)
    await driver.connect()
    try:
        assert driver.connected and sim.connected
        assert driver.info.firmware == "sim-1.0" and driver.info.profile_version == 2
        caps = driver.capabilities
        assert caps.channels == 2 and caps.intensity_max == 80.0
        assert caps.watchdog_timeout_s == 1.0
        assert driver.battery_percent == 100
    finally:
        await driver.disconnect()
    await asyncio.sleep(0.2)
    assert not sim.connected


async def test_output_and_stop_reach_the_record(tier: TierKit) -> None:
    sim = await tier.wearable()
    driver = await open_driver(tier, sim)
    await driver.connect()
    try:
        async with keepalives(driver):
            await driver.arm((0,))
            await driver.set_output(0, OUT)
            reached = await sim.record.wait_for(
                lambda s: s.channel == 0 and s.intensity_ma >= 3.99, 5.0
            )
            assert reached.intensity_ma == pytest.approx(4.0)
            assert sim.record.max(0) <= 4.0 + 1e-6
            loop = asyncio.get_running_loop()
            t_stop = loop.time()
            await driver.stop()
            zero = await sim.record.wait_for(
                lambda s: s.channel == 0 and s.intensity_ma == 0, 2.0, since=t_stop
            )
            assert zero.cause == "stop"
            assert await driver.confirm_stopped(2.0)
            assert sim.record.last(0) == 0
    finally:
        await driver.disconnect()


async def test_att_errors_become_device_rejected_with_the_profile_code(tier: TierKit) -> None:
    sim = await tier.wearable()
    driver = await open_driver(tier, sim)
    await driver.connect()
    try:
        async with keepalives(driver):
            await driver.set_device_limits(10.0, 5.0, 1.0)
            await driver.arm((0,))
            with pytest.raises(DeviceRejected) as over:
                await driver.set_output(
                    0, ChannelOutput(intensity=20.0, frequency_hz=80.0, pulse_width_us=200)
                )
            assert over.value.code == 0x83 and "OVER_LIMIT" in str(over.value)
            sim.reject_next_write(0x87)
            with pytest.raises(DeviceRejected) as busy:
                await driver.set_output(0, OUT)
            assert busy.value.code == 0x87 and "BUSY" in str(busy.value)
            assert sim.record.max(0) == 0
            assert driver.connected  # a refusal is not a link failure
    finally:
        await driver.disconnect()


async def test_link_loss_is_reported_at_once_and_commands_fail_after(tier: TierKit) -> None:
    sim = await tier.wearable()
    driver = await open_driver(tier, sim)
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    async with keepalives(driver):
        await driver.arm((0,))
        await driver.set_output(0, OUT)
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma > 1, 5.0)
        await sim.drop_link()
        for _ in range(100):
            if any(isinstance(e, LinkLost) for e in events):
                break
            await asyncio.sleep(0.02)
    assert any(isinstance(e, LinkLost) for e in events)
    assert not driver.connected
    assert sim.record.last(0) == 0 and sim.record.for_channel(0)[-1].cause == "disconnect"
    with pytest.raises(DeviceDisconnected):
        await driver.set_output(0, OUT)
    await driver.disconnect()


async def test_malformed_status_is_a_violation_and_gets_a_stop(tier: TierKit) -> None:
    sim = await tier.wearable()
    driver = await open_driver(tier, sim)
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    try:
        async with keepalives(driver):
            await driver.arm((0,))
            await driver.set_output(0, OUT)
            await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma > 1, 5.0)
            sim.send_malformed("crc")
            zero = await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma == 0, 3.0)
            assert zero.cause == "stop"
        violations = [e for e in events if isinstance(e, ProtocolViolation)]
        assert violations and "malformed" in violations[0].detail
        assert any(isinstance(e, DeviceStatus) for e in events)
    finally:
        await driver.disconnect()


async def test_device_gone_between_scan_and_connect_fails_in_bounded_time(tier: TierKit) -> None:
    sim = await tier.wearable()
    found = await find(tier.transport, sim.name, 5.0)
    await sim.stop_advertising()
    driver = OpenTensDriver(
        found.ble_device, tier.transport, timeouts=DriverTimeouts(connect_s=3.0)
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeviceError) as caught:
        await driver.connect()
    assert loop.time() - started <= 4.0
    assert isinstance(caught.value, DeviceTimeout | DeviceNotFound | DeviceError)
    assert sim.address in str(caught.value)
    assert not driver.connected and not sim.connected
    assert sim.record.max(0) == 0


async def test_stuck_device_times_out_stop_is_not_queued_and_its_watchdog_zeroes(
    tier: TierKit,
) -> None:
    sim = await tier.wearable()
    driver = await open_driver(tier, sim, timeouts=DriverTimeouts(ack_s=1.0))
    await driver.connect()
    try:
        async with keepalives(driver):
            await driver.arm((0,))
            await driver.set_output(0, OUT)
            await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma > 1, 5.0)
        t_stuck = asyncio.get_running_loop().time()
        sim.stick()
        waiting = asyncio.get_running_loop().create_task(driver.keepalive())
        await asyncio.sleep(0.1)
        assert not waiting.done()  # its write was answered; its ack never comes
        loop = asyncio.get_running_loop()
        started = loop.time()
        writes = len(sim.model.asked)
        # not queued behind the keepalive waiting for its ack: written at once; a stuck
        # device never confirms it, so the driver drops the link within the stop bound
        with pytest.raises(StopUnconfirmed):
            await driver.stop()
        assert loop.time() - started <= DriverTimeouts().stop_confirm_s + 0.3
        assert type(sim.model.asked[writes][1]).__name__ == "Stop"
        with pytest.raises((DeviceTimeout, DeviceDisconnected)):
            await waiting
        assert driver.last_stop_confirmed is False
        assert not driver.connected
        zero = await sim.record.wait_for(
            lambda s: s.channel == 0 and s.intensity_ma == 0, 3.0, since=t_stuck
        )
        # the device's own watchdog or the dropped link, never the STOP it did not take
        assert zero.cause in ("watchdog", "disconnect")
    finally:
        await driver.disconnect()


async def test_a_four_channel_device_fits_bluez_reporting_mtu_23(
    tier: TierKit, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await tier.wearable(SimConfig(channels=4))
    driver = await open_driver(tier, sim)
    mtu_warning = (
        pytest.warns(UserWarning, match="default MTU")
        if tier.name == "bluez"
        else contextlib.nullcontext()
    )
    with caplog.at_level("WARNING", logger="devices.opentens.driver"), mtu_warning:
        await driver.connect()
    try:
        assert driver.capabilities.channels == 4
        if tier.name == "bluez":  # bleak's BlueZ backend reports 23 unless _acquire_mtu ran
            assert "BlueZ reports 23" in caplog.text
        async with keepalives(driver):
            await driver.arm((3,))
            await driver.set_output(3, OUT)
            await sim.record.wait_for(lambda s: s.channel == 3 and s.intensity_ma >= 3.99, 5.0)
            status = driver.last_status
            assert status is not None and len(status.channels) == 4
            t_stop = asyncio.get_running_loop().time()
            await driver.stop()
            await sim.record.wait_for(
                lambda s: s.channel == 3 and s.intensity_ma == 0, 2.0, since=t_stop
            )
    finally:
        await driver.disconnect()
