"""Issue 13 item 1 at the command line: `tens electrodes` states the pad size per channel,
`tens limits` shows the density ceiling on it, `tens run` refuses without one (and without a
placement, item 6) with a code, and the README's simulator demo still runs as pasted."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tens.cli import main
from tens.electrodes import COMMON_SIZES, ElectrodeSizeError, parse_size

TENS = [sys.executable, "-m", "tens"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    monkeypatch.delenv("TENS_CONFIG", raising=False)
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("text", "label", "area"),
    [
        ("5x5", "5x5 cm", 25.0),
        ("5X9", "5x9 cm", 45.0),
        ("round-3.2", "round 3.2 cm", math.pi * 1.6**2),
        ("4x6", "4x6 cm", 24.0),
        ("4 x 6 cm", "4x6 cm", 24.0),
        ("round 5", "round 5 cm", math.pi * 2.5**2),
        ("12cm2", "custom 12 cm²", 12.0),
        ("custom:12.5", "custom 12.5 cm²", 12.5),
        ("30", "custom 30 cm²", 30.0),
    ],
)
def test_sizes_as_typed(text: str, label: str, area: float) -> None:
    size = parse_size(text)
    assert size.label == label and math.isclose(size.area_cm2, area)


@pytest.mark.parametrize("text", ["", "big", "5x", "0.5", "0x5", "21x21", "round-0.5", "-4", "nan"])
def test_sizes_that_cannot_be_believed_are_refused(text: str) -> None:
    with pytest.raises(ElectrodeSizeError):
        parse_size(text)


def test_set_show_and_clear(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["electrodes", "show", "--json"]) == 0
    shown = _json(capsys)
    assert shown["electrodes"] == [] and set(shown["common_sizes"]) == set(COMMON_SIZES)
    assert main(["electrodes", "set", "--channel", "1", "5x5", "--json"]) == 0
    assert [(r["channel"], r["area_cm2"]) for r in _json(capsys)["electrodes"]] == [(1, 25.0)]
    # new pads: stated again, the new size is in force (persistently: a new process reads it)
    assert main(["electrodes", "set", "--channel", "1", "--channel", "2", "round-3.2"]) == 0
    capsys.readouterr()
    assert main(["electrodes", "--json"]) == 0
    rows = _json(capsys)["electrodes"]  # channels numbered from 1, as on every face
    assert [(r["channel"], r["size"]) for r in rows] == [(1, "round 3.2 cm"), (2, "round 3.2 cm")]
    assert main(["electrodes", "clear", "--channel", "1", "--json"]) == 0
    out = _json(capsys)
    assert out["cleared"] == [1] and [r["channel"] for r in out["electrodes"]] == [2]
    from tens.store import open_db
    from tens.store.electrodes import stated_electrodes

    conn = open_db()
    try:
        assert set(stated_electrodes(conn)) == {1}  # channel 2 is index 1 inside
    finally:
        conn.close()


def test_a_bad_size_or_channel_is_refused_and_nothing_stored(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["electrodes", "set", "--channel", "1", "huge", "--json"]) == 2
    assert "cannot read electrode size" in _json(capsys)["error"]
    for bad in ("0", "-1", "17"):  # numbered from 1; 0 and below are usage errors
        with contextlib.suppress(SystemExit):
            assert main(["electrodes", "set", "--channel", bad, "5x5"]) == 2
    capsys.readouterr()
    assert main(["electrodes", "show", "--json"]) == 0
    assert _json(capsys)["electrodes"] == []


def test_limits_shows_the_density_ceiling_per_channel(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Channel 1 (the default session channel) unknown: refused. Stated: the ceiling is
    2 mA/cm² x area / sqrt(duty x 2), for the configured program and for each program."""
    assert main(["limits", "--json"]) == 0
    (row,) = _json(capsys)["electrodes"]
    assert row["channel"] == 1 and row["refused"] == "electrode_size_unknown"
    assert main(["electrodes", "set", "--channel", "1", "round-3.2"]) == 0
    assert main(["electrodes", "set", "--channel", "3", "1.5cm2"]) == 0
    capsys.readouterr()
    assert main(["limits", "--json"]) == 0
    rows = {r["channel"]: r for r in _json(capsys)["electrodes"]}
    assert rows[1]["density_max_ma"] == 92.9 and rows[1]["binds"] is False
    assert rows[1]["max_ma"] == 40.0 and rows[1]["density_max_ma_by_program"]["modulated"] == 73.4
    # 1.5 cm²: conventional allows 2 x 1.5 / sqrt(0.03) = 17.3 mA, below the 40 mA peak
    assert rows[3]["density_max_ma"] == 17.3 and rows[3]["binds"] is True
    assert rows[3]["max_ma"] == 17.3
    assert main(["limits"]) == 0
    text = capsys.readouterr().out
    assert "channel 3: custom 1.5 cm² (1.5 cm²): at most 17.3 mA (binds" in text


def test_the_run_prompt_offers_the_common_sizes(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from tens.cli.electrodes import ask_size

    monkeypatch.setattr(sys, "stdin", io.StringIO("2\n"))
    assert ask_size(0) == COMMON_SIZES["5x9"]
    assert "5x5 cm" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("huge\n4x6\n"))
    size = ask_size(1)
    assert size is not None and size.area_cm2 == 24.0
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert ask_size(0) is None


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "TENS_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    for name in ("TENS_RADIO", "TENS_CONFIG", "TENS_SESSION__PLACEMENT"):
        env.pop(name, None)
    subprocess.run([*TENS, "checklist", "--none-apply"], env=env, check=True, timeout=60)
    return env


def test_run_without_a_placement_is_refused_and_the_demo_runs(tmp_path: Path) -> None:
    """A fresh home, no pads stated: the simulator declares its simulated pads, so the
    README's demo (with its --placement) runs; without a placement it is refused, exit 5."""
    env = _env(tmp_path)
    demo = ["run", "--simulator", "--minutes", "0.05", "--intensity", "2", "--json"]
    p = subprocess.run([*TENS, *demo], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 5, p.stderr
    refused = [json.loads(x) for x in p.stdout.splitlines() if '"refused"' in x]
    assert refused and refused[-1]["code"] == "placement_required"
    events = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    assert all(max(e["delivered"]) == 0 for e in events if e["event"] == "delivered")
    p = subprocess.run(
        [*TENS, *demo, "--placement", "lower-back"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr + p.stdout


def test_the_readme_demo_names_its_placement() -> None:
    """The README's demo, as pasted, names a placement on the simulator (whose simulated pads
    need no `tens electrodes set`): the run above is that path, shortened."""
    import shlex

    from tens.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (line,) = [x for x in readme.splitlines() if "tens run --simulator" in x and "pip" in x]
    argv = shlex.split(line.split(".venv/bin/tens ", 1)[1])
    args = build_parser().parse_args(argv)
    assert args.simulator and args.placement == "lower-back" and args.intensity == 10
