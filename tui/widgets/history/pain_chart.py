"""Pain over time: one column per day (the day's mean NRS, full height = 10), sessions marked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from tui import format as fmt

SESSION_MARK = "^"


def day_columns(
    days: Sequence[tuple[dt.date, float]], session_days: set[dt.date], width: int
) -> tuple[list[float], str, str]:
    """Values per column, the session-marker line and a first/last date line, for the last
    ``width`` days ending on the last day with data."""
    if not days or width <= 0:
        return [], "", ""
    means = dict(days)
    last = max(means)
    first = last - dt.timedelta(days=width - 1)
    cols = [first + dt.timedelta(days=i) for i in range(width)]
    values = [means.get(d, 0.0) for d in cols]
    marks = "".join(SESSION_MARK if d in session_days else " " for d in cols)
    start = min(means)
    shown_from = max(first, start)
    label_left = shown_from.isoformat()
    label_right = last.isoformat()
    pad = max(1, width - len(label_left) - len(label_right))
    return values, marks, label_left + " " * pad + label_right


class PainChart(Widget):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._days: list[tuple[dt.date, float]] = []
        self._sessions: set[dt.date] = set()

    def on_mount(self) -> None:
        self.border_title = "Pain by day (mean, full height = 10; ^ = session)"

    def show(self, days: Sequence[tuple[dt.date, float]], session_days: set[dt.date]) -> None:
        self._days, self._sessions = list(days), set(session_days)
        self.refresh()

    def render(self) -> Text:
        width = max(1, self.content_size.width)
        height = max(3, self.content_size.height)
        if not self._days:
            return Text("No pain entries yet: press p on the session screen to log one.")
        values, marks, labels = day_columns(self._days, self._sessions, width)
        rows = fmt.chart_rows(values, 10.0, height - 2)
        return Text("\n".join([*rows, marks, labels]))
