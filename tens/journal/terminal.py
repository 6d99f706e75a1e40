"""The report as plain text for the terminal."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Sequence

from tens.journal.chart import SESSION, pain_chart
from tens.journal.models import RED_FLAG_LABELS, PainEntry
from tens.journal.report import Report
from tens.journal.stats import (
    CHANGE_CAVEAT,
    MIN_WINDOW_DAYS,
    MIN_WINDOW_ENTRIES,
    Comparison,
    ReliefSummary,
    SessionRelief,
    duration_text,
    end_text,
    peak_text,
)

MAX_SESSION_ROWS = 20


def local_time(when: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    shown = when.astimezone(tz) if tz is not None else when.astimezone()
    return shown.strftime("%Y-%m-%d %H:%M")


def comparison_lines(c: Comparison) -> list[str]:
    if c.baseline_first is not None and c.baseline_last is not None:
        span = f"{c.baseline_first.isoformat()} – {c.baseline_last.isoformat()}"
    else:
        span = "no entries yet"
    lines = [
        f"  Baseline (first 7 days with entries; {span}): {c.baseline.text()}",
        f"  Last 7 days ({c.current_start.isoformat()} – {c.current_end.isoformat()}): "
        f"{c.current.text()}",
    ]
    if c.no_claim is not None:
        lines.append(f"  No comparison claimed: {c.no_claim}.")
        return lines
    assert c.summary is not None
    lines += textwrap.wrap(c.summary, 88, initial_indent="  ", subsequent_indent="  ")
    lines += textwrap.wrap(CHANGE_CAVEAT, 88, initial_indent="  ", subsequent_indent="  ")
    return lines


def session_lines(
    sessions: Sequence[SessionRelief], relief: ReliefSummary, tz: dt.tzinfo | None
) -> list[str]:
    """One row per session with its facts (program, placement, peak, end) under it, and the
    median relief: the same in the report and the clinician report."""
    out: list[str] = []
    out.append("  session  started           length   before  after  relief")
    for s in sessions:
        rel = "—" if s.relief.points is None else f"{s.relief.points:+d}"
        out.append(
            f"  {s.session_id:>7}  {local_time(s.started_at, tz)}  "
            f"{duration_text(s.minutes):>7}  {_opt(s.before):>6}  {_opt(s.after):>5}  "
            f"{rel:>6}"
        )
        facts = (
            f"program {s.program or '—'}, placement {s.placement or '—'}, "
            f"peak {peak_text(s)}; {end_text(s)}"
        )
        out += textwrap.wrap(facts, 86, initial_indent=" " * 11, subsequent_indent=" " * 11)
    pts = ", ".join(f"{p:+d}" for p in relief.points) or "none yet"
    out.append(f"  Median relief: {relief.median.text(1, 'points')} (each session: {pts})")
    return out


def render_text(report: Report, *, chart: bool = True, tz: dt.tzinfo | None = None) -> str:
    r = report
    out: list[str] = [
        f"Pain journal report: {r.weeks} weeks, {r.period_start.isoformat()} to "
        f"{r.today.isoformat()}",
        f"Entries: {r.entries_in_period} in this period, {r.entries_total} in all. "
        "n = number of entries behind each mean.",
        "",
        "Baseline and now (before-session and other scores)",
        *comparison_lines(r.comparison),
    ]
    if r.comparison.no_claim is not None:
        out.append(
            f"  (A comparison needs {MIN_WINDOW_ENTRIES} entries on {MIN_WINDOW_DAYS} days in "
            "each, and the two must not overlap.)"
        )
    if chart:
        out += ["", f"Pain over time (daily mean; {SESSION} = session)"]
        out += [
            "  " + row
            for row in pain_chart(r.daily, (s.day for s in r.sessions), r.period_start, r.today)
        ]
    out += [
        "",
        "Weekly",
        "  week starting   mean pain (n)   days  high-pain days  sessions  minutes",
    ]
    for w in r.weekly:
        out.append(
            f"  {w.start.isoformat()}      {w.mean.text():<14}  {w.days_logged:>4}  "
            f"{w.high_pain_days:>14}  {w.sessions:>8}  {w.minutes:>7.0f}"
        )
    out += ["", "Sessions (relief = pain before − pain after)"]
    if not r.sessions:
        out.append("  No sessions in this period.")
    else:
        shown = r.sessions[-MAX_SESSION_ROWS:]
        if len(r.sessions) > len(shown):
            out.append(f"  (last {len(shown)} of {len(r.sessions)}; the HTML report lists all)")
        out += session_lines(shown, r.relief, tz)
    if r.small_wins:
        out += ["", "Small wins"] + [f"  • {w}" for w in r.small_wins]
    out += ["", "Red flags"]
    if not r.red_flags:
        out.append("  None logged.")
    for item in r.red_flags:
        names = ", ".join(RED_FLAG_LABELS[f] for f in item.flags)
        where = f", {item.region}" if item.region else ""
        out.append(
            f"  {item.day.isoformat()}  {names} (entry {item.entry_id}, pain {item.score}{where})"
        )
    for text in r.advice:
        out += ["", *textwrap.wrap(text, 92, initial_indent="  ⚑ ", subsequent_indent="    ")]
    if r.peg:
        out += ["", "PEG-3 (pain, enjoyment, activity; score = mean)"]
        for p in r.peg:
            out.append(
                f"  {local_time(p.at, tz)}  {p.pain} {p.enjoyment} {p.activity}  "
                f"score {p.score:.1f}"
            )
    out += ["", "Recent entries"]
    if not r.recent:
        out.append("  None yet. Add one with: tens pain add SCORE --where REGION")
    for e in r.recent:
        out.append("  " + entry_line(e, tz))
    return "\n".join(out) + "\n"


def _opt(value: int | None) -> str:
    return "—" if value is None else str(value)


def entry_line(e: PainEntry, tz: dt.tzinfo | None = None) -> str:
    ctx = e.context.value if e.session_id is None else f"{e.context.value} session {e.session_id}"
    parts = [f"#{e.id:<5}", local_time(e.at, tz), f"pain {e.score:>2}", ctx]
    if e.region:
        parts.append(e.region)
    if e.kind:
        parts.append(e.kind.value)
    if e.red_flags:
        parts.append("red flags: " + ", ".join(f.value for f in e.red_flags))
    if e.helped:
        parts.append("helped: " + ", ".join(e.helped))
    if e.note:
        parts.append(f'"{e.note}"')
    if e.deleted_at is not None:
        parts.append(f"(deleted {local_time(e.deleted_at, tz)})")
    return "  ".join(parts)
