"""The Coyote 3.0 and 2.0 drivers on both tiers, judged by the simulators' records (levels)."""

from __future__ import annotations

import asyncio

import pytest

from devices import registry
from devices.coyote.base import CoyoteDriverBase
from devices.coyote.driver2 import Coyote2Driver
from devices.coyote.driver3 import Coyote3Driver
from tens.device import ChannelOutput, DeviceEvent, DeviceRejected, LinkLost
from tests.bluez.conftest import TierKit

pytestmark = pytest.mark.timeout(60)


async def open_coyote(kit: TierKit, sim: object) -> CoyoteDriverBase:
    device = await registry.open_device(kit.transport, sim.address, 5.0)  # type: ignore[attr-defined]
    assert isinstance(device, CoyoteDriverBase)
    return device


async def run_for(driver: CoyoteDriverBase, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(0.1)
        await driver.keepalive()


async def test_coyote3_within_level_limits_then_stop_and_link_loss(tier: TierKit) -> None:
    sim = await tier.coyote("coyote3")
    driver = await open_coyote(tier, sim)
    assert isinstance(driver, Coyote3Driver)
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    await driver.set_device_limits(20, 2.0, 1.0)
    await driver.arm((0,))
    with pytest.raises(DeviceRejected):
        await driver.set_output(0, ChannelOutput(21, 150, 100))
    await driver.set_output(0, ChannelOutput(12, 150, 100))
    await run_for(driver, 0.6)
    assert sim.model.soft_limits == [20, 20]
    assert sim.record.max(0) == 12
    await driver.stop()
    await run_for(driver, 0.3)
    assert sim.model.strength == [0, 0] and sim.record.last(0) == 0
    await sim.drop_link()
    for _ in range(100):
        if any(isinstance(e, LinkLost) for e in events):
            break
        await asyncio.sleep(0.02)
    assert any(isinstance(e, LinkLost) for e in events)
    assert sim.record.last(0) == 0
    await driver.disconnect()


async def test_coyote2_writes_strength_in_levels(tier: TierKit) -> None:
    sim = await tier.coyote("coyote2")
    driver = await open_coyote(tier, sim)
    assert isinstance(driver, Coyote2Driver)
    await driver.connect()
    try:
        await driver.set_device_limits(300, 20.0, 1.0)
        await driver.arm((0,))
        await driver.set_output(0, ChannelOutput(100, 150, 100))
        await run_for(driver, 0.6)
        assert sim.record.max(0) == 100
        await driver.stop()
        await run_for(driver, 0.3)
        assert sim.record.last(0) == 0
    finally:
        await driver.disconnect()
