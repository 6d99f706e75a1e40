"""The report's numbers: baseline vs current, the change in one sentence, relief, wins."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from tens.journal.stats import CHANGE_CAVEAT


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
        lines.append(c.summary)  # the report's own sentence: one wording, one rounding
        lines.append(CHANGE_CAVEAT)
    lines.append(f"Relief per session (median): {report.relief.median.text(1, 'points')}")
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
