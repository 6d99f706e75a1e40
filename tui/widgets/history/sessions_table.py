"""The sessions table: when, program, placement, minutes, peak delivered, how it ended."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable

COLUMNS = ("#", "started", "program", "on", "min", "peak", "ended")


def session_row(s: Any, tz: dt.tzinfo | None) -> tuple[str, ...]:
    started = s.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    unit = s.unit or ""
    how = s.state if s.state == "finished" or not s.end_reason else f"{s.state}: {s.end_reason}"
    return (
        str(s.id),
        started,
        s.program or "-",
        (s.placement or "-").replace("-", " "),
        f"{s.stimulation_seconds / 60:.0f}",
        f"{s.max_delivered:g} {unit}".strip(),
        how,
    )


class SessionsTable(DataTable[str]):
    def show(self, sessions: Sequence[Any], tz: dt.tzinfo | None) -> None:
        self.clear(columns=True)
        self.add_columns(*COLUMNS)
        for s in reversed(sessions):  # newest first
            self.add_row(*session_row(s, tz))
