"""Every named fault scenario, run against a bleak central on the virtual radio (looptime)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from simulators.opentens.profile import AttCode, FaultBit
from simulators.opentens.scenarios import SCENARIOS, run_scenario
from simulators.opentens.server import OpenTensSimulator
from tests.simulator.kit import BleakCentral, bleak_session, radio_with_wearable

pytestmark = pytest.mark.looptime

AFTER = 1.0
FOR = 2.0


def test_every_scenario_is_listed_with_a_summary() -> None:
    assert set(SCENARIOS) == {
        "steady",
        "peel-off",
        "link-drop",
        "low-battery",
        "stuck",
        "hung",
        "malformed",
        "reject",
        "reboot",
        "forget-bonds",
        "wrong-passkey",
        "intruder",
    }
    assert all(s.summary for s in SCENARIOS.values())
    assert {n for n, s in SCENARIOS.items() if s.needs_security} == {
        "forget-bonds",
        "wrong-passkey",
        "intruder",
    }


async def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        async with radio_with_wearable(scenario="nope"):
            pass


@pytest.mark.parametrize("name", sorted(n for n, s in SCENARIOS.items() if not s.needs_security))
async def test_scenario(name: str) -> None:
    """A central keeps 2 mA on channel 0 while the scenario runs, then its check judges."""
    said: list[str] = []
    async with radio_with_wearable() as (radio, sim):
        sim.run_scenario(name, after_s=AFTER, for_s=FOR, say=said.append)
        async with bleak_session(radio, sim) as c:
            t0 = asyncio.get_running_loop().time()
            await c.start()
            async with c.feeding_watchdog():
                await c.set_output(0, 2.0)
                await asyncio.sleep(AFTER + FOR + 2.0)
            check = CHECKS[name]
            check(sim, c, t0)
    assert said, "the scenario said nothing"
    if name == "peel-off":  # channels as people count them (issue 18.8)
        assert said == [
            "electrode on channel 1 peeled off",
            "electrode on channel 1 back on (output stays 0 until START)",
        ]


def _causes(sim: OpenTensSimulator) -> list[str]:
    return [s.cause for s in sim.record]


def _steady(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    assert sim.record.last(0) == 2.0
    assert not c.garbage and not c.refusals and not c.lost.is_set()
    assert all(report.faults == 0 for _, report in c.statuses)


def _peel_off(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    [peel] = [s for s in sim.record if s.cause == "peel-off"]
    assert peel.t == pytest.approx(t0 + AFTER, abs=0.05)
    assert sim.record.last(0) == 0.0  # contact came back, output did not
    assert sim.model.channel(0).contact and not sim.model.channel(0).armed
    assert any(r.faults & FaultBit.ELECTRODE_OFF for _, r in c.statuses)
    assert c.statuses[-1][1].channels[0].contact


def _link_drop(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    assert c.lost.is_set()
    assert "disconnect" in _causes(sim) and sim.record.last(0) == 0.0


def _low_battery(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    assert any(r.battery_percent == 9 and r.faults & FaultBit.LOW_BATTERY for _, r in c.statuses)
    [cut] = [s for s in sim.record if s.cause == "low-battery"]
    assert cut.t == pytest.approx(t0 + AFTER + FOR, abs=0.05)
    assert c.battery[-2:] == [9, 5]


def _stuck(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    times = [t for t, _ in c.statuses]
    silent = [b - a for a, b in itertools.pairwise(times)]
    assert max(silent) >= FOR - 0.1  # no status while stuck
    [trip] = [s for s in sim.record if s.cause == "watchdog"]
    assert t0 + AFTER < trip.t < t0 + AFTER + 1.1  # writes dropped: the watchdog acts


def _hung(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    times = [t for t, _ in c.statuses]
    silent = [b - a for a, b in itertools.pairwise(times)]
    assert max(silent) >= FOR - 0.1  # no status while hung
    assert "watchdog" not in _causes(sim)  # its watchdog hung too: output stayed on
    assert not [s for s in sim.record if s.t > t0 + AFTER]  # no change at all: still on
    assert sim.record.last(0) == 2.0


def _malformed(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    assert len(c.garbage) == 1
    assert sim.record.last(0) == 2.0


def _reject(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    assert c.refusals == [AttCode.BUSY]
    assert sim.record.last(0) == 2.0


def _reboot(sim: OpenTensSimulator, c: BleakCentral, t0: float) -> None:
    assert c.lost.is_set()
    assert "reboot" in _causes(sim) and sim.record.last(0) == 0.0


CHECKS = {
    "steady": _steady,
    "peel-off": _peel_off,
    "link-drop": _link_drop,
    "low-battery": _low_battery,
    "stuck": _stuck,
    "hung": _hung,
    "malformed": _malformed,
    "reject": _reject,
    "reboot": _reboot,
}


async def test_run_scenario_waits_for_the_first_connection() -> None:
    async with radio_with_wearable() as (radio, sim):
        task = asyncio.get_running_loop().create_task(run_scenario("link-drop", sim, after_s=0.5))
        await asyncio.sleep(5)
        assert not task.done()  # nobody connected yet: the clock has not started
        async with bleak_session(radio, sim) as c:
            await asyncio.wait_for(c.lost.wait(), 2.0)
        await task
