"""Benchmark 4: footprint: daemon RSS and CPU, TUI RSS, and the cold start of `tens --help`.

    .venv/bin/python -m benchmarks.footprint [--settle-s 10] [--window-s 10] [--quick] [--json]

- ``tens daemon`` runs as on a Pi: its own process, bleak's BlueZ backend (the fake BlueZ of
  ``tens simulate --bluez`` on a private D-Bus, the simulated wearable in that process),
  MQTT to a local Mosquitto, its store in a fresh TENS_HOME. After ``--settle-s`` (connected,
  discovery published) RSS (VmRSS, and the peak VmHWM) and CPU (utime + stime over
  ``--window-s``, from /proc) are read idle; then a session is started over MQTT and CPU and
  RSS are read again while it runs (ramping, then holding at 10 mA).
- ``tens tui --simulator`` runs in a pseudo-terminal (a real terminal driver, 120 x 40);
  RSS after ``--settle-s``. Its simulator is in the same process (bumble): an upper bound.
- ``tens --help``: wall time of 10 cold starts (``python -c pass`` beside it), and
  ``-X importtime``: the modules that cost most (cumulative, top-level imports).

Targets: daemon <= 60 MB RSS and <= 1 % of a core idle; ``tens --help`` <= 150 ms.
``--quick``: 6 s settle, 5 s windows, 5 cold starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    Row,
    cpu_seconds,
    emit,
    env_without_venv_noise,
    parser,
    running_broker,
)

TENS = str(Path(sys.executable).with_name("tens"))
RSS_TARGET_MB = 60.0
CPU_TARGET_PCT = 1.0
HELP_TARGET_MS = 150.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _proc_mem(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def _cpu_window(pid: int, seconds: float) -> float | None:
    a = cpu_seconds(pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    b = cpu_seconds(pid)
    if a is None or b is None:
        return None
    return 100.0 * (b - a) / (time.monotonic() - t0)


async def _mqtt(port: int, base: str, start: bool, within: float = 20.0) -> dict[str, Any]:
    """The daemon's retained state; with ``start``, publish cmd/start first ({} if none)."""
    try:
        return await _mqtt_once(port, base, start, within)
    except TimeoutError:
        return {}


async def _mqtt_once(port: int, base: str, start: bool, within: float) -> dict[str, Any]:
    from benchmarks.common import nodelay_client

    async with nodelay_client(port, "bench-footprint") as client:
        if start:
            payload = {
                "v": 1,
                "ts": time.time(),
                "intensity": 10.0,
                "minutes": 10,
                "placement": "lower-back",
            }
            await client.subscribe(f"{base}/cmd/start/result", qos=1)
            await client.publish(f"{base}/cmd/start", json.dumps(payload).encode(), qos=1)
            async with asyncio.timeout(within):
                async for msg in client.messages:
                    return dict(json.loads(bytes(msg.payload)))
        await client.subscribe(f"{base}/state", qos=1)
        async with asyncio.timeout(within):
            async for msg in client.messages:
                return dict(json.loads(bytes(msg.payload)))
    return {}


def _prepare_home(home: Path, port: int) -> Path:
    from tens.checklist import none_apply
    from tens.electrodes import COMMON_SIZES
    from tens.store import open_db
    from tens.store.electrodes import state_electrode
    from tens.store.sessions import record_checklist

    home.mkdir(parents=True, exist_ok=True)
    conn = open_db(home / "tens.db")
    record_checklist(conn, none_apply(), False)
    for ch in range(2):  # the pads, as `tens electrodes set` states them
        state_electrode(conn, ch, COMMON_SIZES["5x5"])
    conn.close()
    cfg = home / "bench.toml"
    cfg.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ncontroller_id = "footprint"\n'
        "remote_start = true\n",
        encoding="utf-8",
    )
    return cfg


def daemon_footprint(settle_s: float, window_s: float) -> dict[str, Any]:
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        env = env_without_venv_noise()
        env["TENS_HOME"] = str(tmpdir / "home")
        sim = subprocess.Popen(
            [TENS, "simulate", "--bluez", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=str(ROOT),
        )
        daemon: subprocess.Popen[bytes] | None = None
        try:
            assert sim.stdout is not None
            serving = json.loads(sim.stdout.readline())
            env.update(serving["env"])
            with running_broker(tmpdir) as broker:
                cfg = _prepare_home(tmpdir / "home", broker.port)
                daemon = subprocess.Popen(
                    [
                        TENS,
                        "daemon",
                        "--config",
                        str(cfg),
                        "--device",
                        serving["name"],
                        "--log-level",
                        "warning",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=open(tmpdir / "daemon.log", "wb"),
                    env=env,
                    cwd=str(ROOT),
                )
                time.sleep(settle_s)
                state = asyncio.run(_mqtt(broker.port, "tens/footprint", False))
                res["link"] = state.get("link")
                res["idle_cpu_pct"] = _cpu_window(daemon.pid, window_s)
                res["idle_mem_kib"] = _proc_mem(daemon.pid)
                reply = asyncio.run(_mqtt(broker.port, "tens/footprint", True))
                res["start_reply"] = {k: reply.get(k) for k in ("ok", "outcome", "reason")}
                res["session_cpu_pct"] = _cpu_window(daemon.pid, window_s)
                res["session_mem_kib"] = _proc_mem(daemon.pid)
                state = asyncio.run(_mqtt(broker.port, "tens/footprint", False))
                res["session_state"] = state.get("session")
                res["session_delivered"] = state.get("delivered")
                res["threads"] = len(os.listdir(f"/proc/{daemon.pid}/task"))
                res["daemon_exit"] = daemon.poll()
                _stop(daemon)
                res["log_tail"] = (tmpdir / "daemon.log").read_text(errors="replace")[-1500:]
        finally:
            if daemon is not None:
                _stop(daemon)
            _stop(sim)
    return res


def tui_footprint(settle_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = env_without_venv_noise()
        env.update(TENS_HOME=str(Path(tmp) / "home"), TERM="xterm-256color")
        env.update(COLUMNS="120", LINES="40")
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(str(ROOT))
            os.execve(TENS, [TENS, "tui", "--simulator", "--no-pain-prompts"], env)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        end = time.monotonic() + settle_s
        received = 0
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    received += len(os.read(fd, 65536))
                except OSError:
                    break
        mem = _proc_mem(pid)
        cpu = cpu_seconds(pid)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return {"mem_kib": mem, "cpu_s_total": cpu, "bytes_drawn": received}


def help_cold_start(runs: int) -> dict[str, Any]:
    env = env_without_venv_noise()

    def wall(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        return time.perf_counter() - t0

    wall([TENS, "--help"])  # warm the page cache and the bytecode cache once
    helps = [wall([TENS, "--help"]) for _ in range(runs)]
    bare = [wall([sys.executable, "-c", "pass"]) for _ in range(runs)]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from tens.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    top: list[tuple[str, int, int]] = []  # (module, self us, cumulative us) at top level
    by_pkg: dict[str, int] = {}  # self time summed per top-level package
    total = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth == 0:
            top.append((name.strip(), int(self_us), int(cum_us)))
            total += int(cum_us)
        pkg = name.strip().split(".")[0]
        by_pkg[pkg] = by_pkg.get(pkg, 0) + int(self_us)
    top.sort(key=lambda x: -x[2])
    return {
        "help_ms": [round(x * 1000, 1) for x in helps],
        "help_median_ms": round(statistics.median(helps) * 1000, 1),
        "python_bare_median_ms": round(statistics.median(bare) * 1000, 1),
        "imports_total_ms": round(total / 1000, 1),
        "imports_top": [
            {"module": n, "cumulative_ms": round(c / 1000, 1), "self_ms": round(s / 1000, 1)}
            for n, s, c in top[:15]
        ],
        "self_ms_by_package": {
            k: round(v / 1000, 1) for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:15]
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = parser("footprint: daemon RSS/CPU, TUI RSS, `tens --help` cold start")
    p.add_argument("--settle-s", type=float, default=None)
    p.add_argument("--window-s", type=float, default=None)
    p.add_argument("--runs", type=int, default=None, help="cold starts of `tens --help`")
    args = p.parse_args(argv)
    settle = args.settle_s or (6.0 if args.quick else 10.0)
    window = args.window_s or (5.0 if args.quick else 10.0)
    runs = args.runs or (5 if args.quick else 10)
    cold = help_cold_start(runs)
    daemon = daemon_footprint(settle, window)
    tui = tui_footprint(settle)
    mb = 1024.0

    def mem(d: dict[str, Any], key: str) -> float | None:
        v = d.get(key, {}).get("VmRSS")
        return round(v / mb, 1) if v else None

    def cpu(key: str) -> float | None:
        v = daemon.get(key)
        return round(v, 2) if v is not None else None

    top3 = ", ".join(f"{m['module']} {m['cumulative_ms']:.0f}" for m in cold["imports_top"][:3])
    rows = [
        Row(
            "daemon RSS, idle",
            mem(daemon, "idle_mem_kib"),
            "MB",
            RSS_TARGET_MB,
            note=f"link {daemon.get('link')}",
        ),
        Row("daemon CPU, idle", cpu("idle_cpu_pct"), "%", CPU_TARGET_PCT, note="of one core"),
        Row(
            "daemon RSS, session",
            mem(daemon, "session_mem_kib"),
            "MB",
            RSS_TARGET_MB,
            note=f"session {daemon.get('session_state')}",
        ),
        Row("daemon CPU, session", cpu("session_cpu_pct"), "%", None, note="of one core"),
        Row("TUI RSS (+ its simulator)", mem(tui, "mem_kib"), "MB", None),
        Row(
            "tens --help cold start",
            cold["help_median_ms"],
            "ms",
            HELP_TARGET_MS,
            note=f"python -c pass {cold['python_bare_median_ms']:.0f} ms; {top3}",
        ),
    ]
    emit(
        "footprint",
        "Footprint: RSS and CPU of the daemon and the TUI, cold start of `tens --help`",
        rows,
        as_json=args.json,
        settings={
            "settle_s": settle,
            "window_s": window,
            "help_runs": runs,
            "daemon_backend": "bleak BlueZ backend on the fake BlueZ (tens simulate --bluez)",
        },
        details={"daemon": daemon, "tui": tui, "help": cold},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
