"""A real terminal for journey tests: tmux runs the installed ``tens``, we type and read.

One private tmux server per terminal (``-L``), so nothing touches a person's own tmux.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

TMUX = shutil.which("tmux")
TENS = str(Path(sys.executable).with_name("tens"))
"""The installed console script of this environment (what a person runs), not an import."""

BOX = "│╭╮╰╯─"


def flat(text: str) -> str:
    """The screen as one line of words: borders gone, wrapped lines joined."""
    for ch in BOX:
        text = text.replace(ch, " ")
    return " ".join(text.split())


class Terminal:
    def __init__(self, name: str, width: int = 80, height: int = 24) -> None:
        self.socket = f"tens-journey-{name}-{os.getpid()}"
        self.target = name
        self.width, self.height = width, height

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        out = subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def start(self, command: str) -> None:
        size = ("-x", str(self.width), "-y", str(self.height))
        self.tmux("new-session", "-d", "-s", self.target, *size, command)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.target, key)
            time.sleep(0.05)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.target, "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def alive(self) -> bool:
        assert TMUX is not None
        probe = [TMUX, "-L", self.socket, "has-session", "-t", self.target]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    def wait_for(self, text: str, within: float = 20.0) -> str:
        """Wait until ``text`` is on screen (wrapped lines joined); returns the screen."""
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if text in screen or text in flat(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen within {within} s:\n{screen}")
            time.sleep(0.1)

    def wait_gone(self, text: str, within: float = 10.0) -> str:
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on screen after {within} s:\n{screen}")
            time.sleep(0.1)

    def quit(self) -> None:
        self.keys("q")
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        self.tmux("kill-server")


def elapsed_s(screen: str) -> tuple[int, int]:
    """(elapsed, time left) in seconds from the session screen's time line."""
    found = re.search(r"(\d\d):(\d\d) elapsed .* (\d\d):(\d\d) left", screen)
    assert found, screen
    m1, s1, m2, s2 = (int(g) for g in found.groups())
    return m1 * 60 + s1, m2 * 60 + s2


def delivered_ma(screen: str) -> float | None:
    """The gauge's ``x.x / limit mA`` value, or None when not on screen."""
    found = re.search(r"(\d+\.\d) / \d+\.\d mA", screen)
    return float(found.group(1)) if found else None
