"""The clinician report: what a physiotherapist reads at the next visit, built on the journal
report (:mod:`tens.journal.report`) and its honest numbers (:mod:`tens.journal.stats`):
red flags first with the advice the person was given, the period, adherence (sessions,
minutes, placements, programs, intensities, end states, aborts with their reasons), NRS
before/after per session with the median relief, the weekly trend, PEG-3 by week, and the
baseline comparison with its one-sentence rule.

Terminal text and a self-contained HTML page; :func:`write_pdf` renders that page with
WeasyPrint, imported only when a PDF is asked for.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import textwrap
from collections import Counter
from dataclasses import dataclass
from html import escape
from pathlib import Path
from statistics import median
from typing import Any

from tens import __version__
from tens.journal.html import CSS, _pain_svg, _weekly_svg, sessions_table
from tens.journal.models import RED_FLAG_LABELS, PegEntry
from tens.journal.regions import REGIONS
from tens.journal.report import DEFAULT_WEEKS, Report, build_report
from tens.journal.stats import (
    CHANGE_CAVEAT,
    MIN_WINDOW_DAYS,
    MIN_WINDOW_ENTRIES,
    Mean,
    week_starts,
)
from tens.journal.terminal import comparison_lines, local_time, session_lines
from tens.store.timestamps import to_db

NO_PRESCRIPTION = "No prescription is recorded in tens."


@dataclass(frozen=True, slots=True)
class Intensity:
    unit: str
    n: int
    low: float
    median: float
    high: float


@dataclass(frozen=True, slots=True)
class Abort:
    session_id: int
    day: dt.date
    state: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Adherence:
    sessions: int
    """Sessions that ran (refused starts not counted)."""
    per_week: float
    minutes: float
    placements: tuple[tuple[str, int], ...]
    programs: tuple[tuple[str, int], ...]
    intensities: tuple[Intensity, ...]
    """Peak delivered per session, by unit (mA and vendor levels never mixed)."""
    end_states: tuple[tuple[str, int], ...]
    aborts: tuple[Abort, ...]
    """Sessions aborted or stopped with a reason, and refused starts, with their reasons."""
    refused: int


@dataclass(frozen=True, slots=True)
class PegWeek:
    start: dt.date
    mean: Mean
    """Mean PEG-3 score (0–10) of the answers that week, with their number."""


@dataclass(frozen=True, slots=True)
class ClinicianReport:
    report: Report
    adherence: Adherence
    peg_weeks: tuple[PegWeek, ...]
    prescription: str


def clinician_dict(c: ClinicianReport) -> dict[str, Any]:
    """JSON-ready form: the journal report's dict plus adherence, PEG-3 weeks, prescription."""
    from tens.journal.report import _plain

    return {
        "report": c.report.to_dict(),
        "adherence": _plain(c.adherence),
        "peg_weeks": _plain(c.peg_weeks),
        "prescription": c.prescription,
    }


def _counted(values: list[str | None]) -> tuple[tuple[str, int], ...]:
    counts = Counter(v or "not recorded" for v in values)
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_clinician(
    conn: sqlite3.Connection,
    *,
    weeks: int = DEFAULT_WEEKS,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
    prescription: str | None = None,
) -> ClinicianReport:
    report = build_report(conn, weeks=weeks, now=now, tz=tz)
    s = report.sessions
    by_unit: dict[str, list[float]] = {}
    for x in s:
        if x.peak is not None and x.unit is not None and x.peak > 0:
            by_unit.setdefault(x.unit, []).append(x.peak)
    intensities = tuple(
        Intensity(unit, len(v), min(v), float(median(v)), max(v))
        for unit, v in sorted(by_unit.items())
    )
    aborts = [
        Abort(x.session_id, x.day, x.state, x.end_reason)
        for x in s
        if x.state == "aborted" or (x.state == "stopped" and x.end_reason)
    ]
    from tens.journal.validate import local_midnight

    since = to_db(local_midnight(report.period_start, tz))
    refused_rows = conn.execute(
        "SELECT id, started_at, end_reason FROM sessions WHERE started_at >= ? "
        "AND state = 'refused' ORDER BY started_at, id",
        (since,),
    ).fetchall()
    from tens.store.timestamps import from_db

    for sid, started, why in refused_rows:
        when = from_db(started)
        day = (when.astimezone(tz) if tz is not None else when.astimezone()).date()
        aborts.append(Abort(sid, day, "refused", why))
    adherence = Adherence(
        sessions=len(s),
        per_week=len(s) / weeks,
        minutes=sum(x.minutes for x in s),
        placements=_counted([x.placement for x in s]),
        programs=_counted([x.program for x in s]),
        intensities=intensities,
        end_states=_counted([x.state for x in s]),
        aborts=tuple(sorted(aborts, key=lambda a: (a.day, a.session_id))),
        refused=len(refused_rows),
    )
    return ClinicianReport(
        report=report,
        adherence=adherence,
        peg_weeks=peg_by_week(report.peg, report.today, weeks, tz),
        prescription=prescription or NO_PRESCRIPTION,
    )


def peg_by_week(
    peg: list[PegEntry], today: dt.date, weeks: int, tz: dt.tzinfo | None
) -> tuple[PegWeek, ...]:
    starts = week_starts(today, weeks)
    scores: list[list[float]] = [[] for _ in starts]
    for p in peg:
        day = (p.at.astimezone(tz) if tz is not None else p.at.astimezone()).date()
        i = (day - starts[0]).days // 7
        if 0 <= i < weeks and day <= today:
            scores[i].append(p.score)
    return tuple(
        PegWeek(start, Mean(sum(v) / len(v) if v else None, len(v)))
        for start, v in zip(starts, scores, strict=True)
    )


def _region(key: str | None) -> str:
    if key is None:
        return "not recorded"
    region = REGIONS.get(key)
    return region.label if region else key


def _pairs(items: tuple[tuple[str, int], ...], label: bool = False) -> str:
    if not items:
        return "none"
    return ", ".join(f"{_region(k) if label else k} ×{n}" for k, n in items)


def _intensity_text(i: Intensity) -> str:
    unit = "levels" if i.unit == "level" else i.unit
    return f"peak {i.low:g}–{i.high:g} {unit}, median {i.median:g} {unit} (n={i.n} sessions)"


def red_flag_lines(r: Report) -> list[str]:
    out = []
    for item in r.red_flags:
        names = ", ".join(RED_FLAG_LABELS[f] for f in item.flags)
        where = f", {_region(item.region)}" if item.region else ""
        out.append(
            f"{item.day.isoformat()}: {names} (entry {item.entry_id}, pain {item.score}{where})"
        )
    return out


def render_clinician_text(c: ClinicianReport, *, tz: dt.tzinfo | None = None) -> str:
    r, a = c.report, c.adherence
    out = [
        f"Clinician report: {r.weeks} weeks, {r.period_start.isoformat()} to "
        f"{r.today.isoformat()} (local dates)",
        "Pain on the 0–10 numeric rating scale as logged by the person; n = entries behind "
        "each mean.",
        "",
        "RED FLAGS reported by the person",
    ]
    flags = red_flag_lines(r)
    out += [f"  ⚑ {line}" for line in flags] or ["  None reported."]
    for text in r.advice:
        out += textwrap.wrap(
            "Advice given: " + text, 92, initial_indent="  ", subsequent_indent="  "
        )
    out += ["", "Prescription", f"  {c.prescription}", "", "Adherence"]
    out += [
        f"  Sessions: {a.sessions} in {r.weeks} weeks ({a.per_week:.1f} per week), "
        f"{a.minutes:.0f} minutes of stimulation; {a.refused} start(s) refused",
        f"  Placements: {_pairs(a.placements, label=True)}",
        f"  Programs: {_pairs(a.programs)}",
        "  Intensity: "
        + ("; ".join(_intensity_text(i) for i in a.intensities) or "none delivered"),
        f"  End states: {_pairs(a.end_states)}",
    ]
    if a.aborts:
        out.append("  Aborted, stopped with a reason, or refused:")
        out += [
            f"    {x.day.isoformat()} session {x.session_id}: {x.state}"
            + (f" ({x.reason})" if x.reason else "")
            for x in a.aborts
        ]
    out += ["", "Baseline and now (before-session and other scores)"]
    out += comparison_lines(r.comparison)
    if r.comparison.no_claim is not None:
        out.append(
            f"  (A comparison needs {MIN_WINDOW_ENTRIES} entries on {MIN_WINDOW_DAYS} days in "
            "each, and the two must not overlap.)"
        )
    out += [
        "",
        "Week by week",
        "  week starting   mean pain (n)   high-pain days  sessions  minutes  PEG-3 (n)",
    ]
    for w, p in zip(r.weekly, c.peg_weeks, strict=True):
        out.append(
            f"  {w.start.isoformat()}      {w.mean.text():<14}  {w.high_pain_days:>14}  "
            f"{w.sessions:>8}  {w.minutes:>7.0f}  {p.mean.text()}"
        )
    out += ["", "Sessions: NRS before and after (relief = before − after)"]
    if not r.sessions:
        out.append("  No sessions in this period.")
    else:
        out += session_lines(r.sessions, r.relief, tz)
    out += ["", f"tens {__version__}; not a medical device: these are the person's own logs."]
    return "\n".join(out) + "\n"


PRINT_CSS = """
@page{size:A4;margin:16mm 14mm 18mm;@bottom-right{content:"page " counter(page) " of "
counter(pages);font-size:9pt;color:#5a6472}}
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}
svg{break-inside:avoid}tr{break-inside:avoid}
#sessions{font-size:8pt;table-layout:fixed}#sessions td,#sessions th{padding:.15rem .25rem;
overflow-wrap:anywhere}#sessions th:nth-child(2){width:17%}#sessions th:nth-child(4),
#sessions th:nth-child(5){width:13%}#sessions th:nth-child(10){width:15%}}
.flag{background:#fdecec;border-left:4px solid #c0392b;padding:.6rem .9rem;margin:.8rem 0}
"""


def _peg_svg(c: ClinicianReport) -> str:
    w, h, left, top, ph = 820, 170, 36, 14, 120
    weeks = c.peg_weeks
    slot = (w - left - 12) / max(1, len(weeks))

    def y(v: float) -> float:
        return top + ph - v / 10 * ph

    parts = [
        f'<svg viewBox="0 0 {w} {h}" role="img" xmlns="http://www.w3.org/2000/svg" '
        'id="peg-chart"><title>PEG-3 mean score per week (0–10)</title>',
        f'<line x1="{left}" x2="{w - 12}" y1="{y(0)}" y2="{y(0)}" stroke="#9aa5b4"/>',
        f'<text x="{left - 4}" y="{y(10) + 4}" font-size="10" text-anchor="end" '
        'fill="#5a6472">10</text>',
        f'<text x="{left - 4}" y="{y(0) + 4}" font-size="10" text-anchor="end" '
        'fill="#5a6472">0</text>',
    ]
    points = []
    for i, p in enumerate(weeks):
        cx = left + i * slot + slot / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{y(0) + 16}" font-size="9" text-anchor="middle" '
            f'fill="#5a6472">{p.start.strftime("%d %b")}</text>'
        )
        if p.mean.value is not None:
            points.append(f"{cx:.1f},{y(p.mean.value):.1f}")
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{y(p.mean.value):.1f}" r="4" fill="#7a4fb0" '
                f'class="peg-point" data-week="{p.start.isoformat()}" '
                f'data-score="{p.mean.value:.1f}" data-n="{p.mean.n}"/>'
            )
    if len(points) > 1:
        parts.insert(4, f'<polyline points="{" ".join(points)}" fill="none" stroke="#b79ad8"/>')
    parts.append("</svg>")
    return "".join(parts)


def render_clinician_html(c: ClinicianReport, *, tz: dt.tzinfo | None = None) -> str:
    r, a, cmp = c.report, c.adherence, c.report.comparison
    title = f"Clinician report {r.period_start.isoformat()} to {r.today.isoformat()}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}{PRINT_CSS}</style></head><body>",
        "<h1>TENS and pain journal: clinician report</h1>",
        f'<p class="sub" id="period">{r.weeks} weeks, {r.period_start.isoformat()} to '
        f"{r.today.isoformat()} (local dates). Pain on the 0–10 numeric rating scale, as "
        f"logged by the person; n = entries behind each mean. {r.entries_in_period} entries "
        "in this period.</p>",
        '<h2 id="red-flags-title">Red flags reported by the person</h2>',
    ]
    flags = red_flag_lines(r)
    if not flags:
        out.append('<p id="red-flags">None reported.</p>')
    else:
        out.append('<ul id="red-flags">')
        out += [f'<li class="flag">{escape(line)}</li>' for line in flags]
        out.append("</ul>")
    for text in r.advice:
        out.append(f'<div class="advice">Advice given to the person: {escape(text)}</div>')
    out += [
        "<h2>Prescription</h2>",
        f'<p id="prescription">{escape(c.prescription)}</p>',
        "<h2>Adherence</h2>",
        '<table id="adherence">',
        f'<tr><th>sessions</th><td id="adh-sessions">{a.sessions} in {r.weeks} weeks '
        f"({a.per_week:.1f} per week); {a.refused} start(s) refused</td></tr>",
        f'<tr><th>minutes of stimulation</th><td id="adh-minutes">{a.minutes:.0f}</td></tr>',
        f"<tr><th>placements</th><td>{escape(_pairs(a.placements, label=True))}</td></tr>",
        f"<tr><th>programs</th><td>{escape(_pairs(a.programs))}</td></tr>",
        "<tr><th>intensity</th><td>"
        + escape("; ".join(_intensity_text(i) for i in a.intensities) or "none delivered")
        + "</td></tr>",
        f"<tr><th>end states</th><td>{escape(_pairs(a.end_states))}</td></tr>",
        "</table>",
    ]
    if a.aborts:
        out.append(
            '<table id="aborts"><tr><th>date</th><th>session</th><th>state</th><th>reason</th></tr>'
        )
        out += [
            f"<tr><td>{x.day.isoformat()}</td><td>{x.session_id}</td><td>{x.state}</td>"
            f"<td>{escape(x.reason or '—')}</td></tr>"
            for x in a.aborts
        ]
        out.append("</table>")
    out.append("<h2>Baseline and now</h2>")
    out.append(
        "<p>Baseline: first 7 days with entries "
        + (
            f"({cmp.baseline_first.isoformat()} – {cmp.baseline_last.isoformat()})"
            if cmp.baseline_first and cmp.baseline_last
            else "(none yet)"
        )
        + f": {escape(cmp.baseline.text())}. Last 7 days ({cmp.current_start.isoformat()} – "
        f"{cmp.current_end.isoformat()}): {escape(cmp.current.text())}.</p>"
    )
    if cmp.no_claim is not None:
        out.append(
            f'<p class="noclaim" id="no-claim">No comparison is claimed: '
            f"{escape(cmp.no_claim)}.</p>"
        )
    else:
        assert cmp.summary is not None
        out.append(f'<p id="change-summary">{escape(cmp.summary)}</p>')
        out.append(f'<p class="n">{escape(CHANGE_CAVEAT)}</p>')
    out += ["<h2>Pain over time</h2>", _pain_svg(r), "<h2>Week by week</h2>", _weekly_svg(r)]
    out.append(
        '<table id="weekly"><tr><th>week starting</th><th class="num">mean pain</th>'
        '<th class="num">n</th><th class="num">high-pain days</th>'
        '<th class="num">sessions</th><th class="num">minutes</th>'
        '<th class="num">PEG-3</th><th class="num">n</th></tr>'
    )
    for w, p in zip(r.weekly, c.peg_weeks, strict=True):
        mean = "—" if w.mean.value is None else f"{w.mean.value:.1f}"
        peg = "—" if p.mean.value is None else f"{p.mean.value:.1f}"
        out.append(
            f'<tr data-week="{w.start.isoformat()}"><td>{w.start.isoformat()}</td>'
            f'<td class="num">{mean}</td><td class="num n">n={w.mean.n}</td>'
            f'<td class="num">{w.high_pain_days}</td><td class="num">{w.sessions}</td>'
            f'<td class="num">{w.minutes:.0f}</td><td class="num">{peg}</td>'
            f'<td class="num n">n={p.mean.n}</td></tr>'
        )
    out.append("</table>")
    out += ["<h2>PEG-3 over the weeks</h2>", _peg_svg(c)]
    out.append("<h2>Sessions: pain before and after</h2>")
    if not r.sessions:
        out.append("<p>No sessions in this period.</p>")
    else:
        out += sessions_table(r, tz)
    out.append(
        f'<p class="foot">Made with tens {escape(__version__)} on '
        f"{local_time(r.generated_at, tz)}. tens is not a medical device; these numbers are "
        "what the person logged, not a clinical assessment.</p></body></html>"
    )
    return "\n".join(out) + "\n"


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the Pango library it needs) is not installed."""


def write_pdf(html: str, path: Path) -> Path:
    """Render the clinician HTML to a PDF at ``path`` (written whole or not at all)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise PdfUnavailable(
            f"PDF needs WeasyPrint and Pango: pip install 'tens[pdf]' ({exc})"
        ) from exc
    data = HTML(string=html).write_pdf()
    assert data is not None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
