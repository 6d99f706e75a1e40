"""Fuzzing the config loader (issue 12, the adversarial campaign): random TOML documents, the
real keys with values of any type, bytes that are not TOML or not UTF-8, and random ``TENS_``
environment variables. ``load`` either returns a config that keeps the limits, or raises the
one documented typed error, :class:`tens.config.ConfigError`, with at least one problem and a
code for each. Any other exception is a failure.

The default suite runs ~200 examples per property; ``-m slow`` runs the long versions (3000
examples each):
``.venv/bin/python -m pytest -m slow tests/config/test_fuzz.py``. Hypothesis prints the seed
of any failure (``--hypothesis-seed=N`` replays it).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tens.config import STARTER_CONFIG, ConfigError, LoadedConfig, TensConfig, load
from tens.limits import HARD_CAPS

SHORT = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LONG = settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- the keys of the real models --------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for a in (annotation, *typing.get_args(annotation)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        for b in typing.get_args(a):
            if isinstance(b, type) and issubclass(b, BaseModel):
                return b
    return None


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """Field name -> nested key tree (a dict) or None for a leaf."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        out[name] = _keys(sub) if sub is not None else None
    return out


KEYS = _keys(TensConfig)
ARRAY_SECTIONS = ("programs", "schedules")


def _leaf_paths(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, sub in tree.items():
        if sub is None:
            out.append((*prefix, name))
        else:
            out += _leaf_paths(sub, (*prefix, name))
    return out


LEAF_PATHS = _leaf_paths(KEYS)

# ---- TOML values and a small writer -----------------------------------------------------------

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scalars = st.one_of(
    st.booleans(),
    I64,
    st.sampled_from([0, 1, -1, 2, 5, 40, 100, 101, 200, 201, 2047, 2048, 65535, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.5, 40.0, 100.000001, -0.0, math.inf, math.nan]),
    st.text(max_size=30),
    st.sampled_from(["08:00", "25:99", "chest", "knee-left", "conventional", "coyote3", ""]),
    st.dates(),
    st.times(),
    st.datetimes(),
)


_VALUES: dict[int, st.SearchStrategy[Any]] = {}


def values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Any TOML value, nested up to `depth` (built once per depth)."""
    if depth <= 0:
        return scalars
    if depth not in _VALUES:
        _VALUES[depth] = _values(depth)
    return _VALUES[depth]


def _values(depth: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        scalars,
        st.lists(values(depth - 1), max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(sorted({p[-1] for p in LEAF_PATHS})), st.text(max_size=8)),
            values(depth - 1),
            max_size=4,
        ),
    )


def toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_str(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_str(k)} = {toml_value(v)}\n" for k, v in doc.items())


# ---- documents --------------------------------------------------------------------------------


def _section(tree: dict[str, Any], depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """A table with (mostly) the real keys of a section, each with a value of any type."""
    names = sorted(tree)
    return st.dictionaries(
        st.one_of(st.sampled_from(names), st.text(max_size=10)),
        values(depth),
        max_size=len(names) + 1,
    )


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(sorted(KEYS)), unique=True, max_size=len(KEYS))):
        tree = KEYS[name]
        if name in ARRAY_SECTIONS:
            doc[name] = draw(st.lists(_section(tree), max_size=3))
        elif tree is None:
            doc[name] = draw(values())
        else:
            doc[name] = draw(_section(tree))
    if draw(st.booleans()):
        doc[draw(st.text(max_size=8))] = draw(values(1))
    return doc


VALID_BASE = tomllib.loads(
    STARTER_CONFIG
    + "\n[limits.levels.coyote3]\npeak = 40\nramp_per_s = 10\nstep = 5\n"
    + '[[programs]]\nname = "knee"\nfrequency_hz = 80\npulse_width_us = 180\n'
    + '[[schedules]]\nname = "am"\nprogram = "knee"\nintensity = 12\nat = ["08:00"]\n'
    + 'placement = "knee-left"\n'
)


def _set(doc: Any, path: tuple[str | int, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _valid_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _valid_paths(v, (*prefix, k))] or [prefix]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return [p for i, v in enumerate(node) for p in _valid_paths(v, (*prefix, i))]
    return [prefix]


VALID_PATHS = _valid_paths(VALID_BASE)


@st.composite
def wrong_values(draw: st.DrawFn) -> dict[str, Any]:
    """The valid base document with one to three of its values replaced by anything."""
    doc = tomllib.loads(toml_document(VALID_BASE))  # a deep copy
    for path in draw(st.lists(st.sampled_from(VALID_PATHS), min_size=1, max_size=3)):
        _set(doc, path, draw(values(2)))
    return doc


env_names = st.one_of(
    st.sampled_from(["TENS_HOME", "TENS_RADIO", "TENS_CONFIG", "TENS_LOG_LEVEL", "PATH"]),
    st.sampled_from(LEAF_PATHS).map(lambda p: "TENS_" + "__".join(p).upper()),
    st.sampled_from(sorted(KEYS)).map(lambda k: "TENS_" + k.upper()),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", max_size=20).map(
        lambda s: "TENS_" + s
    ),
)
env_values = st.one_of(st.text(max_size=30), scalars.map(toml_value), values(2).map(toml_value))
environments = st.dictionaries(env_names, env_values, max_size=4)

# ---- the property -----------------------------------------------------------------------------


def check_load(path: Path, environ: dict[str, str]) -> None:
    try:
        loaded = load(path, environ=environ)
    except ConfigError as exc:
        assert exc.problems, f"a ConfigError without problems: {exc}"
        assert all(p.code and isinstance(p.code, str) for p in exc.problems)
        assert str(exc)
        return
    assert isinstance(loaded, LoadedConfig)
    keeps_the_limits(loaded.config)


def keeps_the_limits(cfg: TensConfig) -> None:
    lim = cfg.limits
    for name in ("peak_ma", "ramp_ma_per_s", "step_ma", "session_minutes", "daily_minutes"):
        value = getattr(lim, name)
        assert not isinstance(value, bool) and math.isfinite(value)
        assert 0 < value <= getattr(HARD_CAPS, name)
    for driver, lv in lim.levels.items():
        assert 0 < lv.peak <= HARD_CAPS.level_peak[driver]
    table = cfg.program_table()
    for s in cfg.schedules:
        assert s.program in table
        assert not isinstance(s.intensity, bool) and math.isfinite(s.intensity)
        assert s.minutes <= lim.session_minutes
        peaks = [lim.peak_ma, *(lv.peak for lv in lim.levels.values())]
        assert s.intensity <= max(peaks)


def _write(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _random_documents(tmp_path: Path, doc: dict[str, Any], environ: dict[str, str]) -> None:
    check_load(_write(tmp_path, toml_document(doc)), environ)


def _wrong_values(tmp_path: Path, doc: dict[str, Any], environ: dict[str, str]) -> None:
    check_load(_write(tmp_path, toml_document(doc)), environ)


def _raw_bytes(tmp_path: Path, data: bytes) -> None:
    check_load(_write(tmp_path, data), {})


@SHORT
@given(doc=documents(), environ=environments)
def test_random_documents_load_or_are_refused(
    tmp_path: Path, doc: dict[str, Any], environ: dict[str, str]
) -> None:
    _random_documents(tmp_path, doc, environ)


@SHORT
@given(doc=wrong_values(), environ=environments)
def test_right_keys_with_wrong_values_load_or_are_refused(
    tmp_path: Path, doc: dict[str, Any], environ: dict[str, str]
) -> None:
    _wrong_values(tmp_path, doc, environ)


@SHORT
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.integers(1, 3000).map(lambda n: b"a = " + b"[" * n + b"]" * n),
        st.integers(1, 3000).map(lambda n: b"a = " + b"{b = " * n + b"1" + b"}" * n),
    )
)
def test_bytes_that_are_not_toml_are_refused(tmp_path: Path, data: bytes) -> None:
    _raw_bytes(tmp_path, data)


@SHORT
@given(environ=environments)
def test_random_environments_load_or_are_refused(tmp_path: Path, environ: dict[str, str]) -> None:
    check_load(tmp_path / "absent.toml", environ)


def test_the_valid_base_loads(tmp_path: Path) -> None:
    check_load(_write(tmp_path, toml_document(VALID_BASE)), {})
    load(_write(tmp_path, toml_document(VALID_BASE)), environ={})


@pytest.mark.slow
@pytest.mark.timeout(1800)
@LONG
@given(doc=documents(), environ=environments)
def test_random_documents_long(
    tmp_path: Path, doc: dict[str, Any], environ: dict[str, str]
) -> None:
    _random_documents(tmp_path, doc, environ)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@LONG
@given(doc=wrong_values(), environ=environments)
def test_right_keys_with_wrong_values_long(
    tmp_path: Path, doc: dict[str, Any], environ: dict[str, str]
) -> None:
    _wrong_values(tmp_path, doc, environ)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@LONG
@given(data=st.binary(max_size=2000))
def test_random_bytes_long(tmp_path: Path, data: bytes) -> None:
    _raw_bytes(tmp_path, data)
