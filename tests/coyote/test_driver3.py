"""The Coyote 3.0 driver against the simulated device over the virtual radio (looptime)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from devices.coyote import v3codec
from simulators.coyote import wire3
from simulators.coyote.model3 import FRAME_S, Received
from tens.device import (
    ChannelOutput,
    DeviceError,
    DeviceRejected,
    DeviceStatus,
    Fault,
    LinkLost,
    ProtocolViolation,
    StopUnconfirmed,
    Waveform,
)
from tests.coyote.conftest import coyote3_rig

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

OUT = ChannelOutput(intensity=12, pulse_width_us=150, frequency_hz=100)


def now() -> float:
    return asyncio.get_running_loop().time()


async def run_for(driver: object, seconds: float) -> None:
    """Let the stream run, feeding the host watchdog like the session runner does."""
    from devices.coyote.base import CoyoteDriverBase

    assert isinstance(driver, CoyoteDriverBase)
    end = now() + seconds
    while now() < end:
        await asyncio.sleep(0.1)
        await driver.keepalive()


def first_wave_index(received: list[Received]) -> int:
    return next(i for i, r in enumerate(received) if r.plays(0) or r.plays(1))


def assert_zero_and_bf_before_waves(received: list[Received], limit: int) -> None:
    """From the start of ``received``: absolute 0 on both channels, BF with our limit, and
    only then any waveform."""
    k = first_wave_index(received)
    before = received[:k]
    zeros = [
        i
        for i, r in enumerate(before)
        if isinstance(r.frame, wire3.StrengthFrame)
        and all(p.mode == wire3.SET and p.value == 0 for p in r.frame.channels)
    ]
    bfs = [
        i
        for i, r in enumerate(before)
        if isinstance(r.frame, wire3.LimitFrame) and r.frame.soft_limits == (limit, limit)
    ]
    assert zeros, "no absolute strength 0 before the first waveform"
    assert bfs, f"no BF with soft limits {limit} before the first waveform"
    assert zeros[0] < k and bfs[-1] < k


LIMITS_SEQUENCE = ["B0", "B0", "BF", "B0", "B0"]
"""zero at connect; then, for the limits: strength = our limit (reads the device's soft limit),
BF with the lower, one above it (must read back at most the limit), zero again."""


def settings(received: list[Received]) -> list[str]:
    """The writes that set something: BF, and B0 with an absolute strength (not the stream's
    keep-strength frames)."""
    return [
        r.kind
        for r in received
        if r.kind == "BF"
        or (
            isinstance(r.frame, wire3.StrengthFrame)
            and any(p.mode == wire3.SET for p in r.frame.channels)
        )
    ]


async def test_connect_without_a_limit_sends_zero_and_no_bf() -> None:
    async with coyote3_rig(connect=False) as rig:
        rig.sim.model.soft_limits = [50, 60]  # the person's own, set in the vendor app
        await rig.driver.connect()
        await asyncio.sleep(0.05)
        assert settings(rig.sim.model.received) == ["B0"]
        # a BF of 0 would erase the device's own soft limit before we could read it
        assert rig.sim.model.soft_limits == [50, 60]
        with pytest.raises(DeviceRejected):  # no limit known yet: the driver gives nothing
            await rig.driver.set_output(0, OUT)


async def test_a_stricter_device_soft_limit_is_kept_never_raised() -> None:
    async with coyote3_rig(connect=False) as rig:
        rig.sim.model.soft_limits = [50, 60]
        await rig.driver.connect()
        await rig.driver.set_device_limits(100, 2.0, 1.0)
        await asyncio.sleep(0.05)
        assert rig.sim.model.soft_limits == [50, 60]  # today: raised to 100
        assert rig.driver.level_limit == 50
        assert rig.driver.capabilities.intensity_max == 50
        assert settings(rig.sim.model.received) == LIMITS_SEQUENCE
        assert rig.sim.model.strength == [0, 0]
        assert rig.sim.record.max() == 0  # strength only, never a waveform
        assert not any(r.plays(0) or r.plays(1) for r in rig.sim.model.received)
        with pytest.raises(DeviceRejected):
            await rig.driver.set_output(0, ChannelOutput(51, 150, 100))


async def test_a_looser_device_soft_limit_is_lowered_to_ours() -> None:
    async with coyote3_rig(connect=False) as rig:
        await rig.driver.connect()
        await rig.driver.set_device_limits(20, 2.0, 1.0)
        await asyncio.sleep(0.05)
        assert rig.sim.model.soft_limits == [20, 20]
        assert rig.driver.capabilities.intensity_max == 200  # nothing stricter than ours


@pytest.mark.parametrize("fault", ["ignore_bf", "ignore_soft_limits", "silent"])
async def test_soft_limits_not_in_force_are_refused(fault: str) -> None:
    async with coyote3_rig(connect=False) as rig:
        await rig.driver.connect()
        setattr(rig.sim.model, fault, True)
        with pytest.raises(DeviceError):
            await rig.driver.set_device_limits(20, 2.0, 1.0)
        assert rig.driver.level_limit == 0  # unsure: the driver itself gives nothing
        with pytest.raises(DeviceRejected):
            await rig.driver.set_output(0, ChannelOutput(5, 150, 100))
        assert rig.sim.record.max() == 0


async def test_stop_is_confirmed_by_its_b1() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        await rig.driver.stop()  # returns once the B1 with its sequence shows 0
        assert rig.driver.connected
        assert rig.sim.model.strength == [0, 0]
        stop = [
            r.frame
            for r in rig.sim.model.received
            if isinstance(r.frame, wire3.StrengthFrame) and r.frame.a.mode == wire3.SET
        ][-1]
        assert stop.seq != 0 and stop.a.value == 0
        assert rig.sim.model.replies[-1][1][:4] == bytes([0xB1, stop.seq, 0, 0])


async def test_an_unanswered_stop_drops_the_link_within_the_bound() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        rig.sim.model.silent = True  # no B1 any more
        t_stop = now()
        with pytest.raises(StopUnconfirmed, match="did not confirm the stop"):
            await rig.driver.stop()
        assert now() - t_stop <= 1.0 + 0.05
        assert not rig.driver.connected
        assert any(isinstance(e, LinkLost) for e in rig.events)
        assert rig.sim.record.last(0) == 0  # the waveform was dropped, and the frames stopped


async def test_connect_sends_absolute_zero_then_bf_before_any_waveform() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        received = rig.sim.model.received
        first = received[0].frame
        assert isinstance(first, wire3.StrengthFrame)
        assert first.seq != 0 and all(p.mode == wire3.SET and p.value == 0 for p in first.channels)
        assert not first.a.wave_valid and not first.b.wave_valid
        assert_zero_and_bf_before_waves(received, 20)
        assert rig.sim.model.soft_limits == [20, 20]
        assert rig.sim.record.max(0) == 12


async def test_output_within_level_limit_and_refused_above() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        await rig.driver.arm((0, 1))
        with pytest.raises(DeviceRejected):
            await rig.driver.set_output(0, ChannelOutput(21, 150, 100))
        with pytest.raises(DeviceRejected):  # 150 Hz: a pulse period under 10 ms
            await rig.driver.set_output(0, ChannelOutput(5, 150, 150))
        await rig.driver.set_output(0, ChannelOutput(7.9, 150, 100))  # rounded down
        await rig.driver.set_output(1, ChannelOutput(20, 150, 2, Waveform.BURST))
        await run_for(rig.driver, 1.0)
        assert rig.sim.model.strength == [7, 20]
        assert rig.sim.record.max(0) == 7 and rig.sim.record.max(1) == 20


async def test_stop_is_written_at_once_not_at_the_next_tick() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        await asyncio.sleep(0.04)  # between two frames
        t_stop = now()
        await rig.driver.stop()
        assert rig.sim.model.strength == [0, 0]
        last = rig.sim.record.for_channel(0)[-1]
        # at a connection event: after the one frame write in flight, then its own event
        interval = rig.sim.link.interval_s
        assert last.intensity_ma == 0 and 0 < last.t - t_stop <= 2 * interval + 1e-6


async def test_next_strength_change_waits_for_the_matching_b1() -> None:
    async with coyote3_rig() as rig:
        mark = len(rig.sim.model.received)
        rig.sim.model.silent = True  # the device stops answering
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, ChannelOutput(5, 150, 100))
        await asyncio.sleep(0.25)
        await rig.driver.set_output(0, ChannelOutput(8, 150, 100))
        await asyncio.sleep(0.35)
        sets = [
            r
            for r in rig.sim.model.received[mark:]  # after the connect and the limits
            if isinstance(r.frame, wire3.StrengthFrame) and r.frame.a.mode == wire3.SET
        ]
        assert len(sets) == 1
        first = sets[0].frame
        assert isinstance(first, wire3.StrengthFrame)
        assert first.seq != 0  # numbered: it asks for a B1
        assert rig.sim.model.strength[0] == 5
        await asyncio.sleep(1.0)  # no B1 in time: unsure -> violation, output stopped
        assert any(isinstance(e, ProtocolViolation) for e in rig.events)
        assert rig.sim.model.strength == [0, 0]


async def test_strength_changes_follow_each_other_once_acknowledged() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        await rig.driver.arm((0,))
        for level in range(1, 11):
            await rig.driver.set_output(0, ChannelOutput(level, 150, 100))
            await asyncio.sleep(0.1)
        await run_for(rig.driver, 0.3)
        seqs = [
            r.frame.seq
            for r in rig.sim.model.received
            if isinstance(r.frame, wire3.StrengthFrame) and r.frame.a.mode == wire3.SET
        ]
        assert all(1 <= s <= 15 for s in seqs)
        assert rig.sim.model.strength[0] == 10
        acks = [e.acked_seq for e in rig.events if isinstance(e, DeviceStatus) and e.acked_seq]
        assert acks[-1] == seqs[-1]


async def test_reconnect_mid_session_sends_zero_and_bf_before_any_waveform() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        assert rig.sim.model.delivered(0) == 12
        await rig.sim.drop_link()
        await asyncio.sleep(0.3)
        assert any(isinstance(e, LinkLost) for e in rig.events)
        assert not rig.driver.connected
        # frames stopped: output ended, but the strength is still set on the device
        assert rig.sim.model.delivered(0) == 0 and rig.sim.model.strength[0] == 12
        mark = len(rig.sim.model.received)
        await rig.driver.connect()
        await asyncio.sleep(0.05)  # BF is written without response: let it land
        # connect() alone already re-sent BF with the limit configured before the link loss
        assert rig.sim.model.strength == [0, 0]
        assert settings(rig.sim.model.received[mark:])[:5] == LIMITS_SEQUENCE
        await rig.driver.set_device_limits(20, 2.0, 1.0)
        # nothing resumes by itself: a new start is needed
        await run_for(rig.driver, 0.3)
        assert rig.sim.model.delivered(0) == 0
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.3)
        assert_zero_and_bf_before_waves(rig.sim.model.received[mark:], 20)
        assert rig.sim.model.delivered(0) == 12


async def test_bf_is_resent_after_the_device_was_power_cycled() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        rig.sim.model.soft_limits = [200, 200]  # e.g. another app raised them meanwhile
        await rig.sim.power_cycle()
        await asyncio.sleep(0.2)
        await rig.driver.connect()
        await asyncio.sleep(0.05)
        assert rig.sim.model.soft_limits == [20, 20]


async def test_frame_stream_that_stops_ends_output_within_100_ms() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        stream = rig.driver._stream
        assert stream is not None
        stream.cancel()  # the frames stop (a hung host), the link stays up
        await asyncio.sleep(0.5)
        last_frame = rig.sim.model.received[-1].t
        stopped = rig.sim.record.for_channel(0)[-1]
        assert stopped.intensity_ma == 0 and stopped.cause == "frames stopped"
        next_due = last_frame + 0.1
        assert 0 <= stopped.t - next_due <= 0.1
        # the last frame's 100 ms, after at most the one before it (it waits its turn)
        played = stopped.t - last_frame
        assert FRAME_S - 1e-6 <= played <= 2 * FRAME_S + 1e-6
        assert rig.sim.model.strength[0] == 12  # the strength stays set
        with pytest.raises(DeviceError):  # the session runner learns at its next keepalive
            await rig.driver.keepalive()


async def test_a_stream_that_dies_is_reported_as_unsure() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.3)

        async def broken(*_args: object) -> None:
            raise RuntimeError("bug in frame composition")

        rig.driver._write_frame = broken  # type: ignore[method-assign,assignment]
        await asyncio.sleep(0.3)
        assert any(isinstance(e, ProtocolViolation) for e in rig.events)
        assert rig.sim.model.delivered(0) == 0  # no frames: output ended
        with pytest.raises(DeviceError):
            await rig.driver.set_output(0, OUT)


async def test_wheel_within_limit_is_reported_and_kept() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.3)
        rig.sim.turn_wheel(0, -4)
        await run_for(rig.driver, 0.3)
        status = [e for e in rig.events if isinstance(e, DeviceStatus)][-1]
        assert status.channels[0].delivered == 8 and not status.faults
        assert rig.sim.model.strength[0] == 8  # the driver does not turn it back up
        assert rig.driver.device_levels[0] == 8


async def test_wheel_above_the_limit_is_a_fault_and_output_goes_to_zero() -> None:
    async with coyote3_rig(level_limit=20) as rig:
        rig.sim.model.ignore_soft_limits = True  # a device that does not keep its soft limit
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.3)
        rig.sim.turn_wheel(0, +30)
        await asyncio.sleep(0.1)  # the frame in flight, then the zeroing at its event
        faults = [e for e in rig.events if isinstance(e, DeviceStatus) and e.faults]
        assert faults and Fault.WHEEL_OVER_LIMIT in faults[0].faults
        assert rig.sim.model.strength == [0, 0]
        assert rig.sim.model.delivered(0) == 0


async def test_malformed_b1_is_a_violation_and_stops() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.3)
        rig.sim.send_raw_reply(bytes([0xB1, 0, 250, 0]))  # strength 250: not a valid B1
        await asyncio.sleep(0.1)  # the frame in flight, then the zeroing at its event
        assert any(isinstance(e, ProtocolViolation) for e in rig.events)
        assert rig.sim.model.strength == [0, 0]


async def test_host_watchdog_zeroes_output_when_the_controller_goes_quiet() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await asyncio.sleep(1.5)  # no keepalive
        faults = [e for e in rig.events if isinstance(e, DeviceStatus) and e.faults]
        assert faults and Fault.WATCHDOG in faults[0].faults
        assert rig.sim.model.strength == [0, 0] and rig.sim.model.delivered(0) == 0
        assert rig.sim.record.max(0) == 12


async def test_battery_is_reported() -> None:
    async with coyote3_rig() as rig:
        assert rig.driver.battery_percent == 100
        rig.sim.set_battery(4)
        await asyncio.sleep(0.05)
        status = [e for e in rig.events if isinstance(e, DeviceStatus)][-1]
        assert status.battery_percent == 4 and Fault.LOW_BATTERY in status.faults


async def test_simulator_reports_link_changes_like_the_opentens_one() -> None:
    async with coyote3_rig(connect=False) as rig:
        seen: list[str] = []
        rig.sim.add_link_listener(seen.append)
        await rig.driver.connect()
        await asyncio.wait_for(rig.sim.wait_connected(), 1.0)
        await rig.sim.reboot()
        await asyncio.sleep(0.1)
        assert seen == ["connected", "disconnected"]
        assert any(isinstance(e, LinkLost) for e in rig.events)


async def test_driver_writes_without_response_where_the_device_lists_only_that() -> None:
    """The simulator's write-without-response option (what the vendor's maintainers say of
    real units): a write request is refused, and the driver streams and stops without."""
    from devices import registry
    from devices.coyote.driver3 import Coyote3Driver
    from simulators.coyote.simulator import Coyote3Simulator
    from simulators.radio.radio import VirtualRadio

    radio = await VirtualRadio.local()
    sim = await Coyote3Simulator.start(radio, write_without_response=True)
    try:
        driver = await registry.open_device(radio.transport(), sim.address, 5.0)
        assert isinstance(driver, Coyote3Driver)
        await driver.connect()
        client = driver._client
        assert client is not None
        char = client.services.get_characteristic(v3codec.WRITE_UUID)
        assert char is not None and set(char.properties) == {"write-without-response"}
        from bleak.exc import BleakGATTProtocolError

        with pytest.raises(BleakGATTProtocolError):
            await client.write_gatt_char(v3codec.WRITE_UUID, bytes(7), response=True)
        await driver.set_device_limits(20, 2.0, 1.0)
        assert driver._with_response(client, v3codec.WRITE_UUID) is False
        await driver.arm((0,))
        await driver.set_output(0, OUT)
        await run_for(driver, 0.3)
        await driver.stop()
        await asyncio.sleep(0.05)  # written without response: it lands at the next event
        assert sim.model.strength == [0, 0] and sim.record.max(0) == 12
        await driver.disconnect()
    finally:
        await sim.close()
        await radio.close()


async def test_driver_writes_with_response_where_the_device_allows_it() -> None:
    from devices import registry
    from devices.coyote.driver3 import Coyote3Driver
    from simulators.coyote.simulator import Coyote3Simulator
    from simulators.radio.radio import VirtualRadio

    radio = await VirtualRadio.local()
    sim = await Coyote3Simulator.start(radio)
    try:
        driver = await registry.open_device(radio.transport(), sim.address, 5.0)
        assert isinstance(driver, Coyote3Driver)
        await driver.connect()
        await driver.set_device_limits(20, 2.0, 1.0)
        assert driver._with_response(driver._client, v3codec.WRITE_UUID) is True  # type: ignore[arg-type]
        assert sim.model.soft_limits == [20, 20]  # answered writes: there on return
        await driver.arm((0,))
        await driver.set_output(0, OUT)
        await run_for(driver, 0.3)
        await driver.stop()
        assert sim.model.strength == [0, 0] and sim.record.max(0) == 12
        await driver.disconnect()
    finally:
        await sim.close()
        await radio.close()


async def test_a_hang_during_a_steady_hold_is_noticed_and_the_link_dropped() -> None:
    """During a hold no strength changes, so no B1 is asked: the driver asks one anyway
    (a relative +0 with a sequence number, which cannot undo a turn of the wheel) and a
    device that stops answering is noticed within the bound, its link dropped (the campaign's
    "Coyote 3 hung during a hold", issue 12 item 3)."""
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 1.0)  # steady: the strength is set and acknowledged
        assert rig.sim.model.strength[0] == 12
        before = rig.sim.model.strength[0]
        rig.sim.hang(True)  # output latched at 12 until the link drops
        t_hang = now()
        for _ in range(100):  # up to 5 s
            if not rig.driver.connected:
                break
            await asyncio.sleep(0.05)
        assert not rig.driver.connected, "a hung Coyote 3 during a hold was never noticed"
        assert now() - t_hang <= 1.0 + 1.0 + 0.25  # noticed within 1 s, stop bound 1 s
        assert any(isinstance(e, ProtocolViolation) for e in rig.events)
        await asyncio.sleep(0.2)  # the disconnect reaches the device
        assert rig.sim.record.last(0) == 0  # the disconnect zeroed the latched output
        rig.sim.hang(False)
        # the probes changed nothing on the device: every one was a relative +0
        probes = [
            r.frame
            for r in rig.sim.model.received
            if isinstance(r.frame, wire3.StrengthFrame)
            and r.frame.seq
            and all(p.mode == wire3.ADD for p in r.frame.channels)
        ]
        assert probes and all(p.value == 0 for f in probes for p in f.channels)
        assert before == 12


async def test_liveness_probes_never_undo_a_turn_of_the_wheel() -> None:
    """A person turns the wheel down during a hold while the driver probes: the device keeps
    the person's strength, and the probes are few (a handful a second, not every frame)."""
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 1.0)
        n0 = len(rig.sim.model.received)
        rig.sim.model.turn_wheel(0, -5)
        await run_for(rig.driver, 2.0)
        assert rig.driver.connected
        assert rig.sim.model.strength[0] == 7
        probes = [
            r.frame
            for r in rig.sim.model.received[n0:]
            if isinstance(r.frame, wire3.StrengthFrame) and r.frame.seq
        ]
        assert 2 <= len(probes) <= 10, len(probes)


async def test_a_hang_while_ramping_drops_the_link_within_the_silence_bound() -> None:
    """Campaign seed 8026: hung 0.18 s before a strength change went out; no B1 for it, a
    violation 1.1 s later, then a stop the hung device could not confirm, waited out for
    another second: the link went 2.26 s after the hang (bound 2.25). A device that stopped
    answering is not asked to confirm anything more: its link goes at once."""
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 1.0)
        rig.sim.hang(True)
        t_hang = now()
        await asyncio.sleep(0.18)
        await rig.driver.set_output(0, ChannelOutput(14, 150, 100))  # a change, never answered
        for _ in range(100):
            if not rig.driver.connected:
                break
            await asyncio.sleep(0.02)
            with contextlib.suppress(DeviceError):
                await rig.driver.keepalive()  # the session runner feeds the host watchdog
        assert not rig.driver.connected
        assert now() - t_hang <= 0.18 + 1.0 + 0.1 + 0.15, now() - t_hang
        assert any(isinstance(e, ProtocolViolation) for e in rig.events)
        await asyncio.sleep(0.2)  # the disconnect completes
        assert any(isinstance(e, LinkLost) for e in rig.events)
        assert rig.sim.record.last(0) == 0


async def test_a_channel_the_coyote_lacks_is_named_as_people_count() -> None:
    """Issue 18.8: index 2 is "channel 3"; the Coyote's A and B are channels 1 and 2."""
    async with coyote3_rig(level_limit=20) as rig:
        with pytest.raises(DeviceRejected, match=r"has channels 1 and 2 \(A and B\), not 3$"):
            await rig.driver.set_output(2, ChannelOutput(5, 150, 100))
        assert rig.sim.record.max() == 0
