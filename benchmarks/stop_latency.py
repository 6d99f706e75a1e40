"""Benchmark 1: stop latency, from the stop call to the simulated device delivering 0.

    .venv/bin/python -m benchmarks.stop_latency [--paths api,mqtt,tui] [--count 1000]
        [--intervals 7.5,30,100] [--parallel 4] [--tui-count 100] [--quick] [--json]

Each cycle starts a short session from zero through the controller, waits until the
simulated device delivers output (seen on its model: its record misses ramp steps made inside
a SET_OUTPUT, docs/performance.md), waits a random moment within one connection
interval (so every phase against the connection events is sampled), then stops and times
until the record shows 0 on every channel (the moment the device model applied STOP).

Paths: ``api`` calls ``Controller.stop``; ``mqtt`` publishes ``cmd/stop`` (QoS 1, TCP_NODELAY
on both clients and on Mosquitto) to a ``tens.daemon`` Daemon in the worker's process; ``tui``
presses ``s`` in the Textual TUI through Textual's Pilot (headless). Sessions are started
through the controller API in every path (only the stop path differs).

To fit in the time budget, the API and MQTT paths run in ``--parallel`` worker processes at
once (twice as many at intervals of 50 ms and more), each with one rig: its own radio,
wearable and controller (and, for MQTT, its own daemon, as in a real deployment); their
latencies are merged. ``--parallel 1`` measures one rig alone. The TUI path runs one rig here.
Targets: API p99 <= one connection interval + 2 ms; MQTT adds <= 2 ms at p99.
``--quick``: 200 stops per interval, 50 through the TUI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    LoopErrors,
    Row,
    emit,
    env_without_venv_noise,
    lean_bumble_logging,
    machine_info,
    make_rig,
    mqtt_settings,
    nodelay_client,
    parser,
    running_broker,
    running_daemon,
    summarize,
)
from tens.cli.bench import CycleSettings, ModelOnWatch, RecordWatch, stop_cycles

API_MARGIN_MS = 2.0
MQTT_ADDS_MS = 2.0
_names = itertools.count(1)
_worker_index = 0
_barrier: Callable[[], Awaitable[None]] | None = None
"""In a worker: wait until every worker is set up (so no worker's start-up, which costs CPU,
overlaps another's measurement)."""


def rigs_for(parallel: int, interval_ms: float) -> int:
    """Rigs cycling at once: twice ``parallel`` at intervals of 50 ms and more, where each
    cycle mostly waits for connection events (keeps the full run within its time budget)."""
    return parallel * 2 if interval_ms >= 50.0 else parallel


def _split(count: int, parts: int) -> list[int]:
    base, extra = divmod(count, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


async def _cycle_rigs(
    rigs: Sequence[Any],
    count: int,
    interval_ms: float,
    stop_for: Callable[[Any], Callable[[], Awaitable[Any]] | None],
    source: Any,
) -> tuple[list[float], list[str], dict[str, int]]:
    async def one(i: int, rig: Any, n: int) -> Any:
        watch = RecordWatch(rig.record, rig.ctrl.device.capabilities.channels)
        try:
            seed = 100 + 1000 * _worker_index + i
            settings = CycleSettings(intensity=10.0, phase_s=interval_ms / 1000.0, seed=seed)
            return await stop_cycles(
                rig.ctrl,
                watch,
                n,
                settings,
                stop=stop_for(rig),
                source=source,
                on_watch=ModelOnWatch(rig.sim),
            )
        finally:
            watch.close()

    if _barrier is not None:
        await _barrier()
    runs = await asyncio.gather(
        *(one(i, r, n) for i, (r, n) in enumerate(zip(rigs, _split(count, len(rigs)), strict=True)))
    )
    latencies = [x for r in runs for x in r.latencies_s]
    refused = [x for r in runs for x in r.refused]
    timeouts = {
        "no_output": sum(r.no_output for r in runs),
        "not_zero": sum(r.not_zero for r in runs),
    }
    return latencies, refused, timeouts


async def _make_rigs(n: int, interval_ms: float) -> list[Any]:
    return list(
        await asyncio.gather(
            *(
                make_rig(f"OT-W{_worker_index}-{next(_names)}", interval_ms=interval_ms)
                for _ in range(n)
            )
        )
    )


async def bench_api(interval_ms: float, count: int, rigs_n: int) -> dict[str, Any]:
    from tens.events import Source

    rigs = await _make_rigs(rigs_n, interval_ms)
    try:
        lat, refused, timeouts = await _cycle_rigs(
            rigs, count, interval_ms, lambda _r: None, Source.CLI
        )
    finally:
        await asyncio.gather(*(r.close() for r in rigs))
    return {"latencies_s": lat, "refused": refused[:3], "timeouts": timeouts}


async def bench_mqtt(interval_ms: float, count: int, rigs_n: int, port: int) -> dict[str, Any]:
    from tens.daemon.topics import Topics
    from tens.events import Source

    rigs = await _make_rigs(rigs_n, interval_ms)
    async with contextlib.AsyncExitStack() as stack:
        topics: dict[str, Topics] = {}
        for rig in rigs:
            cid = rig.name.replace("-", "_").lower()
            settings = mqtt_settings(port, cid, discovery=False)
            await stack.enter_async_context(running_daemon(rig.ctrl, settings))
            topics[rig.name] = Topics(settings.prefix, cid)
        client = await stack.enter_async_context(
            nodelay_client(port, f"bench-publisher-{_worker_index}")
        )

        def stop_for(rig: Any) -> Callable[[], Awaitable[Any]]:
            topic = topics[rig.name].command("stop")

            async def publish() -> None:
                await client.publish(topic, b"{}", qos=1)

            return publish

        try:
            lat, refused, timeouts = await _cycle_rigs(
                rigs, count, interval_ms, stop_for, Source.CLI
            )
        finally:
            stack.push_async_callback(lambda: asyncio.gather(*(r.close() for r in rigs)))
    return {"latencies_s": lat, "refused": refused[:3], "timeouts": timeouts}


async def in_workers(
    path: str, interval_ms: float, count: int, workers: int, port: int, lean: bool
) -> dict[str, Any]:
    """Run ``path`` in ``workers`` processes, one rig (and one daemon) each; merge."""
    procs = []
    for i, n in enumerate(_split(count, workers)):
        argv = ["--worker", path, "--worker-index", str(i + 1), "--intervals", f"{interval_ms:g}"]
        argv += ["--count", str(n), "--broker-port", str(port)]
        if lean:
            argv.append("--lean-radio")
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.stop_latency",
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                cwd=str(ROOT),
                env=env_without_venv_noise(),
            )
        )

    async def ready(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while (line := await proc.stdout.readline()) and line.strip() != b"ready":
            pass

    await asyncio.gather(*(ready(p) for p in procs))
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    outs = await asyncio.gather(*(p.communicate() for p in procs))
    lat: list[float] = []
    refused: list[str] = []
    timeouts = {"no_output": 0, "not_zero": 0}
    errors: dict[str, int] = {}
    failed = 0
    for out, _ in outs:
        lines = [x for x in out.decode().splitlines() if x.startswith("{")]
        if not lines:
            failed += 1
            continue
        res = json.loads(lines[-1])
        lat += res["latencies_s"]
        refused += res["refused"]
        for k in timeouts:
            timeouts[k] += res["timeouts"][k]
        for k, v in res.get("loop_errors", {}).items():
            errors[k] = errors.get(k, 0) + v
    return {
        "stats": summarize(lat),
        "refused": refused[:3],
        "timeouts": timeouts,
        "workers": workers,
        "workers_failed": failed,
        "loop_errors": errors,
    }


async def _worker(path: str, interval_ms: float, count: int, port: int) -> dict[str, Any]:
    global _barrier
    errors = LoopErrors().install()

    async def barrier() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    _barrier = barrier
    if path == "api":
        res = await bench_api(interval_ms, count, 1)
    else:
        res = await bench_mqtt(interval_ms, count, 1, port)
    res["loop_errors"] = errors.counts
    return res


async def bench_tui(interval_ms: float, count: int) -> dict[str, Any]:
    from tens.events import Source
    from tui.app import make_app

    rig = await make_rig(f"OT-T{next(_names)}", interval_ms=interval_ms)
    try:
        app = make_app(rig.ctrl, connect=False, ask_pain=False)
        async with app.run_test(size=(110, 36)) as pilot:
            await pilot.pause(0.3)

            async def press() -> None:
                await pilot.press("s")

            lat, refused, timeouts = await _cycle_rigs(
                [rig], count, interval_ms, lambda _r: press, Source.TUI
            )
    finally:
        await rig.close()
    return {"stats": summarize(lat), "refused": refused[:3], "timeouts": timeouts, "workers": 1}


def _rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for key, res in results.items():
        if "@" not in key:
            continue
        path, interval_s = key.split("@")
        interval = float(interval_s)
        st = res["stats"]
        if not st.get("count"):
            rows.append(Row(f"{path} @{interval:g} ms: no stops measured", None, "ms"))
            continue
        target = interval + API_MARGIN_MS if path == "api" else None
        if path == "mqtt":
            target = interval + API_MARGIN_MS + MQTT_ADDS_MS
        note = f"n={st['count']} p50 {st['p50_ms']:.2f} max {st['max_ms']:.2f}"
        t = res.get("timeouts") or {}
        if t.get("no_output") or t.get("not_zero"):
            note += f"; no output seen {t['no_output']}, not seen at 0 {t['not_zero']}"
        rows.append(Row(f"{path} p99 @{interval:g} ms", st["p99_ms"], "ms", target, note=note))
        api = results.get(f"api@{interval_s}")
        if path == "mqtt" and api and api["stats"].get("count"):
            added = st["p99_ms"] - api["stats"]["p99_ms"]
            rows.append(
                Row(
                    f"mqtt adds (p99) @{interval:g} ms",
                    round(added, 3),
                    "ms",
                    MQTT_ADDS_MS,
                    note=f"p50 adds {st['p50_ms'] - api['stats']['p50_ms']:.2f}",
                )
            )
    return rows


async def run(
    paths: Sequence[str],
    intervals: Sequence[float],
    count: int,
    parallel: int,
    tui_count: int,
    lean: bool = False,
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    loads: dict[str, Any] = {}
    errors = LoopErrors().install()
    if "api" in paths:
        for iv in intervals:
            loads[f"api@{iv:g}"] = machine_info()["loadavg"]
            n = rigs_for(parallel, iv)
            results[f"api@{iv:g}"] = await in_workers("api", iv, count, n, 0, lean)
    if "mqtt" in paths:
        with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
            for iv in intervals:
                loads[f"mqtt@{iv:g}"] = machine_info()["loadavg"]
                n = rigs_for(parallel, iv)
                results[f"mqtt@{iv:g}"] = await in_workers("mqtt", iv, count, n, broker.port, lean)
    if "tui" in paths:
        iv = 30.0 if 30.0 in intervals else intervals[0]
        loads[f"tui@{iv:g}"] = machine_info()["loadavg"]
        results[f"tui@{iv:g}"] = await bench_tui(iv, tui_count)
    for key, load in loads.items():
        results[key]["loadavg_at_start"] = load
    results["loop_errors"] = {"counts": errors.counts}
    return results


def main(argv: list[str] | None = None) -> int:
    p = parser("stop latency: stop call -> delivered output 0 on the simulator's record")
    p.add_argument("--paths", default="api,mqtt,tui")
    p.add_argument("--intervals", default="7.5,30,100")
    p.add_argument("--count", type=int, default=None, help="stops per path and interval")
    p.add_argument(
        "--parallel", type=int, default=4, help="worker processes cycling at once (one rig each)"
    )
    p.add_argument("--worker", choices=["api", "mqtt"], help=argparse.SUPPRESS)
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--broker-port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--tui-count", type=int, default=None)
    p.add_argument(
        "--lean-radio",
        action="store_true",
        help="experiment: cheap stand-ins for bumble's eager debug formatting "
        "(benchmarks.common.lean_bumble_logging)",
    )
    args = p.parse_args(argv)
    if args.lean_radio:
        lean_bumble_logging()
    count = args.count or (200 if args.quick else 1000)
    if args.worker:
        global _worker_index
        _worker_index = args.worker_index
        iv = float(args.intervals.split(",")[0])
        res = asyncio.run(_worker(args.worker, iv, count, args.broker_port))
        sys.stdout.write(json.dumps(res) + "\n")
        return 0
    tui_count = args.tui_count or (50 if args.quick else 100)
    paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    intervals = [float(x) for x in args.intervals.split(",")]
    parallel = max(1, min(args.parallel, count))
    results = asyncio.run(run(paths, intervals, count, parallel, tui_count, args.lean_radio))
    rows = _rows(results)
    emit(
        "stop_latency",
        "Stop latency (stop call -> simulator's delivered output 0)",
        rows,
        as_json=args.json,
        settings={
            "paths": paths,
            "intervals_ms": intervals,
            "count": count,
            "worker_processes": {f"{iv:g}": rigs_for(parallel, iv) for iv in intervals},
            "tui_count": tui_count,
            "tui_parallel": 1,
            "lean_radio": args.lean_radio,
            "session": "10 mA target, conventional program, stop within one interval",
        },
        details=results,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
