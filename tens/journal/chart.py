"""A text chart of pain over time with sessions marked, for the terminal report."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

from tens.journal.stats import Day

POINT = "●"
SESSION = "▲"


def pain_chart(
    days: Sequence[Day],
    session_days: Iterable[dt.date],
    start: dt.date,
    end: dt.date,
    *,
    max_width: int = 84,
) -> list[str]:
    """Rows of a 0–10 dot chart, one column per day (or per few days when the period is
    wider than ``max_width``): the mean score of the column's entries, and under the axis a
    mark where sessions ran (a digit when several, ``+`` for ten or more)."""
    n_days = (end - start).days + 1
    per_col = max(1, math.ceil(n_days / max(1, max_width)))
    cols = math.ceil(n_days / per_col)
    totals = [0.0] * cols
    counts = [0] * cols
    sessions = [0] * cols
    for day in days:
        if start <= day.day <= end and day.mean.value is not None:
            c = (day.day - start).days // per_col
            totals[c] += day.mean.value * day.mean.n
            counts[c] += day.mean.n
    for sday in session_days:
        if start <= sday <= end:
            sessions[(sday - start).days // per_col] += 1
    level = [
        None if counts[c] == 0 else math.floor(totals[c] / counts[c] + 0.5) for c in range(cols)
    ]
    rows: list[str] = []
    for y in range(10, -1, -1):
        cells = "".join(
            POINT if level[c] == y else ("·" if y % 5 == 0 else " ") for c in range(cols)
        )
        rows.append(f"{y:>2} │{cells}")
    rows.append("   └" + "─" * cols)
    marks = "".join(
        " " if s == 0 else (SESSION if s == 1 else (str(s) if s < 10 else "+")) for s in sessions
    )
    rows.append("    " + marks)
    left, right = start.isoformat(), end.isoformat()
    gap = max(1, cols - len(left) - len(right))
    rows.append("    " + left + " " * gap + right)
    if per_col > 1:
        rows.append(f"    (one column = {per_col} days)")
    return rows
