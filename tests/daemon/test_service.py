"""The daemon's main: systemd notify protocol, shutdown order, and staying light."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tens.clock import LoopClock
from tens.config import TensConfig
from tens.controller import Controller
from tens.daemon.sdnotify import SdNotifier
from tens.daemon.service import Daemon
from tens.daemon.settings import MqttSettings
from tests.daemon.broker import Broker
from tests.daemon.harness import no_device


async def test_ready_watchdog_and_stopping_reach_systemd(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.setblocking(False)
    notifier = SdNotifier(
        environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())}
    )
    clock = LoopClock()
    controller = Controller(TensConfig(), no_device, None, clock)
    daemon = Daemon(controller, MqttSettings(enabled=False), clock=clock, notifier=notifier)
    loop = asyncio.get_running_loop()
    received: list[bytes] = []

    async def until(word: bytes) -> None:
        async with asyncio.timeout(5):
            while not any(word in m for m in received):
                received.append(await loop.sock_recv(server, 512))

    task = asyncio.create_task(daemon.run())
    try:
        await until(b"READY=1")
        await until(b"WATCHDOG=1")
        daemon.request_stop()
        await until(b"STOPPING=1")
        assert await task == 0
    finally:
        server.close()
    ready = next(i for i, m in enumerate(received) if b"READY=1" in m)
    stopping = next(i for i, m in enumerate(received) if b"STOPPING=1" in m)
    assert ready < stopping


def test_daemon_cli_serves_and_never_imports_textual(tmp_path: Path, broker: Broker) -> None:
    """Run `tens daemon` for real (MQTT on, no Bluetooth here), SIGTERM it once it is serving
    (its `online` on the broker, not a fixed delay: a loaded machine starts it late), then list
    the modules it had loaded."""
    code = (
        "import sys\n"
        "from tens.cli import main\n"
        "rc = main(['daemon', '--log-level', 'error'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
        "print('RC', rc, 'BAD', bad, 'MQTT', 'aiomqtt' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "TENS_HOME": str(tmp_path),
        "TENS_CONFIG": str(tmp_path / "none.toml"),
        "TENS_MQTT__HOST": "127.0.0.1",
        "TENS_MQTT__PORT": str(broker.port),
        "TENS_MQTT__CONTROLLER_ID": "cli",
    }
    watch = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-t",
            "tens/cli/availability",
            "-C",
            "1",
            "-W",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        seen, _ = watch.communicate(timeout=70)
        assert seen.strip() == "online", seen
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    assert "RC 0 BAD [] MQTT True" in out, out + err
