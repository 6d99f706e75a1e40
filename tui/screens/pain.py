"""The pain dialog: NRS 0–10 (big, keyboard first), where, kind, red flags, what else helped,
a note. Asked before and after a session when enabled, and any time with p."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioSet, Select, Static

from tens.journal.models import KIND_LABELS, KNOWN_HELPERS, PainKind
from tui.pain_answer import PainAnswer
from tui.widgets.common.stop_aware_input import StopAwareInput
from tui.widgets.common.stop_hint import DialogBottom
from tui.widgets.common.tick_box import RadioChoice, TickBox
from tui.widgets.pain.nrs_picker import NrsPicker
from tui.widgets.pain.red_flags import RedFlags

TITLES = {
    "before": "Pain now, before the session? (0–10)",
    "after": "Pain now, after the session? (0–10)",
    "any": "Pain now? (0–10)",
}


def region_options() -> list[tuple[str, str]]:
    from tens.journal.regions import REGIONS

    return [(r.label, r.key) for r in REGIONS.values()]


SKIP = "skip"
"""The dialog's result when the person chose Skip (None: closed, e.g. with Esc)."""


class PainScreen(ModalScreen[PainAnswer | str | None]):
    """Returns a :class:`PainAnswer`, :data:`SKIP`, or None when closed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "save", "Save", show=False),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, when: str = "any", session_id: int | None = None) -> None:
        super().__init__()
        self.when = when
        self.session_id = session_id

    def retarget(self, when: str, session_id: int | None) -> None:
        """The open dialog now asks for the score ``when`` (e.g. after the session ended)."""
        self.when, self.session_id = when, session_id
        self.query_one("#pain-title", Static).update(TITLES.get(when, TITLES["any"]))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="pain-dialog"):
            yield Static(
                TITLES.get(self.when, TITLES["any"]), id="pain-title", classes="dialog-title"
            )
            # Outside the scrolling part, so it is seen at once, wherever the focus is.
            yield Static("", id="red-flag-advice", classes="advice")
            with VerticalScroll(id="pain-fields"):
                yield from self.fields()
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Skip", id="skip")
        yield DialogBottom()  # the stop line, then this dialog's keys

    def fields(self) -> ComposeResult:
        yield NrsPicker(id="nrs")
        yield Static("Where", classes="field-label")
        yield Select(
            region_options(),
            id="region",
            prompt="where is the pain?",
            type_to_search=False,  # s must stay the stop key
        )
        yield Static("Kind of pain", classes="field-label")
        with RadioSet(id="kind"):
            for kind in PainKind:
                yield RadioChoice(KIND_LABELS[kind], name=kind.value)
        yield RedFlags(id="red-flags")
        yield Static("What else helped", classes="field-label")
        with Vertical(id="helped"):
            for key, label in KNOWN_HELPERS.items():
                yield TickBox(label, name=key, classes="helped")
        yield StopAwareInput(placeholder="note (optional)", id="note", max_length=500)

    def on_mount(self) -> None:
        self.query_one(NrsPicker).focus()

    def on_checkbox_changed(self, event: TickBox.Changed) -> None:
        from tui.widgets.pain.red_flags import advice_for

        if event.checkbox.has_class("helped"):
            return
        advice = self.query_one("#red-flag-advice", Static)
        text = advice_for(self.query_one(RedFlags).selected)
        advice.update(text)
        advice.set_class(bool(text), "-shown")

    def answer(self) -> PainAnswer | None:
        nrs = self.query_one(NrsPicker).value
        if nrs is None:
            return None
        region = self.query_one("#region", Select).value
        pressed = self.query_one("#kind", RadioSet).pressed_button
        kind = PainKind(pressed.name) if pressed is not None and pressed.name else None
        note = self.query_one("#note", Input).value.strip() or None
        return PainAnswer(
            nrs=nrs,
            region=region if isinstance(region, str) else None,
            kind=kind,
            red_flags=tuple(self.query_one(RedFlags).selected),
            helped=tuple(
                box.name for box in self.query(".helped").results(TickBox) if box.value and box.name
            ),
            note=note,
        )

    def action_save(self) -> None:
        answer = self.answer()
        if answer is None:
            self.notify("Choose a number from 0 to 10 first.", severity="warning")
            self.query_one(NrsPicker).focus()
            return
        self.dismiss(answer)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(SKIP)
