"""Minimal reproductions of what the campaign finds, one per KNOWN_OPEN entry, beside the
plain tests its fixed entries became (ramp credit after a hold, stop, pause, store failure;
more in test_fixed.py).

Each is a short fixed script on the same rigs, judged by the same invariants as the campaign
(tests/campaign/trace.py). They are ``xfail(strict=True)``: when a fix lands the test passes,
the strict xfail turns that into a failure, and the entry (here and in
test_campaign.KNOWN_OPEN) must go. ``test_invariant_*`` beside them prove the invariant does
hold on the paths that work today, so a reproduction fails for its own reason only.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tens.events import Source
from tests.campaign.engine import Driver, run_script
from tests.campaign.rigs import Rig
from tests.campaign.trace import Violation

pytestmark = pytest.mark.timeout(120)

RNG = random.Random(0)


def names(violations: list[Violation]) -> set[str]:
    return {v.invariant for v in violations}


# ------------------------------------------------------------------ item 2: ramp credit
async def _hold_then_up(d: Driver, rig: Rig, start: float, up: float, hold: float) -> None:
    await d.start(Source.TUI, start, 1.0)
    await asyncio.sleep(start / rig.bounds.rate + hold)  # ramp, then hold at the target
    await d.set_intensity(Source.MQTT, up)
    await asyncio.sleep(2.0)
    await d.stop(Source.TUI)


def test_invariant_ramp_without_a_hold_holds() -> None:
    """The same change made while still ramping gets no credit: the invariant passes."""

    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 10.0, 1.0)
        await asyncio.sleep(1.0)  # still ramping (10 mA at 5 mA/s takes 2 s)
        await d.set_intensity(Source.MQTT, 12.0)
        await asyncio.sleep(3.0)
        await d.stop(Source.TUI)

    assert not run_script("opentens", script)


def test_no_ramp_credit_after_a_hold_opentens() -> None:
    """A 3 s hold at 10 mA does not let one SET_OUTPUT jump to 12 mA."""
    v = run_script("opentens", lambda d, rig: _hold_then_up(d, rig, 10.0, 12.0, 3.0))
    assert "ramp_asked" not in names(v), v


def test_no_ramp_credit_after_a_hold_coyote3() -> None:
    """A 3 s hold at 10 levels does not let one B0 jump to 13 (no device-side ramp)."""
    v = run_script("coyote3", lambda d, rig: _hold_then_up(d, rig, 10.0, 13.0, 3.0))
    assert not {"ramp_delivered", "ramp_asked"} & names(v), v


# ------------------------------------------------------------------ item 3: unconfirmed stop
@pytest.mark.parametrize("device", ["opentens", "coyote3"])
def test_invariant_stop_on_a_working_device_holds(device: str) -> None:
    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(4.0)
        await d.stop(Source.MQTT)

    assert not run_script(device, script)


def _stop_while(fault: str, device: str) -> list[Violation]:
    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(4.0)
        await rig.faults[fault](RNG, seconds=6.0)  # type: ignore[call-arg]
        await asyncio.sleep(0.1)
        await d.stop(Source.MQTT)
        await asyncio.sleep(7.0)

    return run_script(device, script)


def test_stop_unconfirmed_stuck_drops_the_link_opentens() -> None:
    assert "unconfirmed_stop_drops_link" not in names(_stop_while("stuck", "opentens"))


def test_stop_unacknowledged_drops_the_link_opentens() -> None:
    assert "unconfirmed_stop_drops_link" not in names(_stop_while("stuck_acks", "opentens"))


def test_stop_to_hung_firmware_drops_the_link_coyote3() -> None:
    v = _stop_while("hung", "coyote3")
    assert not {"zero_after_stop", "unconfirmed_stop_drops_link"} & names(v), v


def _hung_mid_session(device: str) -> list[Violation]:
    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(4.0)  # holding at the target
        await rig.faults["hung"](RNG, seconds=8.0)  # type: ignore[call-arg]
        await asyncio.sleep(9.0)

    return run_script(device, script)


def test_hung_firmware_mid_session_ends_output_opentens() -> None:
    assert "zero_after_stop" not in names(_hung_mid_session("opentens"))


def test_hung_firmware_during_a_hold_ends_output_coyote3() -> None:
    """Was KNOWN_OPEN: nothing asked a B1 while the strength held. The driver's liveness
    probe (a relative +0 with a sequence number) notices the hang."""
    v = _hung_mid_session("coyote3")
    assert not {"zero_after_stop", "unconfirmed_stop_drops_link"} & names(v), v


# ------------------------------------------------------------------ item 6: pause
def test_pause_holds_the_session_opentens() -> None:
    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 1.0)
        await asyncio.sleep(3.0)
        await d.pause(Source.TUI)
        await asyncio.sleep(3.0)
        await d.resume(Source.TUI)
        await asyncio.sleep(3.0)
        await d.stop(Source.TUI)

    assert "pause_holds" not in names(run_script("opentens", script))


# ------------------------------------------------------------------ item 9: store failure
@pytest.mark.parametrize("how", ["read-only"])
def test_store_failure_stops_the_session(how: str) -> None:
    async def script(d: Driver, rig: Rig) -> None:
        await d.start(Source.TUI, 8.0, 2.0)
        await asyncio.sleep(3.0)
        await rig.break_store(RNG, how, 30.0)
        await asyncio.sleep(20.0)
        await d.stop(Source.TUI)

    assert "zero_after_stop" not in names(run_script("opentens", script))


def test_start_with_a_read_only_store_is_refused() -> None:
    async def script(d: Driver, rig: Rig) -> None:
        await rig.break_store(RNG, "read-only", 30.0)
        await d.start(Source.MQTT, 8.0, 1.0)
        await asyncio.sleep(1.0)

    assert "crash" not in names(run_script("opentens", script))
