"""Schedules run through the controller (Source.SCHEDULER) on the simulated wearable: every
limit applies, and a start the limits refuse is skipped, not squeezed in later."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from tens.config import TensConfig
from tens.events import Refused, Source
from tens.limits import Limits
from tens.schedule import Schedule, run_schedules
from tens.store.sessions import list_audit

pytestmark = [pytest.mark.looptime]

BASE = dt.datetime(2026, 3, 2, 7, 59, tzinfo=dt.UTC)


class LoopWallClock:
    """Wall time that moves with the (fast-forwarded) loop clock."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> dt.datetime:
        return BASE + dt.timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def test_a_schedule_starts_and_a_second_is_skipped_by_the_rest_limit(rig_factory) -> None:
    local = BASE.astimezone().replace(tzinfo=None)
    first = (local + dt.timedelta(minutes=1)).strftime("%H:%M")
    second = (local + dt.timedelta(minutes=6)).strftime("%H:%M")
    cfg = TensConfig(limits=Limits(rest_minutes=15))
    rig = await rig_factory(cfg)
    rig.ctrl.clock = LoopWallClock()
    await rig.ctrl.connect()
    schedule = Schedule(name="am", intensity=6, minutes=2, at=(first, second))
    runner = asyncio.ensure_future(run_schedules(rig.ctrl, [schedule], rig.ctrl.clock))
    try:
        await asyncio.sleep(4 * 60)
        assert rig.delivered_max() == pytest.approx(6, abs=0.11)
        await asyncio.sleep(4 * 60)  # the second time comes 3 min after the first ended
        refused = [e for e in rig.events if isinstance(e, Refused)]
        assert refused and "rest between sessions" in refused[-1].decision.reason
        assert refused[-1].decision.source is Source.SCHEDULER
        assert rig.last() == 0
    finally:
        runner.cancel()
    await rig.ctrl.audit.flush()
    starts = [a for a in await rig.db.run(list_audit) if a.action == "start"]
    assert [a.outcome for a in starts] == ["allowed", "refused"]
    assert all(a.source == "scheduler" for a in starts)


async def test_the_runner_refuses_a_start_in_the_quiet_hours(rig_factory) -> None:
    """Belt and braces: a schedule the loader never saw (built in code) that comes due at
    night is refused by the runner and recorded; nothing reaches the electrodes."""
    from tens.schedule import QuietHours

    local = BASE.astimezone().replace(tzinfo=None)
    rig = await rig_factory(TensConfig())
    rig.ctrl.clock = LoopWallClock()
    await rig.ctrl.connect()
    # quiet hours around the base time, whatever the machine's time zone
    quiet = QuietHours(
        start=local.strftime("%H:%M"), end=(local + dt.timedelta(hours=1)).strftime("%H:%M")
    )
    due = (local + dt.timedelta(minutes=2)).strftime("%H:%M")
    schedule = Schedule(name="night", intensity=6, minutes=2, at=(due,))
    runner = asyncio.ensure_future(run_schedules(rig.ctrl, [schedule], rig.ctrl.clock, None, quiet))
    try:
        await asyncio.sleep(5 * 60)
    finally:
        runner.cancel()
    assert max((s.intensity_ma for s in rig.sim.record), default=0.0) == 0.0
    await rig.ctrl.audit.flush()
    starts = [a for a in await rig.db.run(list_audit) if a.action == "start"]
    assert [(a.outcome, a.source) for a in starts] == [("refused", "scheduler")]
    assert "quiet hours" in (starts[0].reason or "")
