"""Campaign findings that are fixed: each once a KNOWN_OPEN reproduction, now a plain test on
the same rigs, judged by the same invariants (tests/campaign/trace.py)."""

from __future__ import annotations

import asyncio

import pytest

from tens.events import Source
from tests.campaign.engine import Driver, run_script
from tests.campaign.rigs import Rig
from tests.campaign.trace import Violation

pytestmark = pytest.mark.timeout(120)


def names(violations: list[Violation]) -> set[str]:
    return {v.invariant for v in violations}


# ------------------------------------------------------------ a stop racing a link loss
@pytest.mark.parametrize("device", ["opentens", "coyote3"])
@pytest.mark.parametrize("gap", [0.0, 0.001, 0.003, 0.006, 0.01, 0.02])
def test_a_stop_racing_a_link_loss_returns_in_bound(device: str, gap: float) -> None:
    """The link drops while the STOP is in flight: the write fails at once (the device zeroes
    on disconnect), the stop returns within its bound and says the link went down."""
    stops: list[float] = []

    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(4.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stop = asyncio.ensure_future(d.stop(Source.MQTT))
        await asyncio.sleep(gap)
        await rig.faults["link_drop"](d.rng)
        await stop
        stops.append(loop.time() - t0)
        await asyncio.sleep(3.0)

    v = run_script(device, script)
    assert not {"stop_returns_in_bound", "crash", "unretrieved_exception"} & names(v), v
    assert stops and stops[0] < 0.5, stops


# ------------------------------------------- a fault bit latched from the previous session
@pytest.mark.parametrize("gap", [0.0, 0.001])
def test_a_pause_straight_after_a_start_holds_despite_a_latched_fault_bit(gap: float) -> None:
    """Peel-off ends a session; the electrode goes back on, but the device keeps its
    electrode-off bit until the next START. A start paused at once (before its START) must
    not be aborted by that bit (campaign seed 7000, t=341.8)."""

    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(3.0)
        rig.sim.peel_off(0)
        await asyncio.sleep(1.0)  # the session aborted on the electrode-off bit
        rig.sim.reattach(0)
        await asyncio.sleep(0.5)
        await d.start(Source.TUI, 8.0, 1.0)
        if gap:
            await asyncio.sleep(gap)
        await d.pause(Source.MQTT)
        await asyncio.sleep(3.0)
        await d.resume(Source.MQTT)
        await asyncio.sleep(3.0)
        await d.stop(Source.TUI)

    v = run_script("opentens", script)
    assert "pause_holds" not in names(v), v


@pytest.mark.parametrize("device", ["opentens", "coyote3"])
def test_a_stop_after_a_link_loss_returns_at_once_and_says_the_link_was_down(
    device: str,
) -> None:
    from tens.controller import LINK_DOWN_TEXT

    calls = []

    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(4.0)
        await rig.faults["link_drop"](d.rng)
        await asyncio.sleep(0.01)
        calls.append(await d.stop(Source.MQTT))

    v = run_script(device, script)
    assert not {"stop_returns_in_bound", "crash"} & names(v), v
    (c,) = calls
    assert c.outcome == "allowed" and c.t1 - c.t0 < 0.05, c
    assert LINK_DOWN_TEXT in c.reason, c
