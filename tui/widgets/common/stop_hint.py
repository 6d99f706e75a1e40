"""The stop key, always on screen: one line docked at the bottom of every screen and modal."""

from __future__ import annotations

from textual.widgets import Static

STOP_TEXT = " STOP: press s or Esc — output goes to zero at once "


class StopHint(Static):
    """Says how to stop. Never hidden, whatever the terminal size."""

    def __init__(self) -> None:
        super().__init__(STOP_TEXT, classes="stop-hint")
