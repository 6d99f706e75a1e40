"""No ramp credit (issue 12 item 2), and start/resume from zero, with the device's own ramp off.

The rate of rise is bounded over every window of what the electrodes carried and of what the
device was asked, whatever happened before: a hold of any length gives no allowance, and
quick "up" presses from several sources stack to no more than one manual step plus the rate.
The OpenTENS wearable here takes SET_LIMITS without its ramp (firmware that smooths
nothing), and the Coyotes have no ramp of their own, so only the governor can keep these.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tens.config import TensConfig
from tens.electrodes import ElectrodeSize
from tens.events import SessionState, Source
from tens.limits import LevelLimits, Limits
from tens.safety import StartRequest
from tens.session import TICK_S
from tests.stated import state_pads

from .conftest import coyote_rig
from .windows import assert_rate_over_every_window

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

RATE = 2.0  # the default mA/s
STEP = 1.0  # the default manual step, mA
# what the device is asked: one tick of rise, one 0.1 mA step, a connection event of latency
ASKED_SLACK = RATE * TICK_S + 0.1 + RATE * 0.06
# what the electrodes carry: the writes land on 30 ms connection events, so a late one and
# an on-time one can come closer together than the ticks that sent them
DELIVERED_SLACK = RATE * (TICK_S + 0.1) + 0.1
COYOTE3 = LevelLimits(peak=40, ramp_per_s=10, step=5)
COYOTE2 = LevelLimits(peak=300, ramp_per_s=30, step=7)


def coyote_config(**levels: LevelLimits) -> TensConfig:
    return TensConfig(limits=Limits(levels=levels))


def after(points: list[tuple[float, float]], t0: float) -> list[tuple[float, float]]:
    """The step function from t0 on: the value held at t0, then every change after it."""
    before = [p for p in points if p[0] < t0]
    held = [(t0, before[-1][1])] if before else [(t0, 0.0)]
    return held + [p for p in points if p[0] >= t0]


# ---------------------------------------------------------------------------- OpenTENS
async def test_a_hold_gives_no_ramp_credit_opentens(rig_factory) -> None:
    """Ramp to 10 mA, hold 3 s, then ask for 20 (a schedule: no manual step): the rise
    starts one tick at a time from 10, never 10 -> 16 in one write."""
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(5.2 + 3.0)
    assert rig.last() == pytest.approx(10)
    t = asyncio.get_running_loop().time()
    d = await rig.ctrl.set_intensity(20, Source.SCHEDULER)
    assert d.outcome == "allowed"
    await asyncio.sleep(0.5)
    assert rig.last() <= 10 + RATE * 0.5 + DELIVERED_SLACK
    await asyncio.sleep(6)
    assert rig.last() == pytest.approx(20)
    await rig.ctrl.stop(Source.CLI)
    assert_rate_over_every_window(rig.asked(), RATE, ASKED_SLACK, "asked")
    assert_rate_over_every_window(rig.delivered(), RATE, DELIVERED_SLACK, "delivered")
    first = next(ma for tt, ma in rig.asked() if tt >= t)
    assert first <= 10 + ASKED_SLACK


async def test_hold_of_any_length_then_a_rise_opentens(rig_factory) -> None:
    """A long hold (40 s) is no different: the first write after it rises by one tick."""
    from simulators.opentens import SimConfig

    rig = await rig_factory(device_ramp=False, sim_config=SimConfig(watchdog_ms=10_000))
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=5, minutes=5), Source.CLI)
    await asyncio.sleep(45)
    await rig.ctrl.set_intensity(30, Source.SCHEDULER)
    await asyncio.sleep(15)
    await rig.ctrl.stop(Source.CLI)
    assert max(ma for _, ma in rig.delivered()) == pytest.approx(30)
    assert_rate_over_every_window(rig.asked(), RATE, ASKED_SLACK, "asked")
    assert_rate_over_every_window(rig.delivered(), RATE, DELIVERED_SLACK, "delivered")


async def test_up_presses_from_two_sources_stack_to_one_step_plus_the_rate(rig_factory) -> None:
    """Twelve quick "up"s from the TUI and MQTT at one instant: one manual step above the
    output, not twelve. Spread over 2 s: no more than one step plus 2 s of the rate."""
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(8)
    for k in range(6):
        await rig.ctrl.step_intensity(+1, Source.TUI)
        await rig.ctrl.set_intensity(10 + 2 * (k + 1), Source.MQTT)
    assert rig.ctrl.snapshot().target == pytest.approx(10 + STEP)
    await asyncio.sleep(5)
    assert max(ma for _, ma in rig.delivered()) == pytest.approx(10 + STEP)
    t0 = asyncio.get_running_loop().time()
    for k in range(10):
        src = Source.TUI if k % 2 else Source.MQTT
        await rig.ctrl.step_intensity(+1, src)
        await rig.ctrl.set_intensity(40, src)
        await asyncio.sleep(0.2)
    spread = asyncio.get_running_loop().time() - t0
    bound = 11 + STEP + RATE * spread
    assert rig.ctrl.snapshot().target <= bound + 1e-6
    await asyncio.sleep(10)
    assert max(ma for _, ma in rig.delivered()) <= bound + 1e-6
    await rig.ctrl.stop(Source.CLI)
    assert_rate_over_every_window(rig.asked(), RATE, ASKED_SLACK, "asked")
    assert_rate_over_every_window(rig.delivered(), RATE, DELIVERED_SLACK, "delivered")


async def test_start_delivers_zero_first_then_ramps_opentens(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    t0 = asyncio.get_running_loop().time()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(8)
    await rig.ctrl.stop(Source.CLI)
    asked = [p for p in rig.asked() if p[0] >= t0]
    assert asked[0][1] == 0  # the first SET_OUTPUT after START is 0
    nonzero = [p for p in rig.delivered() if p[0] >= t0 and p[1] > 0]
    assert nonzero[0][1] <= DELIVERED_SLACK  # the first sample on the skin is one tick's
    assert_rate_over_every_window(after(rig.delivered(), t0), RATE, DELIVERED_SLACK, "delivered")
    assert max(ma for _, ma in rig.delivered()) == pytest.approx(10)


async def test_resume_delivers_zero_first_then_ramps_opentens(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(8)
    await rig.ctrl.pause(Source.TUI)
    await asyncio.sleep(0.5)
    t = asyncio.get_running_loop().time()
    d = await rig.ctrl.resume(Source.TUI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(8)
    await rig.ctrl.stop(Source.CLI)
    asked = [p for p in rig.asked() if p[0] >= t]
    assert asked[0][1] == 0
    nonzero = [p for p in rig.delivered() if p[0] >= t and p[1] > 0]
    assert nonzero[0][1] <= DELIVERED_SLACK
    assert_rate_over_every_window(rig.delivered(), RATE, DELIVERED_SLACK, "delivered")
    assert_rate_over_every_window(rig.asked(), RATE, ASKED_SLACK, "asked")


async def test_start_without_an_intensity_stays_at_zero(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(minutes=5), Source.CLI)
    assert d.outcome == "allowed" and d.allowed == 0
    await asyncio.sleep(10)
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    assert rig.delivered_max() == 0
    assert rig.asked() and all(ma == 0 for _, ma in rig.asked())
    await rig.ctrl.stop(Source.CLI)


async def test_a_second_start_while_running_is_refused(rig_factory) -> None:
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=6, minutes=5), Source.CLI)
    await asyncio.sleep(5)
    n = len(rig.asked())
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=5), Source.MQTT)
    assert d.refused and d.code == "already_running" and "already running" in d.reason
    await asyncio.sleep(5)
    assert rig.ctrl.snapshot().target == 6
    assert all(ma == pytest.approx(6) for _, ma in rig.asked()[n:])
    assert rig.delivered_max() == pytest.approx(6)
    await rig.ctrl.stop(Source.CLI)


async def test_the_gate_refusing_inside_a_running_session_aborts_with_the_reason(
    rig_factory,
) -> None:
    """The limits a session checks each write against tighten under it (a peak lowered to
    5 mA while it ramps to 10): the next write is refused, nothing above 5 mA is asked, and
    the session aborts naming the limit."""
    rig = await rig_factory(device_ramp=False)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    await asyncio.sleep(2.0)
    s = rig.ctrl._session
    assert s is not None and 3 <= s.setpoint < 5
    s.limits = dataclasses.replace(s.limits, peak=5.0)
    snap = await asyncio.wait_for(rig.ctrl.wait_ended(), 5)
    assert snap.session is SessionState.ABORTED
    assert "output refused" in (snap.end_reason or "") and "peak" in (snap.end_reason or "")
    await asyncio.sleep(0.3)
    assert max(ma for _, ma in rig.asked()) <= 5.0
    assert rig.last() == 0


# ---------------------------------------------------------------------------- Coyote
async def test_a_hold_gives_no_ramp_credit_coyote3(tmp_path: Path) -> None:
    """Coyote 3.0 at 10 levels/s: ramp to 10, hold 3 s, ask for 35 — never 10 -> 35 in a
    frame; judged on the record and on the B0 frames the device took."""
    rate = COYOTE3.ramp_per_s
    async with coyote_rig("coyote3", tmp_path, coyote_config(coyote3=COYOTE3)) as rig:
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(1.5 + 3.0)
        d = await rig.ctrl.set_intensity(35, Source.SCHEDULER)
        assert d.outcome == "allowed"
        await asyncio.sleep(5)
        await rig.ctrl.stop(Source.CLI)
        await asyncio.sleep(0.3)
        assert max(v for _, v in rig.delivered()) == 35
        # the 100 ms frame grid and the 0.1 s tick grid can cross: two ticks' rise in a frame
        assert_rate_over_every_window(rig.asked(), rate, rate * 2 * TICK_S + 1, "asked")
        assert_rate_over_every_window(rig.delivered(), rate, rate * 2 * TICK_S + 1, "delivered")


@pytest.mark.parametrize(
    ("model", "levels", "target"), [("coyote3", COYOTE3, 15), ("coyote2", COYOTE2, 210)]
)
async def test_start_and_resume_deliver_zero_first_on_coyote(
    model: str, levels: LevelLimits, target: float, tmp_path: Path
) -> None:
    rate = levels.ramp_per_s
    slack = rate * 2 * TICK_S + 1
    async with coyote_rig(model, tmp_path, coyote_config(**{model: levels})) as rig:
        await rig.ctrl.connect()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await rig.ctrl.start(StartRequest(intensity=target, minutes=5), Source.CLI)
        await asyncio.sleep(target / rate + 2)
        first = next(v for t, v in rig.delivered() if t >= t0 and v > 0)
        assert first <= slack, f"first delivered sample {first}, not a ramp from 0"
        assert max(v for _, v in rig.delivered()) == target
        await rig.ctrl.pause(Source.TUI)
        await asyncio.sleep(1.0)
        t1 = loop.time()
        d = await rig.ctrl.resume(Source.TUI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(target / rate + 2)
        first = next(v for t, v in rig.delivered() if t >= t1 and v > 0)
        assert first <= slack, f"first sample after resume {first}, not a ramp from 0"
        await rig.ctrl.stop(Source.CLI)
        await asyncio.sleep(0.3)
        assert_rate_over_every_window(rig.delivered(), rate, slack, "delivered")
        assert_rate_over_every_window(rig.asked(), rate, slack, "asked")


async def test_the_density_check_is_on_what_is_written_never_rounded_up(rig_factory) -> None:
    """Issue 12 item 11: the governor checked the float it computed, the session wrote it
    rounded to 3 decimals (19.9996 -> 20.0 mA), above a density cap of 19.99995 mA. Now the
    value is rounded down onto the device's 0.1 mA grid before the gate checks it."""
    import math

    from tens.programs import BUILTIN_PROGRAMS

    conventional = next(p for p in BUILTIN_PROGRAMS if p.name == "conventional")
    cap = 19.99995
    area = cap * math.sqrt(conventional.duty() * 2) / 2.0  # 2 mA/cm² r.m.s. at the cap
    rig = await rig_factory(TensConfig(), device_ramp=False)
    await rig.db.run(state_pads, [0], ElectrodeSize("custom", area))
    await rig.ctrl.connect()
    d = await rig.ctrl.start(
        StartRequest(program="conventional", intensity=19.9996, minutes=5), Source.CLI
    )
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(12)
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    await rig.ctrl.stop(Source.CLI)
    assert max(ma for _, ma in rig.asked()) == pytest.approx(19.9)
    assert max(ma for _, ma in rig.delivered()) <= cap
