"""The rules a network command passes before it reaches the controller (pure parsing)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tens.daemon.commands import CommandRefusal, parse_command
from tens.daemon.payloads import IntensityCommand, StartCommand

NOW = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


def msg(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def parse(verb: str, payload: bytes, *, retained: bool = False) -> object:
    return parse_command(verb, payload, now=NOW, max_age_s=5.0, retained=retained)


def test_fresh_intensity_command_parses() -> None:
    cmd = parse("intensity", msg(value=12.5, ts=NOW.timestamp() - 1, id="a1"))
    assert isinstance(cmd, IntensityCommand)
    assert cmd.value == 12.5 and cmd.id == "a1"


def test_iso_timestamp_and_start_fields() -> None:
    cmd = parse("start", msg(ts=NOW.isoformat(), program="burst", minutes=20, intensity=8))
    assert isinstance(cmd, StartCommand)
    assert (cmd.program, cmd.minutes, cmd.intensity) == ("burst", 20, 8)


@pytest.mark.parametrize(
    ("verb", "payload", "outcome", "words"),
    [
        ("dance", msg(ts=NOW.timestamp()), "error", "unknown command"),
        ("intensity", b"{not json", "error", "not valid JSON"),
        ("intensity", b"\xff\xfe", "error", "not valid JSON"),
        ("intensity", b"[1, 2]", "error", "JSON object"),
        ("intensity", b"", "error", "not valid JSON"),
        ("intensity", msg(value=-1, ts=NOW.timestamp()), "error", "value"),
        ("intensity", msg(value="high", ts=NOW.timestamp()), "error", "value"),
        ("intensity", b'{"value": NaN, "ts": 1767600000}', "error", "value"),
        ("intensity", b'{"value": Infinity, "ts": 1767600000}', "error", "value"),
        ("intensity", msg(value=3, ts=NOW.timestamp(), volume=11), "error", "unknown key"),
        ("intensity", msg(value=3), "error", "ts"),
        ("intensity", msg(value=3, ts=NOW.timestamp() - 6), "refused", "old"),
        ("start", msg(ts=NOW.timestamp() - 3600), "refused", "old"),
        ("start", msg(ts=NOW.timestamp() + 60), "refused", "future"),
        ("start", msg(ts=NOW.timestamp(), minutes=0), "error", "minutes"),
        ("start", msg(ts=NOW.timestamp(), v=2), "error", "v"),
        ("pause", b"x" * 5000, "error", "larger"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(
    verb: str, payload: bytes, outcome: str, words: str
) -> None:
    result = parse(verb, payload)
    assert isinstance(result, CommandRefusal)
    assert result.outcome == outcome
    assert words in result.reason


def test_retained_commands_are_refused_even_when_fresh() -> None:
    result = parse("start", msg(ts=NOW.timestamp(), id="r"), retained=True)
    assert isinstance(result, CommandRefusal)
    assert result.outcome == "refused" and "retained" in result.reason
    assert result.id == "r"
