"""`tens run` end to end, as a person or script runs it: real processes, real virtual radio.

The Ctrl-C test runs the wearable in its own process (`tens simulate --json`), so what the
electrodes carried is read from the simulator's own output, not from `tens run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.stated import cli_home

TENS = [sys.executable, "-m", "tens"]


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return cli_home(str(tmp_path))


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_run_simulator_ramps_holds_and_finishes(home: dict[str, str]) -> None:
    p = subprocess.run(
        [
            *TENS,
            "run",
            "--simulator",
            "--minutes",
            "0.1",
            "--intensity",
            "3",
            "--json",
            "--placement",
            "lower-back",
        ],
        env=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    events = _events(p.stdout)
    states = [e["session"] for e in events if e["event"] == "state"]
    assert "ramping" in states and "finished" in states
    ended = [e for e in events if e["event"] == "ended"]
    assert ended and ended[-1]["state"] == "finished"
    delivered = [max(e["delivered"]) for e in events if e["event"] == "delivered"]
    assert max(delivered) == pytest.approx(3, abs=0.11)
    assert delivered[-1] == 0


def test_over_limit_refused_with_the_limit_named(home: dict[str, str]) -> None:
    p = subprocess.run(
        [*TENS, "run", "--simulator", "--minutes", "1", "--intensity", "60"],
        env=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 5
    assert "above the peak intensity limit 40 mA" in p.stdout


def test_bad_config_refused_with_the_key_named(home: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[limits]\npeak_ma = 500\n")
    p = subprocess.run(
        [*TENS, "run", "--simulator", "--intensity", "5"],
        env=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 3
    assert "limits.peak_ma" in p.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(proc: subprocess.Popen[str], pred, timeout: float) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("{"):
            ev = json.loads(line)
            seen.append(ev)
            if pred(ev):
                return seen
    raise AssertionError(f"condition not seen in time; saw {seen[-5:]}")


@pytest.mark.parametrize(
    ("signum", "said"),
    [
        (signal.SIGINT, "Ctrl-C from the terminal"),
        # SIGTERM comes from systemd, kill or a script, not from the person's terminal
        (signal.SIGTERM, "SIGTERM: asked to end by the system or another program"),
    ],
)
def test_ctrl_c_stops_output_before_exit(
    home: dict[str, str], signum: signal.Signals, said: str
) -> None:
    port = _free_port()
    sim = subprocess.Popen(
        [*TENS, "simulate", "--listen", f"127.0.0.1:{port}", "--json"],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [serving] = _read_until(sim, lambda e: e.get("event") == "serving", 60)[-1:]
        passkey = str(serving["security"]["passkey"])  # printed at start, as on the label
        paired = subprocess.run(
            [*TENS, "pair", "--radio", f"127.0.0.1:{port}", "--passkey", passkey, "--json"],
            env=home,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert paired.returncode == 0, paired.stderr
        assert _events(paired.stdout)[-1]["paired"] == serving["address"]
        # `tens run` finds it by the [device] address `tens pair` wrote, over the bonded link
        run = subprocess.Popen(
            [
                *TENS,
                "run",
                "--radio",
                f"127.0.0.1:{port}",
                "--minutes",
                "5",
                "--intensity",
                "4",
                "--json",
                "--no-prompt",
            ],
            env=home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            seen = _read_until(
                sim,
                lambda e: e.get("event") == "delivered" and e.get("intensity_ma", 0) >= 1,
                90,
            )
            run.send_signal(signum)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 9, err
        [ended] = [e for e in _events(out) if e.get("event") == "ended"]
        assert ended["state"] == "stopped" and said in ended["reason"], ended
        # the wearable's own record: the next change after Ctrl-C is to 0, by a STOP command
        # (not merely by the link dropping when the process exited)
        after = _read_until(
            sim, lambda e: e.get("event") == "delivered" and e.get("intensity_ma") == 0, 30
        )
        zero = after[-1]
        assert zero["cause"] == "stop", zero
        assert seen
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()


def test_an_unconfirmed_stop_exits_10(home: dict[str, str]) -> None:
    """The wearable's firmware hangs mid-session, its watchdog too: the session aborts, its
    STOP is never confirmed, the link is dropped, and `tens run` says so with exit 10."""
    port = _free_port()
    sim = subprocess.Popen(
        [
            *TENS,
            "simulate",
            "--listen",
            f"127.0.0.1:{port}",
            "--json",
            "--open-link",
            "--scenario",
            "hung",
            "--after",
            "3",
            "--for",
            "60",
        ],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _read_until(sim, lambda e: e.get("event") == "serving", 60)
        run = subprocess.run(
            [
                *TENS,
                "run",
                "--radio",
                f"127.0.0.1:{port}",
                "--minutes",
                "1",
                "--intensity",
                "3",
                "--json",
                "--no-prompt",
            ],
            env=home,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert run.returncode == 10, (run.stdout[-2000:], run.stderr[-2000:])
        assert "did not confirm the stop" in run.stdout
        # the wearable's own record: output ended by the disconnect, not by a STOP
        was_on: list[bool] = []

        def first_zero_after_output(e: dict) -> bool:
            if e.get("event") != "delivered":
                return False
            if e.get("intensity_ma", 0) > 0:
                was_on.append(True)
            return bool(was_on) and e.get("intensity_ma") == 0

        after = _read_until(sim, first_zero_after_output, 30)
        assert after[-1]["cause"] == "disconnect", after[-1]
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()


def test_a_refused_start_asks_no_pain_score_and_logs_nothing(home: dict[str, str]) -> None:
    """Issue 18.2 for `tens run` too: the governor is asked before the pain score, so a
    refused start (here: over the peak) leaves no journal entry behind it. A real terminal
    (a pty), since the prompt is only asked there."""
    import pty
    import sqlite3

    leader, follower = pty.openpty()
    try:
        p = subprocess.run(
            [*TENS, "run", "--simulator", "--minutes", "1", "--intensity", "60"],
            env=home,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            timeout=120,
        )
        os.set_blocking(leader, False)
        out = b""
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(leader, 65536):
                out += chunk
    finally:
        os.close(follower)
        os.close(leader)
    text = out.decode(errors="replace")
    assert p.returncode == 5, text
    assert "above the peak intensity limit" in text and "Pain now" not in text
    conn = sqlite3.connect(Path(home["TENS_HOME"]) / "tens.db")
    try:
        assert conn.execute("SELECT count(*) FROM pain_entries").fetchone()[0] == 0
    finally:
        conn.close()


def test_a_start_the_store_cannot_record_exits_4_not_5(home: dict[str, str]) -> None:
    """A database error is exit 4 (one table for every verb), even when the controller turns
    it into a refused start (code store_failed): another process holds the database."""
    import sqlite3

    db = Path(home["TENS_HOME"]) / "tens.db"
    holder = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        p = subprocess.run(
            [*TENS, "run", "--simulator", "--minutes", "1", "--intensity", "5"],
            env=home,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert p.returncode == 4, p.stdout + p.stderr


def test_the_run_prompt_gives_up_after_the_journals_tries(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tens run` asked for ever; the docs say a bad answer is asked again up to MAX_TRIES."""
    import io

    from tens.cli.run import _ask_pain
    from tens.journal.prompts import MAX_TRIES

    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n" * MAX_TRIES + "7\n"))
    assert _ask_pain("Pain now") is None
    assert capsys.readouterr().out.count("Pain now") == MAX_TRIES
    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n6\n"))
    assert _ask_pain("Pain now") == 6


def test_a_closed_output_pipe_stops_the_session(home: dict[str, str]) -> None:
    """`tens run --json | head -3`: the script reading the session is gone. As a process
    killed by SIGPIPE would, the session stops (output to zero, exit 9 "stopped"), recorded
    with its reason; no flood of "Broken pipe" errors, no session running on unwatched."""
    proc = subprocess.Popen(
        [
            *TENS,
            "run",
            "--simulator",
            "--minutes",
            "1",
            "--intensity",
            "3",
            "--json",
            "--placement",
            "lower-back",
            "--no-prompt",
        ],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until output is on: the session runs
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(json.loads(line))
        if any(v > 0 for v in lines[-1].get("delivered", []) or []):
            break
    proc.stdout.close()  # the reader goes away
    try:
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode()
    assert code == 9, err[-2000:]
    assert err.count("Broken pipe") <= 1, err[-2000:]
    import sqlite3

    conn = sqlite3.connect(Path(home["TENS_HOME"]) / "tens.db")
    try:
        state, reason = conn.execute(
            "SELECT state, end_reason FROM sessions ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    assert state == "stopped" and "output" in reason, (state, reason)
