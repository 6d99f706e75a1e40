"""The controller end to end on the simulated wearable (virtual radio, real SQLite).

Every check reads the simulator's delivered-output record. Timing runs on the loop's clock,
fast-forwarded by looptime, so a 30-minute session takes milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tens.config import SessionDefaults, TensConfig
from tens.events import Refused, SessionEnded, SessionState, Source
from tens.limits import Limits
from tens.safety import StartRequest
from tens.store.sessions import list_audit, list_sessions
from tests.stated import placed_config

pytestmark = [pytest.mark.looptime]


async def test_session_ramps_holds_and_ends_on_time(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    snap = await rig.ctrl.wait_ended()
    assert snap.session is SessionState.FINISHED
    samples = rig.record.for_channel(0)
    assert rig.delivered_max() == pytest.approx(10, abs=0.11)
    assert rig.last() == 0
    # ramp rate on the record: never faster than 2 mA/s (+ one device step of slack)
    rising = [s for s in samples if s.t >= t0]
    for a, b in itertools.pairwise(rising):
        if b.intensity_ma > a.intensity_ma:
            dt = max(b.t - a.t, 1e-9)
            assert (b.intensity_ma - a.intensity_ma) <= 2.0 * dt + 0.25, (a, b)
    # reached 10 mA only after >= 5 s of ramp, and ended by 60 s (plus one connection event)
    reached = next(s.t for s in rising if s.intensity_ma >= 9.99)
    assert reached - t0 >= 5.0 - 0.1
    end = next(s.t for s in reversed(rising) if s.intensity_ma == 0)
    assert end - t0 <= 60 + 0.2
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "finished"
    assert rows[-1].stimulation_seconds == pytest.approx(60, abs=0.5)


async def test_thirty_minute_session_in_virtual_time(rig_factory) -> None:
    # a 10 s device watchdog: keepalives every 3 s keep the real CPU cost of 30 virtual
    # minutes of BLE round trips small; the 1 s watchdog is covered by the other tests
    from simulators.opentens import SimConfig

    rig = await rig_factory(sim_config=SimConfig(watchdog_ms=10_000))
    t0 = asyncio.get_running_loop().time()
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=12, minutes=30), Source.CLI)
    assert d.outcome == "allowed"
    snap = await rig.ctrl.wait_ended()
    assert snap.session is SessionState.FINISHED
    assert rig.last() == 0
    assert rig.delivered_max() == pytest.approx(12, abs=0.11)
    end = rig.record.for_channel(0)[-1].t
    assert 30 * 60 - 0.2 <= end - t0 <= 30 * 60 + 0.2


async def test_over_limit_start_refused_nothing_delivered(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=55), Source.MQTT)
    assert d.refused and "peak intensity limit 40 mA" in d.reason
    assert rig.delivered_max() == 0
    assert any(isinstance(e, Refused) for e in rig.events)
    await rig.ctrl.audit.flush()
    audit = await rig.db.run(list_audit)
    assert audit[-1].outcome == "refused" and audit[-1].source == "mqtt"


async def test_checklist_required(rig_factory) -> None:
    rig = await rig_factory(checklist=False)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5), Source.TUI)
    assert d.refused and "checklist" in d.reason
    assert rig.delivered_max() == 0


async def test_stop_reaches_the_skin_at_once(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(10)
    assert rig.last() > 5
    loop = asyncio.get_running_loop()
    t_stop = loop.time()
    await rig.ctrl.stop(Source.TUI)
    await asyncio.sleep(0.2)
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t_stop and s.intensity_ma == 0)
    assert zero.t - t_stop <= 0.1  # within a few 30 ms connection events
    assert rig.ctrl.snapshot().session is SessionState.STOPPED
    n = len(rig.record)
    await asyncio.sleep(5)
    assert all(s.intensity_ma == 0 for s in rig.record.samples[n:])


async def test_manual_steps_narrowed_and_rate_limited(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=4, minutes=5), Source.CLI)
    await asyncio.sleep(5)
    d = await rig.ctrl.set_intensity(20, Source.TUI)
    assert d.outcome == "narrowed" and d.allowed == 5 and d.code == "manual_step"
    # a second "up" at once: still one step above the output (4 mA), not two
    d = await rig.ctrl.step_intensity(+1, Source.TUI)
    assert d.outcome == "narrowed" and d.allowed == 5
    await asyncio.sleep(1)  # the output has reached 5: the next step goes on from there
    d = await rig.ctrl.step_intensity(+1, Source.TUI)
    assert d.outcome == "allowed" and d.allowed == 6
    d = await rig.ctrl.set_intensity(41, Source.MQTT)
    assert d.refused and "peak" in d.reason
    await asyncio.sleep(3)
    assert rig.last() == pytest.approx(6, abs=0.11)
    d = await rig.ctrl.set_intensity(1, Source.MQTT)
    assert d.outcome == "allowed"
    await asyncio.sleep(0.3)
    assert rig.last() == pytest.approx(1, abs=0.11)
    await rig.ctrl.stop(Source.CLI)


async def test_pause_then_resume_ramps_from_zero(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.CLI)
    await asyncio.sleep(6)
    assert rig.last() == pytest.approx(8, abs=0.11)
    await rig.ctrl.pause(Source.TUI)
    await asyncio.sleep(0.2)
    assert rig.last() == 0
    assert rig.ctrl.snapshot().session is SessionState.PAUSED
    loop = asyncio.get_running_loop()
    t = loop.time()
    await rig.ctrl.resume(Source.TUI)
    await asyncio.sleep(1.0)
    assert rig.last() <= 2.0 * 1.0 + 0.25  # ramping again from 0, not jumping back to 8
    after = [s for s in rig.record.for_channel(0) if s.t >= t]
    assert after and after[0].intensity_ma < 1
    await rig.ctrl.stop(Source.CLI)


async def test_link_loss_aborts_and_never_resumes(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(6)
    await rig.sim.drop_link()
    await asyncio.sleep(0.5)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED and "link lost" in (snap.end_reason or "")
    assert rig.last() == 0
    # reconnect: still nothing until a person starts again, and then from zero
    await rig.ctrl.connect()
    n = len(rig.record)
    await asyncio.sleep(3)
    assert all(s.intensity_ma == 0 for s in rig.record.samples[n:])
    ended = [e for e in rig.events if isinstance(e, SessionEnded)]
    assert ended and ended[-1].state is SessionState.ABORTED


async def test_peel_off_aborts_and_reattach_does_not_resume(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(6)
    rig.sim.peel_off(0)
    await asyncio.sleep(0.3)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED and "electrode" in (snap.end_reason or "")
    rig.sim.reattach(0)
    n = len(rig.record)
    await asyncio.sleep(3)
    assert all(s.intensity_ma == 0 for s in rig.record.samples[n:])


async def test_rest_and_daily_limit_survive_a_restart(rig_factory, tmp_path) -> None:
    cfg = TensConfig(limits=Limits(daily_minutes=2, rest_minutes=0))
    rig = await rig_factory(cfg)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=5, minutes=1.5), Source.CLI)
    await rig.ctrl.wait_ended()
    # a new controller on the same database (a restart) still counts today's 1.5 min
    from tens.controller import Controller

    ctrl2 = Controller(placed_config(cfg), rig.ctrl._open_device, rig.db)
    await rig.ctrl.close()
    await ctrl2.connect()
    d = await ctrl2.start(StartRequest(intensity=5, minutes=1), Source.SCHEDULER)
    assert d.refused and "daily limit of 2 min" in d.reason
    await ctrl2.close()


async def test_rest_between_sessions_enforced(rig_factory) -> None:
    rig = await rig_factory(TensConfig(limits=Limits(rest_minutes=15)))
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    await rig.ctrl.wait_ended()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.refused and "rest between sessions is 15 min" in d.reason


async def test_contraindicated_and_unknown_placement(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5, placement="front of neck"), Source.CLI)
    assert d.refused and "carotid" in d.reason
    d = await rig.ctrl.start(StartRequest(intensity=5, placement="elbow"), Source.CLI)
    assert d.refused and "which side" in d.reason
    d = await rig.ctrl.start(StartRequest(intensity=5, placement="knee left"), Source.CLI)
    assert d.outcome == "allowed"
    await rig.ctrl.stop(Source.CLI)


async def test_every_output_change_is_audited(rig_factory) -> None:
    cfg = TensConfig(session=SessionDefaults(ramp_down_s=0))
    rig = await rig_factory(cfg)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=2, minutes=0.1), Source.CLI)
    await rig.ctrl.wait_ended()
    audit = await rig.db.run(list_audit)
    actions = [a.action for a in audit]
    assert actions[0] == "start" and "output" in actions and actions[-1] == "end"
    outputs = [a for a in audit if a.action == "output"]
    assert all(a.source == "system" for a in outputs)
    assert max(float(a.allowed) for a in outputs if a.allowed is not None) == pytest.approx(2)


async def test_stop_during_a_start_wins(rig_factory) -> None:
    """A stop that lands while a start is still being checked and recorded: nothing starts."""
    rig = await rig_factory()
    await rig.ctrl.connect()
    starting = asyncio.ensure_future(
        rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.MQTT)
    )
    await asyncio.sleep(0)  # the start is under way (waiting for the database)
    await rig.ctrl.stop(Source.TUI)
    d = await starting
    assert d.refused and d.code == "cancelled_by_stop" and "stop" in d.reason
    await asyncio.sleep(5)
    assert rig.delivered_max() == 0
    assert rig.ctrl.snapshot().session is not SessionState.RUNNING
    rows = await rig.db.run(list_sessions)
    assert rows and rows[-1].state == "stopped"


async def test_stimulation_time_is_persisted_during_a_hold(rig_factory) -> None:
    """The daily count survives a crash mid-session: the record is kept up to date while the
    output holds (no writes), not only when a setpoint changes."""
    from simulators.opentens import SimConfig

    rig = await rig_factory(sim_config=SimConfig(watchdog_ms=10_000))
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=4, minutes=10), Source.CLI)
    await asyncio.sleep(5 * 60)
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "running"
    assert rows[-1].stimulation_seconds >= 5 * 60 - 15  # within one persist period
    await rig.ctrl.stop(Source.CLI)
