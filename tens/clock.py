"""The injected clock. Every timer in tens reads time through a :class:`Clock`.

``LoopClock`` reads the running asyncio loop's monotonic time, so a wall-clock jump (NTP,
suspend) never stretches a session, and tests that fast-forward the loop's time (the
``looptime`` pytest plugin) run a 30-minute session in milliseconds without any change here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""
        ...

    def wall(self) -> dt.datetime:
        """Aware wall-clock time, for records and schedules only (never for durations)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (monotonic) plus the system wall clock."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told; for pure, synchronous tests (governor, scheduler)."""

    def __init__(self, start: float = 0.0, wall: dt.datetime | None = None) -> None:
        self._t = start
        self._wall0 = wall or dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
        self._t0 = start

    def monotonic(self) -> float:
        return self._t

    def wall(self) -> dt.datetime:
        return self._wall0 + dt.timedelta(seconds=self._t - self._t0)

    def advance(self, seconds: float) -> None:
        self._t += seconds

    async def sleep(self, seconds: float) -> None:
        self._t += max(0.0, seconds)
        await asyncio.sleep(0)
