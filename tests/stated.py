"""What a session needs stated before it may start, in one place for every test that starts
one: the electrode placement and the pad size on each channel (issue 13: neither is assumed).

Tests of the refusals themselves leave these out on purpose; everything else states them
here rather than in copies, so a change to what must be stated is one edit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tens.config import TensConfig
from tens.electrodes import COMMON_SIZES, ElectrodeSize
from tens.safety import StartRequest
from tens.safety.governor import EffectiveLimits

PLACEMENT = "lower-back"
PAD = COMMON_SIZES["5x5"]  # 25 cm²
CHANNELS = range(4)


def pads(area_cm2: float | None = None, channels: Iterable[int] = CHANNELS) -> dict[int, Any]:
    """Channel -> the stated pad: 5x5 cm unless ``area_cm2`` is given."""
    size = PAD if area_cm2 is None else ElectrodeSize(f"custom {area_cm2:g} cm²", area_cm2)
    return dict.fromkeys(channels, size)


def placed(req: StartRequest) -> StartRequest:
    """The request with a placement named (kept when it names one)."""
    return req if req.placement is not None else replace(req, placement=PLACEMENT)


def with_area(lim: EffectiveLimits, area_cm2: float = PAD.area_cm2) -> EffectiveLimits:
    """Limits with a stated electrode area, as check_start hands a session (for tests of
    gate and check_target that build the limits themselves). Level devices stay without."""
    if lim.density_limit is None:
        return lim
    return replace(lim, electrode_area_cm2=area_cm2)


def placed_config(config: TensConfig | None = None) -> TensConfig:
    """The config with ``[session] placement`` set when it names none (the default a start
    without its own placement uses)."""
    config = config or TensConfig()
    if config.session.placement is not None:
        return config
    return config.model_copy(
        update={"session": config.session.model_copy(update={"placement": PLACEMENT})}
    )


def state_pads(
    conn: sqlite3.Connection, channels: Iterable[int] = CHANNELS, size: ElectrodeSize = PAD
) -> None:
    """Store the pads as `tens electrodes set` would (sync; ``await db.run(state_pads)``)."""
    from tens.store.electrodes import state_electrode

    for ch in channels:
        state_electrode(conn, ch, size)


def cli_home(home: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a person's first run of the installed ``tens``, with ``home`` as
    TENS_HOME: the checklist answered, the pads stated on every channel (``tens electrodes
    set``), and ``[session] placement`` given (``TENS_SESSION__PLACEMENT``)."""
    import os
    import subprocess
    import sys

    env = {**(os.environ if environ is None else environ), "TENS_HOME": home}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("TENS_RADIO", None)
    env.pop("TENS_CONFIG", None)
    tens = [sys.executable, "-m", "tens"]
    subprocess.run([*tens, "checklist", "--none-apply"], env=env, check=True, timeout=60)
    channels = [a for ch in CHANNELS for a in ("--channel", str(ch + 1))]  # from 1
    subprocess.run(
        [*tens, "electrodes", "set", "5x5", *channels],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    env["TENS_SESSION__PLACEMENT"] = PLACEMENT
    return env


def choose_placement_in_tui(terminal: Any, placement: str = PLACEMENT) -> None:
    """What a person does in the TUI's setup dialog, opened on its placement field when a
    start names none (``terminal``: a tmux driver with ``keys`` and ``wait_for``): open the
    list, go down to ``placement``, take it, then "Use these"."""
    from tui.screens.setup import placement_options

    options = placement_options()
    index = [key for _, key in options].index(placement)
    terminal.wait_for("where do the electrodes go?")
    terminal.keys("Enter")
    terminal.wait_for(options[0][0])  # the list is open
    terminal.keys(*["Down"] * (index + 1), "Enter")
    terminal.wait_for(f"{options[index][0]}")
    terminal.keys("Tab", "Enter")
    terminal.wait_for(f"{options[index][0]} (g)")
