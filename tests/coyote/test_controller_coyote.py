"""Whole sessions through the controller on each simulated Coyote over the virtual radio.

Every check reads the simulator's delivered-output record (values in levels), never what the
controller believes. looptime fast-forwards the loop's clock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulators.coyote import wire3
from simulators.coyote.simulator import Coyote2Simulator, Coyote3Simulator, start_coyote
from tens.checklist import none_apply
from tens.config import TensConfig
from tens.controller import Controller
from tens.events import ControllerEvent, SessionState, Source
from tens.limits import LevelLimits, Limits
from tens.safety import StartRequest
from tens.session import TICK_S
from tests.stated import placed_config, state_pads

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

LEVELS = {
    "coyote3": LevelLimits(peak=20, ramp_per_s=2, step=1),
    "coyote2": LevelLimits(peak=300, ramp_per_s=30, step=7),
}


def config(**levels: LevelLimits) -> TensConfig:
    return TensConfig(limits=Limits(levels=levels))


@dataclass
class Rig:
    ctrl: Controller
    sim: Any
    events: list[ControllerEvent] = field(default_factory=list)


@asynccontextmanager
async def controller_on(
    model: str, tmp_path: Path, cfg: TensConfig | None = None
) -> AsyncIterator[Rig]:
    from devices import registry
    from simulators.radio import VirtualRadio
    from tens.store import AsyncDB
    from tens.store.sessions import record_checklist

    radio = await VirtualRadio.local()
    sim = await start_coyote(radio, model)
    db = await AsyncDB.open(tmp_path / f"{model}.db")
    await db.run(record_checklist, none_apply(), False)
    await db.run(state_pads)
    transport = radio.transport()

    async def opener() -> Any:
        return await registry.open_device(transport, sim.address, 5.0)

    ctrl = Controller(placed_config(cfg if cfg is not None else config(**LEVELS)), opener, db)
    rig = Rig(ctrl, sim)
    ctrl.add_listener(rig.events.append)
    try:
        yield rig
    finally:
        await ctrl.close()
        await sim.close()
        await radio.close()
        await db.close()


def assert_ramp_within(
    record: Any, channel: int, per_s: float, slack: float, lag_s: float = 0.0
) -> None:
    """Rises on the record stay within the rate. The controller ramps on a 0.1 s tick and
    the driver streams on its own 100 ms frame grid, so a frame can carry two ticks' worth
    of rise when the two grids' phases cross: allowed, never more. A waveform gap (frames
    that came late over the link: output 0, strength kept) is not a fall: the rise after it
    is measured from the level before it. ``lag_s``: how late the link may put a sample
    after the one before it (a waveform's start waits behind the frame's other writes, so a
    rise can be stamped closer to the previous sample than its strength write was)."""
    samples = list(record.for_channel(channel))
    for i, (a, b) in enumerate(itertools.pairwise(samples)):
        if a.cause in ("frames stopped", "waves stopped") and i > 0:
            a = samples[i - 1]
        if b.intensity_ma > a.intensity_ma:
            dt = max(b.t - a.t, 1e-9)
            allowed = per_s * (dt + TICK_S + lag_s) + slack
            assert b.intensity_ma - a.intensity_ma <= allowed, (a, b)


@pytest.mark.parametrize(
    ("model", "target", "ramp"),
    [("coyote3", 15, 2.0), ("coyote2", 210, 30.0)],
)
async def test_full_session_within_level_limits(
    model: str, target: float, ramp: float, tmp_path: Path
) -> None:
    async with controller_on(model, tmp_path) as rig:
        await rig.ctrl.connect()
        lim = rig.ctrl.limits()
        assert lim is not None and lim.unit.value == "level" and lim.density_limit is None
        d = await rig.ctrl.start(StartRequest(intensity=target, minutes=0.5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        snap = await rig.ctrl.wait_ended()
        assert snap.session is SessionState.FINISHED, snap.end_reason
        record = rig.sim.record
        assert record.max(0) == target
        assert record.max(0) <= LEVELS[model].peak
        assert record.last(0) == 0 and record.max(1) == 0
        # the 2.0's frame is up to three write requests, one connection event each
        lag = 3 * rig.sim.link.interval_s if model == "coyote2" else 0.0
        assert_ramp_within(record, 0, ramp, slack=1.0, lag_s=lag)
        if isinstance(rig.sim, Coyote3Simulator):
            assert rig.sim.model.soft_limits == [20, 20]  # BF = our level limit


async def test_coyote3_start_above_the_level_limit_is_refused(tmp_path: Path) -> None:
    async with controller_on("coyote3", tmp_path) as rig:
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=25), Source.CLI)
        assert d.refused and "peak" in d.reason
        await asyncio.sleep(1.0)
        assert rig.sim.record.max() == 0


async def test_coyote_without_level_limits_is_refused_and_nothing_plays(
    tmp_path: Path,
) -> None:
    async with controller_on("coyote3", tmp_path, TensConfig()) as rig:
        await rig.ctrl.connect()
        assert rig.ctrl.limits_refusal is not None
        assert "level limits" in rig.ctrl.limits_refusal
        d = await rig.ctrl.start(StartRequest(intensity=5), Source.CLI)
        assert d.refused
        await asyncio.sleep(0.05)
        assert isinstance(rig.sim, Coyote3Simulator)
        # no BF without a limit: a BF of 0 would replace the person's own soft limit, and
        # tens never raises a device limit again (the lower of the two is kept)
        assert rig.sim.model.soft_limits == [200, 200]
        assert rig.sim.turn_wheel(0, 10) == 10  # no waveform plays: nothing delivered
        await asyncio.sleep(0.5)
        assert rig.sim.model.strength == [0, 0]  # the driver zeroed a strength it never allowed
        assert rig.sim.record.max() == 0


async def test_coyote3_wheel_above_the_limit_stops_the_session(tmp_path: Path) -> None:
    async with controller_on("coyote3", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote3Simulator)
        await rig.ctrl.connect()
        # firmware that stops keeping its soft limit after connect (at connect it is refused)
        rig.sim.model.ignore_soft_limits = True
        d = await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(10)
        rig.sim.turn_wheel(0, +40)
        snap = await asyncio.wait_for(rig.ctrl.wait_ended(), 5)
        assert snap.session is SessionState.ABORTED
        assert "above the limit" in (snap.end_reason or "")
        await asyncio.sleep(0.3)
        assert rig.sim.model.strength == [0, 0]
        assert rig.sim.record.last(0) == 0


async def test_coyote3_wheel_above_the_setpoint_stops_the_session(tmp_path: Path) -> None:
    async with controller_on("coyote3", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote3Simulator)
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=8, minutes=5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(10)
        rig.sim.turn_wheel(0, +10)  # within the soft limit (20), above what was asked
        snap = await asyncio.wait_for(rig.ctrl.wait_ended(), 5)
        assert snap.session is SessionState.ABORTED
        await asyncio.sleep(0.3)
        assert rig.sim.record.last(0) == 0 and rig.sim.model.strength == [0, 0]


async def test_coyote3_link_loss_aborts_and_reconnect_starts_from_zero(tmp_path: Path) -> None:
    async with controller_on("coyote3", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote3Simulator)
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(10)
        await rig.sim.drop_link()
        snap = await asyncio.wait_for(rig.ctrl.wait_ended(), 5)
        assert snap.session is SessionState.ABORTED
        await asyncio.sleep(0.3)
        assert rig.sim.record.last(0) == 0  # frames stopped
        assert rig.sim.model.strength[0] == 10  # ... but the strength stayed set
        mark = len(rig.sim.model.received)
        await rig.ctrl.disconnect()
        await rig.ctrl.connect()
        await asyncio.sleep(0.05)  # BF is written without response: let it land
        after = rig.sim.model.received[mark:]
        assert after[0].kind == "B0" and isinstance(after[0].frame, wire3.StrengthFrame)
        assert all(p.mode == wire3.SET and p.value == 0 for p in after[0].frame.channels)
        setting = [
            r
            for r in after
            if r.kind == "BF"
            or (
                isinstance(r.frame, wire3.StrengthFrame)
                and any(p.mode == wire3.SET for p in r.frame.channels)
            )
        ]
        assert [r.kind for r in setting[:5]] == ["B0", "B0", "BF", "B0", "B0"]
        assert not any(r.plays(0) or r.plays(1) for r in after if r.t <= setting[4].t)
        assert rig.sim.model.strength == [0, 0]
        await asyncio.sleep(2)
        assert rig.sim.record.last(0) == 0  # nothing resumed by itself


async def test_coyote2_session_writes_strength_in_levels(tmp_path: Path) -> None:
    async with controller_on("coyote2", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote2Simulator)
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=70, minutes=1), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(20)
        assert rig.sim.model.strength[0] == 70
        await rig.ctrl.stop(Source.CLI)
        assert rig.sim.model.strength == [0, 0]


async def test_coyote3_soft_limit_stricter_than_ours_is_kept_by_the_governor(
    tmp_path: Path,
) -> None:
    async with controller_on(
        "coyote3", tmp_path, config(coyote3=LevelLimits(peak=100, ramp_per_s=10, step=1))
    ) as rig:
        assert isinstance(rig.sim, Coyote3Simulator)
        rig.sim.model.soft_limits = [50, 50]  # set by the person in the vendor app
        await rig.ctrl.connect()
        assert rig.sim.model.soft_limits == [50, 50]  # today: raised to 100
        lim = rig.ctrl.limits_in_force
        assert lim is not None and lim.peak == 50
        d = await rig.ctrl.start(StartRequest(intensity=80, minutes=1), Source.CLI)
        assert d.refused and "50" in d.reason
        await asyncio.sleep(1)
        assert rig.sim.record.max() == 0


@pytest.mark.parametrize("fault", ["ignore_bf", "silent"])
async def test_coyote3_soft_limits_not_in_force_no_session_starts(
    tmp_path: Path, fault: str
) -> None:
    async with controller_on("coyote3", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote3Simulator)
        # after the connect's own zero (which needs its B1), before the limits
        model = rig.sim.model
        original = model.write

        def write_then_fault(data: bytes) -> None:
            original(data)
            if len(model.received) == 1:
                setattr(model, fault, True)

        model.write = write_then_fault  # type: ignore[method-assign]
        await rig.ctrl.connect()
        assert rig.ctrl.limits_in_force is None
        assert rig.ctrl.limits_refusal is not None
        assert "own limits could not be set" in rig.ctrl.limits_refusal
        d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
        assert d.refused and "own limits could not be set" in d.reason
        await asyncio.sleep(1)
        assert rig.sim.record.max() == 0


async def test_coyote3_unconfirmed_stop_drops_the_link(tmp_path: Path) -> None:
    async with controller_on("coyote3", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote3Simulator)
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(8)
        assert rig.sim.record.last(0) == 10
        rig.sim.model.silent = True
        t0 = asyncio.get_running_loop().time()
        decision = await rig.ctrl.stop(Source.TUI)
        assert decision.code == "stop_unconfirmed"
        assert asyncio.get_running_loop().time() - t0 <= 1.0 + 0.05
        assert rig.ctrl.snapshot().link.value == "lost"
        await asyncio.sleep(0.3)
        zero = next(s for s in rig.sim.record.for_channel(0) if s.t >= t0)
        assert zero.intensity_ma == 0 and zero.t - t0 <= 0.15  # the waveform was dropped


async def test_coyote2_unconfirmed_stop_drops_the_link(tmp_path: Path) -> None:
    async with controller_on("coyote2", tmp_path) as rig:
        assert isinstance(rig.sim, Coyote2Simulator)
        await rig.ctrl.connect()
        d = await rig.ctrl.start(StartRequest(intensity=210, minutes=5), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await asyncio.sleep(10)
        assert rig.sim.record.last(0) > 0
        rig.sim.model.hung = True  # strength writes answered, not applied: reads show the old
        t0 = asyncio.get_running_loop().time()
        decision = await rig.ctrl.stop(Source.MQTT)
        assert decision.code == "stop_unconfirmed"
        assert asyncio.get_running_loop().time() - t0 <= 1.0 + 0.05
        assert rig.ctrl.snapshot().link.value == "lost"
        assert rig.ctrl.unconfirmed_stops == 1
        await asyncio.sleep(0.3)
        assert rig.sim.record.last(0) == 0
