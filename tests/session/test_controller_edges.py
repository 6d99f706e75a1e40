"""The controller's blind spots found by mutation testing (issue 12), each on the simulator's
delivered-output record and on what the device was asked (SET_OUTPUT decoded by the
simulator's own codec), never on what the controller believes.

H6 start from zero (the device's own ramp must not be what hides a jump), no intensity given,
a stored checklist with a "yes", a placement from the config, a second start while running,
a malformed status, an over-delivering device, a failing device write, H12 low battery and
H14 a wall-clock jump. Each test names the mutant it kills where that is not obvious.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from tens.checklist import none_apply
from tens.clock import LoopClock
from tens.config import SessionDefaults, TensConfig
from tens.controller import Controller
from tens.events import SessionState, Source
from tens.limits import Limits
from tens.safety import StartRequest
from tens.session import TICK_S
from tens.store.sessions import list_sessions, record_checklist

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]

RATE = 2.0  # the default limits: 2 mA/s, 1 mA manual step, 40 mA peak


def tap_commands(rig: Any) -> list[tuple[float, int, float]]:
    """(loop time, channel, mA) of every SET_OUTPUT the device is asked for."""
    from simulators.opentens.codec import MalformedMessage, SetOutput, decode_command

    asked: list[tuple[float, int, float]] = []
    model = rig.sim.model
    write = model.write
    loop = asyncio.get_running_loop()

    async def tapped(data: bytes) -> None:
        try:
            cmd = decode_command(data)
        except MalformedMessage:
            cmd = None
        if isinstance(cmd, SetOutput):
            asked.append((loop.time(), cmd.channel, cmd.intensity / 10))
        await write(data)

    model.write = tapped
    return asked


async def running(rig: Any, **req: Any) -> None:
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(**req), Source.CLI)
    assert d.outcome == "allowed", d.reason


async def test_start_asks_zero_first_then_rises_at_the_rate(rig_factory) -> None:
    """H6 on what the device was asked: the first SET_OUTPUT of a session is 0, and each later
    one rises by no more than the rate over the time since the one before (plus one tick, the
    link's bunching). The device's own ramp (which would smooth a jump on the record) plays no
    part. Kills a session launched at its target: `s.setpoint = 0.0` -> the target, the
    dropped `_write(0.0, now)`, a first-tick `dt_s` of 1 s."""
    rig = await rig_factory()
    asked = tap_commands(rig)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await running(rig, intensity=10, minutes=1)
    await asyncio.sleep(8)
    ch0 = [(t, ma) for t, ch, ma in asked if ch == 0 and t >= t0]
    assert ch0 and ch0[0][1] == 0.0, ch0[:3]
    prev_t, prev = ch0[0]
    for t, ma in ch0[1:]:
        if ma > prev:
            assert ma - prev <= RATE * (t - prev_t + TICK_S) + 0.11, ((prev_t, prev), (t, ma))
        prev_t, prev = t, ma
    assert max(ma for _, ma in ch0) == pytest.approx(10, abs=0.11)
    # and on the record: the first delivered sample after the start is small, not 10
    first = next(s for s in rig.record.for_channel(0) if s.t >= t0 and s.intensity_ma > 0)
    assert first.intensity_ma <= RATE * 2 * TICK_S + 0.11
    await rig.ctrl.stop(Source.CLI)


async def test_resume_asks_zero_first(rig_factory) -> None:
    """A resume ramps from zero on what the device is asked too (kills `s.setpoint = 0.0` ->
    the old setpoint in resume/pause)."""
    rig = await rig_factory()
    asked = tap_commands(rig)
    await running(rig, intensity=6, minutes=5)
    await asyncio.sleep(5)
    await rig.ctrl.pause(Source.TUI)
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    t = loop.time()
    d = await rig.ctrl.resume(Source.TUI)
    assert d.outcome == "allowed" and d.allowed == 6
    await asyncio.sleep(1.0)
    after = [ma for at, ch, ma in asked if ch == 0 and at >= t]
    assert after and after[0] == 0.0
    assert max(after) <= RATE * 1.0 + 0.31
    await rig.ctrl.stop(Source.CLI)


async def test_no_intensity_given_delivers_nothing(rig_factory) -> None:
    """A start without an intensity holds at 0 until a person raises it: never the peak (kills
    `target = 0.0 if ...` -> the peak or 1.0, and `s.target = plan.target` dropped or changed)."""
    rig = await rig_factory()
    asked = tap_commands(rig)
    await running(rig, minutes=1)
    await asyncio.sleep(10)
    assert rig.delivered_max() == 0
    assert all(ma == 0 for _, _, ma in asked)
    assert rig.ctrl.snapshot().target == 0
    d = await rig.ctrl.step_intensity(+1, Source.TUI)
    assert d.outcome == "allowed" and d.allowed == 1
    await asyncio.sleep(2)
    assert rig.last() == pytest.approx(1, abs=0.11)
    await rig.ctrl.stop(Source.CLI)


async def test_a_stored_checklist_with_a_yes_refuses_every_start(rig_factory) -> None:
    """The stored checklist is read from the database (kills `checklist_any_yes=False` and
    `bool(checklist.any_yes)` -> `not ...` in Controller._usage)."""
    rig = await rig_factory(checklist=False)
    answers = none_apply()
    answers[next(iter(answers))] = True
    await rig.db.run(record_checklist, answers, True)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5), Source.MQTT)
    assert d.refused and "checklist has a 'yes'" in d.reason
    await asyncio.sleep(2)
    assert rig.delivered_max() == 0
    # answered again with all "no": the latest answer counts
    await rig.db.run(record_checklist, none_apply(), False)
    await running(rig, intensity=2, minutes=1)
    await rig.ctrl.stop(Source.CLI)


async def test_config_placement_is_checked_and_recorded(rig_factory) -> None:
    """[session] placement from the config is normalised, checked against the contraindicated
    places and stored on the session record; a request's own placement wins over it."""
    cfg = TensConfig(session=SessionDefaults(placement="front of neck"))
    rig = await rig_factory(cfg)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5), Source.SCHEDULER)
    assert d.refused and "carotid" in d.reason
    assert rig.delivered_max() == 0
    d = await rig.ctrl.start(StartRequest(intensity=5, placement="knee left"), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.stop(Source.CLI)
    await rig.ctrl.wait_ended()
    rows = await rig.db.run(list_sessions)
    assert rows[-1].placement == "knee-left"

    rig2 = await rig_factory(TensConfig(session=SessionDefaults(placement="lower back")))
    await running(rig2, intensity=3, minutes=1)
    await rig2.ctrl.stop(Source.CLI)
    await rig2.ctrl.wait_ended()
    rows = await rig2.db.run(list_sessions)
    assert rows[-1].placement == "lower-back"
    bad = await rig_factory(TensConfig(session=SessionDefaults(placement="elbow")))
    await bad.ctrl.connect()
    d = await bad.ctrl.start(StartRequest(intensity=3), Source.CLI)
    assert d.refused and d.reason.startswith("placement: ")


async def test_a_second_start_while_running_is_refused_and_changes_nothing(rig_factory) -> None:
    rig = await rig_factory()
    await running(rig, intensity=4, minutes=2)
    await asyncio.sleep(3)
    d = await rig.ctrl.start(StartRequest(intensity=30, minutes=2), Source.MQTT)
    assert d.refused and d.reason == "a session is already running: stop it first"
    await asyncio.sleep(20)
    assert rig.delivered_max() == pytest.approx(4, abs=0.11)
    assert rig.ctrl.snapshot().target == 4
    await rig.ctrl.stop(Source.CLI)


async def test_a_malformed_status_aborts_and_output_goes_to_zero(rig_factory) -> None:
    rig = await rig_factory()
    await running(rig, intensity=8, minutes=5)
    await asyncio.sleep(5)
    loop = asyncio.get_running_loop()
    t = loop.time()
    rig.sim.send_malformed("crc")
    await asyncio.sleep(2.5)  # the next status (1 s period) is the corrupted one
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED
    assert (snap.end_reason or "").startswith("unreadable message from the device")
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t and s.intensity_ma == 0)
    assert zero.t - t <= 1.5
    n = len(rig.record)
    await asyncio.sleep(3)
    assert all(s.intensity_ma == 0 for s in rig.record.samples[n:])


async def test_an_over_delivering_device_is_stopped(rig_factory) -> None:
    """Firmware that delivers more than it was asked (3 mA over a 5 mA setpoint, above the
    0.5 mA / one-step tolerance): the controller aborts and the record returns to 0 (kills the
    `over > allowed + tolerance` boundary and `or` -> `and` in Controller._on_status)."""
    rig = await rig_factory()
    await running(rig, intensity=5, minutes=5)
    await asyncio.sleep(6)
    assert rig.last() == pytest.approx(5, abs=0.11)
    model = rig.sim.model
    loop = asyncio.get_running_loop()
    t = loop.time()
    model._set_delivered(model._channels[0], 80.0, t, "firmware bug")  # 8 mA, in 0.1 mA
    await asyncio.sleep(0.5)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED, snap
    assert "more than was allowed" in (snap.end_reason or "")
    assert rig.last() == 0


async def test_a_device_within_the_tolerance_is_not_stopped(rig_factory) -> None:
    """0.4 mA over the setpoint is within the 0.5 mA tolerance (a status in flight): the
    session goes on (kills `max(step, 0.5)` -> `min` and `over > allowed + tolerance` ->
    `over > allowed`)."""
    rig = await rig_factory()
    await running(rig, intensity=5, minutes=5)
    await asyncio.sleep(6)
    model = rig.sim.model
    model._set_delivered(model._channels[0], 54.0, asyncio.get_running_loop().time(), "drift")
    await asyncio.sleep(1.5)
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    await rig.ctrl.stop(Source.CLI)


async def test_a_failing_device_write_aborts_with_stop(rig_factory) -> None:
    rig = await rig_factory()
    await running(rig, intensity=10, minutes=5)
    await asyncio.sleep(2)  # mid-ramp: a SET_OUTPUT every tick
    rig.sim.reject_next_write()
    await asyncio.sleep(1)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED
    assert (snap.end_reason or "").startswith("device error: ")
    assert rig.last() == 0
    rows = await rig.db.run(list_sessions)
    await rig.ctrl.wait_ended()
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "aborted"


async def test_h12_low_battery_warning_aborts_the_session(rig_factory) -> None:
    """H12 at controller level: the device reports its low-battery warning (10 %, above its 5 %
    cut-off, so the device itself keeps delivering): the controller aborts at once, the record
    goes to 0, the session record says why."""
    rig = await rig_factory(TensConfig(limits=Limits(rest_minutes=0)))
    await running(rig, intensity=8, minutes=5)
    await asyncio.sleep(6)
    loop = asyncio.get_running_loop()
    t = loop.time()
    rig.sim.set_battery(9)
    await asyncio.sleep(1.5)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED
    assert "battery is low" in (snap.end_reason or "")
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t and s.intensity_ma == 0)
    assert zero.cause == "stop" and zero.t - t <= 1.2  # our STOP, not the device's cut-off
    await rig.ctrl.wait_ended()
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "aborted" and "battery is low" in (rows[-1].end_reason or "")
    # a new start on the low battery: the first status with the warning ends it again
    t1 = loop.time()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(2)
    assert rig.ctrl.snapshot().session is SessionState.ABORTED
    assert max((s.intensity_ma for s in rig.record.for_channel(0) if s.t >= t1), default=0) <= 0.5
    assert rig.last() == 0


class JumpingWallClock(LoopClock):
    """The loop's monotonic clock with a wall clock that can be set like NTP or a person would."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def wall(self) -> dt.datetime:
        return super().wall() + self.offset


@pytest.mark.parametrize("jump_h", [+2.0, -3.0])
async def test_h14_a_wall_clock_jump_does_not_change_the_session_length(
    rig_factory, jump_h: float
) -> None:
    """H14: the wall clock jumps two hours forward (or three back) in the middle of a 1-minute
    session: the record still shows 60 s of output, and the session record 60 s of
    stimulation."""
    rig = await rig_factory(TensConfig(session=SessionDefaults(ramp_down_s=0)))
    clock = JumpingWallClock()
    ctrl = Controller(rig.ctrl.config, rig.ctrl._open_device, rig.db, clock=clock)
    await rig.ctrl.close()
    rig.ctrl = ctrl
    loop = asyncio.get_running_loop()
    await ctrl.connect()
    t0 = loop.time()
    d = await ctrl.start(StartRequest(intensity=4, minutes=1), Source.CLI)
    assert d.outcome == "allowed"
    await asyncio.sleep(20)
    clock.offset = dt.timedelta(hours=jump_h)
    snap = await ctrl.wait_ended()
    assert snap.session is SessionState.FINISHED
    samples = [s for s in rig.record.for_channel(0) if s.t >= t0]
    on = next(s.t for s in samples if s.intensity_ma > 0)
    off = next(s.t for s in samples if s.t > on and s.intensity_ma == 0)
    assert 60 - 0.5 <= off - t0 <= 60 + 0.2
    assert off - on <= 60
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "finished"
    assert rows[-1].stimulation_seconds == pytest.approx(60, abs=0.5)


async def test_daily_limit_exactly_used_up_refuses_the_next_start(rig_factory) -> None:
    """Daily exactly at the limit on the record: a 1-minute daily cap used by a 1-minute
    session refuses the next start (the stored stimulation time is read back)."""
    cfg = TensConfig(
        limits=Limits(daily_minutes=1, rest_minutes=0), session=SessionDefaults(ramp_down_s=0)
    )
    rig = await rig_factory(cfg)
    await running(rig, intensity=2, minutes=1)
    await rig.ctrl.wait_ended()
    d = await rig.ctrl.start(StartRequest(intensity=2, minutes=0.1), Source.CLI)
    assert d.refused and "daily limit of 1 min" in d.reason
