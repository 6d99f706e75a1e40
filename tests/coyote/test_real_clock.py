"""The drivers and simulators on the real clock too (no timing assertions: behaviour only)."""

from __future__ import annotations

import asyncio

import pytest

from tens.device import ChannelOutput
from tests.coyote.conftest import coyote2_rig, coyote3_rig

pytestmark = pytest.mark.timeout(30)


async def test_coyote3_on_the_real_clock() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(9, 150, 100))
        await rig.sim.record.wait_for(lambda s: s.intensity_ma > 0, 5.0, since=0.0)
        await asyncio.sleep(0.2)
        await rig.driver.keepalive()
        assert rig.sim.record.max(0) == 9
        t_stop = asyncio.get_running_loop().time()
        await rig.driver.stop()
        await rig.sim.record.wait_for(
            lambda s: s.channel == 0 and s.intensity_ma == 0, 5.0, since=t_stop
        )
        assert rig.sim.model.strength == [0, 0]


async def test_coyote2_on_the_real_clock() -> None:
    async with coyote2_rig(level_limit=300) as rig:
        await rig.driver.arm((1,))
        await rig.driver.set_output(1, ChannelOutput(77, 100, 50))
        await rig.sim.record.wait_for(lambda s: s.intensity_ma > 0, 5.0, since=0.0)
        await asyncio.sleep(0.2)
        await rig.driver.keepalive()
        assert rig.sim.record.max(1) == 77
        await rig.driver.stop()  # the Coyote 2.0 strength is written with response
        assert rig.sim.model.strength == [0, 0]
        assert rig.sim.record.last(1) == 0
