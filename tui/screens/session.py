"""The session screen: the gauge, time, device state, a live chart and the event log."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from tui.view_state import ViewState
from tui.widgets.common.stop_hint import StopHint
from tui.widgets.session.event_log import EventLog
from tui.widgets.session.gauge import IntensityGauge, full_scale
from tui.widgets.session.output_chart import OutputChart
from tui.widgets.session.plan import PlanLine, SessionPlan
from tui.widgets.session.status_bar import StatusBar
from tui.widgets.session.timing import TimingLine

if TYPE_CHECKING:
    from tui.app import TensApp


class SessionScreen(Screen[None]):
    # up to 29 rows the chart gives two rows to the event log (app.tcss)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012 (as Screen declares it)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "start_pause", "Start/Pause"),
        Binding("up", "step(1)", "More"),
        Binding("down", "step(-1)", "Less"),
        Binding("p", "pain", "Pain"),
        Binding("g", "setup", "Program"),
        Binding("h", "history", "History"),
        Binding("d", "devices", "Devices", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    @property
    def tens(self) -> TensApp:
        from tui.app import TensApp

        assert isinstance(self.app, TensApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield IntensityGauge(id="gauge")
        yield TimingLine(id="timing")
        yield PlanLine(id="plan")
        yield OutputChart(id="chart")
        yield EventLog(id="log")
        yield StopHint()
        yield Footer()

    def on_mount(self) -> None:
        self.show_view(self.tens.view, self.tens.plan, self.tens.now())

    def show_view(self, view: ViewState, plan: SessionPlan, now: float) -> None:
        snap = view.snapshot
        self.query_one(StatusBar).show(snap)
        self.query_one(IntensityGauge).show(snap, view.delivered)
        self.query_one(TimingLine).show(snap)
        self.query_one(PlanLine).show(plan, snap.unit, view.last_refusal, snap)
        chart = self.query_one(OutputChart)
        chart.show(view.chart(now, chart.columns), full_scale(snap, view.delivered_max), snap.unit)
        self.query_one(EventLog).show(view.log)

    async def action_start_pause(self) -> None:
        await self.tens.start_or_pause()

    async def action_step(self, delta: int) -> None:
        await self.tens.step(delta)

    def action_pain(self) -> None:
        self.tens.open_pain("any")

    def action_setup(self) -> None:
        self.tens.open_setup()

    def action_history(self) -> None:
        self.tens.open_history()

    def action_devices(self) -> None:
        self.tens.open_devices()

    def action_help(self) -> None:
        self.tens.open_help()

    async def action_quit(self) -> None:
        await self.tens.action_quit()
