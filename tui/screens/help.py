"""The help dialog: every key, and what this tool is not."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.common.stop_hint import DialogBottom

HELP_TEXT = """\
Keys
  s, Esc     STOP: output to zero at once, from any screen or dialog
  space      start a session / pause / resume (resume ramps from zero)
  up, down   one step more or less, through the safety limits; a
             refused step says why. Before a session: the start level
  g          program, minutes, electrode placement for the next session
  p          log pain now (0-10)
  h          history: sessions, pain entries, the report's numbers
  d          devices: scan, connect, or use the simulator
  ?, F1      this help
  q          quit (stops output first)

A lost link, an electrode coming off, a device fault or a low battery
ends the session. Nothing restarts by itself: press space to start
again, from zero.

tens is not a medical device. Talk to a clinician about TENS, where
the electrodes go and which settings suit you. Esc, q, ? or F1 closes
this help."""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("f1", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(HELP_TEXT, id="help-text")
        yield DialogBottom()  # the stop line, then this dialog's keys

    def action_close(self) -> None:
        self.dismiss(None)
