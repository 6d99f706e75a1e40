"""Benchmark 3: timing steadiness of the output task's ticks under load.

    .venv/bin/python -m benchmarks.jitter [--load mqtt,tui] [--ramp-s 15] [--hold-s 15]
        [--rate 100] [--quick] [--json]

A ``tens.daemon`` Daemon (controller, MQTT bridge) runs in this process over a simulated
wearable (30 ms connection interval); the controller's device is wrapped by a probe that
timestamps every ``set_output`` and ``keepalive`` call the session's output task makes. Load,
each in its own process: a publisher sending ``cmd/program`` commands to the daemon at
``--rate`` messages/s (each answered with a result and an event), and the TUI (headless)
redrawing over its own session. The machine's 2 cores are shared by all of them.

- Ramp ticks run on a fixed 100 ms grid: lateness = t_k - (anchor + k x 100 ms), where the
  anchor is the earliest point of the grid (the least late tick counts as on time). The
  first ramp step is not on the grid (it is written as soon as the start's zero is
  acknowledged), so it is left out.
- Keepalives follow each other by the keepalive period: lateness = gap - period.

Target: p99 lateness <= 5 ms. ``--quick``: 8 s of ramp and 8 s of holding.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    LoopErrors,
    Row,
    emit,
    env_without_venv_noise,
    make_rig,
    mqtt_settings,
    parser,
    running_broker,
    running_daemon,
    summarize,
)

TARGET_MS = 5.0


class TickProbe:
    """A Device wrapper that timestamps the output task's writes and keepalives."""

    def __init__(self, device: Any) -> None:
        self._device = device
        self.writes: list[float] = []
        self.keepalives: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)

    async def set_output(self, channel: int, output: Any) -> None:
        if channel == 0:
            self.writes.append(asyncio.get_running_loop().time())
        await self._device.set_output(channel, output)

    async def keepalive(self) -> None:
        self.keepalives.append(asyncio.get_running_loop().time())
        await self._device.keepalive()


def grid_lateness(times: list[float], period: float) -> list[float]:
    """Lateness of each tick against the best-fitting fixed grid (earliest anchor)."""
    if not times:
        return []
    t0 = times[0]
    ks = [round((t - t0) / period) for t in times]
    anchor = min(t - k * period for t, k in zip(times, ks, strict=True))
    return [t - (anchor + k * period) for t, k in zip(times, ks, strict=True)]


def gap_lateness(times: list[float], period: float) -> list[float]:
    return [b - a - period for a, b in itertools.pairwise(times)]


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks._load", *args],
        cwd=str(ROOT),
        env=env_without_venv_noise(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(loads: list[str], ramp_s: float, hold_s: float, rate: float) -> dict[str, Any]:
    from tens.controller import StartRequest
    from tens.events import Source
    from tens.session import KEEPALIVE_FRACTION, TICK_S

    errors = LoopErrors().install()
    probes: list[TickProbe] = []

    def wrap(device: Any) -> TickProbe:
        probe = TickProbe(device)
        probes.append(probe)
        return probe

    # ramp 2 mA/s (the default limit): ramp_s seconds of ramp reach 2 x ramp_s mA
    target = min(40.0, round(2.0 * ramp_s, 1))
    rig = await make_rig("OT-JIT", interval_ms=30.0, wrap_device=wrap)
    procs: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
            settings = mqtt_settings(broker.port, "jitter")
            async with running_daemon(rig.ctrl, settings) as daemon:
                topic = f"{settings.prefix}/jitter/cmd/program"
                if "mqtt" in loads:
                    procs.append(_spawn("mqtt", str(broker.port), topic, str(rate)))
                if "tui" in loads:
                    procs.append(_spawn("tui"))
                await asyncio.sleep(3.0)  # the load processes start up (imports, connect)
                assert daemon.bridge is not None
                probe = probes[-1]
                caps = rig.ctrl.device.capabilities
                ka = caps.keepalive_interval_s
                if caps.watchdog_timeout_s:
                    wd = caps.watchdog_timeout_s * KEEPALIVE_FRACTION
                    ka = wd if ka is None else min(ka, wd)
                decision = await rig.ctrl.start(
                    StartRequest(intensity=target, minutes=30.0, placement="lower-back"),
                    Source.CLI,
                )
                if decision.refused:
                    raise RuntimeError(f"start refused: {decision.reason}")
                loop = asyncio.get_running_loop()
                cpu0 = [_cpu(p.pid) for p in procs]
                own0 = time.process_time()
                t_start = loop.time()
                while rig.ctrl.snapshot().setpoint < target - 1e-6:
                    await asyncio.sleep(0.2)
                    if loop.time() - t_start > ramp_s * 3 + 10:
                        break
                ramp_end = loop.time()
                await asyncio.sleep(hold_s)
                t_end = loop.time()
                cpu1 = [_cpu(p.pid) for p in procs]
                own_pct = 100 * (time.process_time() - own0) / (t_end - t_start)
                await rig.ctrl.stop(Source.CLI, "bench done")
                # writes[0] is the start's zero and writes[1] the first step, written as soon
                # as the zero is acknowledged; the fixed grid starts with writes[2]
                ramp_ticks = [t for t in probe.writes[2:] if t <= ramp_end]
                kas = [t for t in probe.keepalives if t > ramp_end]
                result = {
                    "ramp": summarize([max(0.0, x) for x in grid_lateness(ramp_ticks, TICK_S)]),
                    "keepalive": summarize(gap_lateness(kas, float(ka or 0.0))),
                    "tick_s": TICK_S,
                    "keepalive_s": ka,
                    "target_ma": target,
                    "ramp_s_measured": round(ramp_end - t_start, 2),
                    "hold_s": hold_s,
                    "daemon_process_cpu_percent": round(own_pct, 1),
                    "load_cpu_percent": {
                        name: round(100 * ((b or 0) - (a or 0)) / (t_end - t_start), 1)
                        for name, a, b in zip(loads, cpu0, cpu1, strict=False)
                    },
                }
    finally:
        for p in procs:
            p.kill()
            p.wait()
        await rig.close()
    result["loop_errors"] = errors.counts
    return result


def _cpu(pid: int) -> float | None:
    from benchmarks.common import cpu_seconds

    return cpu_seconds(pid)


def main(argv: list[str] | None = None) -> int:
    p = parser("timing steadiness: ramp and keepalive tick lateness under load")
    p.add_argument("--load", default="mqtt,tui", help="mqtt,tui or none")
    p.add_argument("--ramp-s", type=float, default=None)
    p.add_argument("--hold-s", type=float, default=None)
    p.add_argument("--rate", type=float, default=100.0, help="MQTT messages/s")
    args = p.parse_args(argv)
    loads = [x for x in args.load.split(",") if x in ("mqtt", "tui")]
    ramp_s = args.ramp_s or (8.0 if args.quick else 15.0)
    hold_s = args.hold_s or (8.0 if args.quick else 15.0)
    with contextlib.suppress(KeyboardInterrupt):
        res = asyncio.run(run(loads, ramp_s, hold_s, args.rate))
    rows = []
    for kind in ("ramp", "keepalive"):
        st = res[kind]
        if not st.get("count"):
            rows.append(Row(f"{kind} ticks: none measured", None, "ms"))
            continue
        rows.append(
            Row(
                f"{kind} tick lateness p99",
                st["p99_ms"],
                "ms",
                TARGET_MS,
                note=f"n={st['count']} p50 {st['p50_ms']:.2f} max {st['max_ms']:.2f}",
            )
        )
    emit(
        "jitter",
        "Timing steadiness: tick lateness while the daemon carries MQTT and the TUI renders",
        rows,
        as_json=args.json,
        settings={
            "load": loads or ["none"],
            "mqtt_rate_per_s": args.rate if "mqtt" in loads else 0,
            "ramp_s": ramp_s,
            "hold_s": hold_s,
            "interval_ms": 30.0,
        },
        details=res,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
