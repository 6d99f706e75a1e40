"""What a person hits in the first hour (issue 18): time during a hold, a refused start that
asks nothing, limits in the program dialog, nothing important cut at 80x24, centred dialogs,
F1 for help. Against the real controller on the simulated wearable, or deterministic scenes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tens.config import TensConfig
from tens.events import Decision, Refused, SessionEnded, SessionState, Source, StateChanged
from tens.limits import Limits
from tests.tui import scenes
from tui.app import TensApp
from tui.screen_text import screen_text
from tui.screens.help import HelpScreen
from tui.screens.pain import PainScreen
from tui.screens.setup import SetupScreen

from .test_pilot_simulator import SIZE, app_for, connected, wait_for
from .test_pilot_simulator import plan as plan_at

pytestmark = [pytest.mark.timeout(60)]

BIG = (120, 40)
BOX = "│╭╮╰╯─"


def flat(text: str) -> str:
    """The screen as one line of words: borders gone, wrapped lines joined."""
    for ch in BOX:
        text = text.replace(ch, " ")
    return " ".join(text.split())


def elapsed_and_left(app: TensApp) -> tuple[str, str]:
    text = screen_text(app)
    found = re.search(r"(\d\d:\d\d) elapsed .* (\d\d:\d\d) left", text)
    assert found, text
    return found.group(1), found.group(2)


# ---- item 1: time moves during a steady hold --------------------------------------------


async def test_elapsed_and_time_left_tick_during_a_steady_hold(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory()
    app = app_for(rig, plan=plan_at(1.0))
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: rig.ctrl.snapshot().session is SessionState.RUNNING)
        await wait_for(pilot, lambda: "RUNNING" in screen_text(app))
        first = elapsed_and_left(app)
        bar_before = screen_text(app).count("█")
        await pilot.pause(2.6)  # a steady hold: nothing changes but the time
        later = elapsed_and_left(app)
        assert rig.ctrl.snapshot().session is SessionState.RUNNING
        assert later[0] > first[0], (first, later)  # elapsed moved on
        assert later[1] < first[1], (first, later)  # time left went down
        assert screen_text(app).count("█") >= bar_before
        await pilot.press("s")
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)


# ---- item 2: the governor before the pain score; limits in the program dialog ------------


async def test_a_refused_start_asks_no_pain_and_leaves_no_entry(sim_rig_factory: Any) -> None:
    from tens.journal.repository import list_entries
    from tens.store.sessions import create_session

    rig = await sim_rig_factory()
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await rig.db.run(
        create_session,
        started_at=ended - dt.timedelta(minutes=1),
        ended_at=ended,
        device="C0:FF:EE:00:00:01",
        program="conventional",
        state="finished",
        stimulation_seconds=60.0,
    )
    app = app_for(rig, ask_pain=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: "REFUSED" in screen_text(app))
        await pilot.pause(0.3)
        assert not isinstance(app.screen, PainScreen)  # nothing asked
        assert await rig.db.run(list_entries) == []  # nothing logged
        assert rig.ctrl.snapshot().session is SessionState.READY
        # the whole reason, to its last words, at 80x24
        assert "start again in 14 min" in flat(screen_text(app))
        assert rig.last() == 0.0


async def test_an_allowed_start_still_asks_pain_first(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory()
    app = app_for(rig, ask_pain=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: isinstance(app.screen, PainScreen))
        assert not rig.ctrl.snapshot().session.active  # the score comes before the start
        await pilot.press("6", "enter")
        await wait_for(pilot, lambda: rig.last() == 3.0)
        await pilot.press("s")
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)


async def test_check_start_decides_without_starting_or_recording(sim_rig_factory: Any) -> None:
    from tens.controller import StartRequest
    from tens.store.sessions import list_audit, list_sessions

    rig = await sim_rig_factory(TensConfig(limits=Limits(session_minutes=10)))
    await rig.ctrl.connect()
    ok = await rig.ctrl.check_start(StartRequest(minutes=5, intensity=3.0), Source.TUI)
    too_long = await rig.ctrl.check_start(StartRequest(minutes=20, intensity=3.0), Source.TUI)
    assert ok.outcome == "allowed"
    assert too_long.refused and "above the limit 10 min" in too_long.reason
    assert rig.ctrl.snapshot().session is SessionState.READY
    assert await rig.db.run(list_sessions) == []
    await rig.ctrl.audit.flush()
    assert await rig.db.run(list_audit) == []
    assert not rig.sim.record or all(s.intensity_ma == 0.0 for s in rig.sim.record)


async def set_field(pilot: Pilot[Any], field_id: str, value: str) -> None:
    field = pilot.app.screen.query_one(field_id, Input)
    field.value = value
    await pilot.pause()


async def test_program_dialog_names_the_limits_as_values_are_typed(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory(TensConfig(limits=Limits(peak_ma=20.0, session_minutes=30)))
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
        text = flat(screen_text(app))
        assert "at most 30 min a session and 20.0 mA" in text  # shown before typing
        await set_field(pilot, "#minutes", "200")
        await wait_for(
            pilot, lambda: "200 min is above the session length limit" in flat(screen_text(app))
        )
        await set_field(pilot, "#intensity", "200")
        await wait_for(
            pilot,
            lambda: "200.0 mA is above the peak intensity limit 20.0 mA" in flat(screen_text(app)),
        )
        await pilot.click("#ok")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SetupScreen)  # refused: not taken
        assert app.plan.minutes == 5 and app.plan.intensity == 3.0
        await set_field(pilot, "#minutes", "20")
        await set_field(pilot, "#intensity", "12")
        await wait_for(pilot, lambda: "above" not in flat(screen_text(app)))
        await pilot.click("#ok")
        await wait_for(pilot, lambda: not isinstance(app.screen, SetupScreen))
        assert app.plan.minutes == 20 and app.plan.intensity == 12.0


# ---- item 3: 80x24 cuts nothing important -------------------------------------------------

WATCHDOG = "the device's watchdog tripped (it heard nothing from us in time)"
REST = "rest between sessions is 15 min: the last session ended 0 min ago; start again in 15 min"


def play_aborted(app: TensApp, reason: str = WATCHDOG) -> None:
    from dataclasses import replace

    scenes.play_running(app)
    ended = replace(
        scenes.running(0.0, 140.0),
        session=SessionState.ABORTED,
        end_reason=reason,
        remaining_s=None,
    )
    app.apply_event(SessionEnded(1, SessionState.ABORTED, reason))
    app.apply_event(StateChanged(ended))


def refuse_start(app: TensApp, reason: str = REST) -> None:
    app.apply_event(Refused(Decision(Source.TUI, "start", 10.0, None, "refused", (reason,))))


@pytest.mark.parametrize("size", [SIZE, BIG])
async def test_an_abort_reason_is_shown_whole(size: tuple[int, int]) -> None:
    app = scenes.scene_app()
    async with app.run_test(size=size) as pilot:
        play_aborted(app)
        await pilot.pause()
        text = screen_text(app)
        timing = text.split("ABORTED after", 1)[1].split("Next:", 1)[0]
        assert WATCHDOG in flat(timing), text


@pytest.mark.parametrize("size", [SIZE, BIG])
async def test_a_refusal_is_shown_whole_and_the_log_keeps_its_newest(
    size: tuple[int, int],
) -> None:
    app = scenes.scene_app()
    async with app.run_test(size=size) as pilot:
        play_aborted(app)
        refuse_start(app)
        await pilot.pause()
        text = screen_text(app)
        plan_area = text.split("REFUSED: start:", 1)[1].split("Output, last", 1)[0]
        assert REST in flat(plan_area), text
        log_area = flat(text.split("Events", 1)[1])
        assert f"REFUSED start: {REST}" in log_area, text  # the newest entry, whole


async def test_the_event_log_keeps_following_after_a_resize() -> None:
    app = scenes.scene_app()
    async with app.run_test(size=BIG) as pilot:
        app.apply_event(StateChanged(scenes.CONNECTED))
        for i in range(12):
            app.view.add_log("08:00:00", "warning", f"entry {i} " + "long words " * 9)
        app.refresh_view(soon=False)
        await pilot.pause()
        assert "entry 11" in screen_text(app)
        await pilot.resize_terminal(*SIZE)  # narrower: the long entries wrap
        await pilot.pause()
        for i in range(12, 15):
            app.view.add_log("08:00:01", "info", f"entry {i} " + "more words " * 8)
            app.refresh_view(soon=False)
            await pilot.pause()
            assert f"entry {i} " + "more words " * 7 in flat(screen_text(app)) + " ", i
        await pilot.resize_terminal(*BIG)
        await pilot.pause()
        app.view.add_log("08:00:02", "info", "entry last")
        app.refresh_view(soon=False)
        await pilot.pause()
        assert "entry last" in screen_text(app)


def centred(app: TensApp) -> None:
    dialog = app.screen.query_one(".dialog")
    region = dialog.region
    width = app.screen.size.width
    left, right = region.x, width - region.right
    assert abs(left - right) <= 1, (type(app.screen).__name__, region, app.screen.size)
    assert region.y >= 0
    # the dialog's own stop line, below the dialog and above its keys, overlapped by neither
    from textual.widgets import Footer

    from tui.widgets.common.stop_hint import StopHint

    hint = app.screen.query_one(StopHint).region
    keys = app.screen.query_one(Footer).region
    assert hint.height == 1 and hint.y >= region.bottom and hint.y < keys.y, (region, hint, keys)


@pytest.mark.parametrize("size", [SIZE, BIG])
@pytest.mark.parametrize(("key", "kind"), [("question_mark", HelpScreen), ("g", SetupScreen)])
async def test_dialogs_are_centred(size: tuple[int, int], key: str, kind: type) -> None:
    app = scenes.scene_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, kind)
        centred(app)
        assert "STOP: press s or Esc" in screen_text(app)


@pytest.mark.parametrize("size", [SIZE, BIG])
async def test_the_pain_dialog_is_centred(size: tuple[int, int], store: Any, conn: Any) -> None:
    from tens.checklist import none_apply
    from tens.store.sessions import record_checklist

    record_checklist(conn, none_apply(), False)
    app = scenes.scene_app(store=store)
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PainScreen)
        centred(app)


async def test_f1_opens_help_like_the_question_mark() -> None:
    app = scenes.scene_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "F1" in screen_text(app)
        await pilot.press("f1")  # and closes it again
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
