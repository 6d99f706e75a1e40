"""What every benchmark shares: arguments, output (table and JSON), rigs, a broker, /proc.

Benchmarks run on the real clock. Each module has ``main(argv)`` taking ``--json`` (one JSON
object on the last line) and ``--quick`` (smaller counts, documented per benchmark); the
figures carry the machine, its load average, the versions and the settings used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tens.cli.bench import machine_info, summarize

__all__ = [
    "Broker",
    "Rig",
    "Row",
    "cpu_seconds",
    "emit",
    "machine_info",
    "make_rig",
    "parser",
    "rss_kib",
    "running_broker",
    "summarize",
]

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# ---------------------------------------------------------------- arguments and output


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object (last line)")
    p.add_argument("--quick", action="store_true", help="smaller counts (see docs)")
    return p


@dataclass
class Row:
    """One line of a results table: a figure and its target (None: no target)."""

    name: str
    value: float | None
    unit: str
    target: float | None = None
    better: str = "lower"
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


def format_rows(title: str, rows: Sequence[Row]) -> str:
    width = max([len(r.name) for r in rows] + [10])
    lines = [title, f"  {'figure':<{width}} {'value':>10} {'target':>10}  ok    note"]
    for r in rows:
        value = "-" if r.value is None else f"{r.value:.2f}"
        target = (
            "-"
            if r.target is None
            else ("<= " if r.better == "lower" else ">= ") + (f"{r.target:g}")
        )
        ok = {True: "yes", False: "MISS", None: ""}[r.met]
        lines.append(
            f"  {r.name:<{width}} {value:>7} {r.unit:<2} {target:>10}  {ok:<5} {r.note}".rstrip()
        )
    return "\n".join(lines)


def emit(
    bench: str,
    title: str,
    rows: Sequence[Row],
    *,
    as_json: bool,
    settings: dict[str, Any],
    details: dict[str, Any] | None = None,
    machine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Print the table (or the JSON object) and return the JSON object."""
    result: dict[str, Any] = {
        "bench": bench,
        "title": title,
        "rows": [r.as_json() for r in rows],
        "settings": settings,
        "details": details or {},
        "machine": machine or machine_info(),
    }
    if as_json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
    else:
        m = result["machine"]
        print(format_rows(title, rows))
        print(f"  settings: {json.dumps(settings, default=str)}")
        print(
            f"  machine: {m['cpu']} x{m['cores']}, load {m['loadavg']}, python {m['python']}, "
            f"commit {m['commit']}"
        )
    sys.stdout.flush()
    return result


# ---------------------------------------------------------------- /proc


def rss_kib(pid: int) -> int | None:
    """Resident set size (VmRSS) of a process, KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- a controller on a simulator


@dataclass
class Rig:
    """The real controller driving a simulated OpenTENS wearable over the virtual radio."""

    ctrl: Any
    sim: Any
    radio: Any
    name: str
    own_radio: bool = True
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @property
    def record(self) -> Any:
        return self.sim.record

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ctrl.close()
        for fn in reversed(self.closers):
            with contextlib.suppress(Exception):
                await fn()
        with contextlib.suppress(Exception):
            await self.sim.close()
        if self.own_radio:
            with contextlib.suppress(Exception):
                await self.radio.close()


def bench_config(**limits: Any) -> Any:
    """Default config, with no rest between sessions (a bench starts hundreds of them), and a
    ``[session] placement`` (every start names one)."""
    from tens.config import SessionDefaults, TensConfig
    from tens.limits import Limits

    return TensConfig(
        limits=Limits(rest_minutes=0, **limits), session=SessionDefaults(placement="lower-back")
    )


def bench_pads() -> dict[int, Any]:
    """The simulated wearable's pads (every bench drives a simulator): declared to the
    controller as the in-process simulator declares them (tens.cli.target.simulated_pads)."""
    from tens.cli.target import simulated_pads

    return simulated_pads()


async def make_rig(
    name: str,
    *,
    interval_ms: float = 30.0,
    radio: Any = None,
    config: Any = None,
    sim_options: dict[str, Any] | None = None,
    store_path: Path | None = None,
    wrap_device: Callable[[Any], Any] | None = None,
    connect: bool = True,
) -> Rig:
    """A controller + simulated wearable (its own radio unless ``radio`` is given).

    With ``store_path`` the controller writes a real SQLite store (sessions, audit trail), the
    checklist answered; without, it runs without persistence (nothing on the stop path reads
    the store: ``Controller.stop`` writes STOP before any record is queued).
    """
    from devices import registry
    from simulators.opentens import SimConfig, start_simulated_wearable
    from simulators.radio import VirtualRadio
    from tens.controller import Controller

    own = radio is None
    if radio is None:
        radio = await VirtualRadio.local()
    sim = await start_simulated_wearable(
        radio, name=name, config=SimConfig(interval_ms=interval_ms, **(sim_options or {}))
    )
    transport = radio.transport()
    closers: list[Callable[[], Awaitable[Any]]] = []
    db = None
    if store_path is not None:
        from tens.checklist import none_apply
        from tens.store import AsyncDB
        from tens.store.sessions import record_checklist

        db = await AsyncDB.open(store_path)
        await db.run(record_checklist, none_apply(), False)
        closers.append(db.close)

    async def opener() -> Any:
        device = await registry.open_device(transport, name, 10.0)
        return wrap_device(device) if wrap_device is not None else device

    ctrl = Controller(config or bench_config(), opener, db, declared_electrodes=bench_pads())
    rig = Rig(ctrl, sim, radio, name, own_radio=own, closers=closers)
    if connect:
        await ctrl.connect()
    return rig


# ---------------------------------------------------------------- a Mosquitto broker


MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    port: int
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def running_broker(workdir: Path) -> Iterator[Broker]:
    """Mosquitto on a free loopback port, TCP_NODELAY on its side too."""
    if MOSQUITTO is None:
        raise RuntimeError("mosquitto not installed (Debian: apt-get install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
        "user root\npersistence false\nlog_dest stderr\nlog_type error\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5.0
        while True:
            if proc.poll() is not None:
                raise RuntimeError("mosquitto exited at start")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen within 5 s") from None
                time.sleep(0.02)
        yield Broker(port, proc)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def mqtt_settings(port: int, controller_id: str, **over: Any) -> Any:
    from tens.daemon.settings import MqttSettings

    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "controller_id": controller_id,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 1.0,
    }
    fields.update(over)
    return MqttSettings.model_validate(fields)


@contextlib.asynccontextmanager
async def running_daemon(ctrl: Any, settings: Any) -> AsyncIterator[Any]:
    """``tens.daemon.service.Daemon`` over ``ctrl`` in this loop, connected to the broker."""
    from tens.clock import LoopClock
    from tens.daemon.sdnotify import SdNotifier
    from tens.daemon.service import Daemon

    daemon = Daemon(
        ctrl,
        settings,
        clock=LoopClock(),
        default_program=ctrl.config.session.program,
        notifier=SdNotifier(environ={}),
    )
    task = asyncio.create_task(daemon.run())
    try:
        assert daemon.bridge is not None
        async with asyncio.timeout(15):
            await daemon.bridge.connected.wait()
        yield daemon
    finally:
        daemon.request_stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await task


def nodelay_client(port: int, identifier: str) -> Any:
    """An aiomqtt client with TCP_NODELAY (as the daemon's own)."""
    import aiomqtt

    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=identifier,
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


def env_without_venv_noise() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class LoopErrors:
    """Counts exceptions that reach the loop's handler (e.g. from library callbacks), by type
    and where they were raised, instead of printing a traceback for each."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> LoopErrors:
        (loop or asyncio.get_running_loop()).set_exception_handler(self._handle)
        return self

    def _handle(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        where = ""
        if exc is not None and exc.__traceback__ is not None:
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            code = tb.tb_frame.f_code
            where = f" at {Path(code.co_filename).name}:{tb.tb_lineno} ({code.co_name})"
        key = (type(exc).__name__ if exc else context.get("message", "?")) + where
        self.counts[key] = self.counts.get(key, 0) + 1


def lean_bumble_logging() -> list[str]:
    """An experiment, never the default: make bumble's eager debug formatting cheap.

    bumble 0.0.236 builds its ``logger.debug(f"... {packet}")`` strings (ANSI colours and
    every field of every HCI packet and ATT PDU) before the logger checks the level, for every
    packet of the virtual radio. This swaps ``color`` and the packets' ``__str__`` for cheap
    stand-ins in this process, to show how much of a figure is the simulated radio's logging
    and not tens. Returns what was patched.
    """
    import importlib

    patched: list[str] = []

    def plain(text: str, *_a: Any, **_k: Any) -> str:
        return text

    def short(self: Any) -> str:
        return type(self).__name__

    for mod_name in (
        "bumble.controller",
        "bumble.host",
        "bumble.gatt_client",
        "bumble.gatt_server",
    ):
        mod = importlib.import_module(mod_name)
        if hasattr(mod, "color"):
            setattr(mod, "color", plain)  # noqa: B010 (a module attribute mypy cannot see)
            patched.append(f"{mod_name}.color")
    hci = importlib.import_module("bumble.hci")
    att = importlib.import_module("bumble.att")
    for cls in (hci.HCI_Packet, hci.HCI_Event, hci.HCI_Command, hci.HCI_AclDataPacket, att.ATT_PDU):
        setattr(cls, "__str__", short)  # noqa: B010
        patched.append(f"{cls.__module__}.{cls.__name__}.__str__")
    return patched
