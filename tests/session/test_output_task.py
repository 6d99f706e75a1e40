"""The output task's timing, on what the device is asked (every command decoded by the
simulator's own codec) and on the delivered-output record: a write every tick while ramping,
each one step of the rate; none while holding, only keepalives at 0.3 x the device's
watchdog; a linear ramp-down that ends on time; the program's pulses on every write; every
planned channel. These kill the tick-grid, keepalive, ramp-down and state-transition mutants
of tens/session.py (tests/mutation/run.sh) that the end-to-end tests let through.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from tens.config import SessionDefaults, TensConfig
from tens.events import SessionState, Source, StateChanged
from tens.safety import StartRequest
from tens.session import TICK_S

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]

RATE = 2.0  # default limits
KEEPALIVE_S = 0.25  # the OpenTENS driver's keepalive for a 1 s watchdog (below 0.3 x it)
LINK_S = 0.035  # a write lands at the next 30 ms connection event


@dataclass(frozen=True)
class Asked:
    t: float
    kind: str  # "set", "keepalive", "stop", "start", "limits"
    channel: int | None = None
    ma: float | None = None
    pulse_width_us: int | None = None
    frequency_hz: float | None = None
    waveform: int | None = None


def tap(rig: Any) -> list[Asked]:
    from simulators.opentens.codec import (
        Keepalive,
        MalformedMessage,
        SetLimits,
        SetOutput,
        Start,
        Stop,
        decode_command,
    )

    asked: list[Asked] = []
    model = rig.sim.model
    write = model.write
    loop = asyncio.get_running_loop()

    async def tapped(data: bytes) -> None:
        t = loop.time()
        try:
            cmd = decode_command(data)
        except MalformedMessage:
            cmd = None
        if isinstance(cmd, SetOutput):
            asked.append(
                Asked(
                    t,
                    "set",
                    cmd.channel,
                    cmd.intensity / 10,
                    cmd.pulse_width_us,
                    cmd.frequency / 10,
                    cmd.waveform,
                )
            )
        elif isinstance(cmd, Keepalive):
            asked.append(Asked(t, "keepalive"))
        elif isinstance(cmd, Stop):
            asked.append(Asked(t, "stop"))
        elif isinstance(cmd, Start):
            asked.append(Asked(t, "start"))
        elif isinstance(cmd, SetLimits):
            asked.append(Asked(t, "limits"))
        await write(data)

    model.write = tapped
    return asked


def states(rig: Any) -> list[SessionState]:
    out: list[SessionState] = []
    for e in rig.events:
        if isinstance(e, StateChanged) and (not out or out[-1] is not e.snapshot.session):
            out.append(e.snapshot.session)
    return out


async def test_one_minute_session_on_the_tick_grid(rig_factory) -> None:
    """4 mA for 1 min with a 4.9 s ramp-down: 20 writes of +0.2 mA, one per 0.1 s tick; then no
    write but keepalives every 0.25 s until 55.1 s; then a linear ramp-down to 0 at 60 s, in
    0.1 mA device steps on the tick grid.

    The ramp-down starts on time, not at the next keepalive (55.25 s): kills the hold's wait
    `remaining - ramp_down` -> `remaining + ramp_down`."""
    rig = await rig_factory(TensConfig(session=SessionDefaults(ramp_down_s=4.9)))
    asked = tap(rig)
    await rig.ctrl.connect()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    d = await rig.ctrl.start(StartRequest(intensity=4, minutes=1), Source.CLI)
    assert d.outcome == "allowed"
    snap = await rig.ctrl.wait_ended()
    assert snap.session is SessionState.FINISHED

    sets = [a for a in asked if a.kind == "set" and a.channel == 0]
    # arm, then 0, then the ramp
    first_start = next(i for i, a in enumerate(asked) if a.kind == "start")
    assert asked[first_start + 1].kind == "set" and asked[first_start + 1].ma == 0
    ramp = list(itertools.takewhile(lambda a: a.t < t0 + 50, sets))
    # 0 at once, then +0.2 mA a tick: the first rise (right after the zero's own round trip)
    # is one tick's worth above the held 0, no more (a hold earns no ramp credit)
    assert ramp[0].ma == 0
    assert [round(a.ma, 3) for a in ramp[1:]] == [round(0.2 * i, 3) for i in range(1, 21)]
    assert ramp[1].ma <= RATE * TICK_S + 1e-9
    for a, b in itertools.pairwise(ramp[2:]):
        assert TICK_S - LINK_S <= b.t - a.t <= TICK_S + LINK_S, (a, b)
    reached = ramp[-1].t
    assert 2.0 - LINK_S <= reached - t0 <= 2.0 + 2 * LINK_S + TICK_S

    # the hold: no setpoint write, keepalives every 0.25 s
    hold = [a for a in asked if reached < a.t < t0 + 55.1 - LINK_S]
    assert all(a.kind == "keepalive" for a in hold), [a for a in hold if a.kind != "keepalive"]
    for a, b in itertools.pairwise(hold):
        assert KEEPALIVE_S - LINK_S <= b.t - a.t <= KEEPALIVE_S + LINK_S, (a, b)
    assert len(hold) >= (55 - 2.5) / KEEPALIVE_S - 2

    # the ramp-down: from 4 mA at 55.1 s, linear to 0 at 60 s, one write a tick
    down = [a for a in sets if a.t >= t0 + 55.1 - LINK_S]
    assert down, sets[-5:]
    assert down[0].t - t0 <= 55.1 + LINK_S + 0.01, down[0]
    for a in down:
        expected = 4.0 * max(0.0, t0 + 60 - a.t) / 4.9
        assert a.ma == pytest.approx(expected, abs=0.2), (a, expected)
    # on the tick grid, one 0.1 mA device step at a time: the linear fall (0.82 mA/s) is less
    # than a step per tick, so a tick whose value rounds down to the same step writes nothing,
    # and never more than one tick in a row does
    for a, b in itertools.pairwise(down):
        assert round(a.ma - b.ma, 3) == 0.1, (a, b)
        assert TICK_S - LINK_S <= b.t - a.t <= 2 * TICK_S + LINK_S, (a, b)
    assert len(down) >= 40
    stop = next(a for a in asked if a.kind == "stop" and a.t > t0 + 50)
    assert 60 - LINK_S <= stop.t - t0 <= 60 + 2 * LINK_S

    # and the states the faces saw, in order
    assert states(rig)[-4:] == [
        SessionState.RAMPING,
        SessionState.RUNNING,
        SessionState.RAMPING_DOWN,
        SessionState.FINISHED,
    ]


async def test_a_raised_target_ramps_again_then_holds(rig_factory) -> None:
    """A raised target wakes the holding task at once and is reached, then held; a lower
    target is written at once (kills the `_changed` wake-up and hold-wait mutants)."""
    rig = await rig_factory()
    asked = tap(rig)
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=2, minutes=5), Source.CLI)
    await asyncio.sleep(3)
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    loop = asyncio.get_running_loop()
    t = loop.time()
    d = await rig.ctrl.set_intensity(3, Source.TUI)
    assert d.outcome == "allowed"
    await asyncio.sleep(1.2)
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    up = [a for a in asked if a.kind == "set" and a.channel == 0 and a.t >= t]
    assert up and up[-1].ma == 3.0
    assert all(b.ma >= a.ma for a, b in itertools.pairwise(up))
    assert up[0].t - t <= TICK_S + LINK_S  # the raised target wakes the task from its hold
    t2 = loop.time()
    await rig.ctrl.set_intensity(1, Source.TUI)
    await asyncio.sleep(0.1)
    down = [a for a in asked if a.kind == "set" and a.channel == 0 and a.t >= t2]
    assert down and down[0].ma == 1.0 and down[0].t - t2 <= LINK_S
    assert rig.ctrl.snapshot().session is SessionState.RUNNING
    await rig.ctrl.stop(Source.CLI)


async def test_every_write_carries_the_programs_pulses_on_every_channel(rig_factory) -> None:
    """Session.output: pulse width, frequency and waveform from the program, on each planned
    channel, the same value on each (kills the ChannelOutput field and channel-loop mutants)."""
    from simulators.opentens.profile import WaveformCode

    rig = await rig_factory()
    asked = tap(rig)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(
        StartRequest(program="burst", intensity=1, minutes=1, channels=(0, 1)), Source.CLI
    )
    assert d.outcome == "allowed"
    await asyncio.sleep(1)
    sets = [a for a in asked if a.kind == "set"]
    assert {a.channel for a in sets} == {0, 1}
    assert all(
        (a.pulse_width_us, a.frequency_hz, a.waveform) == (200, 100.0, int(WaveformCode.BURST))
        for a in sets
    )
    by_ch = {c: [a.ma for a in sets if a.channel == c] for c in (0, 1)}
    assert by_ch[0] == by_ch[1] and max(by_ch[0]) == pytest.approx(1.0)
    assert rig.record.max(1) == pytest.approx(1.0, abs=0.11)
    await rig.ctrl.stop(Source.CLI)


async def test_elapsed_and_remaining_follow_the_loop_clock(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.ctrl.start(StartRequest(intensity=2, minutes=2), Source.CLI)
    await asyncio.sleep(30.05)
    snap = rig.ctrl.snapshot()
    assert snap.elapsed_s == pytest.approx(30, abs=0.35)
    assert snap.remaining_s == pytest.approx(90, abs=0.35)
    await rig.ctrl.stop(Source.CLI)
