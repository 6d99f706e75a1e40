"""A private ``dbus-daemon`` for the fake BlueZ: our own config file, our own socket, our pid.

``PrivateBus.start()`` writes a bus config into a fresh temporary directory, starts
``dbus-daemon --config-file=… --nofork --print-address=1`` and reads the address it prints
(bounded wait). Point ``DBUS_SYSTEM_BUS_ADDRESS`` at :attr:`PrivateBus.address` and bleak's
BlueZ backend talks to this bus instead of the system one. ``stop()`` ends the daemon by its
pid (TERM, then KILL) and removes the directory. Nothing here touches the system bus.

The config allows any local user to connect, own any name and send anything: it is a
throw-away bus for one test run or one ``tens simulate --bluez`` demo.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DBUS_DAEMON = "dbus-daemon"
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 3.0

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
  <limit name="max_incoming_unix_fds">64</limit>
  <limit name="max_outgoing_unix_fds">64</limit>
</busconfig>
"""


class BusError(RuntimeError):
    """The private bus could not be started (no dbus-daemon, bad config, timeout)."""


def find_dbus_daemon() -> str | None:
    """Path of ``dbus-daemon`` (Debian package ``dbus-daemon``), or None."""
    return shutil.which(DBUS_DAEMON) or (
        "/usr/bin/dbus-daemon" if os.access("/usr/bin/dbus-daemon", os.X_OK) else None
    )


@dataclass
class PrivateBus:
    """One running private bus. Use ``PrivateBus.start()``; ``stop()`` when done."""

    address: str
    pid: int
    directory: Path
    _process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def socket_path(self) -> Path:
        return self.directory / "bus.sock"

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    @classmethod
    def start(cls, *, timeout_s: float = START_TIMEOUT_S) -> PrivateBus:
        """Start a private dbus-daemon; raise :class:`BusError` if it is not up in time."""
        binary = find_dbus_daemon()
        if binary is None:
            raise BusError(
                "dbus-daemon is not installed (Debian package 'dbus-daemon'); "
                "the BlueZ tier needs it to run a private bus"
            )
        directory = Path(tempfile.mkdtemp(prefix="tens-bluez-bus-"))
        config = directory / "bus.conf"
        config.write_text(_CONFIG.format(socket=directory / "bus.sock"), encoding="utf-8")
        process = subprocess.Popen(
            [binary, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            address = _read_address(process, timeout_s)
        except BaseException:
            _terminate(process)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(address=address, pid=process.pid, directory=directory, _process=process)

    def stop(self) -> None:
        """End the daemon by its pid and remove its directory (idempotent)."""
        _terminate(self._process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PrivateBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_address(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The first line dbus-daemon prints on stdout: its address."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BusError(f"dbus-daemon printed no address within {timeout_s:g} s")
            if not selector.select(left):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                err = b""
                if process.stderr is not None:
                    with contextlib.suppress(OSError):
                        err = process.stderr.read() or b""
                raise BusError(
                    "dbus-daemon exited before it was ready: "
                    + (err.decode(errors="replace").strip() or f"code {process.poll()}")
                )
            buffer += chunk
    address = buffer.split(b"\n", 1)[0].decode().strip()
    if not address.startswith("unix:"):
        raise BusError(f"dbus-daemon printed an unexpected address {address!r}")
    return address


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
