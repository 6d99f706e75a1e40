"""The OpenTENS driver against the simulated wearable on the virtual radio.

The simulator's delivered-output record is the judge: what the electrodes carried, not what
the driver believes it sent. Long timings run on looptime's virtual clock, so each of those
tests makes its radio inside the test (fixture timers would run on the real clock).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from devices import registry
from devices.opentens.driver import DriverTimeouts, OpenTensDriver
from simulators.opentens import SimConfig, start_simulated_wearable
from simulators.opentens.server import OpenTensSimulator
from simulators.radio.radio import VirtualRadio
from tens.device import (
    ChannelOutput,
    DeviceDisconnected,
    DeviceError,
    DeviceEvent,
    DeviceRejected,
    DeviceStatus,
    DeviceTimeout,
    Fault,
    IntensityUnit,
    LinkLost,
    ProtocolViolation,
    StopUnconfirmed,
    Waveform,
)
from tests.devices.scripted import until

E = TypeVar("E")

TENS = ChannelOutput(intensity=10.0, pulse_width_us=200, frequency_hz=80.0)


@dataclass
class Rig:
    radio: VirtualRadio
    sim: OpenTensSimulator
    driver: OpenTensDriver
    events: list[DeviceEvent] = field(default_factory=list)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def hold(self, seconds: float) -> None:
        """Keep output on for ``seconds`` the way the session runner does: keepalives."""
        interval = self.driver.capabilities.keepalive_interval_s or 0.25
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            await self.driver.keepalive()
            await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def rig(
    config: SimConfig | None = None,
    timeouts: DriverTimeouts | None = None,
    *,
    connect: bool = True,
) -> AsyncIterator[Rig]:
    radio = await VirtualRadio.local()
    sim = await start_simulated_wearable(radio, name="OpenTENS-Test", config=config)
    try:
        found = await registry.find(radio.transport(), sim.address, 5.0)
        assert found.driver == "opentens"
        driver = OpenTensDriver(
            found.ble_device,
            radio.transport(),
            advertisement=found.advertisement,
            timeouts=timeouts,
        )
        r = Rig(radio, sim, driver)
        driver.subscribe(r.events.append)
        if connect:
            await driver.connect()
        yield r
        await driver.disconnect()
    finally:
        await sim.close()
        await radio.close()


async def test_scan_and_open_find_the_simulator() -> None:
    radio = await VirtualRadio.local()
    sim = await start_simulated_wearable(radio, name="OpenTENS-Scan")
    try:
        found = await registry.scan(radio.transport(), 0.5)
        assert [(f.name, f.address, f.driver) for f in found] == [
            ("OpenTENS-Scan", sim.address, "opentens")
        ]
        device = await registry.open_device(radio.transport(), "OpenTENS-Scan", 2.0)
        assert isinstance(device, OpenTensDriver)
    finally:
        await sim.close()
        await radio.close()


async def test_connect_reads_info_into_capabilities() -> None:
    config = SimConfig(channels=2, intensity_max_ma=60.0, watchdog_ms=800, firmware="sim-x")
    async with rig(config) as r:
        caps = r.driver.capabilities
        assert caps.channels == 2
        assert caps.intensity_unit is IntensityUnit.MILLIAMP
        assert caps.intensity_max == 60.0
        assert caps.frequency_hz == (1.0, 150.0)
        assert caps.pulse_width_us == (50, 400)
        assert caps.waveforms == frozenset(Waveform)
        assert caps.watchdog_timeout_s == 0.8
        assert caps.max_ramp_per_s == 5.0
        assert r.driver.info.firmware == "sim-x"
        assert r.driver.info.name == "OpenTENS-Test"
        assert r.driver.battery_percent == 100
        assert await r.driver.read_battery() == 100
        assert r.sim.connected


@pytest.mark.looptime
async def test_output_and_stop_show_on_the_delivered_record() -> None:
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(3.0)  # the device ramps at 5 mA/s: 10 mA after 2 s
        assert r.sim.record.last(0) == pytest.approx(10.0)
        assert r.sim.record.max_rise_rate(0) <= 5.0 + 1e-6
        assert r.sim.record.last(1) == 0.0
        statuses = r.of(DeviceStatus)
        assert statuses and statuses[-1].channels[0].delivered == pytest.approx(10.0)

        await r.driver.stop()
        assert await r.driver.confirm_stopped(1.0)
        assert r.driver.last_stop_confirmed is True
        assert r.sim.record.last(0) == 0.0
        assert r.sim.record[-1].cause == "stop"


@pytest.mark.looptime
async def test_device_limits_are_enforced_by_the_device() -> None:
    async with rig() as r:
        await r.driver.set_device_limits(max_ma=20.0, max_ramp_ma_s=2.0, watchdog_s=0.5)
        assert r.driver.capabilities.intensity_max == 20.0
        assert r.driver.capabilities.keepalive_interval_s == 0.125
        await r.driver.arm((0,))
        with pytest.raises(DeviceRejected, match=r"OVER_LIMIT \(0x83\)") as caught:
            await r.driver.set_output(0, ChannelOutput(30.0, 200, 80.0))
        assert caught.value.code == 0x83
        assert r.sim.record.max(0) == 0.0
        await r.driver.set_output(0, ChannelOutput(4.0, 200, 80.0))
        await r.hold(3.0)
        assert r.sim.record.max_rise_rate(0) <= 2.0 + 1e-6  # the lowered device-side ramp


@pytest.mark.looptime
async def test_limits_are_sent_again_after_a_reconnect() -> None:
    async with rig() as r:
        await r.driver.set_device_limits(max_ma=20.0, max_ramp_ma_s=2.0, watchdog_s=1.0)
        await r.driver.disconnect()  # the device goes back to its factory limits
        await r.driver.connect()
        await r.driver.arm((0,))
        with pytest.raises(DeviceRejected, match="OVER_LIMIT"):
            await r.driver.set_output(0, ChannelOutput(25.0, 200, 80.0))


async def test_att_errors_are_named() -> None:
    async with rig() as r:
        with pytest.raises(DeviceRejected, match=r"NOT_ARMED \(0x84\)"):
            await r.driver.set_output(0, TENS)
        r.sim.reject_next_write()
        with pytest.raises(DeviceRejected, match=r"BUSY \(0x87\)") as caught:
            await r.driver.arm((0,))
        assert caught.value.code == 0x87
        await r.driver.arm((0,))  # the next write goes through
        assert r.sim.record.max(0) == 0.0


@pytest.mark.looptime
async def test_link_drop_is_link_lost_then_disconnected_then_reconnect() -> None:
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        assert r.sim.record.last(0) > 0
        await r.sim.drop_link()
        await until(lambda: bool(r.of(LinkLost)))
        assert not r.driver.connected
        assert r.sim.record.last(0) == 0.0  # the device zeroed itself on disconnect
        with pytest.raises(DeviceDisconnected):
            await r.driver.set_output(0, TENS)
        with pytest.raises(DeviceDisconnected):
            await r.driver.keepalive()
        with pytest.raises(DeviceDisconnected):
            await r.driver.stop()
        await asyncio.sleep(1.0)
        assert r.sim.record.last(0) == 0.0  # nothing resumed by itself
        assert len(r.of(LinkLost)) == 1

        await r.driver.connect()
        assert r.driver.connected
        # a fresh connect starts disarmed: output needs a new START
        with pytest.raises(DeviceRejected, match="NOT_ARMED"):
            await r.driver.set_output(0, TENS)


@pytest.mark.looptime
async def test_malformed_status_is_a_protocol_violation_and_the_driver_stops() -> None:
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        assert r.sim.record.last(0) > 0
        r.sim.send_malformed("crc")
        await until(lambda: bool(r.of(ProtocolViolation)))
        assert "CRC" in r.of(ProtocolViolation)[0].detail
        # the driver's own STOP, well before the device's 1 s watchdog would act
        zero = await r.sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma == 0, 0.5)
        assert zero.cause == "stop"


@pytest.mark.parametrize("kind", ["truncated", "reserved-bit", "type"])
async def test_every_kind_of_garbage_is_refused(kind: str) -> None:
    async with rig() as r:
        r.sim.send_malformed(kind)
        await until(lambda: bool(r.of(ProtocolViolation)))


@pytest.mark.looptime
async def test_stuck_device_times_out_and_an_unconfirmed_stop_drops_the_link() -> None:
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        r.sim.stick(watchdog=False)  # its watchdog hangs too: only a disconnect zeroes it
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(DeviceTimeout, match="did not acknowledge KEEPALIVE"):
            await r.driver.keepalive()
        assert loop.time() - t0 <= 1.0 + 0.05  # the ack bound (at most 1 s)
        assert r.sim.record.last(0) > 0  # still on: nothing on the device stops it
        # the STOP is written at once; the confirmation never comes from a stuck device, so
        # the driver drops the link within the stop bound and says so
        t_stop = loop.time()
        with pytest.raises(StopUnconfirmed, match="did not confirm STOP"):
            await r.driver.stop()
        assert loop.time() - t_stop <= 1.0 + 0.05
        assert r.driver.last_stop_confirmed is False
        assert not r.driver.connected
        zero = await r.sim.record.wait_for(
            lambda s: s.channel == 0 and s.intensity_ma == 0, 0.2, since=t_stop
        )
        assert zero.cause == "disconnect"
        assert zero.t - t_stop <= 1.0 + 0.1
        assert r.of(LinkLost) and "link dropped" in r.of(LinkLost)[-1].reason


@pytest.mark.looptime
async def test_stop_confirmed_means_acked_and_zero_on_the_record() -> None:
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(2.0)
        n = len(r.sim.record)
        await r.driver.stop()  # returns only once the device confirmed: 0 is on the record
        assert r.driver.last_stop_confirmed is True
        assert r.driver.connected
        assert [(s.intensity_ma, s.cause) for s in r.sim.record.samples[n:] if s.channel == 0] == [
            (0.0, "stop")
        ]


def test_the_stop_bound_is_never_more_than_a_second() -> None:
    assert DriverTimeouts().stop_confirm_s <= 1.0
    with pytest.raises(ValueError, match="at most 1 s"):
        DriverTimeouts(stop_confirm_s=1.5)


@pytest.mark.looptime
async def test_stop_is_not_queued_behind_a_command_waiting_for_its_ack() -> None:
    slow = DriverTimeouts(ack_s=30.0)
    async with rig(timeouts=slow) as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        r.sim.stick()
        waiting = asyncio.create_task(r.driver.keepalive())  # waits up to 30 s for its ack
        await asyncio.sleep(0.1)
        assert not waiting.done()
        loop = asyncio.get_running_loop()
        started = loop.time()
        writes = r.sim.model.writes_accepted
        with pytest.raises(StopUnconfirmed):
            await r.driver.stop()  # written at once; unconfirmed (stuck) -> link dropped
        assert loop.time() - started <= slow.stop_confirm_s + 0.05
        assert r.sim.model.writes_accepted == writes  # stuck: the firmware took nothing
        with pytest.raises(DeviceDisconnected):
            await waiting  # the link went down under it, not 30 s later


@pytest.mark.looptime
async def test_peel_off_and_low_battery_reach_subscribers() -> None:
    async with rig() as r:
        await r.driver.arm((0, 1))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        r.sim.peel_off(0)
        await until(lambda: any(Fault.ELECTRODE_OFF in s.faults for s in r.of(DeviceStatus)))
        status = next(s for s in r.of(DeviceStatus) if Fault.ELECTRODE_OFF in s.faults)
        assert isinstance(status, DeviceStatus)
        assert status.channels[0].contact is False
        assert status.channels[0].impedance_ohm is None
        assert status.channels[0].delivered == 0.0
        assert status.channels[1].contact is True
        assert r.sim.record.last(0) == 0.0

        r.sim.drain_battery(8.0)
        await until(lambda: any(Fault.LOW_BATTERY in s.faults for s in r.of(DeviceStatus)))
        assert r.driver.battery_percent == 8


@pytest.mark.looptime
async def test_a_refused_stop_drops_the_link_so_the_device_zeroes() -> None:
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        assert r.sim.record.last(0) > 0
        r.sim.reject_next_write()  # the profile says STOP is never refused: a broken device
        before = asyncio.get_running_loop().time()
        with pytest.raises(StopUnconfirmed, match="BUSY"):
            await r.driver.stop()
        assert not r.driver.connected
        assert r.of(LinkLost) and "link dropped" in r.of(LinkLost)[0].reason
        zero = await r.sim.record.wait_for(
            lambda s: s.channel == 0 and s.intensity_ma == 0, 0.5, since=before
        )
        assert zero.cause == "disconnect"
        with pytest.raises(DeviceDisconnected):
            await r.driver.set_output(0, TENS)


@pytest.mark.looptime
async def test_device_reboot_is_a_link_loss_and_a_new_connect_starts_clean() -> None:
    async with rig() as r:
        await r.driver.set_device_limits(max_ma=20.0, max_ramp_ma_s=2.0, watchdog_s=1.0)
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        await r.sim.reboot()
        await until(lambda: bool(r.of(LinkLost)))
        assert r.sim.record.last(0) == 0.0
        await asyncio.sleep(1.0)  # the simulator advertises again after its reboot time
        await r.driver.connect()
        # our device-side limits went out again to the rebooted (factory) device
        await r.driver.arm((0,))
        with pytest.raises(DeviceRejected, match="OVER_LIMIT"):
            await r.driver.set_output(0, ChannelOutput(25.0, 200, 80.0))


@pytest.mark.looptime
async def test_a_violations_own_unconfirmed_stop_still_says_the_link_was_dropped() -> None:
    """The stop after a protocol violation runs in a task of the driver's; dropping the link
    cancels the driver's tasks when the disconnect lands, and that cancelled the very task
    about to say so (found on the Coyote 3 driver, campaign seed 8026): LinkLost must reach
    the controller whichever task drops the link."""
    async with rig() as r:
        await r.driver.arm((0,))
        await r.driver.set_output(0, TENS)
        await r.hold(1.0)
        r.sim.stick(watchdog=False)
        r.driver._violation("test: a status the driver could not read")
        for _ in range(40):
            if r.of(LinkLost):
                break
            await asyncio.sleep(0.05)
        assert not r.driver.connected
        assert r.of(LinkLost) and "link dropped" in r.of(LinkLost)[-1].reason


async def test_driver_messages_count_channels_from_1() -> None:
    """What reaches a person from the driver names channels as every face does (issue 18.8):
    index 0 is "channel 1". Kills: an index printed where a person reads it."""
    async with rig(timeouts=DriverTimeouts(ack_s=0.3)) as r:
        with pytest.raises(DeviceError, match=r"has channels 1–2, not 3$"):
            await r.driver.set_output(2, TENS)
        with pytest.raises(DeviceError, match=r"has channels 1–2, not 3$"):
            await r.driver.arm((0, 2))
        with pytest.raises(DeviceRejected, match=r"SET_OUTPUT 10 mA on channel 1\b.*NOT_ARMED"):
            await r.driver.set_output(0, TENS)
        r.sim.reject_next_write()
        with pytest.raises(DeviceRejected, match=r"START of channels 1 and 2\b.*BUSY"):
            await r.driver.arm((0, 1))
        r.sim.stick(watchdog=False)
        with pytest.raises(DeviceTimeout, match="did not acknowledge START of channel 1 "):
            await r.driver.arm((0,))
    assert r.sim.record.max() == 0.0
