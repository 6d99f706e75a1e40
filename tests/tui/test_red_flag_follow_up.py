"""The pain dialog asks about the emergency signs whenever weakness or numbness is ticked
(issue 13 item 4), as `tens pain` does: the TUI must not be the face that forgets to ask."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Static

from tens.checklist import none_apply
from tens.journal.advice import ASK_WITH_NUMBNESS
from tens.store.sessions import record_checklist

from . import scenes

pytestmark = [pytest.mark.timeout(60)]


def _advice(app: Any) -> str:
    return str(app.screen.query_one("#red-flag-advice", Static).render())


def _question(app: Any) -> str:
    """The follow-up question's text while it is shown, else ""."""
    q = app.screen.query_one("#red-flag-question", Static)
    return " ".join(str(q.render()).split()) if q.display else ""


async def _open_pain(app: Any, pilot: Pilot[Any]) -> None:
    await app.workers.wait_for_complete()
    app.apply_event(scenes.StateChanged(scenes.CONNECTED))
    await pilot.press("p", "7")
    await pilot.pause()


@pytest.mark.parametrize("flag", ["numbness", "weakness"])
async def test_weakness_or_numbness_asks_about_the_emergency_signs(
    flag: str, store: Any, conn: Any
) -> None:
    record_checklist(conn, none_apply(), False)
    app = scenes.scene_app(store=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await _open_pain(app, pilot)
        app.screen.query_one(f"#flag-{flag}", Checkbox).value = True
        await pilot.pause()
        assert "SEE A DOCTOR TODAY" in _advice(app)
        assert _question(app) == " ".join(ASK_WITH_NUMBNESS.split())
        # ticking an emergency sign: the emergency advice, and no more question
        app.screen.query_one("#flag-bladder-bowel", Checkbox).value = True
        await pilot.pause()
        assert "EMERGENCY: CALL NOW" in _advice(app)
        assert _question(app) == ""


async def test_no_question_for_other_flags(store: Any, conn: Any) -> None:
    record_checklist(conn, none_apply(), False)
    app = scenes.scene_app(store=store)
    async with app.run_test(size=(100, 40)) as pilot:
        await _open_pain(app, pilot)
        app.screen.query_one("#flag-fever", Checkbox).value = True
        await pilot.pause()
        assert "SEE A DOCTOR SOON" in _advice(app)
        assert _question(app) == ""
