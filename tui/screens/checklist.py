"""First run: the contraindication checklist. Any "yes" means no session, with advice."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from tens.checklist import ADVICE, QUESTIONS
from tui.widgets.common.stop_hint import StopHint
from tui.widgets.common.tick_box import TickBox

INTRO = (
    "Before the first session: tick (space) each one that applies to you, then Save. "
    "tens is not a medical device; talk to a clinician about TENS."
)


class ChecklistScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll(id="checklist"):
            yield Static("Safety checklist", classes="dialog-title")
            yield Static(INTRO)
            for q in QUESTIONS:
                yield TickBox(q.text, id=f"q-{q.key}", classes="question")
            yield Static("", id="checklist-advice", classes="advice")
            with Horizontal(classes="buttons"):
                yield Button("Save answers", id="save", variant="primary")
        yield StopHint()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TickBox).focus()  # the first question; Tab moves on, space ticks

    def answers(self) -> dict[str, bool]:
        return {q.key: self.query_one(f"#q-{q.key}", TickBox).value for q in QUESTIONS}

    def on_checkbox_changed(self, event: TickBox.Changed) -> None:
        advice = self.query_one("#checklist-advice", Static)
        any_yes = any(self.answers().values())
        advice.update(ADVICE if any_yes else "")
        advice.set_class(any_yes, "-shown")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "save":
            return
        from tui.app import TensApp

        app = self.app
        assert isinstance(app, TensApp)
        answers = self.answers()
        await app.save_checklist(answers)
        if any(answers.values()):
            self.notify(ADVICE, severity="warning", timeout=15)
        self.dismiss(None)
