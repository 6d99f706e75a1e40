"""Float dust at the end of a session (campaign finding: Coyote 3, seed 8004, t=13.04 s,
ramping down with elapsed_s 5.999999999999999 of 6.0). The remaining 8.9e-16 s is the end:
a wait that long fires at the same loop time, forever on a virtual clock."""

from __future__ import annotations

import asyncio
import gc

import pytest

from tens.device import DeviceError
from tens.events import SessionState, Source
from tens.safety import StartRequest

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(20)]

DUST = 8.881784197001252e-16  # 6.0 - 5.999999999999999


async def _session_with_dust(rig_factory, when: SessionState) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=4, minutes=0.2), Source.CLI)
    assert d.outcome == "allowed", d.reason
    s = rig.ctrl._session
    assert s is not None
    while s.state is not when:  # noqa: ASYNC110 (the session has no event per state)
        await asyncio.sleep(0.05)
    # the float sum of the ticks came out one ulp short of the plan's length
    if when is SessionState.RAMPING_DOWN:
        s.elapsed_s = s.plan.duration_s - DUST
    else:
        s.elapsed_s = s.plan.duration_s - s.ramp_down_s - DUST
    s._changed.set()
    snap = await asyncio.wait_for(rig.ctrl.wait_ended(), 30.0)
    assert snap.session is SessionState.FINISHED
    assert rig.last() == 0


async def test_dust_left_while_ramping_down_ends_the_session(rig_factory) -> None:
    await _session_with_dust(rig_factory, SessionState.RAMPING_DOWN)


async def test_dust_before_the_ramp_down_starts_it(rig_factory) -> None:
    await _session_with_dust(rig_factory, SessionState.RUNNING)


def test_remaining_time_below_the_epsilon_is_none() -> None:
    from tens.session import TIME_EPS_S

    assert DUST < TIME_EPS_S < 1e-6


# ------------------------------------------------ item 2: the exception is always retrieved
async def test_a_stale_task_failure_is_retrieved(rig_factory) -> None:
    """A task that fails after its session already ended (the link dropped mid-write): the
    done callback still reads its exception, so no 'Task exception was never retrieved'."""
    rig = await rig_factory()
    await rig.ctrl.connect()
    reported: list[dict] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))

    async def fails() -> SessionState:
        raise DeviceError("link lost mid-write")

    task = loop.create_task(fails())
    await asyncio.wait([task])
    stale = object()  # a session that is no longer the controller's
    rig.ctrl._on_task_done(stale, task)  # type: ignore[arg-type]
    del task
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert not [c for c in reported if "never retrieved" in c.get("message", "")], reported
