"""Configuration: a TOML file in the user config dir, then ``TENS_*`` environment variables,
then CLI flags (each later source wins). Unknown keys and out-of-range values are refused
with the key named; nothing is half-applied.

Environment variables use ``__`` between levels: ``TENS_LIMITS__PEAK_MA=30``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tens.daemon.settings import MqttSettings
from tens.limits import Limits
from tens.paths import config_dir
from tens.programs import Program, all_programs
from tens.schedule import Schedule

CONFIG_FILENAME = "config.toml"
ENV_PREFIX = "TENS_"
# Environment variables that are not configuration keys (paths and transports).
NON_CONFIG_ENV = frozenset({"TENS_HOME", "TENS_RADIO", "TENS_CONFIG"})


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the key."""


class SessionDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    program: str = "conventional"
    minutes: float = Field(30.0, gt=0, le=120)
    placement: str | None = None
    channels: tuple[int, ...] = (0,)
    ramp_down_s: float = Field(5.0, ge=0, le=60)
    ask_pain_before: bool = True
    ask_pain_after: bool = True


class DeviceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = None
    connect_timeout_s: float = Field(10.0, gt=0, le=120)
    ack_timeout_s: float = Field(1.0, gt=0, le=10)


class TensConfig(BaseModel):
    """The whole configuration. Every section has safe defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: Limits = Limits()
    session: SessionDefaults = SessionDefaults()
    device: DeviceSettings = DeviceSettings()
    programs: tuple[Program, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="see docs/mqtt.md")

    def program_table(self) -> dict[str, Program]:
        return all_programs(self.programs)


def default_path() -> Path:
    explicit = os.environ.get("TENS_CONFIG", "").strip()
    return Path(explicit).expanduser() if explicit else config_dir() / CONFIG_FILENAME


def _format_errors(err: ValidationError, path: Path, origins: dict[str, str]) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        origin = origins.get(key, str(path))
        if e["type"] == "extra_forbidden":
            lines.append(f"{origin}: unknown key {key}")
        else:
            lines.append(f"{origin}: {key}: {e['msg']}")
    return "\n".join(lines)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _env_layer(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """TENS_SECTION__KEY=value -> {"section": {"key": value}}; values parsed as TOML scalars."""
    layer: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = layer
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment: {name} conflicts with another TENS_ variable")
        node[path[-1]] = value
        origins[".".join(path)] = f"env {name}"
    return layer, origins


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


class LoadedConfig:
    """A validated config plus where each set value came from (for `tens limits`)."""

    def __init__(self, config: TensConfig, origins: dict[str, str], path: Path) -> None:
        self.config = config
        self.origins = origins
        self.path = path

    def origin(self, key: str) -> str:
        return self.origins.get(key, "default")


def load(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> LoadedConfig:
    """Read file, environment and CLI overrides; validate all together or refuse."""
    path = path or default_path()
    file_layer: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if path.exists():
        try:
            file_layer = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        for key in _flatten(file_layer):
            origins[key] = f"file {path}"
    env_layer, env_origins = _env_layer(dict(os.environ if environ is None else environ))
    merged = _merge(file_layer, env_layer)
    origins.update(env_origins)
    if overrides:
        merged = _merge(merged, overrides)
        for key in _flatten(overrides):
            origins[key] = "command line"
    try:
        config = TensConfig.model_validate(merged)
        config.program_table()
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, path, origins)) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return LoadedConfig(config, origins, path)


STARTER_CONFIG = """\
# tens configuration. Every key is optional; these are the defaults.
# Hard caps (peak 100 mA, ramp 5 mA/s, step 2 mA, session 120 min, 720 min a day,
# 2 mA/cm² r.m.s.) cannot be configured away.

[limits]
peak_ma = 40.0              # highest intensity the governor allows
ramp_ma_per_s = 2.0         # largest increase per second, from any source
step_ma = 1.0               # largest manual step
session_minutes = 30.0
daily_minutes = 180.0       # counted from the session records; survives restarts
rest_minutes = 15.0         # between sessions
current_density_ma_cm2 = 2.0
electrode_area_cm2 = 25.0   # a 5 x 5 cm pad
frequency_hz = [1.0, 150.0]
pulse_width_us = [50, 400]

# Devices with abstract levels (DG-LAB Coyote) need level limits, or they are refused:
# [limits.levels.coyote3]
# peak = 40
# ramp_per_s = 10
# step = 5

[session]
program = "conventional"
minutes = 30.0
# placement = "lower-back"
ask_pain_before = true
ask_pain_after = true

# [[schedules]]
# name = "morning and evening"
# program = "conventional"
# minutes = 30
# intensity = 12
# at = ["08:00", "20:00"]
"""


def init_file(path: Path | None = None, *, force: bool = False) -> Path:
    """Write a commented starter config; refuse to overwrite unless forced."""
    path = path or default_path()
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(STARTER_CONFIG, encoding="utf-8")
    tmp.replace(path)
    return path
