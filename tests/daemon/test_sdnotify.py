"""sd_notify against a real datagram socket, as systemd listens on one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tens.daemon.sdnotify import SdNotifier


def test_outside_systemd_everything_is_a_no_op() -> None:
    n = SdNotifier(environ={})
    assert not n.enabled and n.watchdog_interval_s is None
    assert n.ready() is False and n.watchdog() is False


def test_messages_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        n = SdNotifier(
            environ={
                "NOTIFY_SOCKET": path,
                "WATCHDOG_USEC": "10000000",
                "WATCHDOG_PID": str(os.getpid()),
            }
        )
        assert n.enabled and n.watchdog_interval_s == 5.0
        assert n.ready("serving")
        assert server.recv(256) == b"READY=1\nSTATUS=serving"
        assert n.watchdog()
        assert server.recv(256) == b"WATCHDOG=1"
        assert n.stopping()
        assert server.recv(256) == b"STOPPING=1"
        n.close()


def test_abstract_socket_and_foreign_watchdog_pid() -> None:
    name = f"tens-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(2)
        n = SdNotifier(
            environ={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}
        )
        assert n.watchdog_interval_s is None  # the watchdog is meant for another process
        assert n.status("hello")
        assert server.recv(256) == b"STATUS=hello"
        n.close()
