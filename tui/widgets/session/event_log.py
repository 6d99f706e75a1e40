"""The event log: refusals with their reasons, faults, link events, newest at the bottom."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widget import Widget

from tui.view_state import LogLine


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
        height = max(1, self.content_size.height)
        text = Text(no_wrap=True, overflow="ellipsis")
        shown = self._lines[-height:]
        for i, line in enumerate(shown):
            style = {"warning": "bold", "error": "bold reverse"}.get(line.level, "")
            text.append(line.render(), style=style)
            if i < len(shown) - 1:
                text.append("\n")
        if not shown:
            text.append("No events yet.", style="dim")
        return text
