"""Recurring sessions: "every day at 08:00 and 20:00", "every 2 h between 22:00 and 06:00".

Pure: a schedule plus a wall-clock time gives the next start. The daemon and the TUI run
schedules through the controller, so every limit applies; a start that would break the daily
cap or the rest between sessions is skipped and recorded, never squeezed in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _parse_hhmm(value: str) -> dt.time:
    try:
        hh, mm = value.split(":")
        return dt.time(int(hh), int(mm))
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a time of day as HH:MM") from None


class Schedule(BaseModel):
    """One recurring session ([[schedules]] in config.toml). Times are local wall-clock times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    program: str = "conventional"
    minutes: float = Field(30, gt=0, le=120)
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
) -> None:
    """Start each due schedule through ``controller.start(..., Source.SCHEDULER)`` until
    cancelled. Every limit applies: a refused start (daily cap, rest, a session already
    running) is skipped and recorded by the controller, never retried or squeezed in; a time
    found more than ``SCHEDULE_LATE_S`` late (clock jump, suspend) is skipped."""
    from tens.events import Source
    from tens.safety import StartRequest

    log = log or logging.getLogger(__name__)
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
