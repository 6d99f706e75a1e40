"""History: sessions and pain entries in tables, pain over time, the report's numbers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from tui.journal_bridge import HistoryData
from tui.widgets.common.stop_hint import StopHint
from tui.widgets.history.entries_table import EntriesTable
from tui.widgets.history.pain_chart import PainChart
from tui.widgets.history.report_numbers import ReportNumbers
from tui.widgets.history.sessions_table import SessionsTable

if TYPE_CHECKING:
    from tui.app import TensApp


class HistoryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "Back"),
        Binding("h", "close", "Back", show=False),
        Binding("r", "reload", "Reload"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("History", classes="screen-title")
        with TabbedContent(id="history-tabs"):
            with TabPane("Report", id="tab-report"):
                with VerticalScroll():
                    yield PainChart(id="pain-chart")
                    yield ReportNumbers("Loading…", id="report-numbers")
            with TabPane("Sessions", id="tab-sessions"):
                yield SessionsTable(id="sessions-table", cursor_type="row")
            with TabPane("Pain entries", id="tab-entries"):
                yield EntriesTable(id="entries-table", cursor_type="row")
        yield StopHint()
        yield Footer()

    @property
    def tens(self) -> TensApp:
        from tui.app import TensApp

        assert isinstance(self.app, TensApp)
        return self.app

    async def on_mount(self) -> None:
        await self.action_reload()

    async def action_reload(self) -> None:
        from tui.journal_bridge import load_history

        app = self.tens
        if app.store is None:
            self.query_one(ReportNumbers).update("No journal is open.")
            return
        try:
            data = await load_history(app.store, app.clock, app.tz)
        except Exception as exc:
            self.query_one(ReportNumbers).update(f"Could not read the journal: {exc}")
            return
        self.show_history(data)

    def show_history(self, data: HistoryData) -> None:
        tz = self.tens.tz
        self.query_one(SessionsTable).show(data.sessions, tz)
        self.query_one(EntriesTable).show(data.entries, tz)
        self.query_one(ReportNumbers).show(data.report)
        days, session_days = chart_data(data.report)
        self.query_one(PainChart).show(days, session_days)

    def action_close(self) -> None:
        self.dismiss(None)


def chart_data(report: Any | None) -> tuple[list[tuple[dt.date, float]], set[dt.date]]:
    if report is None:
        return [], set()
    days = [(d.day, d.mean.value) for d in report.daily if d.mean.value is not None]
    return days, {s.day for s in report.sessions}
