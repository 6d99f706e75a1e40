"""The delivered-output record's queries."""

from __future__ import annotations

import asyncio

import pytest

from simulators.opentens.record import DeliveredRecord, DeliveredSample
from tests.simulator.kit import connected_model


def _record() -> DeliveredRecord:
    record = DeliveredRecord()
    for t, ch, ma, cause in (
        (0.0, 0, 0.0, "power-on"),
        (0.0, 1, 0.0, "power-on"),
        (1.0, 0, 1.0, "ramp"),
        (2.0, 0, 3.0, "ramp"),
        (2.5, 1, 4.0, "ramp"),
        (3.0, 0, 0.0, "stop"),
    ):
        record.append(DeliveredSample(t, ch, ma, cause))
    return record


def test_queries() -> None:
    r = _record()
    assert len(r) == 6 and r[2].intensity_ma == 1.0
    assert [r.value_at(0, t) for t in (-1.0, 0.5, 1.0, 1.99, 2.0, 2.9, 3.0)] == [
        0.0,
        0.0,
        1.0,
        1.0,
        3.0,
        3.0,
        0.0,
    ]
    assert r.value_at(1, 2.7) == 4.0 and r.value_at(2, 2.7) == 0.0
    assert r.max() == 4.0 and r.max(0) == 3.0 and r.max(3) == 0.0
    assert r.last(0) == 0.0 and r.last(1) == 4.0
    assert r.max_rise_rate(0) == pytest.approx(2.0)
    assert [s.cause for s in r.for_channel(1)] == ["power-on", "ramp"]


async def test_wait_for_new_and_since_and_timeout() -> None:
    r = _record()
    seen: list[DeliveredSample] = []
    remove = r.add_listener(seen.append)
    assert (await r.wait_for(lambda s: s.cause == "stop", 0.1, since=2.5)).t == 3.0
    with pytest.raises(TimeoutError):
        await r.wait_for(lambda s: s.cause == "stop", 0.05)  # only new samples count

    async def later() -> None:
        await asyncio.sleep(0.01)
        r.append(DeliveredSample(4.0, 1, 0.0, "watchdog"))

    task = asyncio.get_running_loop().create_task(later())
    got = await r.wait_for(lambda s: s.cause == "watchdog", 1.0)
    await task
    assert got.t == 4.0 and seen == [got]
    remove()
    r.append(DeliveredSample(5.0, 1, 1.0, "ramp"))
    assert seen == [got]


@pytest.mark.looptime
async def test_stop_wins_over_what_is_pending_in_the_same_event() -> None:
    async with connected_model() as c:
        await c.start()
        await c.set_output(0, 5.0)
        loop = asyncio.get_running_loop()
        set_more = loop.create_task(c.set_output(0, 20.0))
        stop = loop.create_task(c.stop())
        await asyncio.gather(set_more, stop)
        assert c.model.record.last(0) == 0.0 and c.model.channel(0).setpoint_ma == 0.0
        await asyncio.sleep(0.5)
        assert c.model.record.last(0) == 0.0  # nothing ramps on after the STOP
