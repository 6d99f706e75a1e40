"""Channels are numbered from 1 wherever a person meets them (issue 18.8), judged on the
wearable's own output: `tens simulate` in its own process says which channel carried what,
and `tens run` is driven as a person types it."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.stated import cli_home

TENS = [sys.executable, "-m", "tens"]


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return cli_home(str(tmp_path))  # checklist, pads on every channel, a placement


class Lines:
    """A process's stdout lines, read by a thread so that waiting for one has a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, pred: Callable[[str], bool], timeout: float) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if pred(line):
                return seen
        raise AssertionError(f"not seen in time; saw {seen[-8:]}")


@contextmanager
def simulator(env: dict[str, str], *extra: str) -> Iterator[tuple[Lines, str]]:
    """`tens simulate` on a free port; yields its output lines and its HOST:PORT. Its link is
    open (--open-link): these tests are about channel numbers, not pairing."""
    sim = subprocess.Popen(
        [*TENS, "simulate", "--listen", "127.0.0.1:0", "--open-link", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(sim)
    try:
        if "--json" in extra:
            [line] = lines.until(lambda s: s.startswith("{"), 60)
            where = json.loads(line)["radio"]
        else:
            seen = lines.until(lambda s: s.startswith("Reach it with"), 60)
            where = seen[-1].split("--radio ", 1)[1].split()[0]
        yield lines, where
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()


def _run(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TENS, "run", "--no-prompt", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("value", ["0", "-1", "one"])
def test_run_channel_zero_or_not_a_number_is_a_usage_error(
    home: dict[str, str], value: str
) -> None:
    """Kills: `--channel` taken as an index (0 = the first channel, as before issue 18)."""
    p = _run(home, "--simulator", "--minutes", "0.02", "--intensity", "1", "--channel", value)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "--channel" in p.stderr and "numbered from 1" in p.stderr


def test_run_channel_1_drives_the_devices_first_channel(home: dict[str, str]) -> None:
    """On a one-channel wearable `--channel 1` is its only channel: the simulator's record
    shows output there (and says `channel: 1` in its JSON); `--channel 2` is refused in the
    same numbering. Kills: `--channel` passed on as an index (refused: index 1 is not on a
    one-channel device), a refusal text that prints indexes, the simulator's JSON `channel`
    left as an index (0)."""
    with simulator(home, "--channels", "1", "--json") as (sim, where):
        refused = _run(
            home, "--radio", where, "--minutes", "0.05", "--intensity", "2", "--channel", "2"
        )
        assert refused.returncode == 5, refused.stdout + refused.stderr
        assert "channel 2 is not on this device: it has channel 1" in refused.stdout
        done = _run(
            home, "--radio", where, "--minutes", "0.05", "--intensity", "2", "--channel", "1"
        )
        assert done.returncode == 0, done.stdout + done.stderr

        def is_delivered(line: str) -> bool:
            return line.startswith("{") and json.loads(line).get("event") == "delivered"

        unlinks: list[str] = []

        def unlinked(line: str) -> bool:  # the second run's disconnect (the first refused)
            if line.startswith("{") and json.loads(line).get("link") == "disconnected":
                unlinks.append(line)
            return len(unlinks) == 2

        lines = sim.until(unlinked, 30)
        delivered = [json.loads(s) for s in lines if is_delivered(s)]
        on = [e for e in delivered if e["intensity_ma"] > 0]
        assert on, delivered
        assert {e["channel"] for e in delivered} == {1}


def test_the_default_channel_is_channel_1_in_the_simulators_text(home: dict[str, str]) -> None:
    """Without `--channel` the config's default (channel 1) is driven, and `tens simulate`
    says so as a person reads it: `channel 1`, never `ch0`. Kills: a default of index 1,
    the simulator's text printing the index."""
    with simulator(home) as (sim, where):
        done = _run(home, "--radio", where, "--minutes", "0.05", "--intensity", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        lines = sim.until(lambda s: s.endswith("link disconnected"), 30)
    output = [s for s in lines if " mA " in s]
    assert output and all("  channel 1  " in s for s in output), output
    assert any(float(s.split("channel 1")[1].split("mA")[0]) > 0 for s in output), output
