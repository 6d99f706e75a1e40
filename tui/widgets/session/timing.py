"""Time elapsed and left, with a progress bar, on one line."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tens.events import Snapshot
from tui import format as fmt


def timing_parts(snap: Snapshot) -> tuple[str, float, str]:
    """(left label, fraction done, right label) for a snapshot."""
    if snap.session.ended:
        reason = f": {snap.end_reason}" if snap.end_reason else ""
        return f"{fmt.state_word(snap.session)} after {fmt.duration(snap.elapsed_s)}{reason}", 0, ""
    left = f"{fmt.state_word(snap.session)} · {fmt.duration(snap.elapsed_s)} elapsed"
    if snap.remaining_s is None:
        return left, 0.0, "time left --:--"
    total = snap.elapsed_s + snap.remaining_s
    done = snap.elapsed_s / total if total > 0 else 0.0
    return left, done, f"{fmt.duration(snap.remaining_s)} left"


class TimingLine(Widget):
    """One line while a session runs; an ending's reason wraps onto more lines, whole."""

    DEFAULT_CSS = "TimingLine { height: auto; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._parts: tuple[str, float, str] = ("", 0.0, "")

    def show(self, snap: Snapshot) -> None:
        parts = timing_parts(snap)
        grows = bool(parts[2]) != bool(self._parts[2]) or not parts[2]
        self._parts = parts
        self.refresh(layout=grows)  # an ending's reason may need more lines

    def render(self) -> Text:
        left, done, right = self._parts
        if not right:
            return Text(left)  # wraps: the reason of an abort is never cut
        width = max(0, self.size.width - len(left) - len(right) - 2)
        return Text(f"{left} {fmt.bar(done, 1.0, width)} {right}")
