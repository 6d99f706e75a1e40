"""Simulators and drivers for the Coyote tests.

Everything is created *inside* the test (``async with coyote3_rig() as rig``), not in fixtures:
under ``looptime`` a fixture's timers would be scheduled on the real clock, outside the test's
virtual time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devices import registry
from devices.coyote.base import CoyoteDriverBase
from devices.coyote.driver2 import Coyote2Driver
from devices.coyote.driver3 import Coyote3Driver
from simulators.coyote.simulator import Coyote2Simulator, Coyote3Simulator
from simulators.radio.radio import VirtualRadio
from tens.device import DeviceEvent


@dataclass
class Rig3:
    radio: VirtualRadio
    sim: Coyote3Simulator
    driver: Coyote3Driver
    events: list[DeviceEvent]


@dataclass
class Rig2:
    radio: VirtualRadio
    sim: Coyote2Simulator
    driver: Coyote2Driver
    events: list[DeviceEvent]


async def _open(radio: VirtualRadio, address: str) -> CoyoteDriverBase:
    device = await registry.open_device(radio.transport(), address, timeout=5.0)
    assert isinstance(device, CoyoteDriverBase)
    return device


@contextlib.asynccontextmanager
async def coyote3_rig(
    *, connect: bool = True, level_limit: int = 20, interval_ms: float = 30.0
) -> AsyncIterator[Rig3]:
    radio = await VirtualRadio.local()
    sim = await Coyote3Simulator.start(radio, interval_ms=interval_ms)
    try:
        driver = await _open(radio, sim.address)
        assert isinstance(driver, Coyote3Driver)
        events: list[DeviceEvent] = []
        driver.subscribe(events.append)
        if connect:
            await driver.connect()
            await driver.set_device_limits(level_limit, 2.0, 1.0)
        yield Rig3(radio, sim, driver, events)
        await driver.disconnect()
    finally:
        await sim.close()
        await radio.close()


@contextlib.asynccontextmanager
async def coyote2_rig(*, connect: bool = True, level_limit: int = 300) -> AsyncIterator[Rig2]:
    radio = await VirtualRadio.local()
    sim = await Coyote2Simulator.start(radio)
    try:
        driver = await _open(radio, sim.address)
        assert isinstance(driver, Coyote2Driver)
        events: list[DeviceEvent] = []
        driver.subscribe(events.append)
        if connect:
            await driver.connect()
            await driver.set_device_limits(level_limit, 20.0, 1.0)
        yield Rig2(radio, sim, driver, events)
        await driver.disconnect()
    finally:
        await sim.close()
        await radio.close()
