"""The report's numbers: baseline vs current, % reduction, responder, relief, small wins."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


def report_lines(report: Any) -> list[str]:
    """Plain lines from a :class:`tens.journal.report.Report`; every mean shows its n."""
    c = report.comparison
    lines = [
        f"Baseline (first 7 days with entries): {c.baseline.text()}",
        f"Current (last 7 days): {c.current.text()}",
    ]
    if c.no_claim is not None:
        lines.append(f"No comparison yet: {c.no_claim}.")
    else:
        if c.points is None:
            change = "—"
        elif c.points >= 0:
            change = f"{c.points:.1f} points less"
        else:
            change = f"{-c.points:.1f} points more"
        pct = f"{c.percent:.0f} % reduction" if c.percent is not None else "% not computable"
        lines.append(f"Change: {change}, {pct}: {c.category or 'no change'}")
        if c.responder is not None:
            lines.append("Responder (30 % or more): " + ("yes" if c.responder else "not yet"))
    lines.append(
        f"Relief per session: {report.relief_points.text()} points, "
        f"{report.relief_percent.text(0)} %"
    )
    lines.append(f"Entries: {report.entries_total} in all, {report.entries_in_period} shown")
    for win in report.small_wins:
        lines.append(f"+ {win}")
    for advice in report.advice:
        lines.append(f"! {advice}")
    return lines


class ReportNumbers(Static):
    def show(self, report: Any | None) -> None:
        if report is None:
            self.update("No report yet.")
            return
        self.update("\n".join(report_lines(report)))
