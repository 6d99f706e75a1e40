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
        Source.MQTT, "intensity", 3, None, "refused", ("no session running",)
    )
    assert await ctrl.resume(Source.MQTT) == Decision(
        Source.MQTT, "resume", None, None, "refused", ("no paused session",)
    )
    assert await ctrl.pause(Source.MQTT) == Decision(
        Source.MQTT, "pause", None, None, "refused", ("no running session to pause",)
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
