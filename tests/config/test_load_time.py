"""Refuse when unsure, at load time (issue 12 item 11): schedules that could never run, strict
types, level hard caps, unknown level drivers, and environment variables the docs name.

Each refusal is checked on the machine-readable code and key of ``ConfigError.problems``, never
on the wording; the wording is only checked to name the key.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tens.config import NON_CONFIG_ENV, ConfigError, TensConfig, load
from tens.limits import HARD_CAPS

ROOT = Path(__file__).resolve().parents[2]
BARE = 'name = "s"\nat = ["08:00"]\n'
SCHEDULE = f'{BARE}placement = "lower-back"\n'


def refused(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path, environ=environ or {})
    return info.value


def problem_keys(err: ConfigError) -> dict[str, str]:
    """key -> code of every problem in a refusal."""
    return {p.key: p.code for p in err.problems}


def loads(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> TensConfig:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load(path, environ=environ or {}).config


# ---- schedules that could never run ---------------------------------------------------------


def test_schedule_above_the_peak_is_refused_at_load(tmp_path: Path) -> None:
    err = refused(tmp_path, f"[[schedules]]\n{SCHEDULE}intensity = 41\n")
    assert problem_keys(err) == {"schedules.0.intensity": "above_limit"}
    assert "schedules.0.intensity" in str(err) and "limits.peak_ma" in str(err)
    # the boundary itself is allowed, and a lower configured peak counts (from any layer)
    assert loads(tmp_path, f"[[schedules]]\n{SCHEDULE}intensity = 40\n").schedules[0].intensity
    err = refused(
        tmp_path,
        f"[[schedules]]\n{SCHEDULE}intensity = 26\n",
        environ={"TENS_LIMITS__PEAK_MA": "25"},
    )
    assert problem_keys(err) == {"schedules.0.intensity": "above_limit"}


def test_a_schedule_without_a_placement_is_refused_at_load(tmp_path: Path) -> None:
    """Issue 13 item 6: an unattended start names its placement, or the config is refused."""
    bare = 'name = "s"\nat = ["08:00"]\nintensity = 10\n'
    err = refused(tmp_path, f"[[schedules]]\n{bare}")
    assert problem_keys(err) == {"schedules.0.placement": "placement_required"}
    # the session default does not stand in for it: the schedule names its own
    err = refused(tmp_path, f'[session]\nplacement = "lower-back"\n[[schedules]]\n{bare}')
    assert problem_keys(err) == {"schedules.0.placement": "placement_required"}
    assert loads(tmp_path, f"[[schedules]]\n{SCHEDULE}intensity = 10\n").schedules[0].placement


def test_the_electrode_area_is_no_longer_a_config_key(tmp_path: Path) -> None:
    """Issue 13 item 1: no silent pad area in the config (the old starter file wrote 25):
    refused with where the size is stated now, from the file and from the environment."""
    err = refused(tmp_path, "[limits]\nelectrode_area_cm2 = 25.0\n")
    assert problem_keys(err) == {"limits.electrode_area_cm2": "moved_key"}
    assert "tens electrodes set" in str(err)
    err = refused(tmp_path, "", environ={"TENS_LIMITS__ELECTRODE_AREA_CM2": "25"})
    assert problem_keys(err) == {"limits.electrode_area_cm2": "moved_key"}


def test_schedule_in_levels_needs_a_level_peak_that_allows_it(tmp_path: Path) -> None:
    levels = "[limits.levels.coyote3]\npeak = 60\nramp_per_s = 10\nstep = 5\n"
    # 50 is above the 40 mA peak but within the Coyote's 60 levels: it may be meant for it
    loads(tmp_path, f"{levels}[[schedules]]\n{SCHEDULE}intensity = 50\n")
    err = refused(tmp_path, f"{levels}[[schedules]]\n{SCHEDULE}intensity = 61\n")
    assert problem_keys(err) == {"schedules.0.intensity": "above_limit"}
    assert "coyote3" in str(err)


def test_schedule_longer_than_the_session_limit_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, f"[[schedules]]\n{SCHEDULE}intensity = 5\nminutes = 31\n")
    assert problem_keys(err) == {"schedules.0.minutes": "above_limit"}
    loads(tmp_path, f"[[schedules]]\n{SCHEDULE}intensity = 5\nminutes = 30\n")


@pytest.mark.parametrize("placement", ["chest", "front-of-neck", "head", "jaw-left", "eyes"])
def test_schedule_on_a_contraindicated_placement_is_refused(tmp_path: Path, placement: str) -> None:
    err = refused(tmp_path, f'[[schedules]]\n{BARE}intensity = 5\nplacement = "{placement}"\n')
    assert problem_keys(err) == {"schedules.0.placement": "contraindicated_placement"}


def test_schedule_placement_unknown_or_without_side_is_refused(tmp_path: Path) -> None:
    for placement in ("moon", "knee"):
        err = refused(tmp_path, f'[[schedules]]\n{BARE}intensity = 5\nplacement = "{placement}"\n')
        assert problem_keys(err) == {"schedules.0.placement": "unknown_placement"}
    ok = loads(tmp_path, f'[[schedules]]\n{BARE}intensity = 5\nplacement = "knee-left"\n')
    assert ok.schedules[0].placement == "knee-left"


def test_schedule_with_an_unknown_program_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, f'[[schedules]]\n{SCHEDULE}intensity = 5\nprogram = "nope"\n')
    assert problem_keys(err) == {"schedules.0.program": "unknown_program"}
    custom = '[[programs]]\nname = "knee"\nfrequency_hz = 80\npulse_width_us = 180\n'
    loads(tmp_path, f'{custom}[[schedules]]\n{SCHEDULE}intensity = 5\nprogram = "knee"\n')


def test_every_bad_schedule_is_named_at_once(tmp_path: Path) -> None:
    text = (
        f"[[schedules]]\n{SCHEDULE}intensity = 5\n"
        f'[[schedules]]\n{BARE}intensity = 99\nprogram = "nope"\nplacement = "chest"\n'
    )
    assert problem_keys(refused(tmp_path, text)) == {
        "schedules.1.intensity": "above_limit",
        "schedules.1.program": "unknown_program",
        "schedules.1.placement": "contraindicated_placement",
    }


def test_disabled_schedules_are_checked_too(tmp_path: Path) -> None:
    err = refused(tmp_path, f"[[schedules]]\n{SCHEDULE}intensity = 99\nenabled = false\n")
    assert problem_keys(err) == {"schedules.0.intensity": "above_limit"}


def test_session_defaults_are_checked_like_schedules(tmp_path: Path) -> None:
    err = refused(tmp_path, '[session]\nprogram = "nope"\nplacement = "chest"\n')
    assert problem_keys(err) == {
        "session.program": "unknown_program",
        "session.placement": "contraindicated_placement",
    }
    err = refused(tmp_path, "[session]\nminutes = 45\n")
    assert problem_keys(err) == {"session.minutes": "above_limit"}


# ---- strict types ---------------------------------------------------------------------------

# A smallest valid entry for the arrays of tables, so one field at a time can be made wrong.
BASE_ENTRIES: dict[str, dict[str, Any]] = {
    "programs": {"name": "p", "frequency_hz": 50, "pulse_width_us": 100},
    "schedules": {"name": "s", "at": ["08:00"], "intensity": 5},
    "levels": {"peak": 10, "ramp_per_s": 5, "step": 2},
}


def _leaf_kinds(annotation: Any) -> set[type]:
    """The scalar types an annotation admits (through Optional, tuples, Annotated...)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaf_kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        out: set[type] = set()
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                out |= _leaf_kinds(arg)
        return out
    return {annotation} if isinstance(annotation, type) else set()


def _numeric_fields() -> list[tuple[str, bool]]:
    """(dotted key, is a sequence) for every numeric field of every config model, found by
    walking the models, so a field added later is covered too."""
    found: list[tuple[str, bool]] = []

    def walk(model: type[BaseModel], path: list[str]) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            args = [a for a in typing.get_args(ann) if isinstance(a, type)]
            if name == "levels":
                walk(args[1], [*path, name, "coyote3"])
                continue
            sub = next((a for a in (ann, *args) if _is_model(a)), None)
            if sub is not None:
                walk(sub, [*path, name, "0"] if name in BASE_ENTRIES else [*path, name])
                continue
            kinds = _leaf_kinds(ann)
            if kinds & {int, float} and not kinds & {bool, str}:
                is_seq = typing.get_origin(ann) in (tuple, list)
                found.append((".".join([*path, name]), is_seq))

    walk(TensConfig, [])
    return found


def _is_model(a: Any) -> bool:
    return isinstance(a, type) and issubclass(a, BaseModel)


NUMERIC_FIELDS = _numeric_fields()


def _document(key: str, value: Any) -> dict[str, Any]:
    """The smallest document with `value` at `key` (entries of arrays from BASE_ENTRIES)."""
    parts = key.split(".")
    doc: dict[str, Any] = {}
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        if part == "0":
            continue
        if parts[i + 1 : i + 2] == ["0"]:
            entry = dict(BASE_ENTRIES[part])
            node[part] = [entry]
            node = entry
        elif part == "coyote3":
            node = node.setdefault(part, dict(BASE_ENTRIES["levels"]))
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value
    return doc


def test_the_walk_found_the_numeric_fields() -> None:
    keys = {k for k, _ in NUMERIC_FIELDS}
    assert {
        "limits.peak_ma",
        "limits.pulse_width_us",
        "limits.levels.coyote3.peak",
        "session.minutes",
        "session.channels",
        "device.connect_timeout_s",
        "programs.0.frequency_hz",
        "programs.0.burst_pulses",
        "schedules.0.intensity",
        "schedules.0.days",
        "mqtt.port",
    } <= keys


@pytest.mark.parametrize(("key", "is_seq"), NUMERIC_FIELDS, ids=[k for k, _ in NUMERIC_FIELDS])
def test_a_bool_is_never_a_number(key: str, is_seq: bool) -> None:
    doc = _document(key, [True, True] if is_seq else True)
    with pytest.raises(ConfigError) as info:
        TensConfig.from_document(doc)
    assert any(p.key.startswith(key) for p in info.value.problems), info.value
    assert all(p.code in ("float_type", "int_type") for p in info.value.problems), info.value


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[limits]\npeak_ma = true\n", "limits.peak_ma"),
        ('[limits]\npeak_ma = "30"\n', "limits.peak_ma"),
        ("[limits]\npeak_ma = nan\n", "limits.peak_ma"),
        ("[limits]\nfrequency_hz = [1, inf]\n", "limits.frequency_hz.1"),
        ("[limits]\npulse_width_us = [50.5, 400]\n", "limits.pulse_width_us.0"),
        ("[session]\nchannels = [0.0]\n", "session.channels.0"),
        ("[session]\nask_pain_before = 1\n", "session.ask_pain_before"),
        ('[mqtt]\nremote_start = "yes"\n', "mqtt.remote_start"),
        ("[mqtt]\nport = 1883.0\n", "mqtt.port"),
    ],
)
def test_strict_types_in_the_file(tmp_path: Path, text: str, key: str) -> None:
    assert key in problem_keys(refused(tmp_path, text))


def test_ints_are_fine_where_floats_are_expected(tmp_path: Path) -> None:
    cfg = loads(tmp_path, "[limits]\npeak_ma = 30\nramp_ma_per_s = 1\n")
    assert cfg.limits.peak_ma == 30.0 and isinstance(cfg.limits.peak_ma, float | int)


def test_strict_types_from_the_environment(tmp_path: Path) -> None:
    err = refused(tmp_path, "", environ={"TENS_LIMITS__PEAK_MA": "true"})
    assert problem_keys(err) == {"limits.peak_ma": "float_type"}
    assert "env TENS_LIMITS__PEAK_MA" in str(err)


# ---- level devices --------------------------------------------------------------------------


def test_level_hard_caps_are_the_vendors_ranges() -> None:
    assert dict(HARD_CAPS.level_peak) == {"coyote3": 200, "coyote2": 2047}


@pytest.mark.parametrize(("driver", "cap"), [("coyote3", 200), ("coyote2", 2047)])
def test_level_peak_above_the_hard_cap_is_refused(tmp_path: Path, driver: str, cap: int) -> None:
    section = f"[limits.levels.{driver}]\nramp_per_s = 10\nstep = 5\n"
    assert loads(tmp_path, f"{section}peak = {cap}\n").limits.levels[driver].peak == cap
    err = refused(tmp_path, f"{section}peak = {cap + 1}\n")
    assert problem_keys(err) == {f"limits.levels.{driver}.peak": "above_hard_cap"}


def test_level_limits_for_an_unknown_driver_are_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "[limits.levels.coyote4]\npeak = 10\nramp_per_s = 5\nstep = 2\n")
    assert problem_keys(err) == {"limits.levels.coyote4": "unknown_level_driver"}
    assert "coyote2" in str(err) and "coyote3" in str(err)


# ---- environment variables ------------------------------------------------------------------


def test_documented_non_config_variables_are_not_config_keys(tmp_path: Path) -> None:
    env = {"TENS_LOG_LEVEL": "debug", "TENS_HOME": "x", "TENS_RADIO": "x:1", "TENS_CONFIG": "x"}
    assert loads(tmp_path, "", environ=env).limits.peak_ma == 40


def test_unknown_tens_variables_are_still_refused(tmp_path: Path) -> None:
    # a typo of TENS_LIMITS__PEAK_MA must not be ignored: the person meant to lower the peak
    for name in ("TENS_LIMITS_PEAK_MA", "TENS_LIMITS__PEAK", "TENS_LOGLEVEL"):
        err = refused(tmp_path, "", environ={name: "30"})
        assert [p.code for p in err.problems] == ["unknown_key"], name
        assert name in str(err)


DOCUMENTED_TYPOS = ("TENS_LIMITS_PEAK_MA",)


def test_every_variable_the_docs_name_is_a_config_key_or_known(tmp_path: Path) -> None:
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")]
    texts += [(ROOT / "README.md").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "packaging").rglob("*.service")]
    names = set()
    for text in texts:
        names |= set(re.findall(r"\bTENS_[A-Z0-9_]*[A-Z0-9]\b", text))
    names.discard("TENS_SECTION__KEY")  # the pattern itself, in the config reference
    assert names, "the docs name no TENS_ variable?"
    for name in DOCUMENTED_TYPOS:  # the docs' example of a typo that is refused: it is
        names.discard(name)
        with pytest.raises(ConfigError):
            load(tmp_path / "none.toml", environ={name: "30"})
    for name in sorted(names):
        if name in NON_CONFIG_ENV:
            continue
        value = "30" if "PEAK" in name else '"x"'
        try:
            load(tmp_path / "none.toml", environ={name: value})
        except ConfigError as exc:
            codes = {p.code for p in exc.problems}
            assert "unknown_key" not in codes, f"{name} in the docs is not a config key: {exc}"
