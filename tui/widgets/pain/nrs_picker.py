"""The 0–10 pain scale picker: big digits, the whole scale on one line, keys 0–9, ←/→."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Digits, Static

ANCHORS = "0 = no pain · 10 = worst pain imaginable"
KEYS_HINT = "keys 0–9 (1 then 0 = 10), ←/→; Enter saves"


def scale_line(value: int | None) -> str:
    """``0 1 2 [3] 4 … 10``: the chosen score in brackets, readable without colour."""
    return " ".join(f"[{n}]" if n == value else f" {n} " for n in range(11))


class ScaleLine(Widget):
    DEFAULT_CSS = "ScaleLine { height: 1; }"

    value: reactive[int | None] = reactive(None)

    def render(self) -> Text:
        return Text(scale_line(self.value))


class NrsPicker(Widget, can_focus=True):
    """Pick a whole number 0–10. Digit keys set it (1 then 0 gives 10)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "nudge(-1)", "Less", show=False),
        Binding("right", "nudge(1)", "More", show=False),
        *(Binding(str(n), f"digit({n})", show=False) for n in range(10)),
    ]

    value: reactive[int | None] = reactive(None)

    def __init__(self, value: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.set_reactive(NrsPicker.value, value)
        self._last_digit_one = False

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Digits("-" if self.value is None else str(self.value), id="nrs-digits")
            with Vertical(id="nrs-side"):
                yield ScaleLine()
                yield Static(ANCHORS, classes="nrs-anchors")
                yield Static(KEYS_HINT, classes="hint")

    def watch_value(self, value: int | None) -> None:
        if not self.is_mounted:
            return
        self.query_one("#nrs-digits", Digits).update("-" if value is None else str(value))
        self.query_one(ScaleLine).value = value

    def on_mount(self) -> None:
        self.query_one(ScaleLine).value = self.value

    def action_digit(self, n: int) -> None:
        if n == 0 and self.value == 1 and self._last_digit_one:
            self.value = 10
        else:
            self.value = n
        self._last_digit_one = n == 1

    def action_nudge(self, delta: int) -> None:
        self._last_digit_one = False
        if self.value is None:
            self.value = 0 if delta > 0 else 10
        else:
            self.value = min(10, max(0, self.value + delta))
