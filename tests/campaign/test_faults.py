"""The two faults the campaign added to the simulators behave as documented (docs/simulator.md,
docs/coyote.md), so a campaign finding is the controller's, not the fault's."""

from __future__ import annotations

import asyncio

import pytest

from simulators.coyote import wire3
from simulators.coyote.model3 import FRAME_S, Coyote3Model
from tests.simulator.kit import connected_model

pytestmark = pytest.mark.looptime


async def test_muted_acks_obey_every_write_but_acknowledge_none() -> None:
    async with connected_model() as c:
        await c.set_limits(20.0, 5.0, 1000)
        await c.start(0b01)
        async with c.feeding_watchdog(0.3):
            await c.next_status()
            c.model.mute_acks(True)
            before = len(c.statuses)
            await c.set_output(0, 5.0)
            await asyncio.sleep(2.0)
            assert c.model.channel(0).delivered_ma == pytest.approx(5.0)  # obeyed, ramped
            assert len(c.statuses) == before  # and not one status (no ack)
            await c.stop()
            await asyncio.sleep(0.1)
            assert c.model.channel(0).delivered_ma == 0  # the STOP was applied too
            assert len(c.statuses) == before
            c.model.mute_acks(False)
            status = await c.next_status()
        assert status.acked_seq == c.model.acked_seq != 0


async def test_a_reboot_clears_muted_acks() -> None:
    async with connected_model() as c:
        c.model.mute_acks(True)
        c.model.reset_to_factory()
        assert not c.model.acks_muted


def _b0(seq: int, strength: int, wave: bool = True) -> bytes:
    freqs = [10, 10, 10, 10] if wave else [0, 0, 0, 0]
    ints = [50, 50, 50, 50] if wave else [101, 101, 101, 101]
    mode = wire3.SET << 2 | wire3.SET
    return bytes([0xB0, seq << 4 | mode, strength, 0, *freqs, *ints, 10, 10, 10, 10, 0, 0, 0, 0])


async def test_hung_coyote3_latches_output_until_the_link_drops() -> None:
    replies: list[bytes] = []
    m = Coyote3Model()
    m.notify_b1 = replies.append
    m.write(_b0(1, 12))
    assert m.delivered(0) == 12 and replies
    m.hang(True)
    replies.clear()
    m.write(_b0(2, 0, wave=False))  # a stop: received, not applied, not answered
    await asyncio.sleep(3.0)  # no frames for 3 s: a working device would have stopped
    assert m.delivered(0) == 12 and not replies
    assert m.received[-1].frame is None and m.asked_while_hung[-1].frame is not None
    m.link_lost()  # the one thing that still works: the output stage is cut
    assert m.delivered(0) == 0
    assert m.record.samples[-1].cause == "disconnect"


async def test_a_coyote3_that_recovers_stops_without_frames() -> None:
    m = Coyote3Model()
    m.write(_b0(1, 9))
    m.hang(True)
    await asyncio.sleep(1.0)
    assert m.delivered(0) == 9
    m.hang(False)  # the engine runs again: the frame playing plays its 100 ms from now
    assert m.delivered(0) == 9
    await asyncio.sleep(FRAME_S * 0.9)
    assert m.delivered(0) == 9
    await asyncio.sleep(FRAME_S * 0.2)  # no frame came: the output ends
    assert m.delivered(0) == 0


async def test_a_coyote3_that_recovers_plays_the_next_frame_without_a_gap() -> None:
    """Campaign seed 8002: recovering ended the frozen frame at once, so the record showed
    0 and then a jump back to the strength with the next frame (a ramp violation no device
    makes). The next frame now follows the frozen one."""
    m = Coyote3Model()
    m.write(_b0(1, 9))
    m.hang(True)
    await asyncio.sleep(1.0)
    m.hang(False)
    await asyncio.sleep(FRAME_S * 0.5)
    m.write(_b0(0, 9))  # the central's next frame, mid-way
    await asyncio.sleep(FRAME_S * 1.2)
    assert [s.intensity_ma for s in m.record if s.channel == 0] == [9.0]


# ------------------------------------------------ overlapping silence faults in the rigs
def _rig_state_after(device: str, faults: list[tuple[str, float]], at: float) -> dict[str, bool]:
    """Inject ``faults`` (kind, seconds) at once on a fresh rig; the firmware's state ``at``
    seconds later."""
    from tests.campaign.engine import Driver, run_script
    from tests.campaign.rigs import Rig

    seen: dict[str, bool] = {}

    async def script(d: Driver, rig: Rig) -> None:
        import random

        for kind, seconds in faults:
            await getattr(rig, f"f_{kind}")(random.Random(0), seconds)
        await asyncio.sleep(at)
        m = rig.sim.model
        if device == "opentens":
            seen.update(
                stuck=m.stuck, hung=bool(getattr(m, "_watchdog_hung", False)), muted=m.acks_muted
            )
        else:
            seen.update(hung=m.hung, muted=bool(m.silent))
        await rig.heal()
        m = rig.sim.model
        if device == "opentens":
            seen.update(healed=not (m.stuck or m.acks_muted or m._watchdog_hung))
        else:
            seen.update(healed=not (m.hung or m.silent))

    run_script(device, script)
    return seen


def test_a_short_stuck_does_not_end_a_longer_hang_opentens() -> None:
    """Seed 7007 of the full campaign: hung for 8 s and stuck for 1 s from the same moment;
    the stuck fault's end un-stuck the firmware 7 s early, so a stop was confirmed while the
    trace said the firmware was hung (a false violation). Faults overlap as the trace says."""
    seen = _rig_state_after("opentens", [("hung", 8.0), ("stuck", 1.0)], 2.0)
    assert seen["stuck"] and seen["hung"], seen
    assert seen["healed"], seen


def test_a_short_hang_does_not_end_a_longer_one_coyote3() -> None:
    seen = _rig_state_after("coyote3", [("hung", 8.0), ("hung", 1.0)], 2.0)
    assert seen["hung"], seen
    assert seen["healed"], seen


def test_a_short_mute_does_not_end_a_longer_one_opentens() -> None:
    seen = _rig_state_after("opentens", [("stuck_acks", 8.0), ("stuck_acks", 1.0)], 2.0)
    assert seen["muted"], seen
    assert seen["healed"], seen
