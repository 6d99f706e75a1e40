"""The event log: refusals with their reasons, faults, link events, newest at the bottom.

Long entries wrap; the newest entry is always shown whole at the bottom, and older ones fill
the rows above as far as they fit, whatever the size (a resize re-wraps, so it keeps following).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.text import Text
from textual.widget import Widget

from tui.view_state import LogLine

STYLES = {"warning": "bold", "error": "bold reverse"}


def log_rows(lines: list[LogLine], width: int, height: int, console: Console) -> list[Text]:
    """The rows to show: wrapped entries, newest last, as many whole entries as fit.

    An entry taller than the box (only when it is tiny) keeps its first rows.
    """
    rows: list[Text] = []
    for line in reversed(lines):
        text = Text(line.render(), style=STYLES.get(line.level, ""))
        wrapped = list(text.wrap(console, max(1, width)))
        if rows and len(rows) + len(wrapped) > height:
            break
        rows[:0] = wrapped
        if len(rows) >= height:
            break
    return rows[:height]


class EventLog(Widget):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lines: list[LogLine] = []

    def on_mount(self) -> None:
        self.border_title = "Events"

    def show(self, lines: Iterable[LogLine]) -> None:
        self._lines = list(lines)
        self.refresh()

    def render(self) -> Text:
        if not self._lines:
            return Text("No events yet.", style="dim")
        height = max(1, self.content_size.height)
        width = max(1, self.content_size.width)
        rows = log_rows(self._lines, width, height, self.app.console)
        return Text("\n", no_wrap=True).join(rows)
