"""Recurring sessions: "every day at 08:00 and 20:00", "every 2 h between 09:00 and 19:00".

Pure: a schedule plus a wall-clock time gives the next start. No schedule starts in the quiet
hours (:class:`QuietHours`, default 22:00–07:00: nobody watches a session started while they
sleep, and the FDA's TENS warnings say not while sleeping) unless the config allows night use
with a stated reason: such a schedule is refused when the config loads, and the runner refuses
the start again at run time. The daemon and the TUI run
schedules through the controller, so every limit applies; a start that would break the daily
cap or the rest between sessions is skipped and recorded, never squeezed in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tens.limits import HARD_CAPS


def _parse_hhmm(value: str) -> dt.time:
    try:
        hh, mm = value.split(":")
        return dt.time(int(hh), int(mm))
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a time of day as HH:MM") from None


class QuietHours(BaseModel):
    """``[quiet_hours]``: when no scheduled session may start (local wall-clock times).

    ``start`` is inside, ``end`` is not: with the defaults 22:00 is refused, 07:00 allowed.
    Night use needs ``allow_night_use = true`` *and* a ``night_use_reason``; the config is
    refused otherwise, and ``tens config show`` and the TUI warn while it is on.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = "22:00"
    end: str = "07:00"
    allow_night_use: bool = False
    night_use_reason: str | None = Field(None, max_length=200)

    @field_validator("start", "end")
    @classmethod
    def _check_time(cls, v: str) -> str:
        _parse_hhmm(v)
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if _parse_hhmm(self.start) == _parse_hhmm(self.end):
            raise ValueError(
                "quiet hours cannot be empty (start == end); to start sessions at night set "
                "allow_night_use = true with a night_use_reason"
            )
        return self

    def contains(self, t: dt.time) -> bool:
        """Is the time of day `t` inside the quiet hours?"""
        t = t.replace(second=0, microsecond=0, tzinfo=None)
        start, end = _parse_hhmm(self.start), _parse_hhmm(self.end)
        if start < end:
            return start <= t < end
        return t >= start or t < end  # crosses midnight (the default)

    def warning(self) -> str | None:
        """The warning faces show while night use is allowed, or None."""
        if not self.allow_night_use:
            return None
        why = (self.night_use_reason or "").strip() or "no reason given"
        return (
            f"night use is ON: schedules may start between {self.start} and {self.end} "
            f"with nobody watching (reason: {why}); tens is not cleared for use while asleep"
        )

    def refusal(self, t: dt.time) -> str | None:
        """Why a scheduled start at `t` is refused, or None when it may start."""
        if self.allow_night_use or not self.contains(t):
            return None
        return (
            f"{t.strftime('%H:%M')} is in the quiet hours {self.start}–{self.end}: no session "
            "starts unattended at night (set quiet_hours.allow_night_use with a "
            "night_use_reason to allow it)"
        )


class Schedule(BaseModel):
    """One recurring session ([[schedules]] in config.toml). Times are local wall-clock times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    program: str = "conventional"
    minutes: float = Field(30, gt=0, le=HARD_CAPS.session_minutes)
    intensity: float = Field(gt=0)
    placement: str | None = None
    at: tuple[str, ...] = ()
    every_minutes: int | None = Field(None, ge=15, le=24 * 60)
    between: tuple[str, str] | None = None
    days: tuple[int, ...] = Field((0, 1, 2, 3, 4, 5, 6), description="0 = Monday")
    enabled: bool = True

    @field_validator("at")
    @classmethod
    def _check_at(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            _parse_hhmm(item)
        return tuple(sorted(set(v)))

    @field_validator("between")
    @classmethod
    def _check_between(cls, v: tuple[str, str] | None) -> tuple[str, str] | None:
        if v is not None:
            _parse_hhmm(v[0])
            _parse_hhmm(v[1])
        return v

    @field_validator("days")
    @classmethod
    def _check_days(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d < 0 or d > 6 for d in v):
            raise ValueError("days must be weekday numbers 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if bool(self.at) == (self.every_minutes is not None):
            raise ValueError("a schedule needs either `at` times or `every_minutes`, not both")
        if self.every_minutes is not None and self.between is None:
            raise ValueError('`every_minutes` needs `between = ["HH:MM", "HH:MM"]`')
        return self

    def times_on(self, day: dt.date) -> list[dt.datetime]:
        """Start times (naive local) on `day`, including windows that began the evening before."""
        out: list[dt.datetime] = []
        if self.at:
            if day.weekday() in self.days:
                out = [dt.datetime.combine(day, _parse_hhmm(t)) for t in self.at]
            return out
        assert self.between is not None and self.every_minutes is not None
        start_t, end_t = _parse_hhmm(self.between[0]), _parse_hhmm(self.between[1])
        step = dt.timedelta(minutes=self.every_minutes)
        for window_day in (day - dt.timedelta(days=1), day):
            if window_day.weekday() not in self.days:
                continue
            start = dt.datetime.combine(window_day, start_t)
            end = dt.datetime.combine(window_day, end_t)
            if end <= start:
                end += dt.timedelta(days=1)  # crosses midnight
            t = start
            while t <= end:
                if t.date() == day:
                    out.append(t)
                t += step
        return sorted(out)

    def start_times(self) -> list[dt.time]:
        """Every time of day this schedule can start at (for the quiet-hours check)."""
        if self.at:
            return [_parse_hhmm(t) for t in self.at]
        assert self.between is not None and self.every_minutes is not None
        day = dt.date(2000, 1, 3)
        start = dt.datetime.combine(day, _parse_hhmm(self.between[0]))
        end = dt.datetime.combine(day, _parse_hhmm(self.between[1]))
        if end <= start:
            end += dt.timedelta(days=1)
        out: list[dt.time] = []
        t = start
        while t <= end:
            out.append(t.time())
            t += dt.timedelta(minutes=self.every_minutes)
        return out

    def next_after(self, now: dt.datetime) -> dt.datetime | None:
        """The first start strictly after `now` (naive local), within the next 8 days."""
        if not self.enabled:
            return None
        for offset in range(9):
            day = now.date() + dt.timedelta(days=offset)
            for t in self.times_on(day):
                if t > now:
                    return t
        return None


def next_due(schedules: list[Schedule], now: dt.datetime) -> tuple[Schedule, dt.datetime] | None:
    """The schedule that fires next after `now`, with its time."""
    best: tuple[Schedule, dt.datetime] | None = None
    for s in schedules:
        t = s.next_after(now)
        if t is not None and (best is None or t < best[1]):
            best = (s, t)
    return best


SCHEDULE_RECHECK_S = 30.0
"""Wall-clock waits are cut into slices this long, so a clock jump is noticed."""
SCHEDULE_LATE_S = 120.0
"""A scheduled start found this late (suspend, a long outage) is skipped, never squeezed in."""


async def run_schedules(
    controller: Any,
    schedules: Sequence[Schedule],
    clock: Any,
    log: logging.Logger | None = None,
    quiet: QuietHours | None = None,
) -> None:
    """Start each due schedule through ``controller.start(..., Source.SCHEDULER)`` until
    cancelled. A start in the quiet hours (``quiet``, default 22:00–07:00 with night use off)
    is refused and recorded (code ``quiet_hours``), whatever the config loader let through.
    Every limit applies: a refused start (daily cap, rest, a session already running) is
    skipped and recorded by the controller, never retried or squeezed in; a time
    found more than ``SCHEDULE_LATE_S`` late (clock jump, suspend) is skipped."""
    from tens.events import Decision, Source
    from tens.safety import StartRequest

    log = log or logging.getLogger(__name__)
    quiet = quiet or QuietHours()
    active = [s for s in schedules if s.enabled]
    if not active:
        return

    def local_now() -> dt.datetime:
        return clock.wall().astimezone().replace(tzinfo=None)

    while True:
        due = next_due(active, local_now())
        if due is None:
            await clock.sleep(SCHEDULE_RECHECK_S)
            continue
        schedule, at = due
        while (wait := (at - local_now()).total_seconds()) > 0:
            await clock.sleep(min(wait, SCHEDULE_RECHECK_S))
        if -wait > SCHEDULE_LATE_S:
            log.warning("schedule %s: %s missed (clock jump or suspend)", schedule.name, at)
            continue
        night = quiet.refusal(at.time()) or quiet.refusal(local_now().time())
        if night is not None:
            refusal = Decision(
                Source.SCHEDULER,
                "start",
                schedule.intensity,
                None,
                "refused",
                (night,),
                code="quiet_hours",
            )
            audit = getattr(controller, "audit", None)
            if audit is not None:
                audit.add(clock.wall(), None, refusal)
            log.warning("schedule %s at %s refused: %s", schedule.name, at, night)
            continue
        decision = await controller.start(
            StartRequest(
                program=schedule.program,
                minutes=schedule.minutes,
                intensity=schedule.intensity,
                placement=schedule.placement,
            ),
            Source.SCHEDULER,
        )
        if decision.refused:
            log.warning("schedule %s at %s skipped: %s", schedule.name, at, decision.reason)
        else:
            log.info("schedule %s started a session", schedule.name)
