"""The stop key, always on screen: one line at the bottom of every screen and modal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Static

STOP_TEXT = " STOP: press s or Esc — output goes to zero at once "


class StopHint(Static):
    """Says how to stop. Never hidden, whatever the terminal size."""

    def __init__(self) -> None:
        super().__init__(STOP_TEXT, classes="stop-hint")


class DialogBottom(Vertical):
    """A dialog's last two lines: the stop line, then the dialog's own keys.

    Docked as one block, so the full-width stop line does not widen what is centred (the
    dialog) and the keys never cover it (two widgets docked to one edge overlap).
    """

    def compose(self) -> ComposeResult:
        yield StopHint()
        yield Footer()
