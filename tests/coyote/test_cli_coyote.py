"""`tens scan --simulator --sim-model coyote3|coyote2` lists the simulated Coyote with its
driver, and `tens run` drives it within the configured level limits (judged on the
simulator's delivered-output record)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from simulators.coyote import simulator as coyote_sim
from tens.cli import build_parser

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("model", "name"), [("coyote3", "47L121000"), ("coyote2", "D-LAB ESTIM01")]
)
async def test_scan_shows_the_simulated_coyote_with_its_driver(
    model: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli.scan import run

    args = parse("scan", "--simulator", "--sim-model", model, "--timeout", "0.5", "--json")
    assert await run(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["driver"]) for r in rows] == [(name, model)]


def test_sim_model_defaults_to_opentens_and_rejects_unknown_models() -> None:
    assert parse("scan", "--simulator").sim_model == "opentens"
    with pytest.raises(SystemExit):
        parse("scan", "--simulator", "--sim-model", "coyote4")


async def test_run_drives_the_simulated_coyote3_within_level_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli.checklist import run as checklist
    from tens.cli.run import run

    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    monkeypatch.setenv("TENS_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text(
        "[limits.levels.coyote3]\npeak = 20\nramp_per_s = 4\nstep = 1\n"
    )
    started: list[Any] = []
    real_start = coyote_sim.start_coyote

    async def spy(*a: Any, **kw: Any) -> Any:
        sim = await real_start(*a, **kw)
        started.append(sim)
        return sim

    monkeypatch.setattr(coyote_sim, "start_coyote", spy)
    assert checklist(parse("checklist", "--none-apply")) == 0
    args = parse(
        "run",
        "--simulator",
        "--sim-model",
        "coyote3",
        "--intensity",
        "12",
        "--minutes",
        "0.5",
        "--placement",
        "lower-back",
        "--no-prompt",
        "--json",
    )
    assert await run(args) == 0, capsys.readouterr()
    (sim,) = started
    assert sim.record.max(0) == 12 and sim.record.max(1) == 0
    assert sim.record.last(0) == 0
    assert sim.model.soft_limits == [20, 20]


async def test_run_refuses_a_coyote_without_level_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli.checklist import run as checklist
    from tens.cli.run import EXIT_REFUSED, run

    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    monkeypatch.setenv("TENS_CONFIG", str(tmp_path / "config.toml"))
    assert checklist(parse("checklist", "--none-apply")) == 0
    args = parse("run", "--simulator", "--sim-model", "coyote3", "--intensity", "5", "--no-prompt")
    assert await run(args) == EXIT_REFUSED
    assert "level limits" in capsys.readouterr().out
