"""`tens bench stop`: how long a stop takes to reach the electrodes, on your own device and link.

Each cycle starts a short session from zero through the controller (every limit applies),
waits until the device delivers output, waits a random fraction of a connection interval, then
calls ``Controller.stop`` and times until the output is 0 again:

- ``--simulator``: on the simulated wearable's own delivered-output record (the moment the
  device model applied STOP);
- ``--radio`` / ``--device``: on the device's status notification showing 0 on every channel
  (what a real device says it carries; includes the notification's trip back).

On anything other than ``--simulator`` real current flows: the bench refuses unless
``--allow-output`` is given and the safety checklist is answered with no "yes", keeps the
target at most :data:`REAL_MAX_MA` and each session at one minute (each cycle lasts well under a
second). Bench sessions are not written to the session history, and the rest between sessions
does not apply between cycles (they are stop tests, not sessions).

The measuring parts (:class:`RecordWatch`, :class:`StatusWatch`, :func:`stop_cycles`,
:func:`summarize`, :func:`machine_info`) are also used by ``benchmarks/``. Nothing heavy is
imported at module level.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

if TYPE_CHECKING:
    import asyncio

REAL_MAX_MA = 2.0
"""Highest target a bench cycle asks of a real device (the first ramp step is far below)."""
DEFAULT_INTENSITY_MA = 1.0
DEFAULT_COUNT = 200
DEFAULT_REAL_COUNT = 50
ON_TIMEOUT_S = 5.0
ZERO_TIMEOUT_S = 2.0
EXIT_REFUSED = ExitCode.REFUSED


# ---------------------------------------------------------------- statistics and machine


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; nan when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize(values_s: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50, p90, p99, max and min of durations in seconds, as milliseconds."""
    xs = sorted(values_s)
    if not xs:
        return {"count": 0}
    return {
        "count": len(xs),
        "min_ms": round(xs[0] * 1000, 3),
        "mean_ms": round(sum(xs) / len(xs) * 1000, 3),
        "p50_ms": round(percentile(xs, 50) * 1000, 3),
        "p90_ms": round(percentile(xs, 90) * 1000, 3),
        "p99_ms": round(percentile(xs, 99) * 1000, 3),
        "max_ms": round(xs[-1] * 1000, 3),
    }


def _cpu_model() -> str:
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for key in ("model name", "hardware", "cpu model"):
        for line in lines:
            if line.lower().startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("BENCH_COMMIT")
    return out.stdout.strip() or os.environ.get("BENCH_COMMIT")


def machine_info() -> dict[str, Any]:
    """The machine, the load right now, and the versions that matter to the figures."""
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in load],
        "versions": {
            name: _version(name)
            for name in ("tens", "bleak", "bumble", "textual", "aiomqtt", "pydantic")
        },
        "commit": _git_commit(),
    }


# ---------------------------------------------------------------- watching the output


class OutputWatch(Protocol):
    """Where a bench sees what the electrodes carry."""

    what: str

    async def wait_on(self, timeout: float) -> float:  # noqa: ASYNC109
        """Wait until some channel delivers output; its loop time."""
        ...

    async def wait_zero(self, since: float, timeout: float) -> float:  # noqa: ASYNC109
        """Wait until every channel is 0 at a time >= ``since``; that time."""
        ...

    def close(self) -> None: ...


@dataclass
class _Waiter:
    predicate: Callable[[tuple[float, ...], float], bool]
    future: asyncio.Future[float]


@dataclass
class _ValueWatch:
    """Shared part: the latest values per channel and futures waiting on them."""

    channels: int
    values: list[float] = field(default_factory=list)
    waiters: list[_Waiter] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = [0.0] * self.channels

    def _update(self, values: Sequence[float], t: float) -> None:
        state = tuple(values)
        for w in list(self.waiters):
            if not w.future.done() and w.predicate(state, t):
                w.future.set_result(t)
        self.waiters = [w for w in self.waiters if not w.future.done()]

    async def _wait(
        self,
        predicate: Callable[[tuple[float, ...], float], bool],
        timeout: float,  # noqa: ASYNC109
    ) -> float:
        import asyncio

        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, fut)
        self.waiters.append(waiter)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)

    async def wait_on(self, timeout: float) -> float:  # noqa: ASYNC109
        return await self._wait(lambda v, _t: max(v, default=0.0) > 0.0, timeout)

    async def wait_zero(self, since: float, timeout: float) -> float:  # noqa: ASYNC109
        return await self._wait(lambda v, t: t >= since and max(v, default=0.0) <= 0.0, timeout)


class RecordWatch(_ValueWatch):
    """The simulator's delivered-output record: the moment the device model changed output."""

    what = "simulator record"

    def __init__(self, record: Any, channels: int) -> None:
        super().__init__(channels)
        for s in record:
            if s.channel < channels:
                self.values[s.channel] = s.intensity_ma
        self._remove = record.add_listener(self._on_sample)

    def _on_sample(self, sample: Any) -> None:
        if sample.channel < self.channels:
            self.values[sample.channel] = sample.intensity_ma
            self._update(self.values, sample.t)

    def close(self) -> None:
        self._remove()


class ModelOnWatch:
    """Output on, as the simulated device's model holds it (polled every few ms).

    Used to see output come on: the delivered-output record misses ramp increases that happen
    inside a SET_OUTPUT (docs/performance.md), so it cannot be trusted to show "on" at long
    connection intervals. Stops are still judged on the record.
    """

    what = "simulator model"
    poll_s = 0.005

    def __init__(self, simulator: Any) -> None:
        self._model = simulator.model

    def _on(self) -> bool:
        return any(ch.delivered_ma > 0 for ch in self._model.channels)

    async def wait_on(self, timeout: float) -> float:  # noqa: ASYNC109
        import asyncio

        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self._on():
            if loop.time() >= end:
                raise TimeoutError
            await asyncio.sleep(self.poll_s)
        return loop.time()

    async def wait_zero(self, since: float, timeout: float) -> float:  # noqa: ASYNC109
        raise NotImplementedError("stops are judged on the record (RecordWatch)")

    def close(self) -> None:
        pass


class StatusWatch(_ValueWatch):
    """The device's status notifications, as the controller receives them (OutputDelivered)."""

    what = "device status notification"

    def __init__(self, controller: Any, channels: int) -> None:
        super().__init__(channels)
        self._remove = controller.add_listener(self._on_event)

    def _on_event(self, event: Any) -> None:
        from tens.events import OutputDelivered

        if isinstance(event, OutputDelivered):
            self.values = list(event.delivered) or [0.0]
            self._update(self.values, event.t)

    def close(self) -> None:
        self._remove()


# ---------------------------------------------------------------- the stop cycle


StopAction = Callable[[], Awaitable[Any]]


@dataclass
class CycleSettings:
    intensity: float = DEFAULT_INTENSITY_MA
    minutes: float = 1.0
    program: str | None = None
    placement: str | None = "lower-back"
    phase_s: float = 0.1
    """Stop at a random moment up to this long after output was seen (spreads the phase)."""
    seed: int = 1


@dataclass
class StopRun:
    latencies_s: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    no_output: int = 0
    """Cycles where no output was seen within ON_TIMEOUT_S of the start."""
    not_zero: int = 0
    """Stops after which the output was not seen at 0 within ZERO_TIMEOUT_S."""

    @property
    def timeouts(self) -> int:
        return self.no_output + self.not_zero


async def stop_cycles(
    controller: Any,
    watch: OutputWatch,
    count: int,
    settings: CycleSettings | None = None,
    *,
    stop: StopAction | None = None,
    source: Any = None,
    progress: Callable[[int], None] | None = None,
    on_watch: OutputWatch | None = None,
) -> StopRun:
    """Run ``count`` start → output on → stop → output 0 cycles; latency of each stop.

    ``stop`` is the path under test (default: ``controller.stop``). The latency runs from
    just before ``stop`` is called to the moment ``watch`` sees 0 on every channel. Output
    coming on is seen through ``on_watch`` (default: ``watch``).
    """
    import asyncio
    import random

    from tens.controller import StartRequest
    from tens.events import Source

    cfg = settings or CycleSettings()
    src = source or Source.CLI
    rng = random.Random(cfg.seed)
    loop = asyncio.get_running_loop()
    run = StopRun()

    async def default_stop() -> None:
        await controller.stop(src, "bench")

    do_stop = stop or default_stop
    request = StartRequest(
        program=cfg.program,
        minutes=cfg.minutes,
        intensity=cfg.intensity,
        placement=cfg.placement,
    )
    while len(run.latencies_s) < count:
        decision = await controller.start(request, src)
        if decision.refused:
            run.refused.append(decision.reason)
            if len(run.refused) >= 3:
                break
            await asyncio.sleep(0.05)
            continue
        try:
            await (on_watch or watch).wait_on(ON_TIMEOUT_S)
        except TimeoutError:
            run.no_output += 1
            await controller.stop(src, "bench: no output seen")
            if run.timeouts >= 3:
                break
            continue
        await asyncio.sleep(rng.uniform(0.0, cfg.phase_s))
        t0 = loop.time()
        zero = asyncio.ensure_future(watch.wait_zero(t0, ZERO_TIMEOUT_S))
        await asyncio.sleep(0)  # the waiter is registered before the stop can land
        await do_stop()
        try:
            t_zero = await zero
        except TimeoutError:
            run.not_zero += 1
            await controller.stop(src, "bench: output not seen at 0")
            if run.timeouts >= 3:
                break
            continue
        run.latencies_s.append(t_zero - t0)
        if progress is not None:
            progress(len(run.latencies_s))
        if controller.snapshot().session.active:
            await controller.stop(src, "bench")  # an MQTT/TUI stop still in flight
    return run


# ---------------------------------------------------------------- the verb


def register(subparsers: Any) -> None:
    from tens.cli.common import add_config, add_json
    from tens.cli.target import add_target_arguments

    p = subparsers.add_parser(
        "bench",
        help="measure how fast a stop reaches the electrodes on your device and link",
        description="Benchmarks a user runs on their own setup. `tens bench stop` times "
        "stop → output 0, over many short sessions that start from zero. On a real device "
        "current flows: it needs --allow-output and a checklist answered with no 'yes'. "
        "The project's own benchmarks are in benchmarks/ (docs/performance.md).",
    )
    sub = p.add_subparsers(dest="bench_what", metavar="WHAT")
    s = sub.add_parser("stop", help="stop latency: stop call → delivered output 0")
    add_target_arguments(s)
    add_config(s)
    add_json(s)
    s.add_argument(
        "--count",
        type=int,
        default=None,
        help=f"stops to time (default {DEFAULT_COUNT}; {DEFAULT_REAL_COUNT} on a real device)",
    )
    s.add_argument(
        "--interval-ms",
        type=float,
        default=30.0,
        help="connection interval of the --simulator wearable (7.5 to 4000; default 30)",
    )
    s.add_argument(
        "--intensity",
        type=float,
        default=DEFAULT_INTENSITY_MA,
        help=f"target of each short session, mA (at most {REAL_MAX_MA:g} on a real device)",
    )
    s.add_argument(
        "--allow-output",
        action="store_true",
        help="confirm that a real device may deliver (small, brief) output during the bench",
    )
    s.set_defaults(handler=run_stop)
    p.set_defaults(handler=lambda _a: p.print_help() or 0)


def _stated_pads() -> dict[int, Any]:
    """The electrode sizes stated with `tens electrodes set` (none when unreadable: then
    every cycle is refused, as a session would be)."""
    from tens.store import StoreError, open_db
    from tens.store.electrodes import stated_electrodes

    try:
        conn = open_db()
    except StoreError:
        return {}
    try:
        return {ch: st.size for ch, st in stated_electrodes(conn).items()}
    finally:
        conn.close()


async def _real_device_refusal(args: argparse.Namespace) -> str | None:
    if not args.allow_output:
        return (
            "on a real device (or a radio) this bench delivers output: add --allow-output to "
            "confirm the electrodes are placed as for a session, or use --simulator"
        )
    if not 0 < args.intensity <= REAL_MAX_MA:
        return f"--intensity must be above 0 and at most {REAL_MAX_MA:g} mA on a real device"
    from tens.store import AsyncDB, StoreError
    from tens.store.sessions import latest_checklist

    try:
        db = await AsyncDB.open()
    except StoreError as exc:
        return f"cannot read the safety checklist: {exc}"
    try:
        answers = await db.run(latest_checklist)
    finally:
        await db.close()
    from tens.store.timestamps import utc_now

    if answers is None or answers.expired(utc_now()):
        return "the safety checklist is not answered (or is 6 months old): run `tens checklist`"
    if answers.any_yes:
        return "the safety checklist has a 'yes': talk to a clinician before using TENS"
    return None


def _print_table(result: dict[str, Any]) -> None:
    st = result["stats"]
    print(f"stop latency ({result['path']}, seen on the {result['measured_on']})")
    print(f"  device: {result['device']}  link: {result['link']}")
    if result.get("interval_ms") is not None:
        print(f"  connection interval: {result['interval_ms']:g} ms")
    if not st.get("count"):
        print("  no stop was measured")
    else:
        print(f"  {'stops':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        print(
            f"  {st['count']:>6} {st['p50_ms']:>8.2f} {st['p90_ms']:>8.2f} "
            f"{st['p99_ms']:>8.2f} {st['max_ms']:>8.2f}"
        )
    if result.get("target_p99_ms") is not None:
        print(f"  target p99 <= {result['target_p99_ms']:g} ms (one interval + 2 ms)")
    for why in result.get("refused", []):
        print(f"  refused: {why}")
    m = result["machine"]
    print(f"  machine: {m['cpu']} x{m['cores']}, load {m['loadavg']}, python {m['python']}")


async def run_stop(args: argparse.Namespace) -> int:
    from tens.cli.common import load_or_fail
    from tens.cli.target import exit_code_for, open_target
    from tens.config import TensConfig
    from tens.controller import Controller
    from tens.device import DeviceError

    as_json = bool(args.json)
    simulated = bool(args.simulator)
    if simulated:
        if (getattr(args, "sim_model", None) or "opentens") != "opentens":
            return fail(
                "tens bench stop --simulator times the OpenTENS simulator (its delivered-output "
                "record); use --sim-model opentens",
                2,
                as_json=as_json,
            )
        try:
            from simulators.opentens import SimConfig

            sim_config: Any = SimConfig(interval_ms=args.interval_ms)
        except ValueError as exc:
            return fail(str(exc), ExitCode.USAGE, as_json=as_json)
    else:
        sim_config = None
        why = await _real_device_refusal(args)
        if why is not None:
            return fail(why, EXIT_REFUSED, as_json=as_json)
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    base: TensConfig = loaded.config
    # Cycles last well under a second each: the rest between sessions does not apply.
    config = base.model_copy(update={"limits": base.limits.model_copy(update={"rest_minutes": 0})})
    count = args.count or (DEFAULT_COUNT if simulated else DEFAULT_REAL_COUNT)
    intensity = args.intensity if simulated else min(args.intensity, REAL_MAX_MA)
    try:
        async with open_target(args, settings=config.device, simulator_config=sim_config) as target:
            # no store for the cycles; a real device's pads are the ones stated there
            pads = target.declared_electrodes or _stated_pads()
            ctrl = Controller(config, target.open_device, None, declared_electrodes=pads)
            try:
                await ctrl.connect()
                assert ctrl.device is not None
                channels = ctrl.device.capabilities.channels
                watch: OutputWatch
                on_watch: OutputWatch | None = None
                if target.simulator is not None and hasattr(target.simulator, "record"):
                    watch = RecordWatch(target.simulator.record, channels)
                    on_watch = ModelOnWatch(target.simulator)
                else:
                    watch = StatusWatch(ctrl, channels)
                settings = CycleSettings(intensity=intensity, minutes=1.0)
                run = await stop_cycles(ctrl, watch, count, settings, on_watch=on_watch)
                watch.close()
                info = ctrl.device.info
                device = f"{info.name} ({info.address}, {info.driver})"
            finally:
                await ctrl.close()
    except DeviceError as exc:
        return fail(str(exc), exit_code_for(exc), as_json=as_json)
    interval = args.interval_ms if simulated else None
    result: dict[str, Any] = {
        "bench": "stop",
        "path": "api",
        "device": device,
        "link": "simulator" if simulated else ("radio" if target.radio else "bluetooth"),
        "measured_on": watch.what,
        "interval_ms": interval,
        "target_p99_ms": interval + 2.0 if interval is not None else None,
        "intensity_ma": intensity,
        "stats": summarize(run.latencies_s),
        "no_output": run.no_output,
        "not_zero": run.not_zero,
        "refused": run.refused,
        "machine": machine_info(),
        "argv": sys.argv[1:],
    }
    if as_json:
        emit_json(result)
    else:
        _print_table(result)
    if not run.latencies_s:
        return ExitCode.NO_DEVICE  # no stop was measured: nothing answered
    return 0
