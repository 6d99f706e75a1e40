"""The fault campaign: random sessions, random faults at random moments, on a virtual clock.

One *run* is one rig (controller + store + simulated wearable on the virtual radio) on its
own looptime event loop, driven through a number of *episodes*. An episode connects if it
must, starts a session (sometimes from two sources at once, sometimes raced by a stop), then
plays a random script of a person's day — intensity changes, bursts of "up" from the TUI and
MQTT together, holds of any length, pause and resume, stops racing starts and intensity
changes — while faults land at random moments in the background. After the run the trace is
judged by :func:`tests.campaign.trace.check`.

Everything is drawn from one ``random.Random(seed)``: a run is reproduced by its seed (the
simulator's link timing is seeded from it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import shutil
import tempfile
import threading
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import looptime

from tens.device import DeviceError
from tens.events import Decision, Source
from tens.safety import StartRequest

from .rigs import RIGS, Rig
from .trace import Call, Violation, check

NOOP_CYCLES = int(os.environ.get("LOOPTIME_NOOP_CYCLES", "5"))

COMMAND_FAULTS = ("two_sources", "stop_race", "hold", "pause")
"""Faults the person (or two faces at once) makes, beside the device and store faults."""

KNOWN_OPEN: dict[str, str] = {}
"""Fault kinds whose violations are known and being fixed elsewhere (kind -> issue item).
The short campaign in the default suite leaves these out; the full run injects them all
and reports what they break. Filled from the test module (tests/campaign/test_campaign.py)."""


@dataclass
class RunResult:
    device: str
    seed: int
    episodes: int
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    steps: list[tuple[float, str]] = field(default_factory=list)
    fault_times: list[tuple[float, str]] = field(default_factory=list)
    """(time, kind) of every fault, device and command ones."""
    virtual_s: float = 0.0

    def describe(self, limit: int = 40) -> str:
        lines = [
            f"{self.device} seed={self.seed} episodes={self.episodes} "
            f"faults={sum(self.faults.values())} virtual={self.virtual_s:.0f}s"
        ]
        for v in self.violations[:10]:
            lines.append(f"  VIOLATION {v}")
            near = [s for s in self.steps if v.t - 15 <= s[0] <= v.t + 0.5]
            for t, what in near[-limit:]:
                lines.append(f"      {t:10.3f}  {what}")
        return "\n".join(lines)


SOURCES = [Source.CLI, Source.TUI, Source.MQTT, Source.SCHEDULER]
FACES = [Source.TUI, Source.MQTT]
HOLDS = [0.0, 0.05, 0.3, 1.0, 3.0, 3.0, 8.0, 15.0, 30.0, 60.0]


class Driver:
    """Drives one rig through episodes; every controller call is recorded in the trace."""

    def __init__(self, rig: Rig, rng: random.Random, kinds: Iterable[str]) -> None:
        self.rig = rig
        self.rng = rng
        self.kinds = list(kinds)
        self.device_kinds = [k for k in self.kinds if k in rig.faults]
        self.command_kinds = [k for k in self.kinds if k in COMMAND_FAULTS]
        self.trace = rig.trace

    @property
    def ctrl(self) -> Any:
        return self.rig.ctrl

    def now(self) -> float:
        return self.rig.now()

    def step(self, what: str) -> None:
        self.trace.step(self.now(), what)

    def count(self, kind: str) -> None:
        """A command fault (two faces at once, a stop race, a hold, a pause)."""
        self.trace.faults[kind] += 1
        self.trace.command_times.append((self.now(), kind))

    # --- calls -------------------------------------------------------------------------
    async def call(
        self,
        action: str,
        source: Source,
        make: Callable[[], Awaitable[Decision]],
        arg: object = None,
        minutes: float | None = None,
    ) -> Call:
        c = Call(
            self.now(),
            action,
            source.value,
            arg,
            minutes=minutes,
            ended_before=len(self.trace.ended),
        )
        self.trace.calls.append(c)
        if action in ("stop", "pause"):
            why = f"{action} from {source.value}"
            self.rig.blackout(why, self.rig.bounds.stop_bound, 0.05, from_stop_asked=True)
        try:
            d = await make()
        except Exception as exc:
            c.outcome = "raised"
            c.reason = repr(exc)
            self.trace.crashes.append(
                (c.t0, f"{action} from {source.value} raised {exc!r}\n{traceback.format_exc()}")
            )
        else:
            c.outcome = d.outcome
            c.reason = d.reason
            c.code = getattr(d, "code", None)
        c.t1 = self.now()
        self.step(
            f"{action}({arg if arg is not None else ''}) from {source.value} -> "
            f"{c.outcome}: {c.reason[:90]}"
        )
        return c

    def start(self, source: Source, intensity: float | None, minutes: float | None) -> Any:
        req = StartRequest(intensity=intensity, minutes=minutes)
        return self.call(
            "start", source, lambda: self.ctrl.start(req, source), intensity, minutes=minutes
        )

    def stop(self, source: Source) -> Any:
        return self.call("stop", source, lambda: self.ctrl.stop(source))

    def pause(self, source: Source) -> Any:
        return self.call("pause", source, lambda: self.ctrl.pause(source))

    def resume(self, source: Source) -> Any:
        return self.call("resume", source, lambda: self.ctrl.resume(source))

    def set_intensity(self, source: Source, value: float) -> Any:
        return self.call("intensity", source, lambda: self.ctrl.set_intensity(value, source), value)

    def step_up(self, source: Source, steps: int) -> Any:
        return self.call("step", source, lambda: self.ctrl.step_intensity(steps, source), steps)

    async def connect(self) -> bool:
        dev = self.ctrl.device
        if dev is not None and dev.connected and self.ctrl.snapshot().link.value == "connected":
            return True
        for _ in range(3):
            t0 = self.now()
            try:
                await self.ctrl.connect()
            except DeviceError as exc:
                self.step(f"connect failed: {exc}")
                await asyncio.sleep(1.0)
                continue
            except Exception as exc:
                self.trace.crashes.append((t0, f"connect raised {exc!r}"))
                await asyncio.sleep(1.0)
                continue
            self.step("connected")
            return True
        return False

    # --- random values -------------------------------------------------------------------
    def intensity(self) -> float | None:
        peak = self.rig.bounds.peak
        r = self.rng.random()
        if r < 0.05:
            return None  # no intensity given: the default (a mutant ramping to peak dies)
        if r < 0.15:
            return self.rng.choice([peak, peak + 0.1, peak * 1.5, 0.0])
        value = self.rng.uniform(0.1 * peak, peak)
        return round(value, 1) if self.rig.kind == "opentens" else float(round(value))

    def minutes(self) -> float | None:
        return self.rng.choice([None, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 3.5])

    def hold(self) -> float:
        return self.rng.choice(HOLDS) * self.rng.uniform(0.5, 1.0)

    # --- the episode ---------------------------------------------------------------------
    async def episode(self) -> None:
        if not await self.connect():
            return
        src = self.rng.choice(SOURCES)
        start_kind = self.rng.random()
        if "stop_race" in self.command_kinds and start_kind < 0.15:
            await self.stop_racing_start()
        elif "two_sources" in self.command_kinds and start_kind < 0.25:
            self.count("two_sources")
            a, b = self.rng.sample(FACES, 2)
            await asyncio.gather(
                self.start(a, self.intensity(), self.minutes()),
                self.start(b, self.intensity(), self.minutes()),
            )
        else:
            await self.start(src, self.intensity(), self.minutes())
        # faults at random moments, in the background, while the script plays
        fault_tasks = []
        for _ in range(self.rng.choice([0, 1, 2, 2, 3, 4])):
            if not self.device_kinds:
                break
            kind = self.rng.choice(self.device_kinds)
            delay = self.rng.choice([0.0, 0.05, 0.2, 0.7, 1.5, 3.0, 6.0, 12.0])
            fault_tasks.append(asyncio.ensure_future(self.inject_later(kind, delay)))
        for _ in range(self.rng.randint(1, 6)):
            await self.action()
        if fault_tasks:
            await asyncio.gather(*fault_tasks)
        if self.rng.random() < 0.8:
            await self.stop(self.rng.choice(SOURCES))
        await asyncio.sleep(self.rng.choice([0.5, 1.5, 3.0]))
        await self.rig.heal()
        await asyncio.sleep(0.5)

    async def inject_later(self, kind: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.trace.faults[kind] += 1
        self.trace.fault_times.append((self.now(), kind))
        try:
            await self.rig.faults[kind](self.rng)
        except Exception as exc:  # the fault API itself failed: a campaign bug, say so
            self.trace.crashes.append((self.now(), f"injecting {kind} raised {exc!r}"))

    async def action(self) -> None:
        choices = ["intensity", "intensity", "step", "wait"]
        choices += [k for k in self.command_kinds]
        what = self.rng.choice(choices)
        peak = self.rig.bounds.peak
        if what == "intensity":
            await self.set_intensity(self.rng.choice(SOURCES), self.intensity() or 0.5 * peak)
        elif what == "step":
            await self.step_up(self.rng.choice(SOURCES), self.rng.choice([-2, -1, 1, 1, 2]))
        elif what == "wait":
            await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        elif what == "hold":
            self.count("hold")
            seconds = self.hold()
            self.step(f"hold {seconds:.2f} s")
            await asyncio.sleep(seconds)
            # after a hold the person turns it up: no ramp credit from the hold
            await self.set_intensity(self.rng.choice(SOURCES), self.rng.uniform(0.5, 1) * peak)
        elif what == "two_sources":
            self.count("two_sources")
            await self.two_sources()
        elif what == "stop_race":
            self.count("stop_race")
            await self.stop_racing_change()
        elif what == "pause":
            self.count("pause")
            src = self.rng.choice(SOURCES)
            await self.pause(src)
            seconds = self.hold()
            self.step(f"paused for {seconds:.2f} s")
            await asyncio.sleep(seconds)
            if self.rng.random() < 0.85:
                await self.resume(self.rng.choice(SOURCES))

    async def two_sources(self) -> None:
        """Both faces press at once: a burst of ups, or two intensities, or up against stop."""
        n = self.rng.randint(2, 6)
        calls = []
        for k in range(n):
            face = FACES[k % 2]
            if self.rng.random() < 0.7:
                calls.append(self.step_up(face, 1))
            else:
                calls.append(self.set_intensity(face, self.intensity() or 1.0))
        await asyncio.gather(*calls)

    async def stop_racing_start(self) -> None:
        """A start and a stop from two faces at (nearly) the same moment: the stop wins
        over the start that was sent before it."""
        self.count("stop_race")
        a, b = self.rng.sample(FACES, 2)
        gap = self.rng.choice([0.0, 0.0, 0.001, 0.01, 0.05])
        start = asyncio.ensure_future(self.start(a, self.intensity(), self.minutes()))
        if gap:
            await asyncio.sleep(gap)
        else:
            await asyncio.sleep(0)
        await self.stop(b)
        await start

    async def stop_racing_change(self) -> None:
        a, b = self.rng.sample(FACES, 2)
        ups = [
            asyncio.ensure_future(
                self.step_up(a, 1)
                if self.rng.random() < 0.5
                else self.set_intensity(a, self.intensity() or 1.0)
            )
            for _ in range(self.rng.randint(1, 3))
        ]
        await asyncio.sleep(self.rng.choice([0.0, 0.001, 0.02]))
        await self.stop(b)
        await asyncio.gather(*ups)
        if self.rng.random() < 0.3:  # and a start right after the stop (a new command)
            await self.start(a, self.intensity(), self.minutes())


async def _run(device: str, seed: int, episodes: int, kinds: Iterable[str], tmp: Path) -> RunResult:
    rng = random.Random(seed)
    rig = await RIGS[device].open(tmp, seed)  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    trace = rig.trace
    t_start = rig.now()

    def on_exception(_loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        msg = context.get("message", "")
        trace.crashes.append((loop.time(), f"unhandled in the loop: {msg} {exc!r}"))

    loop.set_exception_handler(on_exception)
    from .trace import Blackout

    trace.blackouts.append(Blackout(t_start, "power-on", 0.0, 0.0))  # nothing before a start
    driver = Driver(rig, rng, kinds)
    wall0 = rig.ctrl.clock.wall().astimezone().date()
    try:
        for k in range(episodes):
            driver.step(f"--- episode {k}")
            await driver.episode()
        with contextlib.suppress(Exception):  # a stop like any other, on the trace
            await driver.call(
                "stop", Source.SYSTEM, lambda: rig.ctrl.stop(Source.SYSTEM, "end of run")
            )
        await asyncio.sleep(1.5)
    finally:
        trace.end_t = rig.now()
        trace.day_changed = rig.ctrl.clock.wall().astimezone().date() != wall0
        rig.collect()
        await rig.close()
    result = RunResult(device, seed, episodes, Counter(trace.faults))
    result.violations = check(trace, rig.bounds)
    result.steps = trace.steps
    result.fault_times = sorted(trace.fault_times + trace.command_times)
    result.virtual_s = trace.end_t - t_start
    return result


def run_script(
    device: str, script: Callable[[Driver, Rig], Awaitable[None]], seed: int = 1
) -> list[Violation]:
    """A fixed script (a minimal reproduction) on a fresh rig, judged like a campaign run."""

    async def main(tmp: Path) -> list[Violation]:
        from .trace import Blackout

        rig = await RIGS[device].open(tmp, seed)  # type: ignore[attr-defined]
        rig.trace.blackouts.append(Blackout(rig.now(), "power-on", 0.0, 0.0))
        driver = Driver(rig, random.Random(seed), all_kinds(device))
        try:
            assert await driver.connect(), "the rig did not connect"
            await script(driver, rig)
            await asyncio.sleep(1.5)
        finally:
            rig.trace.end_t = rig.now()
            rig.collect()
            await rig.close()
        return check(rig.trace, rig.bounds)

    return _on_fresh_loop(main)


WALL_LIMIT_S = float(os.environ.get("CAMPAIGN_WALL_LIMIT_S", "240"))
"""A run that takes longer than this on the wall clock is spinning without letting virtual
time move (a livelock): it is cancelled and reported, never left to hang the suite."""


class Livelock(Exception):
    pass


def _on_fresh_loop(main: Callable[[Path], Awaitable[Any]]) -> Any:
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = Path(tempfile.mkdtemp(prefix="tens-campaign-", dir=shm))
    loop = looptime.new_event_loop(start=0, noop_cycles=NOOP_CYCLES)
    task = loop.create_task(main(tmp))  # type: ignore[arg-type]
    fired: list[float] = []

    def fire() -> None:
        fired.append(loop.time())
        spinning = [
            t
            for t in asyncio.all_tasks(loop)
            if getattr(t.get_coro(), "__qualname__", "") == "OutputTask.run"
        ]
        for t in spinning or [task]:
            t.cancel()  # a spinning task still yields to the loop: this ends it

    timer = threading.Timer(WALL_LIMIT_S, lambda: loop.call_soon_threadsafe(fire))
    timer.daemon = True
    timer.start()
    try:
        result = loop.run_until_complete(task)
        if fired and isinstance(result, RunResult):
            result.violations.append(
                Violation(
                    "livelock",
                    fired[0],
                    f"the run spun for {WALL_LIMIT_S:g} s of wall time with virtual time stuck "
                    f"at {fired[0]:.3f} (a task waiting 0 s over and over); its tasks were "
                    "cancelled",
                )
            )
        return result
    finally:
        timer.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
        shutil.rmtree(tmp, ignore_errors=True)


def run_campaign(
    device: str, seed: int, episodes: int, kinds: Iterable[str] | None = None
) -> RunResult:
    """One run on its own looptime loop (virtual time), in a temporary folder."""
    rig_cls = RIGS[device]
    all_kinds = [*COMMAND_FAULTS, *_fault_names(rig_cls)]
    chosen = list(all_kinds if kinds is None else kinds)
    result: RunResult = _on_fresh_loop(lambda tmp: _run(device, seed, episodes, chosen, tmp))
    return result


def _fault_names(rig_cls: type[Rig]) -> list[str]:
    names = {
        "opentens": [
            "link_drop",
            "peel_off",
            "low_battery",
            "stuck",
            "hung",
            "stuck_acks",
            "malformed",
            "reject",
            "reboot",
            "store_fail",
        ],
        "coyote3": [
            "link_drop",
            "low_battery",
            "stuck_acks",
            "hung",
            "malformed",
            "reboot",
            "store_fail",
        ],
    }
    return names[rig_cls.kind]


def all_kinds(device: str) -> list[str]:
    return [*COMMAND_FAULTS, *_fault_names(RIGS[device])]


def today() -> dt.date:
    return dt.date.today()
