"""The TUI's calls into the journal and the session records (through the async database)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tens.clock import Clock
from tui.pain_answer import PainAnswer


async def save_entry(
    store: Any, answer: PainAnswer, *, context: str, session_id: int | None, clock: Clock
) -> list[str]:
    """Validate and store one pain entry; returns the advice to show at once (may be empty)."""
    from tens.journal.advice import entry_advice
    from tens.journal.repository import add_entry
    from tens.journal.validate import new_entry

    now = clock.wall()
    entry = new_entry(
        answer.nrs,
        at=now,
        now=now,
        context=context,
        session_id=session_id,
        region=answer.region,
        kind=answer.kind,
        red_flags=answer.red_flags,
        helped=answer.helped,
        note=answer.note,
    )
    await store.run(add_entry, entry, now=now)
    return entry_advice(entry.score, entry.red_flags)


@dataclass(frozen=True, slots=True)
class HistoryData:
    """Everything the history screen shows, read in one go."""

    sessions: list[Any]
    entries: list[Any]
    report: Any | None


async def load_history(store: Any, clock: Clock, tz: dt.tzinfo | None) -> HistoryData:
    """Sessions, entries and the report (12 weeks ending now), oldest first."""
    from tens.journal.report import build_report
    from tens.journal.repository import list_entries
    from tens.store.sessions import list_sessions

    sessions = await store.run(list_sessions)
    entries = await store.run(list_entries)
    report = await store.run(build_report, now=clock.wall(), tz=tz)
    return HistoryData(sessions=sessions, entries=entries, report=report)
