"""What the controller answers and records, whole: every face shows these decisions and the
audit trail stores every field (source, action, requested, allowed, outcome, reasons), so a
field dropped or replaced on any path is a wrong record. Plus the governor's last check
refusing inside a running session. Kills the Decision-field mutants of tens/controller.py
and the SessionHalted path of tens/session.py (tests/mutation/run.sh).
"""

from __future__ import annotations

import asyncio

import pytest

from tens.events import Decision, LinkState, SessionState, Source
from tens.safety import StartRequest
from tens.store.sessions import list_audit, list_sessions

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]


async def test_stop_resume_pause_and_targets_answer_whole_decisions(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    ctrl = rig.ctrl
    # nothing running: refusals
    assert await ctrl.set_intensity(3, Source.MQTT) == Decision(
        Source.MQTT, "intensity", 3, None, "refused", ("no session running",), code="not_running"
    )
    assert await ctrl.resume(Source.MQTT) == Decision(
        Source.MQTT, "resume", None, None, "refused", ("no paused session",), code="not_paused"
    )
    assert await ctrl.pause(Source.MQTT) == Decision(
        Source.MQTT,
        "pause",
        None,
        None,
        "refused",
        ("no running session to pause",),
        code="not_running",
    )
    # a session: pause, resume, stop
    await ctrl.start(StartRequest(intensity=3, minutes=5), Source.CLI)
    await asyncio.sleep(2)
    assert await ctrl.pause(Source.TUI) == Decision(
        Source.TUI, "pause", None, 0.0, "allowed", ("output 0; resume ramps from zero",)
    )
    assert await ctrl.resume(Source.TUI) == Decision(
        Source.TUI, "resume", 3, 3, "allowed", ("ramps from zero",)
    )
    assert await ctrl.stop(Source.SCHEDULER, "enough") == Decision(
        Source.SCHEDULER, "stop", None, 0.0, "allowed", ("enough",)
    )
    assert ctrl.snapshot().session is SessionState.STOPPED
    assert ctrl.snapshot().end_reason == "enough (scheduler)"
    await ctrl.audit.flush()
    audit = await rig.db.run(list_audit)
    session_id = (await rig.db.run(list_sessions))[-1].id
    by_action = {a.action: a for a in audit}
    for action in ("start", "pause", "resume", "stop", "end"):
        assert by_action[action].session_id == session_id, action
    assert by_action["stop"].source == "scheduler" and by_action["stop"].outcome == "allowed"
    # stop with nothing running is still allowed, and recorded without a session
    assert await ctrl.stop(Source.CLI) == Decision(
        Source.CLI, "stop", None, 0.0, "allowed", ("stopped",)
    )


async def test_disconnect_leaves_the_link_disconnected_and_programs_unjudged(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    assert rig.ctrl.snapshot().link is LinkState.CONNECTED
    await rig.ctrl.disconnect()
    snap = rig.ctrl.snapshot()
    assert snap.link is LinkState.DISCONNECTED and snap.device_name is None
    assert all(reason is None for _, reason in rig.ctrl.programs())
    d = await rig.ctrl.start(StartRequest(intensity=2), Source.CLI)
    assert d.refused and d.reason == "no device connected"


async def test_the_gate_refusing_inside_a_running_session_aborts_it(rig_factory) -> None:
    """A target above the peak that got past check_target (a bug in some face's path): the
    output task ramps toward it and the gate refuses the first setpoint above 40 mA. The
    session aborts with the gate's reason, STOP is written, the record never exceeds 40 mA
    and the audit has the refused output (kills a dropped SessionHalted reason, and a gate
    refusal that does not end the session)."""
    from tens.config import TensConfig
    from tens.limits import Limits

    rig = await rig_factory(TensConfig(limits=Limits(ramp_ma_per_s=5)))
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=39, minutes=5), Source.CLI)
    await asyncio.sleep(9)
    s = rig.ctrl._session
    assert s is not None
    s.set_target(45.0)  # bypasses check_target
    await asyncio.sleep(2)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED
    reason = snap.end_reason or ""
    assert reason.startswith("output refused: output ") and reason.endswith(
        "mA is above the peak intensity limit 40 mA (config limits.peak_ma (default))"
    ), reason
    assert rig.delivered_max() <= 40 + 1e-6
    assert rig.last() == 0
    await rig.ctrl.wait_ended()
    audit = await rig.db.run(list_audit)
    refused = [a for a in audit if a.action == "output" and a.outcome == "refused"]
    assert refused and refused[-1].source == "system"
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "aborted"


async def test_snapshot_fields_during_and_after_a_session(rig_factory) -> None:
    """Every field a face shows, from the device, the limits and the session (kills the
    Snapshot field mutants of Controller.snapshot and session_state)."""
    from tens.events import Notice, SessionEnded

    rig = await rig_factory()
    ctrl = rig.ctrl
    assert ctrl.snapshot().session is SessionState.IDLE
    assert ctrl.snapshot().link is LinkState.DISCONNECTED
    await ctrl.connect()
    info = ctrl.device.info  # type: ignore[union-attr]
    ready = ctrl.snapshot()
    assert (ready.session, ready.link, ready.device_name, ready.device_address, ready.driver) == (
        SessionState.READY,
        LinkState.CONNECTED,
        info.name,
        info.address,
        "opentens",
    )
    assert (ready.unit, ready.limit, ready.program, ready.session_id) == ("mA", 40, None, None)
    assert ready.remaining_s is None and ready.target == 0 and ready.setpoint == 0
    assert ready.notices[-1] == f"connected to {info.name} ({info.address})"
    await ctrl.start(StartRequest(program="acupuncture", intensity=3, minutes=2), Source.CLI)
    await asyncio.sleep(10.05)
    run = ctrl.snapshot()
    assert (run.session, run.program, run.target, run.setpoint) == (
        SessionState.RUNNING,
        "acupuncture",
        3,
        3,
    )
    assert run.delivered[0] == pytest.approx(3, abs=0.11) and len(run.delivered) == 2
    assert run.battery_percent is not None and 90 <= run.battery_percent <= 100
    assert run.electrodes_ok == (True, True)
    assert run.elapsed_s == pytest.approx(10, abs=0.35)
    assert run.remaining_s == pytest.approx(110, abs=0.35)
    assert run.session_id is not None and run.end_reason is None
    await ctrl.stop(Source.TUI)
    end = ctrl.snapshot()
    assert (end.session, end.setpoint, end.program, end.session_id) == (
        SessionState.STOPPED,
        0.0,
        "acupuncture",
        run.session_id,
    )
    assert end.end_reason == "stopped (tui)"
    ended = [e for e in rig.events if isinstance(e, SessionEnded)]
    assert ended[-1] == SessionEnded(run.session_id, SessionState.STOPPED, "stopped (tui)")
    notices = [e for e in rig.events if isinstance(e, Notice)]
    assert notices[-1] == Notice("warning", "session stopped: stopped (tui)")


async def test_notice_levels_and_the_last_five(rig_factory) -> None:
    """Finished is info, stopped a warning, aborted an error; the snapshot keeps the last five
    notices (kills the level and `[-4:]` mutants of _end and _notice)."""
    from tens.config import SessionDefaults, TensConfig
    from tens.events import Notice
    from tens.limits import Limits

    rig = await rig_factory(
        TensConfig(limits=Limits(rest_minutes=0), session=SessionDefaults(ramp_down_s=0))
    )
    ctrl = rig.ctrl
    await ctrl.connect()
    await ctrl.start(StartRequest(intensity=1, minutes=0.1), Source.CLI)
    await ctrl.wait_ended()
    notices = [e for e in rig.events if isinstance(e, Notice)]
    assert notices[-1] == Notice("info", "session finished: finished on time")
    d = await ctrl.start(StartRequest(intensity=1, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(1)
    rig.sim.peel_off(0)
    await asyncio.sleep(0.5)
    notices = [e for e in rig.events if isinstance(e, Notice)]
    assert notices[-1].level == "error" and notices[-1].text.startswith("session aborted: ")
    for _ in range(3):
        await ctrl.disconnect()
        await ctrl.connect()
    all_texts = [n.text for n in rig.events if isinstance(n, Notice)]
    assert ctrl.snapshot().notices == tuple(all_texts[-5:])
    assert len(all_texts) > 5


async def test_events_iterator_and_listener_removal(rig_factory) -> None:
    """A subscriber gets every event from now on, the oldest dropped when it lags; a removed
    listener gets nothing more (kills the events()/add_listener/_emit mutants)."""
    from tens.events import ControllerEvent, StateChanged

    rig = await rig_factory()
    ctrl = rig.ctrl
    seen: list[ControllerEvent] = []
    remove = ctrl.add_listener(seen.append)
    async with ctrl.events(maxsize=2) as events:
        await ctrl.connect()
        first = await anext(events)
        second = await anext(events)
        assert isinstance(first, StateChanged | type(first)) and second is not None
    n = len(seen)
    remove()
    remove()  # removing twice is harmless
    await ctrl.stop(Source.CLI)
    assert len(seen) == n
    assert seen and any(isinstance(e, StateChanged) for e in seen)


async def test_records_of_a_stop_during_a_start_and_a_lost_link(rig_factory) -> None:
    """The session record of a start that a stop overtook says so; the record keeps the unit;
    after a link loss the programs are not judged against a device that is gone (kills
    `end_reason` / `unit` mutants of Controller.start and `and` -> `or` in programs())."""
    from tens.config import TensConfig
    from tens.programs import Program

    fast = Program(name="fast", frequency_hz=200, pulse_width_us=100)  # above the device's 150
    rig = await rig_factory(TensConfig(programs=(fast,)))
    await rig.ctrl.connect()
    judged = dict((p.name, r) for p, r in rig.ctrl.programs())
    assert judged["fast"] is not None and judged["conventional"] is None
    starting = asyncio.ensure_future(
        rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.MQTT)
    )
    await asyncio.sleep(0)
    await rig.ctrl.stop(Source.TUI)
    assert (await starting).refused
    rows = await rig.db.run(list_sessions)
    assert (rows[-1].state, rows[-1].end_reason, rows[-1].unit) == (
        "stopped",
        "stopped while starting",
        "mA",
    )
    await rig.sim.drop_link()
    await asyncio.sleep(0.5)
    assert rig.ctrl.snapshot().link is LinkState.LOST
    assert all(reason is None for _, reason in rig.ctrl.programs())
