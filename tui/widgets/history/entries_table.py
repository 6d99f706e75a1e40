"""The pain entries table: when, score, before/after a session, where, red flags, note."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable

COLUMNS = ("when", "pain", "context", "where", "flags", "note")


def entry_row(e: Any, tz: dt.tzinfo | None) -> tuple[str, ...]:
    when = e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    context = e.context.value + (f" #{e.session_id}" if e.session_id else "")
    flags = ", ".join(f.value for f in e.red_flags) or "-"
    return (
        when,
        f"{e.score}/10",
        context,
        (e.region or "-").replace("-", " "),
        flags,
        (e.note or "")[:30],
    )


class EntriesTable(DataTable[str]):
    def show(self, entries: Sequence[Any], tz: dt.tzinfo | None) -> None:
        self.clear(columns=True)
        self.add_columns(*COLUMNS)
        for e in reversed(entries):  # newest first
            self.add_row(*entry_row(e, tz))
