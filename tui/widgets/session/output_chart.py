"""A live chart of the delivered output over the last minutes, scaled to the limit."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui import format as fmt


class OutputChart(Widget):
    """Columns of block characters; the newest output is at the right edge."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._values: list[float] = []
        self._scale = 1.0

    def on_mount(self) -> None:
        self.border_title = "Output, last 3 minutes"

    @property
    def columns(self) -> int:
        return max(1, self.content_size.width)

    def show(self, values: list[float], scale: float, unit: str) -> None:
        self._values, self._scale = values, scale
        self.border_subtitle = f"full height = {fmt.amount(scale, unit)}"
        self.refresh()

    def render(self) -> Text:
        height = max(1, self.content_size.height)
        width = max(1, self.content_size.width)
        values = self._values[-width:]
        values = [0.0] * (width - len(values)) + values
        return Text("\n".join(fmt.chart_rows(values, self._scale, height)))
