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
    """One check box per red flag; ``selected`` lists the ticked ones in a stable order."""

    def compose(self) -> ComposeResult:
        yield Static("Any of these with the pain?", classes="field-label")
        for flag in RedFlag:
            yield TickBox(RED_FLAG_LABELS[flag], id=f"flag-{flag.value}")

    @property
    def selected(self) -> list[RedFlag]:
        return [f for f in RedFlag if self.query_one(f"#flag-{f.value}", TickBox).value]
