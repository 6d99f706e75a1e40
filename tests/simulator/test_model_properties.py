"""Random command sequences and faults never break the device-side safety rules.

Each hypothesis example runs on its own looptime event loop, so seconds of virtual time cost
nothing. The invariants are checked on every sample the moment it is recorded.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, field
from typing import Any

import looptime
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from simulators.opentens.codec import Keepalive, SetLimits, SetOutput, Start, Stop, encode_command
from simulators.opentens.config import SimConfig
from simulators.opentens.model import CommandRefused, LinkDown, OpenTensModel
from simulators.opentens.record import DeliveredSample

CFG = SimConfig(interval_ms=20.0, jitter_ms=4.0, loss=0.1)
TOL = 1e-6

u8 = st.integers(0, 255)
channel = st.integers(0, 2)  # 2 is a channel the device lacks
mask = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x04, 0xFF])
intensity = st.sampled_from([0, 5, 50, 100, 250, 400, 800, 801, 1500])
good_set = st.tuples(
    st.just("set"),
    st.integers(0, 1),
    st.sampled_from([5, 50, 100, 250, 400, 800]),
    st.just(200),
    st.just(1000),
    st.just(0),
)
odd_set = st.tuples(
    st.just("set"),
    channel,
    intensity,
    st.sampled_from([40, 50, 200, 400, 401]),
    st.sampled_from([5, 10, 1000, 1500, 1501]),
    st.integers(0, 3),
)
actions = st.one_of(
    st.tuples(st.just("start"), st.sampled_from([0x01, 0x02, 0x03, 0xFF])),
    st.tuples(st.just("start"), mask),
    good_set,
    good_set,
    odd_set,
    st.tuples(st.just("stop"), mask),
    st.tuples(st.just("keepalive")),
    st.tuples(st.just("keepalive")),
    st.tuples(
        st.just("limits"),
        st.sampled_from([0, 100, 400, 800, 900]),
        st.sampled_from([0, 5, 20, 50, 60]),
        st.sampled_from([0, 200, 1000, 1200]),
    ),
    st.tuples(st.just("sleep"), st.sampled_from([0.005, 0.05, 0.3, 0.9, 1.5, 4.0])),
    st.tuples(st.just("peel"), st.integers(0, 1)),
    st.tuples(st.just("reattach"), st.integers(0, 1)),
    st.tuples(st.just("battery"), st.sampled_from([3, 5, 6, 10, 50, 100])),
    st.tuples(st.just("disconnect")),
    st.tuples(st.just("connect")),
    st.tuples(st.just("raw"), st.binary(max_size=12)),
)


@dataclass
class Judge:
    """Keeps what the central knows (accepted writes, limits in force) and checks samples."""

    model: OpenTensModel
    limit_times: list[float] = field(default_factory=list)
    limits: list[tuple[int, int, int]] = field(default_factory=list)
    last_accepted: float = float("-inf")
    violations: list[str] = field(default_factory=list)
    seq: int = 0

    def __post_init__(self) -> None:
        self.factory()
        self.model.record.add_listener(self.check)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def factory(self) -> None:
        self.limit_times.append(self.now())
        self.limits.append((800, 50, 1000))

    def in_force(self, t0: float, t1: float) -> list[tuple[int, int, int]]:
        first = max(0, bisect.bisect_right(self.limit_times, t0) - 1)
        last = bisect.bisect_right(self.limit_times, t1)
        return self.limits[first:last]

    def check(self, s: DeliveredSample) -> None:
        if s.intensity_ma <= 0:
            return
        ch = self.model.channel(s.channel)
        if not (ch.armed and ch.contact and self.model.connected):
            self.violations.append(f"output on a disarmed/off/unlinked channel: {s}")
        if self.model.battery_percent <= 5:
            self.violations.append(f"output at the battery cut-off: {s}")
        max_units, _, watchdog_ms = self.in_force(s.t, s.t)[-1]
        if s.intensity_ma * 10 > max_units + TOL:
            self.violations.append(f"above the max intensity in force: {s}")
        if s.t - self.last_accepted > watchdog_ms / 1000 + TOL:
            self.violations.append(f"output past the watchdog: {s}")
        earlier = [p for p in self.model.record.for_channel(s.channel) if p.t <= s.t][:-1]
        if earlier and s.intensity_ma > earlier[-1].intensity_ma:
            prev = earlier[-1]
            ramp = max(r for _, r, _ in self.in_force(prev.t, s.t)) / 10
            dt = s.t - prev.t
            if dt <= 0 or (s.intensity_ma - prev.intensity_ma) / dt > ramp + 1e-3:
                self.violations.append(f"ramp faster than {ramp} mA/s: {prev} -> {s}")

    async def write(self, command: Any) -> None:
        try:
            await self.model.write(
                command if isinstance(command, bytes) else encode_command(command)
            )
        except (CommandRefused, LinkDown):
            return
        self.last_accepted = self.now()
        if isinstance(command, SetLimits):
            self.limit_times.append(self.now())
            self.limits.append((command.max_intensity, command.max_ramp, command.watchdog_ms))
        elif isinstance(command, bytes) and command[:1] == b"\x04" and len(command) == 8:
            self.limit_times.append(self.now())
            self.limits.append(
                (
                    int.from_bytes(command[2:4], "little"),
                    int.from_bytes(command[4:6], "little"),
                    int.from_bytes(command[6:8], "little"),
                )
            )

    def snapshot(self) -> None:
        """Right after any action: what the electrodes carry obeys the state at once."""
        for k in range(CFG.channels):
            ch = self.model.channel(k)
            if ch.delivered_ma <= 0:
                continue
            if not (ch.armed and ch.contact and self.model.connected):
                self.violations.append(f"channel {k} on while disarmed/off/unlinked: {ch}")
            if self.model.battery_percent <= 5:
                self.violations.append(f"channel {k} on at the battery cut-off")
            if ch.delivered_ma * 10 > self.model.limits.max_intensity + TOL:
                self.violations.append(f"channel {k} above the max intensity now in force")

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq


async def play(steps: list[tuple[Any, ...]]) -> list[str]:
    model = OpenTensModel(CFG)
    await model.start()
    judge = Judge(model)
    model.connect()
    try:
        for step in steps:
            kind, *a = step
            if kind == "start":
                await judge.write(Start(judge.next_seq(), a[0]))
            elif kind == "set":
                await judge.write(SetOutput(judge.next_seq(), *a))
            elif kind == "stop":
                await judge.write(Stop(judge.next_seq(), a[0]))
            elif kind == "keepalive":
                await judge.write(Keepalive(judge.next_seq()))
            elif kind == "limits":
                await judge.write(SetLimits(judge.next_seq(), *a))
            elif kind == "sleep":
                await asyncio.sleep(a[0])
            elif kind == "peel":
                model.peel_off(a[0])
            elif kind == "reattach":
                model.reattach(a[0])
            elif kind == "battery":
                model.set_battery(a[0])
            elif kind == "disconnect":
                model.disconnect()
                judge.factory()
            elif kind == "connect" and not model.connected:
                model.connect()
            elif kind == "raw":
                await judge.write(bytes(a[0]))
            judge.snapshot()
        await asyncio.sleep(2.0)
        for k in range(CFG.channels):  # quiet at the end: the watchdog had its say
            if model.channel(k).delivered_ma > 0:
                judge.violations.append(f"channel {k} still on with nobody writing")
    finally:
        await model.close()
    return judge.violations


RAMP = ("set", 0, 250, 200, 1000, 0)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, max_size=30))
@example([("start", 0xFF), RAMP, ("sleep", 0.9), ("keepalive",), ("sleep", 1.5)])
@example([("start", 0x01), RAMP, ("sleep", 0.3), ("peel", 0), ("reattach", 0), RAMP])
@example([("start", 0x01), RAMP, ("sleep", 0.5), ("disconnect",), ("connect",), RAMP])
@example([("start", 0x01), RAMP, ("sleep", 0.5), ("battery", 5), ("sleep", 0.5)])
@example([("start", 0x01), RAMP, ("sleep", 0.9), ("limits", 10, 50, 1000), ("sleep", 0.5)])
@example([("limits", 400, 20, 300), ("start", 0xFF), ("set", 1, 400, 200, 1000, 0), ("sleep", 4.0)])
def test_random_sessions_keep_every_device_rule(steps: list[tuple[Any, ...]]) -> None:
    loop = looptime.new_event_loop(start=0.0)
    try:
        violations = loop.run_until_complete(play(steps))
    finally:
        loop.close()
    assert violations == []
