"""SVG snapshots of the main screens at 80x24 (the documented minimum) and 120x40,
deterministic: fixed clock, no live timers.

Update after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at the
SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tens.events import Decision, Refused, SessionEnded, SessionState, Source, StateChanged
from tests.tui import scenes

SIZE = (80, 24)
SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@SIZES
def test_session_idle(size: tuple[int, int], snap_compare: Any) -> None:
    app = scenes.scene_app()

    async def before(pilot: Pilot[Any]) -> None:
        app.apply_event(scenes.StateChanged(scenes.CONNECTED))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_session_running_with_refusal(size: tuple[int, int], snap_compare: Any) -> None:
    app = scenes.scene_app()

    async def before(pilot: Pilot[Any]) -> None:
        scenes.play_running(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_session_link_lost(size: tuple[int, int], snap_compare: Any) -> None:
    app = scenes.scene_app()

    async def before(pilot: Pilot[Any]) -> None:
        scenes.play_link_lost(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_help(size: tuple[int, int], snap_compare: Any) -> None:
    app = scenes.scene_app()
    assert snap_compare(app, terminal_size=size, press=["question_mark"])


@SIZES
def test_pain_dialog_with_red_flag(
    size: tuple[int, int], snap_compare: Any, store: Any, conn: Any
) -> None:
    from textual.widgets import Checkbox

    from tens.checklist import none_apply
    from tens.store.sessions import record_checklist

    record_checklist(conn, none_apply(), False)
    app = scenes.scene_app(store=store)

    async def before(pilot: Pilot[Any]) -> None:
        await app.workers.wait_for_complete()
        app.apply_event(scenes.StateChanged(scenes.CONNECTED))
        await pilot.press("p", "7")
        app.screen.query_one("#flag-numbness", Checkbox).value = True
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_checklist_first_run(size: tuple[int, int], snap_compare: Any, store: Any) -> None:
    app = scenes.scene_app(store=store)

    async def before(pilot: Pilot[Any]) -> None:
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_history_report(size: tuple[int, int], snap_compare: Any, store: Any, conn: Any) -> None:
    import datetime as dt

    from tens.checklist import none_apply
    from tens.store.sessions import record_checklist

    record_checklist(conn, none_apply(), False)
    scenes.fill_history(conn)
    app = scenes.scene_app(store=store, wall=dt.datetime(2026, 1, 14, 21, tzinfo=dt.UTC))

    async def before(pilot: Pilot[Any]) -> None:
        await app.workers.wait_for_complete()
        await pilot.press("h")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_session_aborted_then_a_refused_start(size: tuple[int, int], snap_compare: Any) -> None:
    """The whole reasons at 80x24: the abort's on the time line, the refusal under the plan,
    and the newest log entry whole."""
    from dataclasses import replace

    app = scenes.scene_app()
    reason = "the device's watchdog tripped (it heard nothing from us in time)"
    rest = (
        "rest between sessions is 15 min: the last session ended 0 min ago; start again in 15 min"
    )

    async def before(pilot: Pilot[Any]) -> None:
        scenes.play_running(app)
        ended = replace(
            scenes.running(0.0, 140.0),
            session=SessionState.ABORTED,
            end_reason=reason,
            remaining_s=None,
        )
        app.apply_event(SessionEnded(1, SessionState.ABORTED, reason))
        app.apply_event(StateChanged(ended))
        app.apply_event(Refused(Decision(Source.TUI, "start", 10.0, None, "refused", (rest,))))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_program_dialog_with_values_beyond_the_limits(
    size: tuple[int, int], snap_compare: Any
) -> None:
    from textual.widgets import Input

    app = scenes.scene_app()
    app.controller.limits_in_force = scenes.opentens_limits()  # type: ignore[attr-defined]

    async def before(pilot: Pilot[Any]) -> None:
        app.apply_event(StateChanged(scenes.CONNECTED))
        await pilot.press("g")
        await pilot.pause()
        app.screen.query_one("#minutes", Input).value = "200"
        app.screen.query_one("#intensity", Input).value = "200"
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)
