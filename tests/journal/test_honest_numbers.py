"""Numbers a clinician can trust: categories only where they mean something, one rule for
"much improved" and "responder", the same rounding in the words and the figures, medians of
per-session relief, and each session's own facts (issues 16.4 and 18.7)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tens.journal.html import render_html
from tens.journal.report import Report, build_report
from tens.journal.repository import add_entry
from tens.journal.stats import (
    CHANGE_CAVEAT,
    MEANINGFUL_BASELINE,
    Comparison,
    SessionRelief,
    compare,
    relief,
    relief_summary,
)
from tens.journal.terminal import render_text
from tens.journal.validate import new_entry
from tens.store import open_db
from tens.store.sessions import create_session

START = dt.date(2026, 3, 1)
CURRENT = dt.date(2026, 3, 23)


def _scores(first: dt.date, values: list[int]) -> list[tuple[dt.date, int]]:
    return [(first + dt.timedelta(days=i), v) for i, v in enumerate(values)]


def _compare(baseline: list[int], current: list[int]) -> Comparison:
    return compare(
        _scores(START, baseline),
        _scores(CURRENT, current),
        CURRENT,
        CURRENT + dt.timedelta(days=6),
    )


def test_a_mild_baseline_claims_no_percent_category() -> None:
    """1.0 falling to 0.29 is not "71 % lower: substantial improvement, responder: yes"."""
    c = _compare([1] * 7, [0, 0, 1, 0, 0, 1, 0])
    assert c.no_claim is None  # enough data: the change in points is still reported
    assert c.points == pytest.approx(0.7)
    assert c.percent is None and c.category is None and c.responder is None
    assert c.summary is not None and "mild" in c.summary
    assert f"{MEANINGFUL_BASELINE:g} or more" in c.summary and "Farrar 2001" in c.summary
    assert "71" not in c.summary


def test_a_mild_baseline_getting_much_worse_is_still_said() -> None:
    c = _compare([2] * 7, [5] * 7)
    assert c.category == "worse than at baseline" and c.responder is None


def test_much_improved_and_responder_follow_one_rule() -> None:
    """9 → 7 was "much improved" beside "Responder: not yet": 2 points is the same rule."""
    c = _compare([9] * 7, [7] * 7)
    assert c.points == pytest.approx(2.0) and c.percent == pytest.approx(22.2)
    assert c.category == "moderate improvement (much improved)"
    assert c.responder is True
    assert c.summary is not None
    assert "2.0 points (22.2 %) lower" in c.summary
    assert "at least 30 % or 2 points" in c.summary


@pytest.mark.parametrize(
    ("current", "shown", "responder"),
    [
        # 6 → 4.22: 29.66 % and 1.78 points: shown with one decimal, and not a responder
        ([4, 4, 4, 4, 5, 4, 4, 5, 4], "29.6 %", False),
        ([4, 4, 4, 4, 4, 4, 4, 4, 4, 5], "31.7 %", True),
    ],
)
def test_the_shown_percentage_and_the_responder_word_never_disagree(
    current: list[int], shown: str, responder: bool
) -> None:
    c = _compare([6] * 7, current)
    assert c.percent is not None
    assert c.summary is not None and shown in c.summary
    assert c.responder is responder
    # the rounded figure is the one compared: 29.66 never prints as "30 %" beside "no"
    assert (c.percent >= 30.0) is responder


def test_minimal_band_is_immpacts() -> None:
    c = _compare([8] * 7, [7] * 7)  # 12.5 %
    assert c.category == "minimal improvement"
    page_rule = render_html(_report_with(c))
    assert "10–20 %" in page_rule and "10–30 %" not in page_rule


def _report_with(c: Comparison) -> Report:
    """An empty journal's report, with the comparison under test put in."""
    with tempfile.TemporaryDirectory() as folder:
        conn = open_db(Path(folder) / "r.db")
        try:
            r = build_report(conn, now=dt.datetime(2026, 3, 29, 20, tzinfo=dt.UTC), tz=dt.UTC)
        finally:
            conn.close()
    return dataclasses.replace(r, comparison=c)


def test_the_caveat_is_said_wherever_a_change_is_claimed() -> None:
    r = _report_with(_compare([9] * 7, [5] * 7))
    assert "regression to the mean" in CHANGE_CAVEAT
    assert CHANGE_CAVEAT in render_text(r, tz=dt.UTC).replace("\n  ", " ")
    assert CHANGE_CAVEAT in render_html(r)


def _session(sid: int, before: int | None, after: int | None) -> SessionRelief:
    return SessionRelief(
        session_id=sid,
        started_at=dt.datetime(2026, 3, 24, 18, tzinfo=dt.UTC),
        day=dt.date(2026, 3, 24),
        minutes=30.0,
        state="finished",
        before=before,
        after=after,
        relief=relief(before, after),
    )


def test_per_session_relief_is_a_median_of_points_not_a_mean_of_ratios() -> None:
    """A 1 → 0 session is "100 %": a mean of ratios lets it outweigh real sessions."""
    sessions = [_session(1, 1, 0), _session(2, 8, 7), _session(3, 7, 6), _session(4, 6, None)]
    summary = relief_summary(sessions)
    assert summary.median.value == pytest.approx(1.0) and summary.median.n == 3
    assert summary.points == (1, 1, 1)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "r.db")
    yield c
    c.close()


NOW = dt.datetime(2026, 3, 29, 20, 0, tzinfo=dt.UTC)


def test_each_session_row_says_what_was_done_and_how_it_ended(conn: sqlite3.Connection) -> None:
    day = dt.datetime(2026, 3, 24, 18, tzinfo=dt.UTC)
    create_session(
        conn,
        started_at=day,
        ended_at=day + dt.timedelta(minutes=30),
        state="finished",
        program="conventional",
        placement="lower-back",
        unit="mA",
        target_intensity=18.0,
        stimulation_seconds=1800,
        max_delivered=17.96,
    )
    create_session(
        conn,
        started_at=day + dt.timedelta(hours=2),
        ended_at=day + dt.timedelta(hours=2, seconds=45),
        state="aborted",
        end_reason="an electrode came off: reattach it and start again from zero",
        program="burst",
        placement="knee-left",
        unit="level",
        target_intensity=40,
        stimulation_seconds=45,
        max_delivered=23.4,
    )
    add_entry(conn, new_entry(6, at=day - dt.timedelta(minutes=1), now=NOW, context="other"))
    r = build_report(conn, weeks=2, now=NOW, tz=dt.UTC)
    first, second = r.sessions
    assert (first.program, first.placement, first.peak, first.unit) == (
        "conventional",
        "lower-back",
        18.0,
        "mA",
    )
    assert second.end_reason and "electrode" in second.end_reason
    text = " ".join(render_text(r, tz=dt.UTC).split())  # wrapped lines read as one
    assert "conventional" in text and "lower-back" in text and "18.0 mA" in text
    assert "45 s" in text  # a short session shows seconds, not "0" minutes
    assert "23 level" in text  # levels are whole steps
    assert "aborted" in text and "electrode came off" in text
    page = render_html(r, tz=dt.UTC)
    assert "18.0 mA" in page and "45 s" in page and "electrode came off" in page
