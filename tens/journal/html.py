"""The report as one self-contained HTML file (inline CSS and SVG, no scripts, no external
assets) that a person can hand to a physiotherapist or doctor.

Numbers carry ``id``/``data-`` attributes so tests (and curious readers) can find them.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from tens import __version__
from tens.journal.models import KIND_LABELS, RED_FLAG_LABELS
from tens.journal.regions import REGIONS
from tens.journal.report import Report
from tens.journal.stats import (
    CHANGE_CAVEAT,
    MEANINGFUL_BASELINE,
    MIN_WINDOW_DAYS,
    MIN_WINDOW_ENTRIES,
    MODERATE_POINTS,
    RESPONDER_PERCENT,
    Mean,
    duration_text,
    end_text,
    peak_text,
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;
color:#1d2430;line-height:1.45;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d5dbe3;padding-bottom:.2rem}
.sub{color:#5a6472;margin-top:0}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e6e9ee}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.n{color:#5a6472;font-size:.85em}
.advice{background:#fff8e6;border-left:4px solid #e0a100;padding:.6rem .9rem;margin:.8rem 0}
.noclaim{background:#eef2f7;border-left:4px solid #8795a8;padding:.6rem .9rem}
.wins li{margin:.2rem 0}
svg{width:100%;height:auto;background:#fff}
.foot{color:#5a6472;font-size:.85rem;margin-top:2.5rem}
@media print{body{margin:0}h2{break-after:avoid}}
"""

W, H = 820, 280
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 12, 48


def _mean_cells(m: Mean, key: str, digits: int = 1) -> str:
    value = "—" if m.value is None else f"{m.value:.{digits}f}"
    return (
        f'<td class="num" id="{key}-mean">{value}</td><td class="num n" id="{key}-n">n={m.n}</td>'
    )


def _pain_svg(report: Report) -> str:
    start, end = report.period_start, report.today
    days = (end - start).days + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(day: dt.date) -> float:
        return LEFT + ((day - start).days + 0.5) / days * pw

    def y(score: float) -> float:
        return TOP + (10 - score) / 10 * ph

    parts = [
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-labelledby="pain-chart-title" '
        'xmlns="http://www.w3.org/2000/svg" id="pain-chart">',
        '<title id="pain-chart-title">Pain over time (daily mean NRS 0–10), sessions marked '
        "below the axis</title>",
    ]
    for level in range(0, 11, 2):
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            f'stroke="{"#9aa5b4" if level == 0 else "#e6e9ee"}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(level) + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5a6472">{level}</text>'
        )
    for i, week in enumerate(report.weekly):
        if i % 2 == 0 or len(report.weekly) <= 8:
            parts.append(
                f'<text x="{x(week.start):.1f}" y="{H - 8}" font-size="10" fill="#5a6472">'
                f"{week.start.strftime('%d %b')}</text>"
            )
    weekly_pts = [
        (x(w.start + dt.timedelta(days=3)), y(w.mean.value))
        for w in report.weekly
        if w.mean.value is not None
    ]
    if len(weekly_pts) >= 2:
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in weekly_pts)
        parts.append(
            f'<polyline points="{pts}" fill="none" stroke="#e07a00" stroke-width="2" '
            'stroke-dasharray="5 3" class="weekly-mean"/>'
        )
    for d in report.daily:
        if d.mean.value is None:
            continue
        parts.append(
            f'<circle cx="{x(d.day):.1f}" cy="{y(d.mean.value):.1f}" r="3.2" fill="#2b6cb0" '
            f'class="day" data-day="{d.day.isoformat()}" data-mean="{d.mean.value:.2f}" '
            f'data-n="{d.mean.n}"><title>{d.day.isoformat()}: {d.mean.text()}</title></circle>'
        )
    base = TOP + ph + 14
    for sess in report.sessions:
        cx = x(sess.day)
        parts.append(
            f'<path d="M{cx:.1f},{base - 6:.1f} l-4,7 h8 z" fill="#2f855a" class="session" '
            f'data-session="{sess.session_id}"><title>session {sess.session_id}, '
            f"{sess.minutes:.0f} min</title></path>"
        )
    parts.append(
        f'<text x="{W - RIGHT}" y="{TOP + 10}" font-size="11" text-anchor="end" fill="#5a6472">'
        "● daily mean · - - weekly mean · ▲ session</text></svg>"
    )
    return "".join(parts)


def _weekly_svg(report: Report) -> str:
    weeks = report.weekly
    pw, ph = W - LEFT - RIGHT, 160
    height = ph + 40
    top_minutes = max([w.minutes for w in weeks] + [30.0])
    slot = pw / max(1, len(weeks))
    parts = [
        f'<svg viewBox="0 0 {W} {height}" role="img" aria-labelledby="week-chart-title" '
        'xmlns="http://www.w3.org/2000/svg" id="week-chart">',
        '<title id="week-chart-title">Minutes of stimulation and sessions per week</title>',
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{ph + 10}" y2="{ph + 10}" stroke="#9aa5b4"/>',
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="30" y2="30" stroke="#e6e9ee"/>'
        f'<text x="{LEFT - 4}" y="33" font-size="10" text-anchor="end" fill="#5a6472">'
        f"{top_minutes:.0f}</text>"
        f'<text x="{LEFT - 4}" y="{ph + 13}" font-size="10" text-anchor="end" '
        'fill="#5a6472">0</text>',
    ]
    for i, w in enumerate(weeks):
        bh = w.minutes / top_minutes * (ph - 20)
        bx = LEFT + i * slot + slot * 0.15
        parts.append(
            f'<rect x="{bx:.1f}" y="{ph + 10 - bh:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bh:.1f}" fill="#90b4e0" class="week-bar" '
            f'data-week="{w.start.isoformat()}" data-minutes="{w.minutes:.0f}" '
            f'data-sessions="{w.sessions}"><title>week of {w.start.isoformat()}: '
            f"{w.sessions} sessions, {w.minutes:.0f} min</title></rect>"
            f'<text x="{bx + slot * 0.35:.1f}" y="{ph + 6 - bh:.1f}" font-size="10" '
            f'text-anchor="middle" fill="#1d2430">{w.sessions}</text>'
            f'<text x="{bx + slot * 0.35:.1f}" y="{ph + 26}" font-size="9" '
            f'text-anchor="middle" fill="#5a6472">{w.start.strftime("%d %b")}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="12" font-size="11" fill="#5a6472">bars: minutes of '
        "stimulation per week (scale on the left); number above a bar: sessions</text></svg>"
    )
    return "".join(parts)


def _local(when: dt.datetime, tz: dt.tzinfo | None) -> str:
    shown = when.astimezone(tz) if tz is not None else when.astimezone()
    return shown.strftime("%Y-%m-%d %H:%M")


def _region(key: str | None) -> str:
    if key is None:
        return ""
    region = REGIONS.get(key)
    return escape(region.label if region else key)


def sessions_table(r: Report, tz: dt.tzinfo | None) -> list[str]:
    """The median relief line and one row per session (program, placement, peak, end): the
    same in the report and the clinician report."""
    out: list[str] = []
    each = ", ".join(f"{p:+d}" for p in r.relief.points) or "none yet"
    out.append(
        f'<p>Median relief per session: <span id="relief-points">'
        f"{r.relief.median.text(1, 'points')}</span> (each session: "
        f'<span id="relief-each">{each}</span>). '
        "Relief = pain before − pain after the session.</p>"
    )
    out.append(
        '<table id="sessions"><tr><th>session</th><th>started</th>'
        '<th class="num">length</th><th>program</th><th>placement</th>'
        '<th class="num">peak</th><th class="num">before</th><th class="num">after</th>'
        '<th class="num">relief</th><th>end</th></tr>'
    )
    for s in r.sessions:
        pts = "—" if s.relief.points is None else f"{s.relief.points:+d}"
        out.append(
            f'<tr data-session="{s.session_id}"><td>{s.session_id}</td>'
            f"<td>{_local(s.started_at, tz)}</td>"
            f'<td class="num">{duration_text(s.minutes)}</td>'
            f"<td>{escape(s.program or '—')}</td><td>{_region(s.placement)}</td>"
            f'<td class="num">{escape(peak_text(s))}</td>'
            f'<td class="num">{"—" if s.before is None else s.before}</td>'
            f'<td class="num">{"—" if s.after is None else s.after}</td>'
            f'<td class="num">{pts}</td><td>{escape(end_text(s))}</td></tr>'
        )
    out.append("</table>")
    return out


def render_html(report: Report, *, tz: dt.tzinfo | None = None) -> str:
    r, c = report, report.comparison
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Pain journal report {r.period_start.isoformat()} to {r.today.isoformat()}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Pain journal report</h1>",
        f'<p class="sub">{r.weeks} weeks, {r.period_start.isoformat()} to '
        f"{r.today.isoformat()} (local dates). Pain on the 0–10 numeric rating scale "
        "(0 = no pain, 10 = worst imaginable), as logged by the person. "
        f'<span id="entries-in-period">{r.entries_in_period}</span> entries in this period, '
        f'<span id="entries-total">{r.entries_total}</span> in all. '
        "n = number of entries behind each mean.</p>",
    ]
    for text in r.advice:
        out.append(f'<div class="advice">{escape(text)}</div>')
    out += [
        "<h2>Baseline and now</h2>",
        "<p>Trend figures use before-session and other scores; after-session scores are "
        "shown as per-session relief.</p>",
        '<table id="summary"><tr><th></th><th>days</th><th class="num">mean</th>'
        '<th class="num">n</th></tr>',
        "<tr><td>Baseline: first 7 days with entries</td><td>"
        + (
            f"{c.baseline_first.isoformat()} – {c.baseline_last.isoformat()}"
            if c.baseline_first and c.baseline_last
            else "—"
        )
        + f"</td>{_mean_cells(c.baseline, 'baseline')}</tr>",
        f"<tr><td>Current: last 7 days</td><td>{c.current_start.isoformat()} – "
        f"{c.current_end.isoformat()}</td>{_mean_cells(c.current, 'current')}</tr>",
        "</table>",
    ]
    if c.no_claim is not None:
        out.append(
            f'<p class="noclaim" id="no-claim">No comparison is claimed: {escape(c.no_claim)}. '
            f"A comparison needs {MIN_WINDOW_ENTRIES} entries on {MIN_WINDOW_DAYS} different "
            "days in each period, and the two must not overlap.</p>"
        )
    else:
        assert c.points is not None and c.summary is not None
        pct = "—" if c.percent is None else f"{c.percent:.1f}"
        responder = "—" if c.responder is None else ("yes" if c.responder else "not yet")
        out.append(
            '<table id="change"><tr><th>change (baseline − current)</th>'
            '<th class="num">points</th><th class="num">% reduction</th><th>meaning</th>'
            f"<th>responder (≥ {RESPONDER_PERCENT:.0f} % or ≥ {MODERATE_POINTS:.0f} points)</th>"
            "</tr>"
            f'<tr><td></td><td class="num" id="change-points">{c.points:.1f}</td>'
            f'<td class="num" id="change-percent">{pct}</td>'
            f'<td id="change-category">{escape(c.category or "")}</td>'
            f'<td id="responder">{responder}</td></tr></table>'
            f'<p id="change-summary">{escape(c.summary)}</p>'
            f'<p class="n">Meaning after IMMPACT (Dworkin 2008) and Farrar 2001, from people with '
            f"pain of {MEANINGFUL_BASELINE:g} or more: ≥ 30 % or ≥ 2 points lower is moderate "
            "(much improved, a responder), ≥ 50 % substantial; 10–20 % is the smallest change "
            f"that matters (minimal). {escape(CHANGE_CAVEAT)}</p>"
        )
    out += ["<h2>Pain over time</h2>", _pain_svg(r)]
    if r.small_wins:
        out.append('<h2>Small wins</h2><ul class="wins" id="small-wins">')
        out += [f"<li>{escape(w)}</li>" for w in r.small_wins]
        out.append("</ul>")
    out += [
        "<h2>Week by week</h2>",
        _weekly_svg(r),
        '<table id="weekly"><tr><th>week starting</th><th class="num">mean pain</th>'
        '<th class="num">n</th><th class="num">days logged</th>'
        '<th class="num">high-pain days (≥ 7)</th><th class="num">sessions</th>'
        '<th class="num">minutes</th></tr>',
    ]
    for w in r.weekly:
        mean = "—" if w.mean.value is None else f"{w.mean.value:.1f}"
        out.append(
            f'<tr data-week="{w.start.isoformat()}"><td>{w.start.isoformat()}</td>'
            f'<td class="num">{mean}</td><td class="num n">n={w.mean.n}</td>'
            f'<td class="num">{w.days_logged}</td><td class="num">{w.high_pain_days}</td>'
            f'<td class="num">{w.sessions}</td><td class="num">{w.minutes:.0f}</td></tr>'
        )
    out.append("</table>")
    out.append("<h2>Sessions and relief</h2>")
    if not r.sessions:
        out.append("<p>No sessions in this period.</p>")
    else:
        out += sessions_table(r, tz)
    out.append("<h2>Red flags</h2>")
    if not r.red_flags:
        out.append('<p id="red-flags">None logged.</p>')
    else:
        out.append(
            '<table id="red-flags"><tr><th>date</th><th>red flags</th>'
            '<th class="num">pain</th><th>where</th></tr>'
        )
        for item in r.red_flags:
            names = ", ".join(RED_FLAG_LABELS[f] for f in item.flags)
            out.append(
                f'<tr data-entry="{item.entry_id}"><td>{item.day.isoformat()}</td>'
                f'<td>{escape(names)}</td><td class="num">{item.score}</td>'
                f"<td>{_region(item.region)}</td></tr>"
            )
        out.append("</table>")
    if r.peg:
        out += [
            "<h2>PEG-3</h2>",
            '<table id="peg"><tr><th>date</th><th class="num">pain</th>'
            '<th class="num">enjoyment</th><th class="num">activity</th>'
            '<th class="num">score</th></tr>',
        ]
        for p in r.peg:
            out.append(
                f'<tr><td>{_local(p.at, tz)}</td><td class="num">{p.pain}</td>'
                f'<td class="num">{p.enjoyment}</td><td class="num">{p.activity}</td>'
                f'<td class="num">{p.score:.1f}</td></tr>'
            )
        out.append("</table>")
    if r.recent:
        out += [
            "<h2>Latest entries</h2>",
            '<table id="recent"><tr><th>when</th><th class="num">pain</th><th>context</th>'
            "<th>where</th><th>kind</th><th>helped</th><th>note</th></tr>",
        ]
        for e in r.recent:
            ctx = e.context.value + ("" if e.session_id is None else f" session {e.session_id}")
            kind = "" if e.kind is None else KIND_LABELS[e.kind]
            out.append(
                f'<tr data-entry="{e.id}"><td>{_local(e.at, tz)}</td>'
                f'<td class="num">{e.score}</td><td>{escape(ctx)}</td>'
                f"<td>{_region(e.region)}</td><td>{escape(kind)}</td>"
                f"<td>{escape(', '.join(e.helped))}</td><td>{escape(e.note or '')}</td></tr>"
            )
        out.append("</table>")
    out.append(
        f'<p class="foot">Made with tens {escape(__version__)} on '
        f"{_local(r.generated_at, tz)}. tens is not a medical device; these numbers are "
        "what the person logged, not a clinical assessment.</p></body></html>"
    )
    return "\n".join(out) + "\n"
