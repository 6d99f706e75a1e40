"""The Coyote 2.0 driver against the simulated device over the virtual radio (looptime)."""

from __future__ import annotations

import asyncio

import pytest

from devices.coyote import v2codec
from simulators.coyote import wire2
from tens.device import (
    ChannelOutput,
    DeviceRejected,
    DeviceStatus,
    Fault,
    LinkLost,
    ProtocolViolation,
)
from tests.coyote.conftest import coyote2_rig
from tests.coyote.test_driver3 import now, run_for

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]


async def test_strength_and_waveforms_on_the_wire() -> None:
    async with coyote2_rig(level_limit=300) as rig:
        await rig.driver.arm((0, 1))
        await rig.driver.set_output(0, ChannelOutput(140, 150, 100))
        await rig.driver.set_output(1, ChannelOutput(70, 100, 10))
        await run_for(rig.driver, 0.5)
        m = rig.sim.model
        assert m.strength == [140, 70]
        strength_writes = [r for r in m.received if r.what == "strength"]
        assert strength_writes[0].data == bytes(3)  # zero first, at connect
        assert wire2.read_strength(strength_writes[-1].data) == (140, 70)
        # channel 0 (A) goes to 0x1506, channel 1 (B) to 0x1505: the device plays them so
        a, b = m.wave(0), m.wave(1)
        assert a is not None and b is not None
        assert (a.x, a.y, a.z) == (*v2codec.vendor_xy(10), 30)
        assert (b.x, b.y, b.z) == (*v2codec.vendor_xy(100), 20)
        assert rig.sim.record.max(0) == 140 and rig.sim.record.max(1) == 70


async def test_channel_a_is_written_to_0x1506() -> None:
    """Pinned choice: the driver writes channel A's waveform to 0x1506 only."""
    async with coyote2_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(50, 150, 100))
        await run_for(rig.driver, 0.3)
        labels = {r.what for r in rig.sim.model.received if r.what.startswith("wave")}
        assert labels == {"wave A"}
        client = rig.driver._client
        assert client is not None
        service = client.services.get_service(v2codec.SERVICE_UUID)
        assert service is not None
        assert service.get_characteristic(v2codec.WAVE_A_UUID) is not None
        assert v2codec.WAVE_UUIDS[0].startswith("955a1506")


async def test_above_the_level_limit_and_unrenderable_are_refused() -> None:
    async with coyote2_rig(level_limit=300) as rig:
        await rig.driver.arm((0,))
        with pytest.raises(DeviceRejected):
            await rig.driver.set_output(0, ChannelOutput(301, 150, 100))
        with pytest.raises(DeviceRejected):  # 225 µs is beyond Z = 31 (155 µs)
            await rig.driver.set_output(0, ChannelOutput(10, 225, 2))
        await run_for(rig.driver, 0.2)
        assert rig.sim.record.max() == 0


async def test_stop_is_written_at_once() -> None:
    async with coyote2_rig() as rig:
        await rig.driver.arm((0, 1))
        await rig.driver.set_output(0, ChannelOutput(100, 150, 100))
        await rig.driver.set_output(1, ChannelOutput(90, 150, 100))
        await run_for(rig.driver, 0.5)
        await asyncio.sleep(0.05)
        t_stop = now()
        await rig.driver.stop(0)
        assert rig.sim.model.strength == [0, 90]
        # at a connection event, after the frame in flight (strength and two waveforms)
        assert 0 < rig.sim.record.for_channel(0)[-1].t - t_stop <= 4 * rig.sim.link.interval_s
        await rig.driver.stop()
        assert rig.sim.model.strength == [0, 0]


async def test_output_ends_when_waveform_writes_stop_but_strength_stays() -> None:
    async with coyote2_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(100, 150, 100))
        await run_for(rig.driver, 0.5)
        await rig.sim.drop_link()
        await asyncio.sleep(0.3)
        assert any(isinstance(e, LinkLost) for e in rig.events)
        assert rig.sim.model.delivered(0) == 0 and rig.sim.model.strength[0] == 100
        last_wave = [r for r in rig.sim.model.received if r.what == "wave A"][-1].t
        assert rig.sim.record.for_channel(0)[-1].t - (last_wave + 0.1) <= 0.1
        # reconnect: strength 0 first, nothing resumes by itself
        await rig.driver.connect()
        assert rig.sim.model.strength == [0, 0]
        await run_for(rig.driver, 0.3)
        assert rig.sim.model.delivered(0) == 0


async def test_device_side_change_above_limit_is_a_fault() -> None:
    async with coyote2_rig(level_limit=300) as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(100, 150, 100))
        await run_for(rig.driver, 0.3)
        rig.sim.model.change_strength_on_device(700, 0)
        await asyncio.sleep(0.15)  # the frame in flight, then the zeroing at its event
        faults = [e for e in rig.events if isinstance(e, DeviceStatus) and e.faults]
        assert faults and Fault.WHEEL_OVER_LIMIT in faults[0].faults
        assert rig.sim.model.strength == [0, 0]


async def test_device_side_change_within_limit_is_reported_not_fought() -> None:
    async with coyote2_rig(level_limit=300) as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(100, 150, 100))
        await run_for(rig.driver, 0.3)
        rig.sim.model.change_strength_on_device(60, 0)
        await run_for(rig.driver, 0.3)
        status = [e for e in rig.events if isinstance(e, DeviceStatus)][-1]
        assert status.channels[0].delivered == 60 and not status.faults
        assert rig.sim.model.strength == [60, 0]


async def test_malformed_strength_notification_is_a_violation() -> None:
    async with coyote2_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(100, 150, 100))
        await run_for(rig.driver, 0.3)
        model = rig.sim.model
        assert model.notify_strength is not None
        model.notify_strength(b"\xff\xff\xff")  # reserved bits set
        await asyncio.sleep(0.15)  # the frame in flight, then the zeroing at its event
        assert any(isinstance(e, ProtocolViolation) for e in rig.events)
        assert model.strength == [0, 0]
