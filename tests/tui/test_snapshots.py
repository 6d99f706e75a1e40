"""SVG snapshots of the main screens at 80x24, deterministic: fixed clock, no live timers.

Update after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at the
SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from tests.tui import scenes

SIZE = (80, 24)


def test_session_idle(snap_compare: Any) -> None:
    app = scenes.scene_app()

    async def before(pilot: Pilot[Any]) -> None:
        app.apply_event(scenes.StateChanged(scenes.CONNECTED))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_session_running_with_refusal(snap_compare: Any) -> None:
    app = scenes.scene_app()

    async def before(pilot: Pilot[Any]) -> None:
        scenes.play_running(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_session_link_lost(snap_compare: Any) -> None:
    app = scenes.scene_app()

    async def before(pilot: Pilot[Any]) -> None:
        scenes.play_link_lost(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_help(snap_compare: Any) -> None:
    app = scenes.scene_app()
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])


def test_pain_dialog_with_red_flag(snap_compare: Any, store: Any, conn: Any) -> None:
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

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_checklist_first_run(snap_compare: Any, store: Any) -> None:
    app = scenes.scene_app(store=store)

    async def before(pilot: Pilot[Any]) -> None:
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_history_report(snap_compare: Any, store: Any, conn: Any) -> None:
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

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
