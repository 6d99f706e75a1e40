"""Configuration: a TOML file in the user config dir, then ``TENS_*`` environment variables,
then CLI flags (each later source wins). Unknown keys and out-of-range values are refused
with the key named; nothing is half-applied. The full reference is docs/config.md.

Environment variables use ``__`` between levels: ``TENS_LIMITS__PEAK_MA=30``. The variables in
:data:`NON_CONFIG_ENV` (paths, transports, the daemon's log level) are not configuration keys;
any other ``TENS_`` variable is one, and an unknown one is refused like an unknown key in the
file (a typo of a limit must not be ignored).

Refuse when unsure, at load time: values are validated in pydantic's strict mode (a bool is
never a number, a string never a number or a bool, a float never an int; an int is fine where
a float is expected; no NaN or infinity), and then the parts are checked together: schedules
and the session defaults must name a known program and a known, non-contraindicated
placement, and ask for no more than the limits allow; level limits must name a known level
driver and stay within its hard cap. Every problem is a :class:`ConfigProblem` (key, code,
message, origin) on the one typed error, :class:`ConfigError`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tens import channels as channel_numbers
from tens.daemon.settings import MqttSettings
from tens.limits import HARD_CAPS, Limits
from tens.paths import config_dir
from tens.programs import Program, all_programs
from tens.schedule import QuietHours, Schedule

CONFIG_FILENAME = "config.toml"
ENV_PREFIX = "TENS_"
NON_CONFIG_ENV = frozenset({"TENS_HOME", "TENS_RADIO", "TENS_CONFIG", "TENS_LOG_LEVEL"})
"""Environment variables that are not configuration keys: where the data and the config live,
the virtual radio to join, and ``tens daemon``'s default ``--log-level``."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One reason a configuration is refused.

    ``key`` is dotted, array entries by index (``schedules.0.intensity``); ``code`` is
    machine-readable: ``unknown_key``, ``not_toml``, ``unreadable``, ``env_conflict``,
    ``above_limit``, ``above_hard_cap``, ``unknown_program``, ``unknown_placement``,
    ``contraindicated_placement``, ``placement_required`` (a schedule naming no placement),
    ``moved_key`` (a key that is no longer configuration, e.g. ``limits.electrode_area_cm2``),
    ``unknown_level_driver``, ``quiet_hours`` (a schedule that
    would start in the quiet hours), ``night_use_needs_reason``, ``invalid`` (programs that clash),
    ``too_deep``, ``overridden`` (a written key another layer sets otherwise), or pydantic's
    error type (``float_type``, ``less_than_equal``, ...).
    """

    key: str
    code: str
    message: str
    origin: str = ""

    def line(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        if self.code == "unknown_key":
            return f"{where}unknown key {self.key}"
        return f"{where}{self.key}: {self.message}" if self.key else f"{where}{self.message}"


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the key.

    ``problems`` lists every reason with its key and machine-readable code. This is the only
    exception :func:`load` raises for anything wrong in the file, the environment or the
    overrides.
    """

    def __init__(self, message: str, problems: tuple[ConfigProblem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    @classmethod
    def of(cls, problems: list[ConfigProblem]) -> ConfigError:
        return cls("\n".join(p.line() for p in problems), tuple(problems))


class SessionDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    program: str = "conventional"
    minutes: float = Field(30.0, gt=0, le=HARD_CAPS.session_minutes)
    placement: str | None = None
    channels: tuple[int, ...] = Field(
        (1,), description="output channels, numbered from 1 as on every face (tens.channels)"
    )
    ramp_down_s: float = Field(5.0, ge=0, le=60)
    max_pause_minutes: float = Field(
        10.0, gt=0, le=120, description="a pause longer than this ends the session as stopped"
    )
    ask_pain_before: bool = True
    ask_pain_after: bool = True

    @property
    def channel_indexes(self) -> tuple[int, ...]:
        """``channels`` as the device's indexes (1 -> 0); valid once :meth:`problems` is
        empty, which refuses numbers below 1."""
        return tuple(channel_numbers.index(n) for n in self.channels)


class DeviceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    address: str | None = Field(
        None,
        min_length=1,
        description="the wearable to use (address, or exact advertised name); every face "
        "connects to it and to no other. None: the only known device around",
    )
    connect_timeout_s: float = Field(10.0, gt=0, le=120)
    ack_timeout_s: float = Field(1.0, gt=0, le=10)


class PrescriptionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    require_signature: bool = Field(
        False,
        description="refuse to import or apply a prescription that is not signed by a key "
        "you trust (docs/prescription.md)",
    )


class TensConfig(BaseModel):
    """The whole configuration. Every section has safe defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    limits: Limits = Limits()
    session: SessionDefaults = SessionDefaults()
    device: DeviceSettings = DeviceSettings()
    programs: tuple[Program, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    quiet_hours: QuietHours = QuietHours()
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="see docs/mqtt.md")
    prescription: PrescriptionSettings = PrescriptionSettings()

    def program_table(self) -> dict[str, Program]:
        return all_programs(self.programs)

    @classmethod
    def from_document(
        cls,
        document: Mapping[str, Any],
        origins: Mapping[str, str] | None = None,
        default_origin: str = "",
    ) -> TensConfig:
        """Validate a whole document (file, environment and overrides merged) strictly, then
        check its parts together. Raises :class:`ConfigError` listing every problem, each with
        the origin of its key (``origins``: dotted key -> where it was set)."""
        origins = {"": default_origin, **(origins or {})}
        moved = _moved_keys(document, origins)
        if moved:
            raise ConfigError.of(moved)
        try:
            text = json.dumps(document, default=_json_scalar)
        except RecursionError:
            raise ConfigError.of([ConfigProblem("", "too_deep", "nested too deeply")]) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError.of([ConfigProblem("", "invalid", str(exc))]) from None
        try:
            config = cls.model_validate_json(text, strict=True)
        except ValidationError as exc:
            raise ConfigError.of(_problems_of(exc, origins)) from None
        except RecursionError:
            raise ConfigError.of([ConfigProblem("", "too_deep", "nested too deeply")]) from None
        problems = config.problems()
        if problems:
            raise ConfigError.of([_with_origin(p, origins) for p in problems])
        return config

    def problems(self) -> list[ConfigProblem]:
        """What cannot be used when the parts are taken together (empty when all is well)."""
        out = [
            ConfigProblem(f"limits.{p.key}", p.code, p.message)
            for p in self.limits.level_problems()
        ]
        try:
            table = self.program_table()
        except ValueError as exc:
            out.append(ConfigProblem("programs", "invalid", str(exc)))
            table = all_programs()
        s = self.session
        out += _program_problems("session.program", s.program, table)
        out += _placement_problems("session.placement", s.placement)
        out += _minutes_problems("session.minutes", s.minutes, self.limits)
        out += _channel_problems("session.channels", s.channels)
        out += _night_use_problems(self.quiet_hours)
        for i, sched in enumerate(self.schedules):
            key = f"schedules.{i}"
            out += _quiet_hours_problems(key, sched, self.quiet_hours)
            out += _program_problems(f"{key}.program", sched.program, table)
            out += _placement_problems(f"{key}.placement", sched.placement, required=True)
            out += _minutes_problems(f"{key}.minutes", sched.minutes, self.limits)
            program = table.get(sched.program)
            out += _intensity_problems(f"{key}.intensity", sched.intensity, program, self.limits)
        return out


def _json_scalar(value: Any) -> Any:
    """TOML dates and times (and anything else JSON lacks) go to validation as text."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a value of type {type(value).__name__} is not configuration")


def _origin_of(key: str, origins: Mapping[str, str]) -> str:
    parts = key.split(".")
    while parts:
        found = origins.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return origins.get("", "")


def _with_origin(p: ConfigProblem, origins: Mapping[str, str]) -> ConfigProblem:
    return ConfigProblem(p.key, p.code, p.message, _origin_of(p.key, origins))


def _problems_of(err: ValidationError, origins: Mapping[str, str]) -> list[ConfigProblem]:
    out = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        code = "unknown_key" if e["type"] == "extra_forbidden" else str(e["type"])
        out.append(ConfigProblem(key or "(top level)", code, e["msg"], _origin_of(key, origins)))
    return out


def _program_problems(key: str, name: str, table: Mapping[str, Program]) -> list[ConfigProblem]:
    if name in table:
        return []
    known = ", ".join(sorted(table))
    return [ConfigProblem(key, "unknown_program", f"unknown program {name!r}; known: {known}")]


def _channel_problems(key: str, numbers: tuple[int, ...]) -> list[ConfigProblem]:
    for n in numbers:
        try:
            channel_numbers.index(n)
        except channel_numbers.ChannelNumberError as exc:
            return [ConfigProblem(key, exc.code, str(exc))]
    return []


def _moved_keys(document: Mapping[str, Any], origins: Mapping[str, str]) -> list[ConfigProblem]:
    """Keys that used to be configuration and now live elsewhere, with where."""
    limits = document.get("limits")
    if isinstance(limits, Mapping) and "electrode_area_cm2" in limits:
        key = "limits.electrode_area_cm2"
        return [
            ConfigProblem(
                key,
                "moved_key",
                "the electrode size is no longer assumed from the config: remove this key and "
                "state the pads on each channel with `tens electrodes set --channel N SIZE` "
                "(e.g. 5x5, 5x9, round-3.2)",
                _origin_of(key, origins),
            )
        ]
    return []


def _placement_problems(
    key: str, placement: str | None, *, required: bool = False
) -> list[ConfigProblem]:
    if placement is None:
        if not required:
            return []
        return [
            ConfigProblem(
                key,
                "placement_required",
                "a schedule must name its electrode placement (e.g. placement = "
                '"lower-back"): an unattended start is checked against it',
            )
        ]
    from tens.journal.regions import REGIONS, normalize_region

    try:
        region = REGIONS[normalize_region(placement)]
    except ValueError as exc:
        return [ConfigProblem(key, "unknown_placement", str(exc))]
    if region.contraindicated_for_electrodes:
        return [
            ConfigProblem(
                key,
                "contraindicated_placement",
                f"electrodes must never be placed on the {region.label}",
            )
        ]
    return []


def _night_use_problems(quiet: QuietHours) -> list[ConfigProblem]:
    if quiet.allow_night_use and not (quiet.night_use_reason or "").strip():
        return [
            ConfigProblem(
                "quiet_hours.night_use_reason",
                "night_use_needs_reason",
                "allow_night_use = true needs a stated night_use_reason (who watches, why)",
            )
        ]
    return []


def _quiet_hours_problems(key: str, sched: Schedule, quiet: QuietHours) -> list[ConfigProblem]:
    """A schedule that would start in the quiet hours, unless night use is allowed."""
    if quiet.allow_night_use:
        return []
    inside = sorted({t.strftime("%H:%M") for t in sched.start_times() if quiet.contains(t)})
    if not inside:
        return []
    field = "at" if sched.at else "between"
    return [
        ConfigProblem(
            f"{key}.{field}",
            "quiet_hours",
            f"would start at {', '.join(inside)}, in the quiet hours "
            f"{quiet.start}–{quiet.end}: no session starts unattended at night "
            "(set quiet_hours.allow_night_use = true with a night_use_reason to allow it)",
        )
    ]


def _minutes_problems(key: str, minutes: float, limits: Limits) -> list[ConfigProblem]:
    cap = min(limits.session_minutes, limits.daily_minutes, HARD_CAPS.session_minutes)
    if minutes <= cap:
        return []
    return [
        ConfigProblem(
            key,
            "above_limit",
            f"{minutes:g} min is above the session limit {cap:g} min "
            "(limits.session_minutes, limits.daily_minutes): it could never run",
        )
    ]


def _intensity_problems(
    key: str, intensity: float, program: Program | None, limits: Limits
) -> list[ConfigProblem]:
    """An intensity no configured device could be given: above the mA limits (peak, hard cap,
    r.m.s. density for this program) and above every configured level peak. A schedule does
    not say which device it is for, so the level peaks count too; the governor checks again
    against the connected device at every start."""
    from tens.electrodes import MAX_AREA_CM2
    from tens.safety.governor import rms_density

    ma_peak = min(limits.peak_ma, HARD_CAPS.peak_ma)
    density = min(limits.current_density_ma_cm2, HARD_CAPS.current_density_ma_cm2)
    # the pads are stated per channel in the store, not here: "never" is on the largest pad
    dense = program is not None and rms_density(intensity, program, MAX_AREA_CM2) > density + 1e-9
    if intensity <= ma_peak and not dense:
        return []
    level_peaks = {
        name: min(lv.peak, HARD_CAPS.level_peak.get(name, 0.0))
        for name, lv in limits.levels.items()
    }
    if any(intensity <= peak for peak in level_peaks.values()):
        return []
    why = (
        f"the r.m.s. current density limit {density:g} mA/cm² on the largest electrode "
        f"({MAX_AREA_CM2:g} cm²) with program {program.name if program else '?'} "
        "(limits.current_density_ma_cm2)"
        if intensity <= ma_peak
        else f"the peak intensity limit {ma_peak:g} mA (limits.peak_ma)"
    )
    if level_peaks:
        peaks = ", ".join(f"{n} {p:g}" for n, p in sorted(level_peaks.items()))
        why += f" and every level peak (limits.levels: {peaks})"
    return [ConfigProblem(key, "above_limit", f"{intensity:g} is above {why}: it could never run")]


def default_path() -> Path:
    explicit = os.environ.get("TENS_CONFIG", "").strip()
    return Path(explicit).expanduser() if explicit else config_dir() / CONFIG_FILENAME


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _env_layer(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """TENS_SECTION__KEY=value -> {"section": {"key": value}}; values parsed as TOML values
    (a value that is not TOML is taken as text). Variables in NON_CONFIG_ENV are skipped."""
    layer: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}").get("v", raw)
        except (tomllib.TOMLDecodeError, RecursionError):
            value = raw
        if not isinstance(value, str) and _is_text_field(path):
            value = raw  # TENS_MQTT__PASSWORD=123456 is text: the environment holds only text
        node = layer
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                break
        if not isinstance(node, dict) or isinstance(node.get(path[-1]), dict):
            key = ".".join(path)
            raise ConfigError.of(
                [
                    ConfigProblem(
                        key,
                        "env_conflict",
                        "conflicts with another TENS_ variable (a section and a key in it)",
                        f"env {name}",
                    )
                ]
            )
        node[path[-1]] = value
        origins[".".join(path)] = f"env {name}"
    return layer, origins


def _is_text_field(path: list[str]) -> bool:
    """Does the config key at `path` take text only (a string, a secret, a path)?"""
    import types
    import typing

    from pydantic import SecretStr

    model: Any = TensConfig
    annotation: Any = None
    for i, part in enumerate(path):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        annotation = fields[part].annotation
        if i < len(path) - 1:
            model = next(
                (
                    a
                    for a in (annotation, *typing.get_args(annotation))
                    if isinstance(a, type) and issubclass(a, BaseModel)
                ),
                None,
            )
    kinds = {annotation}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = set(typing.get_args(annotation)) - {type(None)}
    text = (str, SecretStr, Path)
    return bool(kinds) and all(isinstance(k, type) and issubclass(k, text) for k in kinds)


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

    def refuse(code: str, message: str) -> ConfigError:
        return ConfigError.of([ConfigProblem("", code, message, str(path))])

    if path.exists():
        try:
            file_layer = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise refuse("not_toml", f"not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise refuse("not_toml", f"not UTF-8 text: {exc.reason}") from None
        except RecursionError:
            raise refuse("too_deep", "nested too deeply") from None
        except OSError as exc:
            raise refuse("unreadable", f"cannot read: {exc.strerror}") from None
        for key in _flatten(file_layer):
            origins[key] = f"file {path}"
    env_layer, env_origins = _env_layer(dict(os.environ if environ is None else environ))
    merged = _merge(file_layer, env_layer)
    origins.update(env_origins)
    if overrides:
        merged = _merge(merged, overrides)
        for key in _flatten(overrides):
            origins[key] = "command line"
    return LoadedConfig(TensConfig.from_document(merged, origins, str(path)), origins, path)


STARTER_CONFIG = """\
# tens configuration. Every key is optional; these are the defaults.
# Hard caps (peak 100 mA, ramp 5 mA/s, step 2 mA, session 60 min, 360 min a day,
# 2 mA/cm² r.m.s., 1-200 Hz, 50-400 µs) cannot be configured away (sources: docs/safety.md).

[limits]
peak_ma = 40.0              # highest intensity the governor allows
ramp_ma_per_s = 2.0         # largest increase per second, from any source
step_ma = 1.0               # largest manual step
session_minutes = 30.0
daily_minutes = 180.0       # counted from the session records; survives restarts
rest_minutes = 15.0         # between sessions
current_density_ma_cm2 = 2.0
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
max_pause_minutes = 10.0    # a longer pause ends the session (stopped)
# placement = "lower-back"  # where the electrodes go when a start names none (MQTT, TUI)
ask_pain_before = true
ask_pain_after = true

# [[schedules]]
# name = "morning and evening"
# program = "conventional"
# minutes = 30
# intensity = 12
# placement = "lower-back"  # required: every start names its placement
# at = ["08:00", "20:00"]

# No schedule starts in the quiet hours (refused when the config loads, and again at run time)
# unless night use is allowed with a stated reason:
# [quiet_hours]
# start = "22:00"
# end = "07:00"
# allow_night_use = false
# night_use_reason = "..."

# Only prescriptions signed by a clinician's key you trust (tens prescription trust):
# [prescription]
# require_signature = false
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
