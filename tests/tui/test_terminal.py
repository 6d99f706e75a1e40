"""`tens tui --simulator` in a real terminal: tmux runs it, we send keys and read the screen.

The path a new user takes: the checklist, a session with pain before and after, stop with one
key, the history. Skipped when tmux is missing (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stated import choose_placement_in_tui

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="needs tmux (installed by .ci/run)"),
    pytest.mark.timeout(180),
]

TENS = str(Path(sys.executable).with_name("tens"))


class Terminal:
    """One tmux session of 80x24 on a private tmux server."""

    def __init__(self, name: str) -> None:
        self.socket = f"tens-test-{name}-{os.getpid()}"
        self.target = name

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        out = subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", self.target, "-x", "80", "-y", "24", command)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.target, key)
            time.sleep(0.05)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def alive(self) -> bool:
        assert TMUX is not None
        probe = [TMUX, "-L", self.socket, "has-session", "-t", self.target]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    def wait_for(self, text: str, within: float = 30.0) -> str:
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen within {within} s:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal("tui")
    yield term
    term.close()


def test_new_user_path_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    home = tmp_path / "home"
    terminal.start(f"env TENS_HOME={home} TERM=xterm-256color {TENS} tui --simulator")

    terminal.wait_for("Safety checklist")
    terminal.keys(*["Tab"] * 7, "Enter")  # none apply: from the first box, past all to Save
    terminal.wait_for("link connected")
    screen = terminal.screen()
    assert "STOP: press s or Esc" in screen  # the stop key is on screen at 80x24
    assert "Delivered now" in screen  # and so is the gauge

    terminal.keys(*["Down"] * 7)  # the next session ramps to 3 mA, not 10
    terminal.wait_for("to 3.0 mA")
    terminal.keys("Space")  # no placement named yet: the start asks where the electrodes are
    choose_placement_in_tui(terminal)
    terminal.keys("Space")
    terminal.wait_for("before the session")
    terminal.keys("6", "Enter")
    screen = terminal.wait_for("3.0 / 40.0 mA")
    assert "RUNNING" in screen or "RAMPING" in screen

    terminal.keys("s")
    terminal.wait_for("after the session")
    terminal.keys("3", "Enter")
    screen = terminal.wait_for("Pain 3/10 logged (after)")
    assert "STOPPED" in screen
    assert "0.0 / 40.0 mA" in screen

    terminal.keys("h")
    screen = terminal.wait_for("Relief per session")
    assert "3.0 points (n=1)" in screen  # 6 before, 3 after: the median of one

    terminal.keys("q", "q")  # back, then quit
    deadline = time.monotonic() + 10
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive()
