"""Benchmark 5: one process driving 8, 32 and 64 simulated wearables on one radio.

    .venv/bin/python -m benchmarks.scale [--sizes 8,32,64] [--trials 10] [--window-s 5]
        [--quick] [--json]

One process (one event loop) holds one Controller per wearable, every wearable on the same
virtual radio (30 ms connection interval, advertising every 100 ms). Each trial starts a
session on every wearable (10 mA target, ramping at 2 mA/s), waits until every record shows
output, then stops all at once (``Controller.stop`` on every controller, gathered) and times
until every record shows 0: the stop-all latency is the last wearable's; the per-wearable
latencies are kept too. CPU per wearable: process CPU time (utime + stime) over a
``--window-s`` window with every session ramping, divided by the wearables: it includes the
simulated wearables and the radio, which run in the same process (an upper bound for the
controller's own share).

Target: stop-all p99 <= 50 ms at 64 wearables. ``--quick``: 5 trials, 3 s window.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from benchmarks.common import (
    LoopErrors,
    Row,
    emit,
    lean_bumble_logging,
    make_rig,
    parser,
    summarize,
)
from tens.cli.bench import ModelOnWatch, RecordWatch

TARGET_MS = 50.0


async def _size(n: int, trials: int, window_s: float) -> dict[str, Any]:
    from simulators.radio import VirtualRadio
    from tens.controller import StartRequest
    from tens.events import Source

    radio = await VirtualRadio.local()
    rigs: list[Any] = []
    gate = asyncio.Semaphore(8)
    t_connect = time.monotonic()

    async def one(i: int) -> Any:
        async with gate:
            return await make_rig(
                f"SC{n}-{i}",
                radio=radio,
                interval_ms=30.0,
                sim_options={"advertising_interval_ms": 100.0},
            )

    loop = asyncio.get_running_loop()
    rng = random.Random(n)
    try:
        rigs = list(await asyncio.gather(*(one(i) for i in range(n))))
        connect_s = time.monotonic() - t_connect
        watches = [RecordWatch(r.record, r.ctrl.device.capabilities.channels) for r in rigs]
        request = StartRequest(intensity=10.0, minutes=5.0, placement="lower-back")
        all_s: list[float] = []
        each_s: list[float] = []
        cpu_pct: float | None = None
        refused: list[str] = []
        for trial in range(trials):
            ons = [asyncio.ensure_future(ModelOnWatch(r.sim).wait_on(30.0)) for r in rigs]
            decisions = await asyncio.gather(*(r.ctrl.start(request, Source.CLI) for r in rigs))
            refused += [d.reason for d in decisions if d.refused]
            await asyncio.gather(*ons)
            if trial == 0:
                c0, w0 = time.process_time(), loop.time()
                await asyncio.sleep(window_s)
                cpu_pct = 100.0 * (time.process_time() - c0) / (loop.time() - w0) / n
            await asyncio.sleep(rng.uniform(0.0, 0.03))
            t0 = loop.time()
            zeros = [asyncio.ensure_future(w.wait_zero(t0, 10.0)) for w in watches]
            await asyncio.sleep(0)
            await asyncio.gather(*(r.ctrl.stop(Source.CLI, "bench stop-all") for r in rigs))
            done = await asyncio.gather(*zeros)
            lat = [t - t0 for t in done]
            each_s += lat
            all_s.append(max(lat))
        for w in watches:
            w.close()
    finally:
        await asyncio.gather(*(r.close() for r in rigs), return_exceptions=True)
        await radio.close()
    return {
        "wearables": n,
        "connect_s": round(connect_s, 2),
        "stop_all": summarize(all_s),
        "per_wearable": summarize(each_s),
        "cpu_pct_per_wearable": None if cpu_pct is None else round(cpu_pct, 3),
        "refused": refused[:3],
    }


async def run(
    sizes: list[int], trials: int, window_s: float, lean_radio: bool = False
) -> dict[str, Any]:
    errors = LoopErrors().install()
    out: dict[str, Any] = {}
    if lean_radio:
        out["lean_radio_patched"] = lean_bumble_logging()
    for n in sizes:
        out[str(n)] = await _size(n, trials, window_s)
    out["loop_errors"] = errors.counts
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser("scale: stop-all latency and CPU per wearable with 8/32/64 wearables")
    p.add_argument("--sizes", default="8,32,64")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--window-s", type=float, default=None)
    p.add_argument(
        "--lean-radio",
        action="store_true",
        help="experiment: cheap stand-ins for bumble's eager debug formatting "
        "(benchmarks.common.lean_bumble_logging)",
    )
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    trials = args.trials or (5 if args.quick else 10)
    window = args.window_s or (3.0 if args.quick else 5.0)
    res = asyncio.run(run(sizes, trials, window, args.lean_radio))
    rows: list[Row] = []
    for n in sizes:
        r = res[str(n)]
        st, each = r["stop_all"], r["per_wearable"]
        rows.append(
            Row(
                f"stop-all p99, {n} wearables",
                st.get("p99_ms"),
                "ms",
                TARGET_MS if n == max(sizes) else None,
                note=f"trials {st.get('count')}, p50 {st.get('p50_ms')}; per wearable p99 "
                f"{each.get('p99_ms')}",
            )
        )
        rows.append(
            Row(
                f"CPU per wearable, {n} wearables",
                r["cpu_pct_per_wearable"],
                "%",
                None,
                note="of one core, sessions ramping; includes simulators",
            )
        )
    emit(
        "scale",
        "Scale: one process, N controllers and N simulated wearables on one radio",
        rows,
        as_json=args.json,
        settings={
            "sizes": sizes,
            "trials": trials,
            "cpu_window_s": window,
            "interval_ms": 30.0,
            "advertising_interval_ms": 100.0,
            "lean_radio": args.lean_radio,
        },
        details=res,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
