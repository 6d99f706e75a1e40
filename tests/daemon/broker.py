"""A real Mosquitto broker on a free loopback port, for the daemon tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)
NO_BROKER_REASON = "mosquitto not installed (Debian: apt-get install mosquitto mosquitto-clients)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """One mosquitto process; ``stop()`` and ``start()`` again keep the same port."""

    workdir: Path
    port: int
    extra_conf: str = ""
    listener_conf: str | None = None
    """Replaces the default anonymous plain-TCP listener lines (e.g. for TLS and passwords)."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def start(self) -> None:
        assert MOSQUITTO is not None
        listener = self.listener_conf or f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        self.conf_path.write_text(
            listener + "set_tcp_nodelay true\n"
            "user root\n"  # only applies when started as root: keep reading our temp files
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n" + self.extra_conf,
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "mosquitto.log", "ab"),
        )
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "mosquitto exited: " + (self.workdir / "mosquitto.log").read_text()
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.01)
        raise RuntimeError("mosquitto did not listen within 5 s")

    def stop(self) -> None:
        """Stop it by its pid (SIGTERM, then SIGKILL)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None


@contextlib.contextmanager
def running_broker(
    workdir: Path, extra_conf: str = "", listener_conf: str | None = None, port: int | None = None
) -> Iterator[Broker]:
    broker = Broker(workdir, port or free_port(), extra_conf, listener_conf)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
