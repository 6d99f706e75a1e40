"""Asking for pain before a session starts and after it ends (used by the CLI and the TUI).

The face supplies ``ask(prompt) -> answer`` (an async callable: the CLI wraps ``input`` in a
thread, the TUI shows a dialog); this module parses the answer, asks again on a bad one and
stores the score linked to the session. An empty answer skips the question: pain scores are
optional and never block a session (or its stop).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from tens.journal.advice import entry_advice
from tens.journal.repository import add_entry
from tens.journal.validate import JournalInputError, new_entry, parse_score
from tens.store.asyncdb import AsyncDB
from tens.store.timestamps import utc_now

When = Literal["before", "after"]

PROMPTS: dict[When, str] = {
    "before": "Pain right now, before the session (0–10, Enter to skip): ",
    "after": "Pain right now, after the session (0–10, Enter to skip): ",
}
MAX_TRIES = 3


def parse_answer(text: str | None) -> int | None:
    """None for an empty answer (skip); the score for 0–10; JournalInputError otherwise."""
    if text is None or not text.strip():
        return None
    return parse_score(text.strip())


@dataclass(frozen=True, slots=True)
class PromptResult:
    score: int | None
    entry_id: int | None
    advice: list[str]


def record_session_score(
    conn: sqlite3.Connection,
    session_id: int,
    when: When,
    score: int,
    *,
    at: dt.datetime | None = None,
    region: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store a before/after score linked to its session (which must exist); returns the id.
    ``at`` is when the person answered (a before-score asked before the session row was
    created keeps its own time)."""
    stamp = now or utc_now()
    entry = new_entry(
        score, at=at or stamp, now=stamp, context=when, session_id=session_id, region=region
    )
    return add_entry(conn, entry, now=stamp)


async def ask_score(
    ask: Callable[[str], Awaitable[str | None]],
    when: When,
    *,
    say: Callable[[str], None] | None = None,
) -> int | None:
    """Ask until a valid score or a skip (at most ``MAX_TRIES`` times; then skip)."""
    for _ in range(MAX_TRIES):
        answer = await ask(PROMPTS[when])
        try:
            return parse_answer(answer)
        except JournalInputError as exc:
            if say is not None:
                say(f"{exc.message}. Type a whole number from 0 to 10, or press Enter to skip.")
    return None


async def ask_session_pain(
    db: AsyncDB,
    session_id: int,
    when: When,
    ask: Callable[[str], Awaitable[str | None]],
    *,
    region: str | None = None,
    say: Callable[[str], None] | None = None,
) -> PromptResult:
    """Ask for a before/after score and store it linked to the session."""
    asked_at = utc_now()
    score = await ask_score(ask, when, say=say)
    if score is None:
        return PromptResult(None, None, [])
    entry_id = await db.run(
        record_session_score, session_id, when, score, at=asked_at, region=region
    )
    return PromptResult(score, entry_id, entry_advice(score, ()))


async def record_session_pain(
    db: AsyncDB,
    score: int,
    context: str,
    session_id: int | None,
    *,
    at: dt.datetime | None = None,
    region: str | None = None,
) -> int:
    """Store a score a face already asked for: linked to ``session_id`` as ``context``
    (before/after); without a session (e.g. the start was refused) it is stored as "other".
    Returns the entry id; raises JournalInputError / StoreError."""
    stamp = utc_now()
    if session_id is None:
        entry = new_entry(score, at=at or stamp, now=stamp, region=region)
        return await db.run(add_entry, entry, now=stamp)
    if context not in ("before", "after"):
        raise JournalInputError("context", f"{context!r} is not before or after")
    when: When = "before" if context == "before" else "after"
    return await db.run(record_session_score, session_id, when, score, at=at, region=region)
