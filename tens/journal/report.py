"""The report: everything the terminal, JSON and HTML views show, computed once from the
database. Dates are local calendar days (``tz``; None = this machine's zone); trend means
use before-session and other scores, while after-session scores measure per-session relief
(they are taken right after stimulation and would flatter the trend).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tens.journal.advice import WORSENING_ADVICE, red_flag_advice
from tens.journal.models import PainEntry, PegEntry, RedFlag
from tens.journal.repository import ENTRY_COLUMNS, entry_from_row, list_peg
from tens.journal.stats import (
    BASELINE_DAYS,
    CURRENT_DAYS,
    Comparison,
    Day,
    Mean,
    ReliefSummary,
    SessionRelief,
    Week,
    compare_days,
    make_day,
    relief,
    relief_summary,
    round_peak,
    small_wins,
    week_starts,
    weekly_days,
)
from tens.journal.validate import local_midnight
from tens.store.timestamps import from_db, to_db, utc_now

DEFAULT_WEEKS = 12
MAX_WEEKS = 520
RECENT_ENTRIES = 10


@dataclass(frozen=True, slots=True)
class RedFlagItem:
    entry_id: int
    at: dt.datetime
    day: dt.date
    flags: tuple[RedFlag, ...]
    score: int
    region: str | None


@dataclass(frozen=True, slots=True)
class Report:
    generated_at: dt.datetime
    today: dt.date
    weeks: int
    period_start: dt.date
    entries_total: int
    entries_in_period: int
    comparison: Comparison
    weekly: list[Week]
    daily: list[Day]
    sessions: list[SessionRelief]
    relief: ReliefSummary
    red_flags: list[RedFlagItem]
    peg: list[PegEntry]
    recent: list[PainEntry]
    small_wins: list[str]
    advice: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates ISO, times ISO UTC)."""
        return _plain(self)


def _plain(value: Any) -> Any:
    if isinstance(value, PainEntry | PegEntry):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Mean) and value.value is not None:
            out["value"] = round(value.value, 2)
        return out
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 2)
    return value


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def _day_of(tz: dt.tzinfo | None) -> Callable[[str], dt.date]:
    if tz is None:
        return lambda text: from_db(text).astimezone().date()
    return lambda text: from_db(text).astimezone(tz).date()


class _DayIndex:
    """Local calendar day of stored UTC timestamps in [start, end + 1 day], by bisecting the
    UTC text of each local midnight (no datetime parsing per row; DST-correct)."""

    def __init__(self, start: dt.date, end: dt.date, tz: dt.tzinfo | None) -> None:
        n = (end - start).days + 2
        self.start = start
        self.bounds = [to_db(local_midnight(start + dt.timedelta(days=i), tz)) for i in range(n)]
        self.days = [start + dt.timedelta(days=i) for i in range(n)]

    def __call__(self, text: str) -> dt.date:
        i = bisect_right(self.bounds, text) - 1
        return self.days[max(0, i)]


_TREND = "deleted_at IS NULL AND context != 'after'"
"""Entries that count for the trend (the partial index pain_entries_live serves these)."""


def _day_aggregate(conn: sqlite3.Connection, day: dt.date, lo: str, hi: str) -> Day:
    n, total, high = conn.execute(
        f"SELECT count(*), total(score), max(score) FROM pain_entries "
        f"WHERE {_TREND} AND at >= ? AND at < ?",
        (lo, hi),
    ).fetchone()
    return make_day(day, int(n), int(total), int(high or 0))


def _window_days(conn: sqlite3.Connection, index: _DayIndex) -> list[Day]:
    """Per-day aggregates for every day of the window (in SQL: no per-row Python)."""
    out = []
    for i, day in enumerate(index.days[:-1]):
        d = _day_aggregate(conn, day, index.bounds[i], index.bounds[i + 1])
        if d.mean.n:
            out.append(d)
    return out


def _baseline(
    conn: sqlite3.Connection, day_of: Callable[[str], dt.date], tz: dt.tzinfo | None
) -> list[Day]:
    """Aggregates of the first BASELINE_DAYS days with entries: jump to the next entry,
    aggregate its local day, repeat."""
    out: list[Day] = []
    cursor = ""
    while len(out) < BASELINE_DAYS:
        row = conn.execute(
            f"SELECT at FROM pain_entries WHERE {_TREND} AND at >= ? ORDER BY at LIMIT 1",
            (cursor,),
        ).fetchone()
        if row is None:
            break
        day = day_of(row[0])
        lo = to_db(local_midnight(day, tz))
        hi = to_db(local_midnight(day + dt.timedelta(days=1), tz))
        out.append(_day_aggregate(conn, day, min(lo, row[0]), hi))
        cursor = hi
    return out


def build_report(
    conn: sqlite3.Connection,
    *,
    weeks: int = DEFAULT_WEEKS,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
) -> Report:
    """Compute the report for the ``weeks`` 7-day weeks ending today."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks: {weeks} is outside 1–{MAX_WEEKS}")
    now = now or utc_now()
    day_of = _day_of(tz)
    today = day_of(to_db(now))
    start = week_starts(today, weeks)[0]
    since = to_db(local_midnight(start, tz))

    in_window = _DayIndex(start, today, tz)
    days = _window_days(conn, in_window)
    current_start = today - dt.timedelta(days=CURRENT_DAYS - 1)
    current = [d for d in days if current_start <= d.day <= today]
    comparison = compare_days(_baseline(conn, day_of, tz), current, current_start, today)

    session_rows = conn.execute(
        "SELECT id, started_at, stimulation_seconds, state, program, placement, "
        "max_delivered, unit, end_reason FROM sessions "
        "WHERE started_at >= ? AND state != 'refused' ORDER BY started_at, id",
        (since,),
    ).fetchall()
    scores: dict[int, dict[str, tuple[str, int]]] = {}
    linked = conn.execute(
        "SELECT session_id, context, at, id, score FROM pain_entries "
        "WHERE session_id IN (SELECT id FROM sessions WHERE started_at >= ?) "
        "AND deleted_at IS NULL",
        (since,),
    ).fetchall()
    for sid, context, at, _, score in sorted(linked, key=lambda r: (r[2], r[3])):
        scores.setdefault(sid, {})[context] = (at, score)  # the latest of each wins
    reliefs: list[SessionRelief] = []
    for sid, started, seconds, state, program, placement, peak, unit, why in session_rows:
        pair = scores.get(sid, {})
        before = pair["before"][1] if "before" in pair else None
        after = pair["after"][1] if "after" in pair else None
        reliefs.append(
            SessionRelief(
                session_id=sid,
                started_at=from_db(started),
                day=in_window(started),
                minutes=float(seconds) / 60,
                state=state,
                before=before,
                after=after,
                relief=relief(before, after),
                program=program,
                placement=placement,
                peak=round_peak(peak, unit),
                unit=unit,
                end_reason=why,
            )
        )
    weeks_stats = weekly_days(days, ((s.day, s.minutes * 60) for s in reliefs), today, weeks)

    flags = [
        RedFlagItem(
            entry_id=e.id,
            at=e.at,
            day=day_of(to_db(e.at)),
            flags=e.red_flags,
            score=e.score,
            region=e.region,
        )
        for e in (
            entry_from_row(r)
            for r in conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM pain_entries WHERE deleted_at IS NULL "
                "AND red_flags != '[]' ORDER BY at, id"
            )
        )
    ]
    recent = [
        entry_from_row(r)
        for r in conn.execute(
            f"SELECT {ENTRY_COLUMNS} FROM pain_entries WHERE deleted_at IS NULL "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (RECENT_ENTRIES,),
        )
    ]
    total = int(
        conn.execute("SELECT count(*) FROM pain_entries WHERE deleted_at IS NULL").fetchone()[0]
    )
    in_period = int(
        conn.execute(
            "SELECT count(*) FROM pain_entries WHERE deleted_at IS NULL AND at >= ?", (since,)
        ).fetchone()[0]
    )
    advice: list[str] = []
    all_flags = [f for item in flags for f in item.flags]
    flag_text = red_flag_advice(all_flags)
    if flag_text:
        advice.append(flag_text)
    if comparison.no_claim is None and comparison.category == "worse than at baseline":
        advice.append(WORSENING_ADVICE)
    return Report(
        generated_at=now.astimezone(dt.UTC),
        today=today,
        weeks=weeks,
        period_start=start,
        entries_total=total,
        entries_in_period=in_period,
        comparison=comparison,
        weekly=weeks_stats,
        daily=days,
        sessions=reliefs,
        relief=relief_summary(reliefs),
        red_flags=flags,
        peg=list_peg(conn, since=local_midnight(start, tz)),
        recent=recent,
        small_wins=small_wins(weeks_stats, comparison, reliefs),
        advice=advice,
    )
