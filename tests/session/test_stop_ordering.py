"""A stop wins over every command sent before it (issue 12 item 1, the controller's side).

A start waiting for the lock (behind a slow connect) or for the database, a resume waiting
for the lock, an intensity change that runs while the stop is being written: each is refused
with ``code == "cancelled_by_stop"``, and the record shows nothing after the stop. A command
sent after the stop runs as usual. The database here is the real SQLite store behind a gate
the test opens; the device is the simulated wearable.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tens.controller import Controller
from tens.events import SessionState, Source
from tens.safety import StartRequest
from tens.store.sessions import list_sessions
from tests.stated import placed_config

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]


class GatedStore:
    """The real store, with a gate: while closed, every call waits (a slow SD card)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.open = asyncio.Event()
        self.open.set()

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        await self.open.wait()
        return await self.db.run(fn, *args, **kwargs)


def nothing_after(rig: Any, t: float) -> bool:
    return all(v == 0 for tt, v in rig.delivered() if tt > t + 0.1) and all(
        v == 0 for tt, v in rig.asked() if tt > t
    )


async def test_a_start_waiting_behind_a_slow_connect_is_cancelled_by_a_stop(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    release = asyncio.Event()
    opener = rig.ctrl._open_device

    async def slow_opener() -> Any:
        await release.wait()  # the radio takes its time
        return await opener()

    await rig.ctrl.close()
    rig.ctrl = ctrl = Controller(placed_config(), slow_opener, rig.db)
    connecting = asyncio.ensure_future(ctrl.connect())
    await asyncio.sleep(0.1)
    before = asyncio.ensure_future(ctrl.start(StartRequest(intensity=10, minutes=5), Source.MQTT))
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    t_stop = loop.time()
    stop = await ctrl.stop(Source.TUI)
    assert stop.outcome == "allowed"
    release.set()
    await connecting
    d = await before
    assert d.refused and d.code == "cancelled_by_stop"
    await asyncio.sleep(5)
    assert nothing_after(rig, t_stop)
    assert ctrl.snapshot().session is SessionState.READY
    # a start sent after the stop runs, from zero
    d = await ctrl.start(StartRequest(intensity=4, minutes=5), Source.TUI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(4)
    assert rig.last() == pytest.approx(4)
    await ctrl.stop(Source.CLI)


async def test_starts_waiting_for_the_database_are_cancelled_by_a_stop(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    store = GatedStore(rig.db)
    await rig.ctrl.close()
    rig.ctrl = ctrl = Controller(placed_config(), rig.ctrl._open_device, store)
    await ctrl.connect()
    store.open.clear()
    first = asyncio.ensure_future(ctrl.start(StartRequest(intensity=10, minutes=5), Source.MQTT))
    await asyncio.sleep(0.1)  # checking: waiting for the day's usage
    queued = asyncio.ensure_future(ctrl.start(StartRequest(intensity=10), Source.SCHEDULER))
    await asyncio.sleep(0.1)  # waiting for the lock behind it
    t_stop = asyncio.get_running_loop().time()
    await ctrl.stop(Source.CLI)
    store.open.set()
    for task in (first, queued):
        d = await task
        assert d.refused and d.code == "cancelled_by_stop", d
    await asyncio.sleep(5)
    assert nothing_after(rig, t_stop)
    await ctrl.wait_ended()
    rows = await rig.db.run(list_sessions)
    assert all(r.state != "running" for r in rows)


async def test_a_resume_waiting_for_the_lock_is_cancelled_by_a_stop(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(6)
    await rig.ctrl.pause(Source.TUI)
    async with rig.ctrl._lock:  # e.g. a connect or a start being checked
        resuming = asyncio.ensure_future(rig.ctrl.resume(Source.MQTT))
        await asyncio.sleep(0.1)
        t_stop = asyncio.get_running_loop().time()
        await rig.ctrl.stop(Source.TUI)
    d = await resuming
    assert d.refused and d.code == "cancelled_by_stop"
    await asyncio.sleep(5)
    assert nothing_after(rig, t_stop)
    assert rig.ctrl.snapshot().session is SessionState.STOPPED


async def test_an_intensity_change_running_during_a_stop_is_cancelled(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=5, minutes=5), Source.CLI)
    await asyncio.sleep(4)
    raising = asyncio.ensure_future(rig.ctrl.set_intensity(30, Source.SCHEDULER))
    stepping = asyncio.ensure_future(rig.ctrl.step_intensity(+1, Source.MQTT))
    t_stop = asyncio.get_running_loop().time()
    await rig.ctrl.stop(Source.TUI)
    for task in (raising, stepping):
        d = await task
        assert d.refused and d.code == "cancelled_by_stop", d
    await asyncio.sleep(5)
    assert nothing_after(rig, t_stop)
    assert max(v for _, v in rig.asked()) <= 5
