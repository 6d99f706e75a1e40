"""Journey: README's `tens run` on a fresh TENS_HOME, then the TUI, then `tens report --html`
opened in a real browser (headless Chromium), checked for the numbers a person would look for.

Issue 18's third journey. Everything goes through the installed ``tens`` command; the report is
read back from the DOM Chromium renders (``--dump-dom``) and photographed (``--screenshot``).
Skipped when tmux or Chromium is missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.journeys.terminal import TENS, TMUX, Terminal, flat

CHROMIUM = next(
    (
        p
        for p in map(shutil.which, ("chromium", "chromium-headless-shell", "chromium-browser"))
        if p
    ),
    None,
)

pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="needs tmux (installed by .ci/run)"),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (installed by .ci/run)"),
    pytest.mark.timeout(180),
]


def _tens(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TENS, *args],
        env={"TENS_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


def _text(dom: str) -> str:
    """The page's visible text, roughly: tags out, entities decoded, whitespace folded."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def test_run_then_tui_then_the_report_in_a_browser(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = _tens(home, "checklist", "--none-apply")
    assert done.returncode == 0, done.stderr

    # README's session (shortened to 15 s), the pain scores given as flags
    run = _tens(
        home,
        "run",
        "--simulator",
        "--minutes",
        "0.25",
        "--intensity",
        "10",
        "--placement",
        "lower-back",
        "--pain-before",
        "6",
        "--pain-after",
        "3",
        "--no-prompt",
    )
    assert run.returncode == 0, run.stdout + run.stderr

    # the TUI on the same home: its history shows that session
    term = Terminal("report-journey", 100, 30)
    try:
        term.start(f"env TENS_HOME={home} TERM=xterm-256color {TENS} tui --simulator")
        term.wait_for("link connected", within=30)
        term.keys("h")
        term.wait_for("Pain by day", within=15)
        term.keys("Right")  # the Sessions tab
        screen = flat(term.wait_for("lower back", within=15))
        assert "finished" in screen.lower(), screen
        term.quit()
    finally:
        term.close()

    # the report, rendered by a browser
    report = tmp_path / "report.html"
    made = _tens(home, "report", "--html", str(report))
    assert made.returncode == 0, made.stdout + made.stderr
    dom = _browser("--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = _text(dom.stdout)
    assert "lower back" in text.lower(), text[:2000]
    assert re.search(r"\b10(\.0)? mA\b", text), text[:3000]  # the session's peak
    assert re.search(r"\b6\b.*\b3\b", text), text[:3000]  # pain before, then after
    assert "finished" in text.lower(), text[:3000]

    shot = tmp_path / "report.png"
    photo = _browser(f"--screenshot={shot}", "--window-size=1000,1400", report.as_uri())
    assert photo.returncode == 0, photo.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a page with content, not a blank one
