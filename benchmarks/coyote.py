"""Benchmark: the Coyote drivers on their simulators over the virtual radio (issue 17).

    .venv/bin/python -m benchmarks.coyote [--parts stop,zero,cpu] [--models coyote3,coyote2]
        [--count 100] [--interval 30] [--seconds 60] [--quick] [--json]

The simulators apply writes at connection events (``--interval``, default 30 ms, the
simulators' link-timing model; docs/coyote.md), so every latency here includes the wait for
an event, as on a real link. A stop is judged on the simulated device itself: the moment the
model's **strength** is 0 on every channel (the record's zero alone is not enough on a
Coyote: a waveform gap, a frame that came late, also shows 0 there).

Parts:

- ``stop``: ``Controller.stop`` (the API) → device strength 0, per model. Each cycle starts a
  short session from zero through the controller ([limits.levels] for the bench), waits until
  the record shows output, waits a random moment within one 100 ms frame, stops.
- ``zero``: the driver alone, ``stop(0)`` against ``set_output(0, intensity 0)`` on channel A,
  alternating in one run (the issue's "zero is a stop" row: ``set_output`` only takes the
  setting, the 100 ms stream sends it with its next frame).
- ``cpu`` (Coyote 3.0): the simulators and the radio stay in this process, served over TCP;
  one child process per mode joins the radio, all at once (side by side, one simulated
  Coyote each, so the machine's load weighs on all alike), and streams for ``--seconds``
  with output on: ``bleak``, a minimal loop writing one precomputed B0 every 100 ms through
  bleak on the same backend (the floor); ``driver``, the Coyote 3 driver fed a keepalive
  every 100 ms; ``controller``, a whole session through the controller. Figures: each
  child's CPU time per second of streaming (``time.process_time`` over wall time: the
  simulated side is not in it, it is its own row), the ratio to the floor, and how late each
  100 ms frame goes out (the moment it is handed to bleak, against its sender's own 100 ms
  schedule, anchored at the most punctual frame); beside them, the waveform gaps the device
  played (a frame that reached it after the last one's 100 ms were over).

``--quick``: 10 stops per figure, 3 s per streaming child. No target in the issue for the
Coyote stop itself; the CPU target is ≤ ×1.0 the floor, ``set_output(0)`` the same as
``stop()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import (
    PYTHON,
    ROOT,
    LoopErrors,
    Row,
    bench_config,
    bench_pads,
    emit,
    env_without_venv_noise,
    parser,
    summarize,
)

FRAME_S = 0.1
MODELS = ("coyote3", "coyote2")
CPU_MODES = ("bleak", "driver", "controller")
CPU_TARGET_RATIO = 1.0

LEVEL_LIMIT = {"coyote3": 20, "coyote2": 300}
"""The device limit the driver is given (levels); the bench's [limits.levels] peak."""
SESSION_TARGET = {"coyote3": 15.0, "coyote2": 200.0}
DRIVER_OUT = {"coyote3": (12.0, 150, 100.0), "coyote2": (77.0, 100, 50.0)}
"""intensity (levels), pulse width (µs), frequency (Hz) of the driver-level cycles."""


def _level_limits() -> dict[str, Any]:
    from tens.limits import LevelLimits

    return {
        name: LevelLimits(peak=LEVEL_LIMIT[name], ramp_per_s=50, step=20) for name in LEVEL_LIMIT
    }


# ---------------------------------------------------------------- watching the device


class StrengthWatch:
    """Output on (the record > 0) and strength 0 (the model itself) on a simulated Coyote.

    ``wait_zero`` resolves at the first moment at or after ``since`` when the model's strength
    is 0 on every channel; it hooks the model's ``_update``, which both models call after
    every strength change (in the connection event that applied the write).
    """

    what = "simulated device strength"

    def __init__(self, sim: Any) -> None:
        self._sim = sim
        self._model = sim.model
        self._waiters: list[tuple[float, asyncio.Future[float]]] = []
        self._original = self._model._update

        def update(*args: Any, **kwargs: Any) -> None:
            self._original(*args, **kwargs)
            self._after_update()

        self._model._update = update

    def _after_update(self) -> None:
        if not self._waiters or any(self._model.strength):
            return
        t = asyncio.get_running_loop().time()
        for since, future in self._waiters:
            if t >= since and not future.done():
                future.set_result(t)

    async def wait_on(self, timeout: float) -> float:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not any(self._model.delivered(ch) > 0 for ch in range(2)):
            if loop.time() >= end:
                raise TimeoutError
            await asyncio.sleep(0.002)
        return loop.time()

    async def wait_zero(self, since: float, timeout: float) -> float:  # noqa: ASYNC109
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        entry = (since, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._waiters.remove(entry)

    def close(self) -> None:
        del self._model._update  # the model's own method again


# ---------------------------------------------------------------- rigs


@dataclass
class CoyoteRig:
    radio: Any
    sim: Any
    transport: Any
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def close(self) -> None:
        for fn in reversed(self.closers):
            with contextlib.suppress(Exception):
                await fn()
        with contextlib.suppress(Exception):
            await self.sim.close()
        with contextlib.suppress(Exception):
            await self.radio.close()


async def coyote_rig(model: str, interval_ms: float) -> CoyoteRig:
    from simulators.coyote.simulator import Coyote2Simulator, Coyote3Simulator
    from simulators.radio import VirtualRadio

    radio = await VirtualRadio.local()
    cls = Coyote3Simulator if model == "coyote3" else Coyote2Simulator
    sim = await cls.start(radio, interval_ms=interval_ms)
    return CoyoteRig(radio, sim, radio.transport())


async def _open_driver(rig: CoyoteRig) -> Any:
    from devices import registry

    return await registry.open_device(rig.transport, rig.sim.address, 10.0)


# ---------------------------------------------------------------- stop through the controller


async def api_stops(model: str, count: int, interval_ms: float, seed: int) -> dict[str, Any]:
    from tens.cli.bench import CycleSettings, stop_cycles
    from tens.controller import Controller
    from tens.events import Source

    rig = await coyote_rig(model, interval_ms)
    watch = StrengthWatch(rig.sim)
    try:

        async def opener() -> Any:
            return await _open_driver(rig)

        ctrl = Controller(
            bench_config(levels=_level_limits()), opener, None, declared_electrodes=bench_pads()
        )
        rig.closers.append(ctrl.close)
        await ctrl.connect()
        run = await stop_cycles(
            ctrl,
            watch,
            count,
            CycleSettings(intensity=SESSION_TARGET[model], phase_s=FRAME_S, seed=seed),
            source=Source.CLI,
        )
    finally:
        watch.close()
        await rig.close()
    return {
        "stats": summarize(run.latencies_s),
        "no_output": run.no_output,
        "not_zero": run.not_zero,
        "refused": run.refused[:3],
    }


# ---------------------------------------------------------------- the driver: stop vs set 0


async def zero_vs_stop(model: str, count: int, interval_ms: float, seed: int) -> dict[str, Any]:
    """``count`` cycles each of ``stop(0)`` and ``set_output(0, 0)``, alternating."""
    from tens.device import ChannelOutput

    intensity, width, freq = DRIVER_OUT[model]
    out = ChannelOutput(intensity=intensity, pulse_width_us=width, frequency_hz=freq)
    zero = ChannelOutput(intensity=0.0, pulse_width_us=width, frequency_hz=freq)
    rng = random.Random(seed)
    rig = await coyote_rig(model, interval_ms)
    watch = StrengthWatch(rig.sim)
    lat: dict[str, list[float]] = {"stop": [], "set_output_0": []}
    not_zero = {"stop": 0, "set_output_0": 0}
    loop = asyncio.get_running_loop()
    feeding: asyncio.Task[None] | None = None
    try:
        driver = await _open_driver(rig)
        rig.closers.append(driver.disconnect)
        await driver.connect()
        await driver.set_device_limits(LEVEL_LIMIT[model], 50.0, 1.0)

        async def feed() -> None:  # the session runner's keepalive
            while True:
                await asyncio.sleep(FRAME_S)
                await driver.keepalive()

        feeding = asyncio.create_task(feed())
        for i in range(2 * count):
            how = "stop" if i % 2 == 0 else "set_output_0"
            await driver.arm((0,))
            await driver.set_output(0, out)
            await watch.wait_on(5.0)
            await asyncio.sleep(rng.uniform(0.0, FRAME_S))
            t0 = loop.time()
            seen = asyncio.ensure_future(watch.wait_zero(t0, 2.0))
            await asyncio.sleep(0)
            if how == "stop":
                await driver.stop(0)
            else:
                await driver.set_output(0, zero)
            try:
                lat[how].append(await seen - t0)
            except TimeoutError:
                not_zero[how] += 1
            await driver.stop(0)  # the same state before every cycle
    finally:
        if feeding is not None:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
        watch.close()
        await rig.close()
    return {
        "stop": summarize(lat["stop"]),
        "set_output_0": summarize(lat["set_output_0"]),
        "not_zero": not_zero,
    }


# ---------------------------------------------------------------- streaming CPU (child side)


def schedule_lateness(sends: list[tuple[int, float]], period: float) -> list[float]:
    """How late each frame went out against its sender's schedule: frame ``n`` is due at
    ``anchor + n·period``, the anchor the earliest such point among ``sends`` (so the most
    punctual frame is 0 late). Unlike a best-fitting grid, a frame more than half a period
    late is not taken for the next slot's early one."""
    if not sends:
        return []
    anchor = min(t - n * period for n, t in sends)
    return [t - (anchor + n * period) for n, t in sends]


def _b0_frames() -> tuple[bytes, bytes]:
    """The floor's two frames: set A to 12 (seq 1) with a waveform, then keep with it."""
    from devices.coyote import v3codec
    from devices.coyote.v3codec import B0Frame, StrengthMode, WaveSlots

    wave = WaveSlots((10, 10, 10, 10), (50, 50, 50, 50))
    keep = StrengthMode.KEEP
    first = B0Frame(1, StrengthMode.SET, keep, 12, 0, wave, v3codec.DROPPED)
    rest = B0Frame(0, keep, keep, 0, 0, wave, v3codec.DROPPED)
    return v3codec.encode_b0(first), v3codec.encode_b0(rest)


async def _child(mode: str, host: str, port: int, address: str, seconds: float) -> dict[str, Any]:
    from simulators.radio import VirtualRadio

    loop = asyncio.get_running_loop()
    radio = await VirtualRadio.connect(host, port)
    transport = radio.transport()
    sends: list[tuple[int, float]] = []
    """(frame number on the sender's 100 ms schedule, when it was handed to bleak)"""
    closers: list[Callable[[], Awaitable[Any]]] = []
    background: list[asyncio.Task[Any]] = []

    def timed(driver: Any) -> Any:
        original = driver._write_frame

        async def write_frame(client: Any, frame: int) -> None:
            sends.append((frame, loop.time()))
            await original(client, frame)

        driver._write_frame = write_frame
        return driver

    try:
        if mode == "bleak":
            from bleak import BleakClient

            from devices import registry
            from devices.coyote import v3codec

            found = await registry.find(transport, address, 10.0)
            client = BleakClient(found.ble_device, **transport.client_options())
            await client.connect()
            closers.append(client.disconnect)
            await client.start_notify(v3codec.NOTIFY_UUID, lambda _c, _d: None)
            first, rest = _b0_frames()

            async def stream() -> None:
                data = first
                next_t = loop.time()
                for frame in itertools.count():
                    sends.append((frame, loop.time()))
                    await client.write_gatt_char(v3codec.WRITE_UUID, data, response=True)
                    data = rest
                    next_t += FRAME_S
                    await asyncio.sleep(max(0.0, next_t - loop.time()))

            background.append(asyncio.create_task(stream()))
        elif mode == "driver":
            from devices import registry
            from tens.device import ChannelOutput

            driver = timed(await registry.open_device(transport, address, 10.0))
            await driver.connect()
            closers.append(driver.disconnect)
            await driver.set_device_limits(LEVEL_LIMIT["coyote3"], 50.0, 1.0)
            await driver.arm((0,))
            await driver.set_output(0, ChannelOutput(12.0, 150, 100.0))

            async def feed() -> None:
                while True:
                    await asyncio.sleep(FRAME_S)
                    await driver.keepalive()

            background.append(asyncio.create_task(feed()))
        else:
            from devices import registry
            from tens.controller import Controller, StartRequest
            from tens.events import Source

            async def opener() -> Any:
                return timed(await registry.open_device(transport, address, 10.0))

            ctrl = Controller(
                bench_config(levels=_level_limits()), opener, None, declared_electrodes=bench_pads()
            )
            closers.append(ctrl.close)
            await ctrl.connect()
            decision = await ctrl.start(
                StartRequest(intensity=SESSION_TARGET["coyote3"], minutes=10.0), Source.CLI
            )
            if decision.refused:
                raise RuntimeError(f"session refused: {decision.reason}")
        await asyncio.sleep(1.0)  # connected, output on, ramp over
        n0 = len(sends)
        sys.stdout.write("window\n")
        sys.stdout.flush()
        wall0, cpu0 = time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
        window = sends[n0:]
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for fn in reversed(closers):
            with contextlib.suppress(Exception):
                await fn()
        with contextlib.suppress(Exception):
            await radio.close()
    late = schedule_lateness(window, FRAME_S)
    return {
        "mode": mode,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_s": 1000.0 * cpu / wall,
        "frames": len(window),
        "lateness": summarize(late),
    }


def child_main(args: argparse.Namespace) -> int:
    host, port = args.radio.rsplit(":", 1)
    result = asyncio.run(_child(args.child, host, int(port), args.address, args.seconds))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


# ---------------------------------------------------------------- streaming CPU (our side)


async def _one_child(mode: str, sim: Any, host: str, port: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "benchmarks.coyote",
        "--child",
        mode,
        "--radio",
        f"{host}:{port}",
        "--address",
        sim.address,
        "--seconds",
        str(seconds),
        cwd=ROOT,
        env=env_without_venv_noise(),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    result: dict[str, Any] = {"mode": mode}
    start = end = None
    async with asyncio.timeout(seconds + 60):
        async for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "window":
                start = loop.time()
            elif line.startswith("{"):
                end = loop.time()
                result |= json.loads(line)
        await proc.wait()
    if start is None or end is None:
        result["error"] = f"child exited {proc.returncode} without figures"
        return result
    record = sim.record.for_channel(0)
    result["gaps"] = sum(1 for s in record if start <= s.t <= end and s.cause == "frames stopped")
    result["frames_at_device"] = sum(
        1 for r in sim.model.received if start <= r.t <= end and r.kind == "B0"
    )
    return result


async def streaming_cpu(
    seconds: float, interval_ms: float, modes: tuple[str, ...] = CPU_MODES
) -> dict[str, Any]:
    """Every mode at once, side by side (one simulated Coyote 3.0 each, one radio), so the
    machine's load weighs on the floor and on the driver alike."""
    from simulators.coyote.simulator import Coyote3Simulator
    from simulators.radio import VirtualRadio

    radio = await VirtualRadio.local()
    sims: dict[str, Any] = {}
    try:
        for mode in modes:
            sims[mode] = await Coyote3Simulator.start(radio, interval_ms=interval_ms)
        await radio.serve_tcp("127.0.0.1", 0)
        host, port = radio.tcp_addresses[0]
        cpu0, wall0 = time.process_time(), time.monotonic()
        results = await asyncio.gather(
            *(_one_child(mode, sims[mode], host, port, seconds) for mode in modes)
        )
        sim_side = 1000.0 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    finally:
        for sim in sims.values():
            with contextlib.suppress(Exception):
                await sim.close()
        with contextlib.suppress(Exception):
            await radio.close()
    out: dict[str, Any] = dict(zip(modes, results, strict=True))
    out["simulated_side_cpu_ms_per_s"] = sim_side
    return out


# ---------------------------------------------------------------- the run and its table


async def run(args: argparse.Namespace, parts: list[str], models: list[str]) -> dict[str, Any]:
    errors = LoopErrors().install()
    res: dict[str, Any] = {}
    count = args.count
    if "stop" in parts:
        res["stop"] = {m: await api_stops(m, count, args.interval, 1) for m in models}
    if "zero" in parts:
        res["zero"] = {m: await zero_vs_stop(m, count, args.interval, 2) for m in models}
    if "cpu" in parts:
        res["cpu"] = await streaming_cpu(args.seconds, args.interval, args.cpu_modes)
    res["loop_errors"] = errors.counts
    return res


def _stat_note(st: dict[str, Any]) -> str:
    return f"n={st.get('count')} p50 {st.get('p50_ms')} max {st.get('max_ms')}"


def rows_for(res: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for model, r in res.get("stop", {}).items():
        st = r["stats"]
        note = _stat_note(st)
        if r["no_output"] or r["not_zero"]:
            note += f"; no output {r['no_output']}, not at 0 {r['not_zero']}"
        rows.append(Row(f"{model} API stop p50", st.get("p50_ms"), "ms", note=note))
        rows.append(Row(f"{model} API stop p99", st.get("p99_ms"), "ms", note=note))
    for model, r in res.get("zero", {}).items():
        s, z = r["stop"], r["set_output_0"]
        rows.append(Row(f"{model} driver stop() p50", s.get("p50_ms"), "ms", note=_stat_note(s)))
        rows.append(
            Row(
                f"{model} driver set_output(0) p50",
                z.get("p50_ms"),
                "ms",
                s.get("p50_ms"),
                note=_stat_note(z) + f"; not at 0: {r['not_zero']}",
            )
        )
        rows.append(Row(f"{model} driver stop() p99", s.get("p99_ms"), "ms"))
        rows.append(Row(f"{model} driver set_output(0) p99", z.get("p99_ms"), "ms"))
    cpu = res.get("cpu")
    if cpu:
        floor = cpu.get("bleak", {}).get("cpu_ms_per_s")
        modes = [m for m in CPU_MODES if m in cpu]
        for mode in modes:
            c = cpu[mode]
            value = c.get("cpu_ms_per_s")
            rows.append(
                Row(
                    f"coyote3 CPU per session-second, {mode}",
                    value,
                    "ms",
                    note=f"{c.get('frames')} frames in {c.get('wall_s', 0):.1f} s"
                    + (f"; {c['error']}" if "error" in c else ""),
                )
            )
            if mode != "bleak" and floor is not None:
                ratio = value / floor if value and floor else None
                rows.append(
                    Row(
                        f"coyote3 CPU {mode} / bleak floor",
                        ratio,
                        "x",
                        CPU_TARGET_RATIO,
                    )
                )
        rows.append(
            Row(
                "coyote3 CPU per session-second, simulated side",
                cpu.get("simulated_side_cpu_ms_per_s"),
                "ms",
                note=f"this process: the radio and {len(modes)} simulated Coyotes, all links",
            )
        )
        for mode in modes:
            c = cpu[mode]
            late = c.get("lateness") or {}
            rows.append(
                Row(
                    f"coyote3 frame-send lateness p99, {mode}",
                    late.get("p99_ms"),
                    "ms",
                    note=f"p50 {late.get('p50_ms')} max {late.get('max_ms')}; waveform "
                    f"gaps the device played: {c.get('gaps')} "
                    f"({c.get('frames_at_device')} frames reached it)",
                )
            )
            rows.append(Row(f"coyote3 frame-send lateness max, {mode}", late.get("max_ms"), "ms"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = parser("Coyote stop latency, stop() vs set_output(0), streaming CPU and frame lateness")
    p.add_argument("--parts", default="stop,zero,cpu", help="stop, zero, cpu (comma-separated)")
    p.add_argument("--models", default=",".join(MODELS), help="coyote3, coyote2 (stop, zero)")
    p.add_argument("--count", type=int, default=None, help="stops per figure (default 100)")
    p.add_argument("--interval", type=float, default=30.0, help="connection interval, ms")
    p.add_argument("--seconds", type=float, default=None, help="streaming window (default 60)")
    p.add_argument(
        "--cpu-modes",
        default=",".join(CPU_MODES),
        help="streaming children to run: bleak (the floor), driver, controller",
    )
    p.add_argument("--child", choices=CPU_MODES, help=argparse.SUPPRESS)
    p.add_argument("--radio", default="", help=argparse.SUPPRESS)
    p.add_argument("--address", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args)
    parts = [x for x in args.parts.split(",") if x]
    models = [x for x in args.models.split(",") if x]
    args.cpu_modes = tuple(x for x in args.cpu_modes.split(",") if x)
    bad = (
        [x for x in parts if x not in ("stop", "zero", "cpu")]
        + [x for x in models if x not in MODELS]
        + [x for x in args.cpu_modes if x not in CPU_MODES]
    )
    if bad:
        p.error(f"unknown part or model: {', '.join(bad)}")
    args.count = args.count or (10 if args.quick else 100)
    args.seconds = args.seconds or (3.0 if args.quick else 60.0)
    res = asyncio.run(run(args, parts, models))
    emit(
        "coyote",
        "Coyote on its simulators (stop → device strength 0; streaming CPU; frame lateness)",
        rows_for(res),
        as_json=args.json,
        settings={
            "parts": parts,
            "models": models,
            "count": args.count,
            "interval_ms": args.interval,
            "seconds": args.seconds,
            "stop phase": "random within one 100 ms frame",
        },
        details=res,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
