"""Session prompts: ask before/after, re-ask on bad answers, link the score to its session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tens.journal.models import Context
from tens.journal.prompts import (
    PROMPTS,
    ask_session_pain,
    parse_answer,
    record_session_pain,
)
from tens.journal.repository import list_entries, session_scores
from tens.journal.validate import JournalInputError
from tens.store import AsyncDB
from tens.store.sessions import create_session

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def scripted(
    *answers: str | None,
) -> tuple[Callable[[str], Awaitable[str | None]], list[str]]:
    asked: list[str] = []
    replies = list(answers)

    async def ask(prompt: str) -> str | None:
        asked.append(prompt)
        return replies.pop(0)

    return ask, asked


def test_parse_answer() -> None:
    assert parse_answer("") is None and parse_answer("  ") is None and parse_answer(None) is None
    assert parse_answer(" 7 ") == 7
    with pytest.raises(JournalInputError, match="score"):
        parse_answer("11")


async def test_before_and_after_are_linked_to_the_session(tmp_path: Path) -> None:
    async with await AsyncDB.open(tmp_path / "p.db") as db:
        sid = await db.run(create_session, started_at=T0)
        ask, asked = scripted("eleven", "8")
        said: list[str] = []
        before = await ask_session_pain(
            db, sid, "before", ask, region="lower-back", say=said.append
        )
        assert before.score == 8 and before.entry_id is not None
        assert asked == [PROMPTS["before"]] * 2 and "0 to 10" in said[0]
        assert before.advice  # 8 is severe: the gentle advice comes at once
        ask, asked = scripted("3")
        after = await ask_session_pain(db, sid, "after", ask)
        assert after.score == 3 and asked == [PROMPTS["after"]]
        b, a = await db.run(session_scores, sid)
        assert b is not None and a is not None
        assert (b.score, b.context, b.region) == (8, Context.BEFORE, "lower-back")
        assert (a.score, a.context, a.session_id) == (3, Context.AFTER, sid)


async def test_skip_and_give_up_store_nothing(tmp_path: Path) -> None:
    async with await AsyncDB.open(tmp_path / "p.db") as db:
        sid = await db.run(create_session, started_at=T0)
        ask, _ = scripted("")
        assert (await ask_session_pain(db, sid, "after", ask)).score is None
        ask, asked = scripted("x", "-3", "99")
        assert (await ask_session_pain(db, sid, "after", ask)).entry_id is None
        assert len(asked) == 3
        assert await db.run(list_entries) == []


async def test_record_session_pain_for_the_runner(tmp_path: Path) -> None:
    async with await AsyncDB.open(tmp_path / "p.db") as db:
        sid = await db.run(create_session, started_at=T0)
        await record_session_pain(db, 6, "before", sid)
        await record_session_pain(db, 5, "before", None)  # start refused: kept as "other"
        with pytest.raises(JournalInputError, match="session 99 does not exist"):
            await record_session_pain(db, 4, "after", 99)
        with pytest.raises(JournalInputError, match="score"):
            await record_session_pain(db, 12, "after", sid)
        entries = await db.run(list_entries)
        assert [(e.score, e.context, e.session_id) for e in entries] == [
            (6, Context.BEFORE, sid),
            (5, Context.OTHER, None),
        ]
