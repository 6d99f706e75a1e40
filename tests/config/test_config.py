"""Configuration: file + TENS_* environment + flags, strict keys, hard caps, schedules."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tens.config import STARTER_CONFIG, ConfigError, init_file, load
from tens.programs import Program
from tens.schedule import Schedule, next_due


def test_defaults_without_a_file(tmp_path: Path) -> None:
    loaded = load(tmp_path / "none.toml", environ={})
    assert loaded.config.limits.peak_ma == 40
    assert loaded.origin("limits.peak_ma") == "default"


def test_starter_file_is_valid_and_not_overwritten(tmp_path: Path) -> None:
    path = init_file(tmp_path / "config.toml")
    assert path.read_text() == STARTER_CONFIG
    assert load(path, environ={}).config.limits.peak_ma == 40
    with pytest.raises(ConfigError, match="exists already"):
        init_file(path)


def test_layers_file_then_env_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[limits]\npeak_ma = 30\nstep_ma = 0.5\n")
    env = {"TENS_LIMITS__PEAK_MA": "25", "TENS_HOME": "/ignored", "TENS_RADIO": "x:1"}
    loaded = load(path, {"session": {"minutes": 20}}, environ=env)
    assert loaded.config.limits.peak_ma == 25
    assert loaded.config.limits.step_ma == 0.5
    assert loaded.config.session.minutes == 20
    assert loaded.origin("limits.peak_ma") == "env TENS_LIMITS__PEAK_MA"
    assert loaded.origin("limits.step_ma").startswith("file ")
    assert loaded.origin("session.minutes") == "command line"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\npeak = 3\n", "unknown key limits.peak"),
        ("[limits]\npeak_ma = 150\n", "limits.peak_ma: Input should be less than or equal to 100"),
        ("[limits]\nramp_ma_per_s = 9\n", "limits.ramp_ma_per_s"),
        ("[limits]\ncurrent_density_ma_cm2 = 3\n", "limits.current_density_ma_cm2"),
        ("[limits]\nfrequency_hz = [150, 1]\n", "frequency_hz"),
        ("[sesion]\nminutes = 3\n", "unknown key sesion"),
        ("[limits\n", "not valid TOML"),
        (
            '[[programs]]\nname = "conventional"\nfrequency_hz = 80\npulse_width_us = 100\n',
            "built-in program's name",
        ),
        ('[[schedules]]\nname = "x"\nintensity = 5\n', "either `at` times or `every_minutes`"),
    ],
)
def test_bad_config_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(path, environ={})


def test_env_value_out_of_range_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("env TENS_LIMITS__PEAK_MA: limits.peak_ma")):
        load(tmp_path / "none.toml", environ={"TENS_LIMITS__PEAK_MA": "500"})


def test_custom_program_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[programs]]\nname = "knee-evening"\nfrequency_hz = 80\npulse_width_us = 180\n'
    )
    table = load(path, environ={}).config.program_table()
    assert table["knee-evening"].frequency_hz == 80
    assert "conventional" in table


def test_burst_and_modulated_programs_need_their_fields() -> None:
    with pytest.raises(ValidationError, match="burst_pulses"):
        Program(name="b", waveform="burst", frequency_hz=100, pulse_width_us=200)
    with pytest.raises(ValidationError, match="sweep"):
        Program(name="m", waveform="modulated", frequency_hz=100, pulse_width_us=200)


def test_schedule_at_times() -> None:
    s = Schedule(name="am-pm", intensity=10, at=("20:00", "08:00"))
    now = dt.datetime(2026, 3, 2, 9, 30)
    assert s.next_after(now) == dt.datetime(2026, 3, 2, 20, 0)
    assert s.next_after(dt.datetime(2026, 3, 2, 21, 0)) == dt.datetime(2026, 3, 3, 8, 0)


def test_schedule_every_two_hours_across_midnight() -> None:
    s = Schedule(name="night", intensity=8, every_minutes=120, between=("22:00", "06:00"))
    day = dt.date(2026, 3, 3)
    times = [t.strftime("%H:%M") for t in s.times_on(day)]
    assert times == ["00:00", "02:00", "04:00", "06:00", "22:00"]
    assert s.next_after(dt.datetime(2026, 3, 3, 6, 30)) == dt.datetime(2026, 3, 3, 22, 0)


def test_schedule_days_and_next_due() -> None:
    weekdays = Schedule(name="wk", intensity=5, at=("07:00",), days=(0, 1, 2, 3, 4))
    weekend = Schedule(name="we", intensity=5, at=("09:00",), days=(5, 6))
    saturday_morning = dt.datetime(2026, 3, 7, 6, 0)  # a Saturday
    due = next_due([weekdays, weekend], saturday_morning)
    assert due is not None and due[0].name == "we" and due[1].hour == 9
    off = Schedule(name="off", intensity=5, at=("07:00",), enabled=False)
    assert off.next_after(saturday_morning) is None


def test_session_channels_are_numbered_from_one(tmp_path: Path) -> None:
    """People count channels from 1 (tens.channels): ``channels = [2]`` is the second one."""
    path = tmp_path / "config.toml"
    path.write_text("[session]\nchannels = [2]\n")
    session = load(path, environ={}).config.session
    assert session.channels == (2,) and session.channel_indexes == (1,)
    assert load(tmp_path / "none.toml", environ={}).config.session.channel_indexes == (0,)


@pytest.mark.parametrize("value", ["[0]", "[1, 0]", "[-1]"])
def test_session_channel_zero_refused_saying_numbering_starts_at_one(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[session]\nchannels = {value}\n")
    with pytest.raises(ConfigError, match=r"session\.channels: channel .* numbered from 1") as info:
        load(path, environ={})
    assert [p.code for p in info.value.problems] == ["bad_channel_number"]
