"""The Coyote benchmark's measuring parts, on the real simulated device model (looptime).
Figures are never asserted: these check that the parts measure what they say."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from benchmarks.coyote import StrengthWatch, schedule_lateness
from devices.coyote import v3codec
from devices.coyote.v3codec import B0Frame, StrengthMode, WaveSlots
from simulators.coyote.model3 import Coyote3Model

SET, KEEP = StrengthMode.SET, StrengthMode.KEEP
WAVE = WaveSlots((10, 10, 10, 10), (50, 50, 50, 50))


@dataclass
class Sim:
    model: Coyote3Model


def test_schedule_lateness_counts_against_the_senders_own_schedule() -> None:
    sends = [(0, 10.0), (1, 10.1), (2, 10.2 + 0.004), (3, 10.3), (5, 10.5 + 0.001)]
    late = [round(x * 1000, 6) for x in schedule_lateness(sends, 0.1)]
    assert late == [0.0, 0.0, 4.0, 0.0, 1.0]
    # a frame 70 ms late is 70 ms late, not 30 ms early for the next slot
    assert [round(x * 1000, 6) for x in schedule_lateness([(0, 1.0), (1, 1.17)], 0.1)] == [
        0.0,
        70.0,
    ]
    assert schedule_lateness([], 0.1) == []


@pytest.mark.looptime
async def test_strength_watch_waits_for_strength_0_not_a_waveform_gap() -> None:
    model = Coyote3Model()
    watch = StrengthWatch(Sim(model))
    try:
        model.write(v3codec.encode_b0(B0Frame(1, SET, KEEP, 10, 0, WAVE, v3codec.DROPPED)))
        assert await watch.wait_on(1.0) == pytest.approx(asyncio.get_running_loop().time())
        since = asyncio.get_running_loop().time()
        zero = asyncio.ensure_future(watch.wait_zero(since, 5.0))
        await asyncio.sleep(0.3)  # no more frames: the record shows 0, the strength is 10
        assert model.record.last(0) == 0 and model.strength[0] == 10
        assert not zero.done()
        stop = B0Frame(2, SET, SET, 0, 0, v3codec.DROPPED, v3codec.DROPPED)
        model.write(v3codec.encode_b0(stop))
        t_stop = asyncio.get_running_loop().time()
        assert await zero == t_stop
    finally:
        watch.close()
    assert "_update" not in vars(model)  # the model is left as it was
