"""Statistics against hand-computed examples, including the too-few-data cases."""

from __future__ import annotations

import datetime as dt

import pytest

from tens.journal.stats import (
    Comparison,
    Mean,
    SessionRelief,
    classify_change,
    compare,
    daily,
    first_days,
    mean_of,
    relief,
    relief_summary,
    small_wins,
    week_starts,
    weekly,
)

D0 = dt.date(2026, 3, 2)


def day(i: int) -> dt.date:
    return D0 + dt.timedelta(days=i)


def test_mean_keeps_n_and_empty_is_none() -> None:
    assert mean_of([4, 5, 6]) == Mean(5.0, 3)
    assert mean_of([]) == Mean(None, 0)
    assert Mean(None, 0).text() == "— (n=0)"
    assert Mean(2.25, 4).text(1, "points") == "2.2 points (n=4)"


def test_session_relief_hand_computed() -> None:
    r = relief(7, 3)
    assert r.points == 4
    assert r.percent == pytest.approx(400 / 7)  # 57.14 %
    assert relief(4, 6).points == -2 and relief(4, 6).percent == pytest.approx(-50.0)
    assert relief(0, 0).points == 0 and relief(0, 0).percent is None  # no % of nothing
    assert relief(5, None).points is None and relief(None, 2).percent is None


@pytest.mark.parametrize(
    ("percent", "points", "words"),
    [
        (50.0, 3.0, "substantial improvement"),
        (30.0, 1.5, "moderate improvement (much improved)"),
        (25.0, 2.0, "moderate improvement (much improved)"),  # ≥ 2 points rule
        (15.0, 1.0, "minimal improvement"),
        (5.0, 0.3, "no meaningful change"),
        (-20.0, -1.0, "worse than at baseline"),
        (None, -2.0, "worse than at baseline"),
    ],
)
def test_classify_change(percent: float | None, points: float, words: str) -> None:
    assert classify_change(percent, points) == words


def test_first_days_takes_seven_distinct_dates_across_gaps() -> None:
    scored = [(day(i), 5) for i in (0, 0, 2, 5, 9, 10, 11, 20, 20, 21, 30)]
    base = first_days(scored)
    assert [d for d, _ in base] == [day(i) for i in (0, 0, 2, 5, 9, 10, 11, 20, 20)]
    assert first_days(scored[:3]) == scored[:3]


def _responder_case() -> Comparison:
    baseline = list(zip([day(i) for i in range(7)], [8, 8, 7, 7, 6, 8, 7], strict=True))
    cur = list(zip([day(30 + i) for i in range(7)], [5, 5, 4, 5, 4, 5, 4], strict=True))
    return compare(baseline, cur, day(30), day(36))


def test_compare_hand_computed_responder() -> None:
    c = _responder_case()
    # baseline 51/7 = 7.2857, current 32/7 = 4.5714, points 19/7, percent 19/51 = 37.25 %
    assert c.no_claim is None
    assert c.baseline.n == 7 and c.baseline.value == pytest.approx(51 / 7)
    assert c.current.n == 7 and c.current.value == pytest.approx(32 / 7)
    assert c.points == round(19 / 7, 1)  # rounded as shown, then compared
    assert c.percent == round(1900 / 51, 1)
    assert c.responder is True
    assert c.category == "moderate improvement (much improved)"
    assert (c.baseline_first, c.baseline_last, c.baseline_day_count) == (day(0), day(6), 7)


def test_compare_not_responder_below_30_percent() -> None:
    baseline = [(day(i), 6) for i in range(7)]
    cur = [(day(20 + i), 5) for i in range(7)]  # 1 point of 6 = 16.7 %
    c = compare(baseline, cur, day(20), day(26))
    assert c.percent == round(100 / 6, 1)
    assert c.responder is False
    assert c.category == "minimal improvement"


@pytest.mark.parametrize(
    ("baseline", "current", "why"),
    [
        ([(day(i), 6) for i in range(4)], [(day(20 + i), 3) for i in range(7)], "baseline"),
        (
            [(day(0), 6)] * 3 + [(day(1), 6)] * 3,  # 6 entries but only 2 days
            [(day(20 + i), 3) for i in range(7)],
            "baseline",
        ),
        ([(day(i), 6) for i in range(7)], [(day(20 + i), 3) for i in range(4)], "last 7 days"),
        ([(day(i), 6) for i in range(7)], [], "last 7 days"),
        ([], [], "baseline"),
    ],
)
def test_compare_makes_no_claim_with_too_few(
    baseline: list[tuple[dt.date, int]], current: list[tuple[dt.date, int]], why: str
) -> None:
    c = compare(baseline, current, day(20), day(26))
    assert c.no_claim is not None and why in c.no_claim
    assert c.percent is None and c.responder is None and c.category is None
    assert c.baseline.n == len(baseline) and c.current.n == len(current)


def test_compare_no_claim_when_baseline_overlaps_current() -> None:
    scored = [(day(i), 6) for i in range(10)]
    c = compare(first_days(scored), scored[3:], day(3), day(9))
    assert c.no_claim is not None and "overlap" in c.no_claim


def test_compare_baseline_zero_has_no_percent() -> None:
    c = compare(
        [(day(i), 0) for i in range(7)], [(day(20 + i), 2) for i in range(7)], day(20), day(26)
    )
    assert c.no_claim is None
    assert c.points == pytest.approx(-2.0) and c.percent is None and c.responder is None
    assert c.category == "worse than at baseline"


def test_daily_and_weekly_hand_computed() -> None:
    end = dt.date(2026, 3, 29)
    assert week_starts(end, 2) == [dt.date(2026, 3, 16), dt.date(2026, 3, 23)]
    scored = [
        (dt.date(2026, 3, 15), 9),  # before the period: ignored
        (dt.date(2026, 3, 16), 8),
        (dt.date(2026, 3, 16), 6),
        (dt.date(2026, 3, 18), 7),
        (dt.date(2026, 3, 23), 4),
        (dt.date(2026, 3, 29), 5),
    ]
    days = daily(scored)
    assert (
        days[1].day == dt.date(2026, 3, 16) and days[1].mean == Mean(7.0, 2) and days[1].high == 8
    )
    sessions = [(dt.date(2026, 3, 17), 1800.0), (dt.date(2026, 3, 24), 600.0), (end, 1200.0)]
    w1, w2 = weekly(scored, sessions, end, 2)
    assert (w1.start, w1.end) == (dt.date(2026, 3, 16), dt.date(2026, 3, 22))
    assert w1.mean == Mean(7.0, 3) and w1.days_logged == 2 and w1.high_pain_days == 2
    assert (w1.sessions, w1.minutes) == (1, 30.0)
    assert w2.mean == Mean(4.5, 2) and w2.high_pain_days == 0
    assert (w2.sessions, w2.minutes) == (2, 30.0)


def _sr(sid: int, d: dt.date, before: int | None, after: int | None) -> SessionRelief:
    return SessionRelief(
        sid,
        dt.datetime.combine(d, dt.time(9), dt.UTC),
        d,
        30.0,
        "finished",
        before,
        after,
        relief(before, after),
    )


def test_relief_summary_counts_only_complete_pairs() -> None:
    sessions = [
        _sr(1, day(0), 6, 3),
        _sr(2, day(1), 4, 4),
        _sr(3, day(2), 5, None),
        _sr(4, day(3), 0, 0),
    ]
    summary = relief_summary(sessions)
    assert summary.points == (3, 0, 0)  # the session without an after-score is left out
    assert (summary.median.value, summary.median.n) == (0, 3)


def test_small_wins_only_with_enough_data() -> None:
    end = day(13)
    prev = [(day(i), s) for i, s in zip(range(7), [7, 7, 8, 6, 7, 7, 7], strict=True)]
    this = [(day(7 + i), s) for i, s in zip(range(7), [5, 5, 6, 4, 5, 5, 5], strict=True)]
    weeks = weekly(prev + this, [], end, 2)
    sessions = [_sr(9, day(12), 7, 3)]
    wins = small_wins(weeks, _responder_case(), sessions)
    text = "\n".join(wins)
    assert "lower than the week before" in text and "5.0 (n=7)" in text and "7.0 (n=7)" in text
    assert "down from 6" in text  # high-pain days 6 -> 0
    assert "37.3 % lower than at baseline" in text
    assert "Session 9" in text and "from 7 to 3" in text
    assert "7 of the last 7 days" in text
    # two entries a week: nothing is claimed about the weekly mean
    sparse = weekly([(day(0), 8), (day(1), 8), (day(8), 2), (day(9), 2)], [], end, 2)
    none_claimed = small_wins(sparse, compare([], [], day(7), end), [])
    assert not any("lower than the week before" in w for w in none_claimed)
    assert not any("baseline" in w for w in none_claimed)
