"""Red-flag check boxes; the pain dialog shows the advice as soon as one is ticked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tens.journal.models import RED_FLAG_LABELS, RedFlag
from tui.widgets.common.tick_box import TickBox


def advice_for(flags: list[RedFlag]) -> str:
    """The journal's advice for these red flags (shown as soon as one is ticked), or ""."""
    from tens.journal.advice import red_flag_advice

    return red_flag_advice(flags) or ""


class RedFlags(Vertical):
    """One check box per red flag; ``selected`` lists the ticked ones in a stable order.

    With weakness or numbness ticked and no emergency sign, the question about those signs
    (the one `tens pain` asks) shows right above their boxes, where it is answered."""

    def compose(self) -> ComposeResult:
        from tens.journal.advice import ASK_WITH_NUMBNESS

        yield Static("Any of these with the pain?", classes="field-label")
        for flag in RedFlag:
            if flag is RedFlag.BLADDER_BOWEL:
                yield Static(ASK_WITH_NUMBNESS, id="red-flag-question", classes="advice")
            yield TickBox(RED_FLAG_LABELS[flag], id=f"flag-{flag.value}")

    def on_checkbox_changed(self, event: TickBox.Changed) -> None:
        from tens.journal.advice import needs_follow_up

        ask = needs_follow_up(self.selected)
        self.query_one("#red-flag-question", Static).set_class(ask, "-shown")

    @property
    def selected(self) -> list[RedFlag]:
        return [f for f in RedFlag if self.query_one(f"#flag-{f.value}", TickBox).value]
