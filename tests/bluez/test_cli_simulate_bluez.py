"""``tens simulate --bluez`` end to end: one process serves the fake BlueZ on its private bus;
``tens scan`` in another process and a driver in this one reach it through bleak's default
backend with nothing but ``DBUS_SYSTEM_BUS_ADDRESS``; SIGTERM stops it and its dbus-daemon."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.registry import find
from devices.transport import BleTransport
from simulators.bluez.daemon import find_dbus_daemon
from tens.device import ChannelOutput
from tests.bluez.conftest import drop_bleak_manager, reset_bleak_bluez_state, write_bluetoothctl

pytestmark = pytest.mark.timeout(60)


def read_json_line(proc: subprocess.Popen[str], within_s: float, event: str) -> dict[str, Any]:
    """The next JSON line with this ``event`` (bounded wait on the pipe)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + within_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                continue
            line = proc.stdout.readline()
            if not line:
                break
            obj = json.loads(line)
            if obj.get("event") == event:
                return obj
    raise AssertionError(f"no {event!r} line within {within_s} s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill 0; its state tells
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def served(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], dict[str, str]]]:
    if find_dbus_daemon() is None:
        if os.environ.get("CI"):
            pytest.fail("dbus-daemon is not installed")
        pytest.skip("dbus-daemon is not installed")
    tools = write_bluetoothctl(tmp_path / "bin", "5.66")
    env = dict(os.environ)
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tens", "simulate", "--bluez", "--json", "--name", "OT-Demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        serving = read_json_line(proc, 20.0, "serving")
        yield proc, serving, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


async def test_simulate_bluez_serves_and_tens_reaches_it_over_dbus(
    served: tuple[subprocess.Popen[str], dict[str, Any], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc, serving, env = served
    assert serving["transport"] == "bluez" and serving["name"] == "OT-Demo"
    bus = serving["dbus"]
    assert serving["env"] == {"DBUS_SYSTEM_BUS_ADDRESS": bus}

    scan_env = dict(env, DBUS_SYSTEM_BUS_ADDRESS=bus)
    scan = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tens", "scan", "--json", "--timeout", "1.5"],
        capture_output=True,
        text=True,
        env=scan_env,
        timeout=30,
    )
    assert scan.returncode == 0, scan.stderr
    listed = json.loads(scan.stdout)
    assert [d["name"] for d in listed] == ["OT-Demo"] and listed[0]["driver"] == "opentens"

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus)
    monkeypatch.setenv("PATH", env["PATH"])
    reset_bleak_bluez_state()
    try:
        found = await find(BleTransport(), "OT-Demo", 5.0)
        device = found.ble_device
        from devices.opentens.driver import OpenTensDriver

        driver = OpenTensDriver(device, BleTransport())
        await driver.connect()
        try:
            assert (await asyncio.to_thread(read_json_line, proc, 5.0, "link"))[
                "link"
            ] == "connected"
            await driver.arm((0,))
            await driver.set_output(0, ChannelOutput(2.0, 200, 80))
            line = await asyncio.to_thread(read_json_line, proc, 5.0, "delivered")
            while line["intensity_ma"] == 0:
                line = await asyncio.to_thread(read_json_line, proc, 5.0, "delivered")
            assert 0 < line["intensity_ma"] <= 2.0
            await driver.stop()
        finally:
            await driver.disconnect()
    finally:
        await drop_bleak_manager()
        reset_bleak_bluez_state()

    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(read_json_line, proc, 10.0, "stopped")
    assert await asyncio.to_thread(proc.wait, 10) == 0
    for _ in range(50):
        if not pid_alive(serving["dbus_daemon_pid"]):
            break
        await asyncio.sleep(0.02)
    assert not pid_alive(serving["dbus_daemon_pid"])
