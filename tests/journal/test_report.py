"""The report from a hand-worked journal (see fixtures.py): terminal, JSON and HTML."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tens.journal.html import render_html
from tens.journal.report import build_report, report_json
from tens.journal.terminal import render_text
from tens.store import open_db
from tests.journal.fixtures import NOW, TODAY, fill


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "r.db")
    yield c
    c.close()


def test_report_numbers(conn: sqlite3.Connection) -> None:
    ids = fill(conn)
    r = build_report(conn, weeks=2, now=NOW, tz=dt.UTC)
    assert r.today == TODAY and r.period_start == dt.date(2026, 3, 16)
    c = r.comparison
    assert c.no_claim is None
    assert c.baseline.n == 7 and c.baseline.value == pytest.approx(51 / 7)
    # current: 7 "other" + 2 before-session scores (7, 6); after-scores are not trend
    assert c.current.n == 9 and c.current.value == pytest.approx((32 + 7 + 6) / 9)
    assert c.percent == round((51 / 7 - 45 / 9) / (51 / 7) * 100, 1)  # 31.4 %
    assert c.responder is True
    w1, w2 = r.weekly
    assert w1.mean.n == 7 and w1.mean.value == pytest.approx(6.0) and w1.sessions == 0
    assert w2.mean.n == 9 and (w2.sessions, w2.minutes) == (2, 50.0)  # refused not counted
    s1, s2 = r.sessions
    assert (s1.session_id, s1.before, s1.after, s1.relief.points) == (ids["s1"], 7, 3, 4)
    assert s1.relief.percent == pytest.approx(400 / 7)
    assert (s2.relief.points, s2.relief.percent) == (0, 0.0)
    assert r.relief.median.value == pytest.approx(2.0) and r.relief.median.n == 2
    assert r.relief.points == (4, 0)
    assert [item.entry_id for item in r.red_flags] == [ids["cur2"]]  # deleted one not listed
    assert r.red_flags[0].day == dt.date(2026, 3, 25)
    assert r.advice and "swelling" in r.advice[0]
    assert r.entries_total == 7 + 7 + 7 + 4
    assert [p.score for p in r.peg] == [5.0]
    assert any("31.4 % lower than at baseline" in w for w in r.small_wins)


def test_report_empty_and_single_entry_make_no_claim(conn: sqlite3.Connection) -> None:
    r = build_report(conn, now=NOW, tz=dt.UTC)
    assert r.comparison.no_claim is not None and r.comparison.baseline.n == 0
    assert len(r.weekly) == 12 and all(w.mean.n == 0 for w in r.weekly)
    text = render_text(r, tz=dt.UTC)
    assert "No comparison claimed" in text and "— (n=0)" in text
    with pytest.raises(ValueError, match="weeks"):
        build_report(conn, weeks=0, now=NOW)


def test_terminal_text_shows_numbers_with_n(conn: sqlite3.Connection) -> None:
    fill(conn)
    text = render_text(build_report(conn, weeks=2, now=NOW, tz=dt.UTC), tz=dt.UTC)
    assert "7.3 (n=7)" in text  # baseline
    assert "5.0 (n=9)" in text  # last 7 days
    assert "2.3 points (31.4 %) lower than at baseline" in text
    assert "a responder by the usual rule" in text
    assert "Median relief: 2.0 points (n=2) (each session: +4, +0)" in text
    assert "▲" in text and "●" in text
    assert "2026-03-25  swelling" in text


def test_json_report_round_trips_as_json(conn: sqlite3.Connection) -> None:
    fill(conn)
    doc = json.loads(report_json(build_report(conn, weeks=2, now=NOW, tz=dt.UTC)))
    assert doc["comparison"]["baseline"] == {"value": 7.29, "n": 7}
    assert doc["comparison"]["responder"] is True
    assert doc["weekly"][1]["minutes"] == 50.0
    assert doc["sessions"][0]["relief"]["points"] == 4


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        ident = a.get("id")
        self._open.append(ident or "")
        if ident:
            self.by_id[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.by_id[ident] += data


def test_html_is_self_contained_and_has_the_numbers(conn: sqlite3.Connection) -> None:
    fill(conn)
    page = render_html(build_report(conn, weeks=2, now=NOW, tz=dt.UTC), tz=dt.UTC)
    p = _Collect()
    p.feed(page)
    assert p.by_id["baseline-mean"] == "7.3" and p.by_id["baseline-n"] == "n=7"
    assert p.by_id["current-mean"] == "5.0" and p.by_id["current-n"] == "n=9"
    assert p.by_id["change-percent"] == "31.4" and p.by_id["responder"] == "yes"
    assert p.by_id["relief-points"] == "2.0 points (n=2)"
    assert "swelling" in p.by_id["red-flags"]
    # the charts: one dot per day with entries, one marker per session, bars per week
    days = [a for t, a in p.tags if t == "circle" and a.get("class") == "day"]
    assert (
        len(days) == 14
        and {"data-day": "2026-03-16", "data-mean": "6.00", "data-n": "1"}.items()
        <= days[0].items()
    )
    assert len([a for t, a in p.tags if t == "path" and a.get("class") == "session"]) == 2
    bars = [a for t, a in p.tags if t == "rect" and a.get("class") == "week-bar"]
    assert [(b["data-minutes"], b["data-sessions"]) for b in bars] == [("0", "0"), ("50", "2")]
    # self-contained: no scripts, no external references
    assert "<script" not in page
    assert not re.search(r'(src|href)=["\']?https?:', page)
    assert "<link" not in page


def test_html_escapes_user_text(conn: sqlite3.Connection) -> None:
    from tens.journal.repository import add_entry
    from tens.journal.validate import new_entry

    add_entry(conn, new_entry(5, at=NOW, now=NOW, note="<script>alert(1)</script> & co"), now=NOW)
    page = render_html(build_report(conn, now=NOW, tz=dt.UTC), tz=dt.UTC)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert 'id="no-claim"' in page


def test_local_days_follow_the_time_zone_across_dst(conn: sqlite3.Connection) -> None:
    from zoneinfo import ZoneInfo

    from tens.journal.repository import add_entry
    from tens.journal.validate import new_entry

    berlin = ZoneInfo("Europe/Berlin")  # summer time starts 2026-03-29
    for when, score in [
        (dt.datetime(2026, 3, 28, 22, 59, tzinfo=dt.UTC), 2),  # 23:59 CET, the 28th
        (dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC), 4),  # 00:30 CET, the 29th
        (dt.datetime(2026, 3, 29, 21, 59, tzinfo=dt.UTC), 6),  # 23:59 CEST, the 29th
        (dt.datetime(2026, 3, 29, 22, 30, tzinfo=dt.UTC), 8),  # 00:30 CEST, the 30th
    ]:
        add_entry(conn, new_entry(score, at=when, now=when), now=when)
    now = dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)
    r = build_report(conn, weeks=1, now=now, tz=berlin)
    got = [(d.day.isoformat(), d.mean.value, d.mean.n) for d in r.daily]
    assert got == [("2026-03-28", 2.0, 1), ("2026-03-29", 5.0, 2), ("2026-03-30", 8.0, 1)]
    utc = build_report(conn, weeks=1, now=now, tz=dt.UTC)
    assert [d.day.isoformat() for d in utc.daily] == ["2026-03-28", "2026-03-29"]


def test_baseline_is_first_seven_days_with_entries_across_gaps(conn: sqlite3.Connection) -> None:
    from tens.journal.repository import add_entry, delete_entry
    from tens.journal.validate import new_entry
    from tens.store.sessions import create_session

    first = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    sid = create_session(conn, started_at=first - dt.timedelta(days=3))
    # an after-score and a deleted entry before everything: neither starts the baseline
    add_entry(
        conn,
        new_entry(0, at=first - dt.timedelta(days=3), now=NOW, context="after", session_id=sid),
        now=NOW,
    )
    gone = add_entry(conn, new_entry(0, at=first - dt.timedelta(days=2), now=NOW), now=NOW)
    delete_entry(conn, gone, now=NOW)
    offsets = [0, 2, 3, 9, 10, 20, 21, 30, 31]  # days with entries; the 8th and 9th are later
    for i, off in enumerate(offsets):
        add_entry(conn, new_entry(i, at=first + dt.timedelta(days=off), now=NOW), now=NOW)
        add_entry(conn, new_entry(i, at=first + dt.timedelta(days=off, hours=2), now=NOW), now=NOW)
    c = build_report(conn, weeks=2, now=NOW, tz=dt.UTC).comparison
    assert c.baseline_first == dt.date(2026, 1, 5) and c.baseline_last == dt.date(2026, 1, 26)
    assert c.baseline.n == 14 and c.baseline.value == pytest.approx(sum(range(7)) / 7)
    assert c.baseline_day_count == 7
