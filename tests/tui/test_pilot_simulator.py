"""The TUI driven by keys (Pilot) against the real controller on the simulated wearable.

Judged by the simulator's delivered-output record (what the electrodes carry), and by what
the screen shows. Redraws are coalesced (refresh_s), so key presses stay fast.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Digits

from tens.config import TensConfig
from tens.events import LinkState, Refused, SessionState
from tens.limits import Limits
from tui.app import TensApp, make_app
from tui.screen_text import screen_text
from tui.screens.pain import PainScreen
from tui.widgets.session.plan import SessionPlan

pytestmark = [pytest.mark.timeout(60)]

SIZE = (80, 24)


def plan(intensity: float = 3.0) -> SessionPlan:
    return SessionPlan(
        program="conventional", minutes=5, intensity=intensity, placement="lower-back"
    )


def app_for(rig: Any, **options: Any) -> TensApp:
    options.setdefault("ask_pain", False)
    options.setdefault("plan", plan())
    return make_app(rig.ctrl, store=rig.db, refresh_s=0.05, **options)


async def wait_for(pilot: Pilot[Any], cond: Callable[[], bool], within: float = 8.0) -> None:
    """Let the app run until ``cond()`` holds; fail with the screen after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def gauge(app: TensApp) -> str:
    return str(app.screen_stack[1].query_one("#gauge-digits", Digits).value)


async def connected(pilot: Pilot[Any], rig: Any) -> None:
    await wait_for(pilot, lambda: rig.ctrl.snapshot().link is LinkState.CONNECTED)


async def test_start_raise_gauge_follows_device_and_stop(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory()
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        shown: list[str] = []

        def ramped() -> bool:
            shown.append(gauge(app))
            return rig.last() == 3.0 and gauge(app) == "3.0"

        await wait_for(pilot, ramped)
        # Every value the gauge showed lies on the path the electrodes carried (the record
        # has each change; a status report may fall between two of them and rounds to
        # 0.1 mA), and the reports it draws from followed the ramp step by step.
        carried = [s.intensity_ma for s in rig.sim.record if s.channel == 0]

        def on_path(value: float) -> bool:
            return any(
                min(a, b) - 0.1 <= value <= max(a, b) + 0.1 for a, b in itertools.pairwise(carried)
            )

        for value in set(shown):
            assert on_path(float(value)), (value, carried)
        reports = [v for _, v in app.view.samples]
        assert len(set(reports)) > 2, reports
        for report in reports:
            assert on_path(report), (report, carried)

        await pilot.press("up")  # one manual step, through the governor
        await wait_for(pilot, lambda: rig.last() == 4.0 and gauge(app) == "4.0")
        assert "4.0 / 40.0 mA" in screen_text(app)

        await pilot.press("s")
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)
        assert rig.ctrl.snapshot().session is SessionState.STOPPED
        await wait_for(pilot, lambda: "STOPPED" in screen_text(app))


async def test_a_refused_step_shows_its_reason(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory(TensConfig(limits=Limits(peak_ma=4.0)))
    refusals: list[Refused] = []
    rig.ctrl.add_listener(lambda ev: refusals.append(ev) if isinstance(ev, Refused) else None)
    app = app_for(rig, plan=plan(4.0))
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: rig.last() == 4.0)
        await pilot.press("up")  # 5 mA is above the 4 mA peak limit
        await wait_for(pilot, lambda: bool(refusals))
        reason = refusals[-1].decision.reason
        await wait_for(pilot, lambda: "REFUSED" in screen_text(app))
        text = screen_text(app)
        assert reason[:40] in text.replace("\n", " ") or reason[:40] in text
        assert rig.last() == 4.0  # nothing above the limit reached the electrodes
        assert max(s.intensity_ma for s in rig.sim.record) <= 4.0
        await pilot.press("s")
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)


async def test_a_channel_the_device_lacks_is_refused_in_its_own_numbering(
    sim_rig_factory: Any,
) -> None:
    """Issue 18.8: the config names channel 3 of a two-channel wearable; the TUI shows the
    refusal as a person counts channels (from 1), and nothing reaches the electrodes."""
    from tens.config import SessionDefaults

    rig = await sim_rig_factory(TensConfig(session=SessionDefaults(channels=(3,))))
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: "REFUSED" in screen_text(app))
        text = " ".join(screen_text(app).split())
        assert "channel 3 is not on this device: it has channels 1–2" in text, text
        assert rig.sim.record.max() == 0.0


@pytest.mark.parametrize("key", ["s", "escape"])
async def test_stop_from_inside_the_pain_dialog(sim_rig_factory: Any, key: str) -> None:
    from tens.journal.repository import list_entries

    rig = await sim_rig_factory()
    app = app_for(rig, ask_pain=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")  # asks pain before the session first
        await wait_for(pilot, lambda: isinstance(app.screen, PainScreen))
        await pilot.press("6", "enter")
        await wait_for(pilot, lambda: rig.last() == 3.0)
        session_id = rig.ctrl.snapshot().session_id

        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PainScreen))
        await pilot.press(key)
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)
        assert rig.ctrl.snapshot().session is SessionState.STOPPED
        # The open dialog stays, and now takes the after-session score.
        screen = app.screen
        assert isinstance(screen, PainScreen)
        await wait_for(pilot, lambda: screen.when == "after")
        await pilot.press("3", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PainScreen))
        for _ in range(100):  # the save runs on the database thread
            entries = await rig.db.run(list_entries)
            if len(entries) >= 2:
                break
            await pilot.pause(0.05)
        assert [(e.score, e.context.value, e.session_id) for e in entries] == [
            (6, "before", session_id),
            (3, "after", session_id),
        ]


async def test_link_drop_shows_and_the_session_does_not_resume(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory()
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: rig.last() == 3.0)
        dropped_at = asyncio.get_running_loop().time()
        await rig.sim.drop_link()
        await wait_for(pilot, lambda: "LINK LOST" in screen_text(app))
        text = screen_text(app)
        assert "ABORTED" in text
        await pilot.pause(1.5)
        assert rig.ctrl.snapshot().session is SessionState.ABORTED
        assert all(s.intensity_ma == 0.0 for s in rig.sim.record if s.t > dropped_at + 0.01)
        assert rig.last() == 0.0
        assert "ABORTED" in screen_text(app)


async def test_s_in_the_note_types_a_letter_only_when_nothing_runs(sim_rig_factory: Any) -> None:
    from textual.widgets import Input

    rig = await sim_rig_factory()
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PainScreen))
        note = app.screen.query_one("#note", Input)
        note.focus()
        await pilot.press("s", "o", "r", "e")
        assert note.value == "sore"
        await pilot.press("escape")  # nothing running: Esc closes the dialog
        await wait_for(pilot, lambda: not isinstance(app.screen, PainScreen))

        await pilot.press("space")
        await wait_for(pilot, lambda: rig.last() == 3.0)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PainScreen))
        note = app.screen.query_one("#note", Input)
        note.focus()
        await pilot.press("s")  # output is on: s stops, even in a text field
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)
        assert note.value == ""


async def test_the_tui_warns_while_night_use_is_on(sim_rig_factory: Any) -> None:
    from tens.schedule import QuietHours

    night = QuietHours(allow_night_use=True, night_use_reason="night shift, partner awake")
    rig = await sim_rig_factory(TensConfig(quiet_hours=night))
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "night use is ON" in screen_text(app).replace("\n", " "))
