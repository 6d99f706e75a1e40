"""The device-side rules 1–8 of the OpenTENS profile, judged on the delivered-output record.

Everything runs on looptime's virtual clock: a watchdog second or a ramp of several seconds
costs no real time, and times on the record are exact connection-event times.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from simulators.opentens.config import SimConfig
from simulators.opentens.profile import AttCode, FaultBit
from tests.simulator.kit import connected_model

pytestmark = pytest.mark.looptime

INTERVAL = 0.030


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_a_write_takes_effect_at_the_next_connection_event() -> None:
    cfg = SimConfig(interval_ms=100.0)
    async with connected_model(cfg) as c:
        t_connect = now()
        await asyncio.sleep(0.234)
        sent = now()
        await c.start()
        applied = now()
        assert 0 < applied - sent <= 0.1 + 1e-6
        events = (applied - t_connect) / 0.1
        assert abs(events - round(events)) < 1e-6, "applied between connection events"
        assert c.model.acked_seq == 1
        status = await c.next_status()
        assert status.acked_seq == 1


async def test_start_arms_from_zero_and_the_ramp_never_exceeds_its_rate() -> None:
    async with connected_model() as c:
        await c.start(0b01)
        assert c.model.channel(0).armed and not c.model.channel(1).armed
        assert c.model.record.last(0) == 0.0
        await c.set_output(0, 20.0)
        t0 = now()
        async with c.feeding_watchdog():
            sample = await c.model.record.wait_for(
                lambda s: s.channel == 0 and s.intensity_ma >= 20.0, timeout=10.0
            )
        # 5 mA/s factory ramp: 20 mA takes 4 s, reached at the first event after that
        assert 4.0 - 1e-6 <= sample.t - t0 <= 4.0 + INTERVAL + 1e-6
        assert c.model.record.max_rise_rate(0) <= 5.0 + 1e-3
        assert c.model.record.max(0) == 20.0
        ramp_steps = [s for s in c.model.record.for_channel(0) if s.cause == "ramp"]
        assert len(ramp_steps) > 100  # a step at each connection event, each one notified
        assert any(ch.ramping for ch in c.statuses[-5][1].channels)


async def test_set_limits_slows_the_ramp_and_a_decrease_is_at_once() -> None:
    async with connected_model() as c:
        await c.set_limits(40.0, 2.0, 1000)
        await c.start()
        await c.set_output(1, 6.0)
        await c.keep_alive_for(4.0)
        assert c.model.record.max_rise_rate(1) <= 2.0 + 1e-3
        assert c.model.record.last(1) == 6.0
        before = len(c.model.record)
        await c.set_output(1, 1.5)
        changes = c.model.record.samples[before:]
        assert [(s.intensity_ma, s.cause) for s in changes] == [(1.5, "set")]


async def test_over_limit_is_refused_and_flagged_until_the_next_accepted_command() -> None:
    async with connected_model() as c:
        await c.start()
        assert await c.refused(c.set_output(0, 80.1)) == AttCode.OVER_LIMIT
        await c.set_limits(30.0, 5.0, 1000)
        assert await c.refused(c.set_output(0, 30.1)) == AttCode.OVER_LIMIT
        status = c.last_status()  # sent at the event that refused it
        assert status.faults & FaultBit.LIMIT_REFUSED
        assert status.acked_seq == 3  # the refused write (seq 4) was not acknowledged
        await c.set_output(0, 30.0)
        status = await c.next_status()
        assert not status.faults & FaultBit.LIMIT_REFUSED
        assert c.model.record.max() <= 30.0


async def test_limits_can_be_lowered_never_raised() -> None:
    async with connected_model() as c:
        for args in ((80.1, 5.0, 1000), (40.0, 5.1, 1000), (40.0, 2.0, 1001), (40.0, 0.0, 500)):
            assert await c.refused(c.set_limits(*args)) == AttCode.OUT_OF_RANGE
        assert c.model.limits.max_intensity == 800
        await c.start()
        await c.set_output(0, 10.0)
        await c.keep_alive_for(3.0)
        assert c.model.record.last(0) == 10.0
        await c.set_limits(4.0, 5.0, 1000)  # lowered below what runs: down at once
        assert c.model.record.last(0) == 4.0
        assert c.model.record[-1].cause == "limits"


async def test_set_output_needs_start_and_valid_ranges() -> None:
    async with connected_model() as c:
        assert await c.refused(c.set_output(0, 1.0)) == AttCode.NOT_ARMED
        await c.set_output(0, 0.0)  # zero is always allowed
        await c.start(0b01)
        assert await c.refused(c.set_output(1, 1.0)) == AttCode.NOT_ARMED
        assert await c.refused(c.set_output(2, 1.0)) == AttCode.BAD_CHANNEL
        assert await c.refused(c.set_output(0, 1.0, pw=49)) == AttCode.OUT_OF_RANGE
        assert await c.refused(c.set_output(0, 1.0, pw=401)) == AttCode.OUT_OF_RANGE
        assert await c.refused(c.set_output(0, 1.0, hz=0.9)) == AttCode.OUT_OF_RANGE
        assert await c.refused(c.set_output(0, 1.0, hz=150.1)) == AttCode.OUT_OF_RANGE
        assert await c.refused(c.set_output(0, 1.0, wave=3)) == AttCode.OUT_OF_RANGE
        assert await c.refused(c.start(0b100)) == AttCode.BAD_CHANNEL
        assert await c.refused(c.model.write(b"\x09\x01")) == AttCode.UNKNOWN_OPCODE
        assert await c.refused(c.model.write(bytes.fromhex("0101007D00C800E803"))) == (
            AttCode.BAD_LENGTH
        )
        assert c.model.record.max() == 0.0


async def test_watchdog_trips_without_writes_and_latches_until_start() -> None:
    async with connected_model() as c:
        await c.start()
        await c.set_output(0, 5.0)
        await c.keep_alive_for(10.0, every=0.9)  # fed in time: no trip
        assert not c.model.faults & FaultBit.WATCHDOG
        assert c.model.record.last(0) == 5.0
        await c.keepalive()
        last_write = now()
        trip = await c.model.record.wait_for(lambda s: s.cause == "watchdog", timeout=5.0)
        assert trip.t == pytest.approx(last_write + 1.0, abs=1e-6)
        assert trip.intensity_ma == 0.0
        assert not any(ch.armed for ch in c.model.channels)
        status = await c.next_status()
        assert status.faults & FaultBit.WATCHDOG
        assert await c.refused(c.set_output(0, 5.0)) == AttCode.NOT_ARMED
        await asyncio.sleep(30)  # latched; never resumes by itself
        assert c.model.faults & FaultBit.WATCHDOG and c.model.record.last(0) == 0.0
        await c.start()
        assert not c.model.faults & FaultBit.WATCHDOG


async def test_set_limits_shortens_the_watchdog() -> None:
    async with connected_model() as c:
        await c.set_limits(80.0, 5.0, 300)
        await c.start()
        await c.set_output(0, 2.0)
        sent = now()
        trip = await c.model.record.wait_for(lambda s: s.cause == "watchdog", timeout=5.0)
        assert trip.t == pytest.approx(sent + 0.3, abs=1e-6)


async def test_peel_off_cuts_output_at_once_and_there_is_no_resume_until_start() -> None:
    async with connected_model() as c:
        await c.start()
        await c.set_output(0, 10.0)
        await c.keep_alive_for(3.0)
        peeled_at = now()
        c.model.peel_off(0)
        assert c.model.record[-1].t == peeled_at and c.model.record[-1].cause == "peel-off"
        assert c.model.record.last(0) == 0.0
        status = await c.next_status()
        assert status.faults & FaultBit.ELECTRODE_OFF
        assert status.channels[0].impedance_ohm == 0xFFFF
        assert not status.channels[0].armed and not status.channels[0].contact
        assert await c.refused(c.start(0b01)) == AttCode.ELECTRODE_OFF
        assert await c.refused(c.set_output(0, 10.0)) == AttCode.ELECTRODE_OFF
        c.model.reattach(0)
        await c.keep_alive_for(5.0)
        assert c.model.record.value_at(0, now()) == 0.0  # contact back, output stays 0
        assert await c.refused(c.set_output(0, 10.0)) == AttCode.NOT_ARMED
        assert c.model.faults & FaultBit.ELECTRODE_OFF
        await c.start(0b01)
        assert not c.model.faults & FaultBit.ELECTRODE_OFF
        await c.set_output(0, 3.0)
        await c.keep_alive_for(1.0)
        resumed = [s for s in c.model.record.for_channel(0) if s.t > peeled_at and s.intensity_ma]
        assert resumed[0].intensity_ma <= 5.0 * INTERVAL + 1e-6  # from zero, on the ramp


async def test_low_battery_warns_at_10_and_cuts_off_at_5() -> None:
    async with connected_model(SimConfig(battery_percent=50)) as c:
        await c.start()
        await c.set_output(0, 4.0)
        await c.keep_alive_for(2.0)
        async with c.feeding_watchdog():
            c.model.drain_battery(10)
            status = await c.next_status()
            assert status.faults & FaultBit.LOW_BATTERY and status.battery_percent == 10
            assert c.model.record.last(0) == 4.0
            drained_at = now()
            c.model.drain_battery(5)
            cut = await c.model.record.wait_for(
                lambda s: s.cause == "low-battery", timeout=1.0, since=drained_at
            )
            assert cut.t == drained_at  # at once, not at the next event
        assert cut.intensity_ma == 0.0
        assert await c.refused(c.start()) == AttCode.LOW_BATTERY
        assert await c.refused(c.set_output(0, 1.0)) == AttCode.LOW_BATTERY
        await c.stop()  # STOP and KEEPALIVE are never refused for the battery
        await c.keepalive()
        c.model.set_battery(80)  # a charger does not bring the output back
        await c.keep_alive_for(2.0)
        assert c.model.record.last(0) == 0.0


async def test_battery_drains_with_delivered_current() -> None:
    cfg = SimConfig(battery_drain_pct_per_ma_s=0.001)
    async with connected_model(cfg) as c:
        await c.start()
        await c.set_output(0, 20.0)
        await c.keep_alive_for(300.0, every=0.8)
        # 20 mA for ~296 s after a 4 s ramp: ~6 %; nothing drains while idle
        assert 93 <= c.model.battery_percent <= 95
        level = c.model.battery_percent
        await c.stop()
        await c.keep_alive_for(300.0, every=0.8)
        assert c.model.battery_percent == level


async def test_disconnect_zeroes_disarms_and_restores_factory_limits() -> None:
    async with connected_model() as c:
        await c.set_limits(20.0, 2.0, 800)
        await c.start()
        await c.set_output(1, 6.0)
        await c.keep_alive_for(4.0)
        assert c.model.record.last(1) == 6.0
        dropped = now()
        c.model.disconnect()
        assert c.model.record[-1].t == dropped and c.model.record[-1].cause == "disconnect"
        assert c.model.record.last(1) == 0.0
        assert c.model.limits.max_intensity == 800 and c.model.limits.watchdog_ms == 1000
        await asyncio.sleep(60)
        c.model.connect()
        assert c.model.acked_seq == 0
        assert await c.refused(c.set_output(1, 6.0)) == AttCode.NOT_ARMED
        assert c.model.record.last(1) == 0.0


async def test_stop_at_the_next_event_disarms_the_channels_it_names() -> None:
    async with connected_model(SimConfig(interval_ms=50.0)) as c:
        await c.start()
        await c.set_output(0, 8.0)
        await c.set_output(1, 3.0)
        await c.keep_alive_for(2.0)
        await asyncio.sleep(0.013)
        sent = now()
        await c.stop(0b01)
        stop = c.model.record[-1]
        assert stop.cause == "stop" and stop.channel == 0 and stop.intensity_ma == 0.0
        assert sent < stop.t <= sent + 0.05 + 1e-6
        assert c.model.record.last(1) > 0.0  # not named: untouched
        assert not c.model.channel(0).armed and c.model.channel(1).armed
        # rule 8: no output on a stopped channel until the next START
        assert await c.refused(c.set_output(0, 2.0)) == AttCode.NOT_ARMED
        await c.keep_alive_for(1.0)
        assert c.model.record.last(0) == 0.0
        await c.start(0b01)
        await c.set_output(0, 2.0)  # started again: ramps from 0
        await c.keep_alive_for(1.0)
        assert c.model.record.last(0) == 2.0


async def test_a_set_output_racing_a_stop_delivers_nothing() -> None:
    """SET_OUTPUT written just after a STOP (same connection event, then the next ones): the
    stopped channel stays at 0 on the record, whatever lands after the STOP."""
    async with connected_model(SimConfig(interval_ms=50.0)) as c:
        await c.start()
        await c.set_output(0, 8.0)
        await c.keep_alive_for(3.0)
        assert c.model.record.last(0) > 5.0
        n = len(c.model.record)
        stop = asyncio.ensure_future(c.stop())
        racing = asyncio.ensure_future(c.set_output(0, 8.0))  # queued behind the STOP
        await stop
        assert await c.refused(racing) == AttCode.NOT_ARMED
        late = await c.refused(c.set_output(0, 8.0))  # and one at the next event
        assert late == AttCode.NOT_ARMED
        await c.keep_alive_for(2.0)
        after = [s.intensity_ma for s in c.model.record.samples[n:] if s.channel == 0]
        assert after == [0.0]  # the stop, and nothing after it


async def test_stop_naming_a_missing_channel_still_stops_everything() -> None:
    async with connected_model() as c:
        await c.start()
        await c.set_output(0, 3.0)
        await c.set_output(1, 3.0)
        await c.keep_alive_for(1.0)
        assert await c.refused(c.stop(0b110)) == AttCode.BAD_CHANNEL
        assert c.model.record.last(0) == 0.0 and c.model.record.last(1) == 0.0


async def test_status_once_a_second_while_idle_and_no_busy_loop() -> None:
    async with connected_model() as c:
        await asyncio.sleep(20.0)
        assert 19 <= len(c.statuses) <= 22
        times = [t for t, _ in c.statuses]
        assert max(b - a for a, b in itertools.pairwise(times)) <= 1.0 + INTERVAL


async def test_lost_events_and_jitter_delay_but_never_drop_writes() -> None:
    cfg = SimConfig(interval_ms=20.0, jitter_ms=5.0, loss=0.3, seed=7)
    async with connected_model(cfg) as c:
        latencies = []
        await c.start()
        for _ in range(50):
            await asyncio.sleep(0.0123)
            sent = now()
            await c.keepalive()
            latencies.append(now() - sent)
        assert c.model.acked_seq == c.seq
        assert max(latencies) > 0.025 + 1e-6  # some writes waited for a lost event
        assert min(latencies) > 0


@pytest.mark.parametrize("channels", [1, 3, 4])
async def test_channel_count(channels: int) -> None:
    async with connected_model(SimConfig(channels=channels)) as c:
        await c.start()
        status = c.last_status()  # sent at the event that applied START
        assert status.acked_seq == 1
        assert len(status.channels) == channels
        assert all(ch.armed for ch in status.channels)
