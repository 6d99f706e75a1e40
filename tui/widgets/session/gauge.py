"""The large intensity gauge: what the electrodes carry (device reports), against the limit."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Digits, Static

from tens import channels
from tens.events import Snapshot
from tui import format as fmt


def full_scale(snap: Snapshot, delivered: float) -> float:
    """The gauge's full scale: the effective limit, or what has been seen when it is unknown."""
    if snap.limit is not None and snap.limit > 0:
        return snap.limit
    return max(snap.target, delivered, 1.0)


def gauge_info(snap: Snapshot, delivered: tuple[float, ...]) -> str:
    unit = snap.unit
    lines = [
        f"target {fmt.amount(snap.target, unit)}",
        "limit  " + (fmt.amount(snap.limit, unit) if snap.limit is not None else "unknown"),
    ]
    if len(delivered) > 1:
        lines.append(
            " · ".join(
                f"ch{channels.label(i)} {fmt.amount(v, unit)}" for i, v in enumerate(delivered)
            )
        )
    else:
        lines.append(f"program {snap.program or '-'}")
    return "\n".join(lines)


class GaugeBar(Widget):
    """One line: the filled bar, a target marker, and ``12.0 / 40.0 mA`` at the right."""

    DEFAULT_CSS = "GaugeBar { height: 1; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._value = 0.0
        self._scale = 1.0
        self._target: float | None = None
        self._label = ""

    def show(self, value: float, scale: float, target: float | None, label: str) -> None:
        self._value, self._scale, self._target, self._label = value, scale, target, label
        self.refresh()

    def render(self) -> Text:
        label = f" {self._label}"
        width = max(0, self.size.width - len(label))
        return Text(fmt.bar(self._value, self._scale, width, self._target) + label)


class IntensityGauge(Widget):
    """Big digits of the delivered intensity, target and limit beside them, a bar below."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="gauge-top"):
            yield Digits("0.0", id="gauge-digits")
            yield Static("mA", id="gauge-unit")
            yield Static("", id="gauge-info")
        yield GaugeBar(id="gauge-bar")

    def on_mount(self) -> None:
        self.border_title = "Delivered now (device report)"

    def show(self, snap: Snapshot, delivered: tuple[float, ...]) -> None:
        value = max(delivered, default=0.0)
        scale = full_scale(snap, value)
        digits = f"{value:.1f}" if snap.unit == "mA" else f"{value:g}"
        self.query_one("#gauge-digits", Digits).update(digits)
        self.query_one("#gauge-unit", Static).update(snap.unit)
        self.query_one("#gauge-info", Static).update(gauge_info(snap, delivered))
        limit = fmt.amount(scale, snap.unit) if snap.limit is not None else snap.unit
        label = f"{value:.1f} / {limit}" if snap.unit == "mA" else f"{value:g} / {limit}"
        self.query_one(GaugeBar).show(value, scale, snap.target or None, label)
