"""Pause holds the link (issue 12 item 6): output 0 with the device's keepalive going, no
watchdog fault, resume ramps from zero, paused time is not stimulation time, and a pause
longer than session.max_pause_minutes ends the session as stopped. Judged on the
simulator's delivered-output record and on what the device was asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tens.config import SessionDefaults, TensConfig
from tens.events import SessionEnded, SessionState, Source
from tens.limits import LevelLimits, Limits
from tens.safety import StartRequest
from tens.store.sessions import list_sessions

from .conftest import coyote_rig
from .windows import assert_rate_over_every_window

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]


async def test_pause_five_seconds_then_resume_keeps_the_session(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)  # the 1 s device watchdog
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.CLI)
    await asyncio.sleep(6)
    loop = asyncio.get_running_loop()
    t_pause = loop.time()
    d = await rig.ctrl.pause(Source.TUI)
    assert d.outcome == "allowed"
    elapsed_at_pause = rig.ctrl.snapshot().elapsed_s
    await asyncio.sleep(5)
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.PAUSED, snap.end_reason
    assert not [e for e in rig.events if isinstance(e, SessionEnded)]
    assert snap.elapsed_s == pytest.approx(elapsed_at_pause, abs=1e-6)  # not stimulation
    assert rig.sim.model.status_report().faults == 0  # the watchdog never tripped
    t_resume = loop.time()
    d = await rig.ctrl.resume(Source.TUI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(6)
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    # output 0 throughout the pause (on the skin and in what the device was asked)
    paused = [(t, v) for t, v in rig.delivered() if t_pause + 0.1 <= t < t_resume]
    assert all(v == 0 for _, v in paused)
    assert all(v == 0 for t, v in rig.asked() if t_pause <= t < t_resume)
    assert rig.last() == pytest.approx(8)
    # ramps from 0 after, within the rate over every window
    assert_rate_over_every_window(rig.delivered(), 2.0, 2.0 * 0.2 + 0.1, "delivered")
    first = next(v for t, v in rig.delivered() if t >= t_resume and v > 0)
    assert first <= 0.5
    await rig.ctrl.stop(Source.CLI)
    await rig.ctrl.wait_ended()
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "stopped"
    # 6 s before the pause, 6 s after it: the 5 s paused are not counted
    assert rows[-1].stimulation_seconds == pytest.approx(12, abs=0.3)


async def test_a_pause_past_the_maximum_ends_the_session_as_stopped(rig_factory) -> None:
    cfg = TensConfig(session=SessionDefaults(max_pause_minutes=1))
    rig = await rig_factory(cfg, device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.CLI)
    await asyncio.sleep(6)
    await rig.ctrl.pause(Source.MQTT)
    await asyncio.sleep(59)
    assert rig.ctrl.snapshot().session is SessionState.PAUSED
    snap = await asyncio.wait_for(rig.ctrl.wait_ended(), 3)
    assert snap.session is SessionState.STOPPED
    assert "paused longer than 1 min" in (snap.end_reason or "")
    n = len(rig.asked())
    d = await rig.ctrl.resume(Source.TUI)
    assert d.refused
    await asyncio.sleep(5)
    assert all(v == 0 for _, v in rig.asked()[n:])
    assert rig.last() == 0
    await rig.ctrl.wait_ended()
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "stopped"


async def test_the_longest_pause_defaults_to_ten_minutes() -> None:
    assert SessionDefaults().max_pause_minutes == 10


async def test_stop_while_paused_ends_it_and_nothing_resumes(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.CLI)
    await asyncio.sleep(5)
    await rig.ctrl.pause(Source.TUI)
    await asyncio.sleep(2)
    await rig.ctrl.stop(Source.MQTT)
    assert rig.ctrl.snapshot().session is SessionState.STOPPED
    d = await rig.ctrl.resume(Source.TUI)
    assert d.refused
    n = len(rig.record)
    await asyncio.sleep(3)
    assert all(s.intensity_ma == 0 for s in rig.record.samples[n:])


async def test_pause_holds_the_link_on_coyote3(tmp_path: Path) -> None:
    cfg = TensConfig(limits=Limits(levels={"coyote3": LevelLimits(peak=20, ramp_per_s=5, step=1)}))
    async with coyote_rig("coyote3", tmp_path, cfg) as rig:
        await rig.ctrl.connect()
        await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
        await asyncio.sleep(4)
        await rig.ctrl.pause(Source.TUI)
        loop = asyncio.get_running_loop()
        t_pause = loop.time()
        await asyncio.sleep(5)
        assert rig.ctrl.snapshot().session is SessionState.PAUSED
        assert all(v == 0 for t, v in rig.delivered() if t >= t_pause + 0.2)
        d = await rig.ctrl.resume(Source.TUI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(4)
        assert rig.ctrl.snapshot().session is SessionState.RUNNING
        assert rig.delivered()[-1][1] == 10
        await rig.ctrl.stop(Source.CLI)
