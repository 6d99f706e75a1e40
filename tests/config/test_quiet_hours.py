"""No unattended night sessions (issue 13 item 3): a schedule that would start in the quiet
hours (default 22:00–07:00) is refused when the config loads, with the key and a code, unless
night use is allowed with a stated reason; the faces warn while it is on."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tens.config import STARTER_CONFIG, ConfigError, TensConfig, load
from tens.schedule import QuietHours

ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str) -> TensConfig:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load(path, environ={}).config


def _codes(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    return {p.key: p.code for p in info.value.problems}


def _at(times: str) -> str:
    return f'[[schedules]]\nname = "s"\nintensity = 10\nplacement = "lower-back"\nat = [{times}]\n'


def test_a_schedule_at_23_00_is_refused_at_load(tmp_path: Path) -> None:
    assert _codes(tmp_path, _at('"08:00", "23:00"')) == {"schedules.0.at": "quiet_hours"}


@pytest.mark.parametrize(
    ("at", "inside"),
    [("21:59", False), ("22:00", True), ("03:00", True), ("06:59", True), ("07:00", False)],
)
def test_the_default_quiet_hours_boundaries(tmp_path: Path, at: str, inside: bool) -> None:
    if inside:
        assert _codes(tmp_path, _at(f'"{at}"')) == {"schedules.0.at": "quiet_hours"}
    else:
        assert _load(tmp_path, _at(f'"{at}"')).schedules[0].at == (at,)


def test_an_every_schedule_whose_window_reaches_the_night_is_refused(tmp_path: Path) -> None:
    text = '[[schedules]]\nname = "s"\nintensity = 10\nplacement = "neck"\nevery_minutes = 120\n'
    assert _codes(tmp_path, text + 'between = ["20:00", "23:00"]\n') == {
        "schedules.0.between": "quiet_hours"
    }
    # 20:00, 22:00 would start; 21:30 end: only 20:00 -> allowed
    assert _load(tmp_path, text + 'between = ["09:00", "21:30"]\n').schedules


def test_disabled_schedules_are_checked_too(tmp_path: Path) -> None:
    assert _codes(tmp_path, _at('"23:30"') + "enabled = false\n") == {
        "schedules.0.at": "quiet_hours"
    }


def test_quiet_hours_are_configurable(tmp_path: Path) -> None:
    quiet = '[quiet_hours]\nstart = "23:30"\nend = "06:00"\n'
    assert _load(tmp_path, quiet + _at('"23:00"')).schedules
    assert _codes(tmp_path, quiet + _at('"05:00"')) == {"schedules.0.at": "quiet_hours"}
    # empty quiet hours are no way around the rule
    codes = _codes(tmp_path, '[quiet_hours]\nstart = "22:00"\nend = "22:00"\n')
    assert list(codes) == ["quiet_hours"]


def test_night_use_needs_an_explicit_setting_and_a_reason(tmp_path: Path) -> None:
    allow = "[quiet_hours]\nallow_night_use = true\n"
    assert _codes(tmp_path, allow + _at('"23:00"')) == {
        "quiet_hours.night_use_reason": "night_use_needs_reason"
    }
    assert _codes(tmp_path, allow + 'night_use_reason = "  "\n') == {
        "quiet_hours.night_use_reason": "night_use_needs_reason"
    }
    cfg = _load(
        tmp_path, allow + 'night_use_reason = "night shift, partner awake"\n' + _at('"23:00"')
    )
    assert cfg.schedules[0].at == ("23:00",)
    warning = cfg.quiet_hours.warning()
    assert warning is not None and "night shift, partner awake" in warning
    assert QuietHours().warning() is None


def test_refusal_at_run_time_is_independent_of_the_loader() -> None:
    q = QuietHours()
    assert q.refusal(dt.time(23, 0)) is not None
    assert q.refusal(dt.time(12, 0)) is None
    assert QuietHours(allow_night_use=True, night_use_reason="x").refusal(dt.time(23)) is None


def test_no_example_schedules_overnight() -> None:
    """Every schedule example in the README, docs and the starter config starts outside the
    default quiet hours."""
    q = QuietHours()
    texts = [STARTER_CONFIG] + [
        p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    ]
    found = 0
    for text in texts:
        for block in re.findall(r"(?:at|between) = \[([^\]]*)\]", text):
            for hhmm in re.findall(r'"(\d\d:\d\d)"', block):
                found += 1
                h, m = hhmm.split(":")
                assert not q.contains(dt.time(int(h), int(m))), f"example at {hhmm}"
    assert found


NIGHT = '[quiet_hours]\nallow_night_use = true\nnight_use_reason = "night shift, partner awake"\n'


def test_config_show_warns_while_night_use_is_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tens.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("TENS_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    path.write_text(NIGHT, encoding="utf-8")
    assert main(["config", "show", "--config", str(path)]) == 0
    assert "WARNING: night use is ON" in capsys.readouterr().out
    assert main(["config", "show", "--json", "--config", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [w["code"] for w in doc["warnings"]] == ["night_use_on"]
    path.write_text("", encoding="utf-8")
    assert main(["config", "show", "--config", str(path)]) == 0
    assert "WARNING" not in capsys.readouterr().out
