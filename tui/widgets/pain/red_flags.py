"""Red-flag check boxes, with advice to see a healthcare provider shown as soon as one is ticked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Static

from tens.journal.models import RED_FLAG_LABELS, RedFlag

RED_FLAG_ADVICE = (
    "Please see a healthcare provider about this pain soon: pain with {flags} "
    "should be checked by a doctor or physiotherapist. Logging it here is fine; "
    "it will also be in your report."
)


def advice_for(flags: list[RedFlag]) -> str:
    if not flags:
        return ""
    return RED_FLAG_ADVICE.format(flags=", ".join(RED_FLAG_LABELS[f] for f in flags))


class RedFlags(Vertical):
    """One check box per red flag; ``selected`` lists the ticked ones in a stable order."""

    def compose(self) -> ComposeResult:
        yield Static("Any of these with the pain?", classes="field-label")
        for flag in RedFlag:
            yield Checkbox(RED_FLAG_LABELS[flag], id=f"flag-{flag.value}")
        yield Static("", id="red-flag-advice", classes="advice")

    @property
    def selected(self) -> list[RedFlag]:
        return [f for f in RedFlag if self.query_one(f"#flag-{f.value}", Checkbox).value]

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        advice = self.query_one("#red-flag-advice", Static)
        text = advice_for(self.selected)
        advice.update(text)
        advice.set_class(bool(text), "-shown")
