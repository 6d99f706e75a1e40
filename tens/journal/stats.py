"""The journal's statistics: pure functions over (local date, score) pairs and sessions.

Honest numbers: every mean carries its n; comparisons make no claim when data are too few
(the reason is returned instead). Conventions (clinical.md): relief = before − after;
percent reduction = (baseline − current) / baseline × 100. Categories (Farrar 2001; IMMPACT,
Dworkin 2008): at least 30 % or at least 2 points lower is moderate ("much improved"), and that
one rule is also the responder rule; at least 50 % is substantial; 10–20 % is IMMPACT's
minimal band (so 10 % up to 30 % is called minimal). Those thresholds come from people with
moderate to severe pain, so no category is claimed from a mild baseline (below
``MEANINGFUL_BASELINE``): the change is given in points only. Points and percentages are
rounded to one decimal before they are compared, so the words never disagree with the figures.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median

BASELINE_DAYS = 7
"""Baseline: the first this-many distinct days that have entries."""
CURRENT_DAYS = 7
"""Current: the this-many calendar days ending on the report day."""
MIN_WINDOW_ENTRIES = 5
MIN_WINDOW_DAYS = 3
"""Baseline and current each need this many entries on this many days for any claim."""
MIN_WEEK_ENTRIES = 3
"""A week needs this many entries before week-to-week wins are pointed out."""
RESPONDER_PERCENT = 30.0
SUBSTANTIAL_PERCENT = 50.0
MODERATE_POINTS = 2.0
MINIMAL_PERCENT = 10.0
MEANINGFUL_BASELINE = 4.0
"""Below this baseline mean (mild pain) no % category is claimed: the 30 % / 2-point thresholds
were derived in trials whose participants had moderate to severe pain (NRS 4 or more)."""
THRESHOLD_SOURCE = "Farrar 2001; IMMPACT, Dworkin 2008"
CHANGE_CAVEAT = (
    "Other things can explain a change: the first week of a diary is often the worst "
    "(regression to the mean), and other treatments and time also change pain."
)
HIGH_PAIN = 7
"""A day with any score at or above this is a high-pain day."""

Scored = tuple[dt.date, int]
"""One NRS score on its local calendar day."""


@dataclass(frozen=True, slots=True)
class Mean:
    value: float | None
    n: int

    def text(self, digits: int = 1, unit: str = "") -> str:
        """``5.3 (n=12)``, with a unit ``2.5 points (n=12)``; ``— (n=0)`` when empty."""
        shown = "—" if self.value is None else f"{self.value:.{digits}f}"
        if unit and self.value is not None:
            shown += unit if unit.startswith(" ") else f" {unit}"
        return f"{shown} (n={self.n})"


def mean_of(values: Iterable[float]) -> Mean:
    items = list(values)
    return Mean(sum(items) / len(items) if items else None, len(items))


@dataclass(frozen=True, slots=True)
class Relief:
    points: int | None
    percent: float | None


def relief(before: int | None, after: int | None) -> Relief:
    """Relief of one session; percent is None when the before-score is 0."""
    if before is None or after is None:
        return Relief(None, None)
    points = before - after
    return Relief(points, points / before * 100 if before > 0 else None)


SUBSTANTIAL = "substantial improvement"
MODERATE = "moderate improvement (much improved)"
WORSE = "worse than at baseline"


def classify_change(percent: float | None, points: float | None) -> str:
    """Words for a reduction (IMMPACT / Farrar 2001). ``percent`` is None where a percentage
    means nothing (a baseline of 0, or a mild one): then only the points count."""
    if percent is not None and percent >= SUBSTANTIAL_PERCENT:
        return SUBSTANTIAL
    if (percent is not None and percent >= RESPONDER_PERCENT) or (
        points is not None and points >= MODERATE_POINTS
    ):
        return MODERATE
    if percent is not None and percent >= MINIMAL_PERCENT:
        return "minimal improvement"
    if percent is not None and percent <= -MINIMAL_PERCENT:
        return WORSE
    if percent is None and points is not None and points <= -MODERATE_POINTS:
        return WORSE
    return "no meaningful change"


def first_days(scored: Sequence[Scored], days: int = BASELINE_DAYS) -> list[Scored]:
    """The scores on the first ``days`` distinct dates that have any (input in time order)."""
    seen: set[dt.date] = set()
    out: list[Scored] = []
    for day, score in scored:
        if day not in seen:
            if len(seen) == days:
                break
            seen.add(day)
        out.append((day, score))
    return out


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


@dataclass(frozen=True, slots=True)
class Day:
    """One local calendar day: mean score (n), highest score and the sum of scores."""

    day: dt.date
    mean: Mean
    high: int
    total: int = 0


def make_day(day: dt.date, n: int, total: int, high: int) -> Day:
    return Day(day, Mean(total / n if n else None, n), high, total)


def daily(scored: Iterable[Scored]) -> list[Day]:
    """Mean and highest score per day, in date order."""
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    for day, score in scored:
        by_day[day].append(score)
    return [make_day(d, len(v), sum(v), max(v)) for d, v in sorted(by_day.items())]


def pooled(days: Iterable[Day]) -> Mean:
    """The mean of all scores on these days (not the mean of daily means)."""
    n = total = 0
    for d in days:
        n += d.mean.n
        total += d.total
    return Mean(total / n if n else None, n)


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: Mean
    baseline_first: dt.date | None
    baseline_last: dt.date | None
    baseline_day_count: int
    current: Mean
    current_start: dt.date
    current_end: dt.date
    current_day_count: int
    points: float | None
    """Baseline mean − current mean (positive: less pain now)."""
    percent: float | None
    category: str | None
    responder: bool | None
    """At least 30 % or at least 2 points lower (the "much improved" rule); None when no
    category is claimed."""
    no_claim: str | None
    """Why no comparison is claimed, or None when it is."""
    summary: str | None = None
    """The one sentence that states the change, its category and the rule behind it."""


def compare(
    baseline: Sequence[Scored],
    current: Sequence[Scored],
    current_start: dt.date,
    current_end: dt.date,
) -> Comparison:
    """Baseline against current, with a claim only when both are well enough filled."""
    return compare_days(daily(baseline), daily(current), current_start, current_end)


def compare_days(
    baseline: Sequence[Day],
    current: Sequence[Day],
    current_start: dt.date,
    current_end: dt.date,
) -> Comparison:
    """:func:`compare` on per-day aggregates (days without entries may be included)."""
    b_mean = pooled(baseline)
    c_mean = pooled(current)
    b_days = sorted(d.day for d in baseline if d.mean.n)
    c_days = {d.day for d in current if d.mean.n}
    reason: str | None = None
    need = f"at least {MIN_WINDOW_ENTRIES} entries on {MIN_WINDOW_DAYS} different days"
    if b_mean.n < MIN_WINDOW_ENTRIES or len(b_days) < MIN_WINDOW_DAYS:
        reason = (
            f"not enough data for a baseline yet (n={b_mean.n} on {_days(len(b_days))}; {need})"
        )
    elif b_days[-1] >= current_start:
        reason = (
            "too early to compare: the baseline days and the last 7 days overlap "
            f"(baseline runs to {b_days[-1].isoformat()})"
        )
    elif c_mean.n < MIN_WINDOW_ENTRIES or len(c_days) < MIN_WINDOW_DAYS:
        reason = (
            f"not enough entries in the last 7 days (n={c_mean.n} on {_days(len(c_days))}; {need})"
        )
    points = percent = None
    category = None
    responder = None
    summary = None
    if reason is None:
        assert b_mean.value is not None and c_mean.value is not None
        # rounded as shown, then compared: 29.66 % is "29.7 %" and not a responder
        points = round(b_mean.value - c_mean.value, 1)
        if b_mean.value >= MEANINGFUL_BASELINE:
            percent = round((b_mean.value - c_mean.value) / b_mean.value * 100, 1)
            category = classify_change(percent, points)
            responder = category in (SUBSTANTIAL, MODERATE)
        elif points <= -MODERATE_POINTS:
            category = WORSE
        summary = _summary(b_mean.value, c_mean.value, points, percent, category, responder)
    return Comparison(
        baseline=b_mean,
        baseline_first=b_days[0] if b_days else None,
        baseline_last=b_days[-1] if b_days else None,
        baseline_day_count=len(b_days),
        current=c_mean,
        current_start=current_start,
        current_end=current_end,
        current_day_count=len(c_days),
        points=points,
        percent=percent,
        category=category,
        responder=responder,
        no_claim=reason,
        summary=summary,
    )


def _summary(
    baseline: float,
    current: float,
    points: float,
    percent: float | None,
    category: str | None,
    responder: bool | None,
) -> str:
    direction = "lower" if points >= 0 else "higher"
    amount = f"{abs(points):.1f} points"
    if percent is not None:
        amount += f" ({abs(percent):.1f} %)"
    head = f"Pain is {amount} {direction} than at baseline ({baseline:.1f} → {current:.1f})"
    if percent is None:
        why = (
            f"baseline pain was mild ({baseline:.1f} of 10): the usual thresholds come from "
            f"people with pain of {MEANINGFUL_BASELINE:g} or more ({THRESHOLD_SOURCE}), "
            "so no percentage category is claimed"
        )
        if category is not None:
            return f"{head}: {category}; {why}."
        return f"{head}; {why}."
    verdict = "a responder" if responder else "not a responder"
    return (
        f"{head}: {category}; {verdict} by the usual rule, at least 30 % or 2 points lower "
        f"({THRESHOLD_SOURCE})."
    )


@dataclass(frozen=True, slots=True)
class Week:
    start: dt.date
    end: dt.date
    mean: Mean
    days_logged: int
    high_pain_days: int
    sessions: int
    minutes: float


def week_starts(end: dt.date, weeks: int) -> list[dt.date]:
    """Start dates of ``weeks`` 7-day weeks, oldest first, the last one ending on ``end``."""
    return [end - dt.timedelta(days=7 * (weeks - i) - 1) for i in range(weeks)]


def weekly(
    scored: Iterable[Scored],
    sessions: Iterable[tuple[dt.date, float]],
    end: dt.date,
    weeks: int,
) -> list[Week]:
    """Per 7-day week ending on ``end``: mean NRS (n), days logged, high-pain days, and the
    number of sessions and minutes of stimulation (sessions given as (date, seconds))."""
    return weekly_days(daily(scored), sessions, end, weeks)


def weekly_days(
    days: Iterable[Day],
    sessions: Iterable[tuple[dt.date, float]],
    end: dt.date,
    weeks: int,
) -> list[Week]:
    """:func:`weekly` on per-day aggregates."""
    starts = week_starts(end, weeks)
    first = starts[0]

    def index(day: dt.date) -> int | None:
        if day < first or day > end:
            return None
        return (day - first).days // 7

    per_week: list[list[Day]] = [[] for _ in range(weeks)]
    for d in days:
        i = index(d.day)
        if i is not None and d.mean.n:
            per_week[i].append(d)
    counts = [0] * weeks
    seconds = [0.0] * weeks
    for day, secs in sessions:
        i = index(day)
        if i is not None:
            counts[i] += 1
            seconds[i] += secs
    return [
        Week(
            start=start,
            end=start + dt.timedelta(days=6),
            mean=pooled(per_week[i]),
            days_logged=len(per_week[i]),
            high_pain_days=sum(1 for d in per_week[i] if d.high >= HIGH_PAIN),
            sessions=counts[i],
            minutes=seconds[i] / 60,
        )
        for i, start in enumerate(starts)
    ]


@dataclass(frozen=True, slots=True)
class SessionRelief:
    session_id: int
    started_at: dt.datetime
    day: dt.date
    minutes: float
    state: str
    before: int | None
    after: int | None
    relief: Relief
    program: str | None = None
    placement: str | None = None
    peak: float | None = None
    """The most the device delivered, rounded to the unit's step (0.1 mA, whole levels)."""
    unit: str | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReliefSummary:
    """Per-session relief: the median in points (with its n) and every session's points.

    A median of points, not a mean of ratios: a 1 → 0 session is "100 %" and would outweigh
    the sessions that matter."""

    median: Mean
    points: tuple[int, ...]


def round_peak(value: float | None, unit: str | None) -> float | None:
    """The delivered peak as the device can set it: whole levels, 0.1 mA."""
    if value is None:
        return None
    return float(round(value)) if unit == "level" else round(value, 1)


def peak_text(s: SessionRelief) -> str:
    if s.peak is None or s.unit is None:
        return "—"
    if s.unit == "level":
        return f"{s.peak:.0f} levels"
    return f"{s.peak:.1f} {s.unit or 'mA'}"


def duration_text(minutes: float) -> str:
    """Short sessions in seconds (a 45 s session is not "0 min")."""
    seconds = minutes * 60
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{minutes:.0f} min"


def end_text(s: SessionRelief) -> str:
    """finished / stopped / aborted: why / interrupted."""
    if s.state in ("aborted", "interrupted") and s.end_reason:
        return f"{s.state}: {s.end_reason}"
    return s.state


def relief_summary(sessions: Sequence[SessionRelief]) -> ReliefSummary:
    """Relief of the sessions with both scores, in points."""
    points = tuple(s.relief.points for s in sessions if s.relief.points is not None)
    return ReliefSummary(Mean(median(points) if points else None, len(points)), points)


def small_wins(
    weeks: Sequence[Week], comparison: Comparison, sessions: Sequence[SessionRelief]
) -> list[str]:
    """Improvements worth pointing out, each backed by enough data (else not said)."""
    wins: list[str] = []
    if len(weeks) >= 2:
        this, prev = weeks[-1], weeks[-2]
        if (
            this.mean.n >= MIN_WEEK_ENTRIES
            and prev.mean.n >= MIN_WEEK_ENTRIES
            and this.mean.value is not None
            and prev.mean.value is not None
            and prev.mean.value - this.mean.value >= 0.5
        ):
            wins.append(
                f"Your mean pain this week, {this.mean.text()}, is lower than the week "
                f"before, {prev.mean.text()}."
            )
        if (
            this.days_logged >= MIN_WINDOW_DAYS
            and prev.days_logged >= MIN_WINDOW_DAYS
            and this.high_pain_days < prev.high_pain_days
        ):
            wins.append(
                f"{this.high_pain_days} day(s) with pain {HIGH_PAIN} or more this week, down "
                f"from {prev.high_pain_days} the week before."
            )
        filled = [w for w in weeks if w.mean.n >= MIN_WEEK_ENTRIES and w.mean.value is not None]
        if (
            len(filled) >= 3
            and filled[-1] is this
            and this.mean.value is not None
            and all(
                w.mean.value is not None and this.mean.value < w.mean.value for w in filled[:-1]
            )
        ):
            wins.append(
                f"This week's mean pain is the lowest of the {len(weeks)} weeks shown "
                f"({len(filled)} weeks with enough entries)."
            )
    if comparison.no_claim is None and comparison.percent is not None:
        if comparison.percent >= SUBSTANTIAL_PERCENT:
            wins.append(
                f"Pain is {comparison.percent:.1f} % lower than at baseline: a substantial "
                "improvement (50 % or more)."
            )
        elif comparison.percent >= RESPONDER_PERCENT:
            wins.append(
                f"Pain is {comparison.percent:.1f} % lower than at baseline: past the 30 % "
                "mark clinicians call much improved."
            )
    recent = [
        s for s in sessions if weeks and s.day >= weeks[-1].start and s.relief.points is not None
    ]
    if recent:
        best = max(recent, key=lambda s: (s.relief.points or 0, s.started_at))
        if best.relief.points is not None and best.relief.points >= MODERATE_POINTS:
            wins.append(
                f"Session {best.session_id} on {best.day.isoformat()} took pain from "
                f"{best.before} to {best.after}."
            )
    if weeks and weeks[-1].days_logged >= 5:
        wins.append(
            f"You logged your pain on {weeks[-1].days_logged} of the last 7 days, "
            "which makes these numbers more trustworthy."
        )
    return wins
