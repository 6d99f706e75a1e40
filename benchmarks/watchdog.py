"""Benchmark 2: a controller process dies mid-session; how soon is the output 0?

    .venv/bin/python -m benchmarks.watchdog [--runs 100] [--modes kill,freeze] [--parallel 4]
        [--quick] [--json]

The simulated wearables live in this process on a virtual radio served over TCP; each run
forks a controller process (``benchmarks/_victim.py``) that joins the radio, connects and
starts a session from zero. Once the wearable's record shows output, after a random moment
within a keepalive period, the process is

- ``kill``: sent SIGKILL. Its socket closes with it, so the link drops and the wearable
  zeroes on the disconnect (rule 1), as a device does when the central's link goes away.
- ``freeze``: sent SIGSTOP (a hung controller). The link stays up and nothing is written:
  only the device's own watchdog (1.0 s) can zero the output (rule 2). The process is
  killed afterwards.

Latency runs from the signal to the record showing 0 on every channel, with the cause the
device model recorded. Target: <= 1.0 s (the device timeout) in every run.
``--quick``: 20 runs per mode.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import ROOT, LoopErrors, Row, emit, env_without_venv_noise, parser, summarize
from tens.cli.bench import ModelOnWatch, RecordWatch

TARGET_S = 1.0
KEEPALIVE_PHASE_S = 0.25


class Zygote:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lock = asyncio.Lock()

    @classmethod
    async def start(cls) -> Zygote:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._victim",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
            env=env_without_venv_noise(),
        )
        return cls(proc)

    async def fork(self, host: str, port: int, name: str) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self.lock:
            self.proc.stdin.write(f"go {host} {port} {name}\n".encode())
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        return int(line.split()[1])

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


async def _until_disconnected(sim: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while sim.model.connected and loop.time() < end:  # noqa: ASYNC110 (a foreign object's state)
        await asyncio.sleep(0.02)


@dataclass
class _Tally:
    queue: list[int]
    latencies: list[float] = field(default_factory=list)
    since_last_write: list[float] = field(default_factory=list)
    causes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


async def _worker(
    i: int, sim: Any, mode: str, tally: _Tally, zygote: Zygote, host: str, port: int
) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random(1000 + i)
    watch = RecordWatch(sim.record, sim.config.channels)
    on = ModelOnWatch(sim)
    try:
        while tally.queue:
            tally.queue.pop()
            await _until_disconnected(sim)
            pid = await zygote.fork(host, port, sim.config.name)
            try:
                await on.wait_on(20.0)
            except TimeoutError:
                tally.failures.append("no output within 20 s")
                _kill(pid, signal.SIGKILL)
                continue
            await asyncio.sleep(rng.uniform(0.0, KEEPALIVE_PHASE_S))
            t0 = loop.time()
            _kill(pid, signal.SIGKILL if mode == "kill" else signal.SIGSTOP)
            try:
                t_zero: float | None = await watch.wait_zero(t0, 5.0)
            except TimeoutError:
                tally.failures.append("output not 0 within 5 s")
                t_zero = None
            _kill(pid, signal.SIGKILL)
            if t_zero is not None:
                tally.latencies.append(t_zero - t0)
                # the device's timeout runs from the last command it accepted, which may be
                # one still in flight when the signal came (read from the model, for the note)
                last = getattr(sim.model, "_last_write_t", None)
                if isinstance(last, float) and sim.record[-1].cause == "watchdog":
                    tally.since_last_write.append(t_zero - last)
                cause = sim.record[-1].cause
                tally.causes[cause] = tally.causes.get(cause, 0) + 1
    finally:
        watch.close()


async def run(runs: int, modes: list[str], parallel: int) -> dict[str, Any]:
    from simulators.opentens import SimConfig, start_simulated_wearable
    from simulators.radio import VirtualRadio

    errors = LoopErrors().install()
    radio = await VirtualRadio.local()
    await radio.serve_tcp("127.0.0.1", 0)
    host, port = radio.tcp_addresses[0]
    sims = [
        await start_simulated_wearable(
            radio, name=f"WD-{i}", config=SimConfig(interval_ms=30.0, watchdog_ms=1000)
        )
        for i in range(parallel)
    ]
    zygote = await Zygote.start()
    out: dict[str, Any] = {}
    try:
        for mode in modes:
            tally = _Tally(list(range(runs)))
            await asyncio.gather(
                *(_worker(i, s, mode, tally, zygote, host, port) for i, s in enumerate(sims))
            )
            out[mode] = {
                "stats": summarize(tally.latencies),
                "watchdog_after_last_write": summarize(tally.since_last_write),
                "causes": tally.causes,
                "over_target": sum(1 for x in tally.latencies if x > TARGET_S),
                "failures": tally.failures,
            }
    finally:
        await zygote.close()
        for s in sims:
            await s.close()
        await radio.close()
    out["loop_errors"] = errors.counts
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser("watchdog: controller process killed/frozen mid-session -> output 0")
    p.add_argument("--runs", type=int, default=None, help="runs per mode (default 100)")
    p.add_argument("--modes", default="kill,freeze")
    p.add_argument("--parallel", type=int, default=4, help="wearables (and victims) at once")
    args = p.parse_args(argv)
    runs = args.runs or (20 if args.quick else 100)
    modes = [m for m in args.modes.split(",") if m in ("kill", "freeze")]
    res = asyncio.run(run(runs, modes, max(1, args.parallel)))
    rows: list[Row] = []
    for mode in modes:
        st = res[mode]["stats"]
        causes = ", ".join(f"{k} {v}" for k, v in sorted(res[mode]["causes"].items()))
        if st.get("count"):
            rows.append(
                Row(
                    f"{mode}: max (n={st['count']})",
                    st["max_ms"],
                    "ms",
                    TARGET_S * 1000,
                    note=f"p50 {st['p50_ms']:.1f} p99 {st['p99_ms']:.1f}; cause: {causes}",
                )
            )
        after = res[mode]["watchdog_after_last_write"]
        if after.get("count"):
            rows.append(
                Row(
                    f"{mode}: after the last command heard, max",
                    after["max_ms"],
                    "ms",
                    TARGET_S * 1000,
                    note=f"p50 {after['p50_ms']:.1f}; the device's own timeout runs from here",
                )
            )
        if res[mode]["failures"]:
            first = res[mode]["failures"][0]
            rows.append(Row(f"{mode}: failed runs", len(res[mode]["failures"]), "", 0, note=first))
    emit(
        "watchdog",
        "Watchdog: controller process killed (SIGKILL) or frozen (SIGSTOP) -> output 0",
        rows,
        as_json=args.json,
        settings={
            "runs_per_mode": runs,
            "modes": modes,
            "parallel": args.parallel,
            "interval_ms": 30.0,
            "device_watchdog_ms": 1000,
            "signal_phase": f"uniform 0-{KEEPALIVE_PHASE_S} s after output seen",
        },
        details=res,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
