"""The daemon runs schedules through the controller (Source.SCHEDULER), on a wall clock that
follows the loop's virtual time (looptime), so hours pass in milliseconds."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from tens.config import TensConfig
from tens.controller import Controller
from tens.daemon.sdnotify import SdNotifier
from tens.daemon.service import Daemon
from tens.daemon.settings import MqttSettings
from tens.events import ControllerEvent, Refused, Source
from tens.schedule import Schedule
from tests.daemon.harness import no_device

START_LOCAL = dt.datetime(2026, 1, 5, 7, 58, 0)  # a Monday, local time


class VirtualWall:
    """Wall clock = a local start time + the loop's (virtual) time since the test began."""

    def __init__(self, start_local: dt.datetime) -> None:
        self._start = start_local.astimezone()  # aware, in the local zone
        self._t0 = asyncio.get_running_loop().time()
        self.jump_s = 0.0

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> dt.datetime:
        elapsed = self.monotonic() - self._t0 + self.jump_s
        return self._start + dt.timedelta(seconds=elapsed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def schedule(*times: str) -> Schedule:
    return Schedule(name="morning", program="conventional", minutes=30, intensity=10, at=times)


async def run_for(daemon: Daemon, seconds: float) -> None:
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(seconds)
    daemon.request_stop()
    assert await task == 0


@pytest.mark.looptime
async def test_a_schedule_starts_through_the_controller_at_its_time() -> None:
    clock = VirtualWall(START_LOCAL)
    controller = Controller(TensConfig(), no_device, None, clock)
    seen: list[tuple[float, ControllerEvent]] = []
    controller.add_listener(lambda ev: seen.append((clock.monotonic(), ev)))
    daemon = Daemon(
        controller,
        MqttSettings(enabled=False),
        clock=clock,
        schedules=[schedule("08:00")],
        notifier=SdNotifier(environ={}),
    )
    t0 = clock.monotonic()
    await run_for(daemon, 3 * 60)
    starts = [
        (t, ev) for t, ev in seen if isinstance(ev, Refused) and ev.decision.action == "start"
    ]
    # No device here, so the governor refuses it; what matters: once, at 08:00, as SCHEDULER.
    assert len(starts) == 1
    t, ev = starts[0]
    assert isinstance(ev, Refused)
    assert ev.decision.source is Source.SCHEDULER
    assert ev.decision.requested == 10
    assert 119.0 <= t - t0 <= 121.0


@pytest.mark.looptime
async def test_a_missed_time_after_a_clock_jump_is_skipped_not_squeezed_in() -> None:
    clock = VirtualWall(START_LOCAL)
    controller = Controller(TensConfig(), no_device, None, clock)
    starts: list[ControllerEvent] = []
    controller.add_listener(
        lambda ev: (
            starts.append(ev) if isinstance(ev, Refused) and ev.decision.action == "start" else None
        )
    )
    daemon = Daemon(
        controller,
        MqttSettings(enabled=False),
        clock=clock,
        schedules=[schedule("08:00")],
        notifier=SdNotifier(environ={}),
    )
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(60)  # 07:59, waiting for 08:00
    clock.jump_s = 3600.0  # suspend/NTP: the wall clock now reads 09:00
    await asyncio.sleep(120)
    daemon.request_stop()
    assert await task == 0
    assert starts == []
