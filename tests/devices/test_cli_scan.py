"""`tens scan`: table and JSON output, empty results, errors with exit codes, no tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys

import pytest

from simulators.radio.radio import VirtualRadio
from tens.cli import build_parser
from tens.cli.scan import format_table, run
from tests.devices.scripted import start_scripted


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["scan", *argv])


@pytest.fixture
async def served(radio: VirtualRadio) -> str:
    await radio.serve_tcp("127.0.0.1", 0)
    host, port = radio.tcp_addresses[0]
    return f"{host}:{port}"


async def test_json_lists_the_device_on_a_joined_radio(
    radio: VirtualRadio, served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = await start_scripted(radio, name="Mine")
    stranger = await radio.add_peripheral("Stranger")
    await stranger.start_advertising(
        advertising_data=bytes([2, 0x01, 0x06, 9, 0x09]) + b"Stranger",
        advertising_interval_min=20,
        advertising_interval_max=20,
    )
    assert await run(parse("--radio", served, "--timeout", "0.5", "--json")) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON array on one line
    assert json.loads(out) == [
        {"name": "Mine", "address": mine.address, "driver": "opentens", "rssi": -50}
    ]
    assert await run(parse("--radio", served, "--timeout", "0.5", "--json", "--all")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["driver"]) for r in rows] == [("Mine", "opentens"), ("Stranger", None)]


async def test_table_and_env_radio(
    radio: VirtualRadio,
    served: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = await start_scripted(radio, name="Mine")
    monkeypatch.setenv("TENS_RADIO", served)
    assert await run(parse("--timeout", "0.5")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "DRIVER", "RSSI"]
    assert lines[1].split() == ["Mine", mine.address, "opentens", "-50", "dBm"]


async def test_nothing_found_is_success_with_a_message(
    served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(parse("--radio", served, "--timeout", "0.2")) == 0
    assert capsys.readouterr().out.startswith("no devices found")
    assert await run(parse("--radio", served, "--timeout", "0.2", "--json")) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no devices found" in captured.err


async def test_unreachable_radio_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(parse("--radio", "127.0.0.1:1", "--timeout", "0.2")) == 6
    err = capsys.readouterr().err
    assert "cannot reach the virtual radio at 127.0.0.1:1" in err
    assert "Traceback" not in err
    assert await run(parse("--radio", "127.0.0.1:1", "--json")) == 6
    assert "error" in json.loads(capsys.readouterr().out)


async def test_malformed_radio_and_timeout_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run(parse("--radio", "nonsense")) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert await run(parse("--timeout", "-1")) == 2


def test_no_bluetooth_is_a_clear_error_not_a_traceback(tmp_path: object) -> None:
    env = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/tens-test-bus", "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "tens", "scan", "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 6, result.stderr
    assert "Bluetooth is not available" in result.stderr
    assert "Traceback" not in result.stderr


def test_format_table_aligns_columns() -> None:
    text = format_table(
        [
            {"name": "A", "address": "AA:AA", "driver": "opentens", "rssi": -40},
            {"name": None, "address": "BB:BB", "driver": None, "rssi": None},
        ]
    )
    lines = text.splitlines()
    assert lines[1].index("AA:AA") == lines[2].index("BB:BB") == lines[0].index("ADDRESS")
    assert lines[2].split() == ["?", "BB:BB", "-"]


async def test_simulator_flag_scans_an_in_process_wearable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run(parse("--simulator", "--timeout", "0.5", "--json")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["driver"]) for r in rows] == [("OpenTENS-Sim", "opentens")]


SCAN = (sys.executable, "-m", "tens", "scan")


def test_two_processes_simulate_and_scan() -> None:
    """`tens simulate --listen 127.0.0.1:0` in one process, `tens scan --radio` in another."""
    env = {k: v for k, v in os.environ.items() if k != "TENS_RADIO"}
    sim = subprocess.Popen(
        [sys.executable, "-m", "tens", "simulate", "--listen", "127.0.0.1:0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert sim.stdout is not None
        serving = json.loads(sim.stdout.readline())
        assert serving["event"] == "serving", serving
        result = subprocess.run(
            [*SCAN, "--json", "--timeout", "1", "--radio", serving["radio"]],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert rows == [
            {
                "name": serving["name"],
                "address": serving["address"],
                "driver": "opentens",
                "rssi": rows[0]["rssi"],
            }
        ]
        assert isinstance(rows[0]["rssi"], int)
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
    errors = sim.stderr.read() if sim.stderr else ""
    for pipe in (sim.stdout, sim.stderr):
        if pipe is not None:
            pipe.close()
    assert sim.returncode == 0, errors


def test_an_unprotected_link_is_said_plainly() -> None:
    from tens.cli.scan import unprotected_note

    rows = [
        {"name": "Mine", "address": "AA:AA", "driver": "opentens", "rssi": -40},
        {"name": "47L121000", "address": "BB:BB", "driver": "coyote3", "rssi": -50},
        {"name": None, "address": "CC:CC", "driver": None, "rssi": None},
    ]
    note = unprotected_note(rows)
    assert note.count("\n") == 1  # only the Coyote: OpenTENS v2 needs a bond, no driver: none
    assert "47L121000 (coyote3): link UNPROTECTED" in note
