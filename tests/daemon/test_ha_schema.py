"""Every discovery payload, as Home Assistant itself reads it (issue 18, item 10).

Home Assistant runs in its own Python 3.13 venv (tests/daemon/ha_venv.py): our payloads go in
as JSON, HA's discovery code expands the abbreviations, validates the device schema and each
component's platform ``DISCOVERY_SCHEMA`` (tests/daemon/ha_check.py), and renders the value
and availability templates with its own engine against real state payloads.

``test_payloads_pass_home_assistant`` uses the cached venv and takes seconds; it skips, saying
how to build the venv, when there is none; so does the check's own test, which feeds it payloads
HA refuses or silently trims. ``test_build_ha_venv_and_check`` (slow: the install
takes minutes) builds it, and skips when no Python 3.13 or no ``pip install`` can be had.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tens.daemon.discovery import discovery_payload
from tens.daemon.payloads import LimitsPayload, state_payload
from tens.daemon.topics import Topics
from tens.events import LinkState, SessionState, Snapshot
from tests.daemon import ha_venv

TOPICS = Topics("tens", "bedside", "homeassistant")
MA = LimitsPayload(unit="mA", min=0.0, max=40.0, step=1.0, ramp_per_s=2.0)
LEVELS = LimitsPayload(unit="level", min=0.0, max=60.0, step=5.0, ramp_per_s=5.0)
UNKNOWN = LimitsPayload(unit="mA", max=None)
PROGRAMS = ["conventional", "burst", "acupuncture-like"]
SUPPORT = "https://example.org/tens/docs/home-assistant.md"


def _state(limits: LimitsPayload, session: SessionState, remaining: float | None) -> Any:
    snap = Snapshot(
        link=LinkState.CONNECTED,
        session=session,
        program="burst",
        target=12.0 if session.active else 0.0,
        remaining_s=remaining,
        battery_percent=80,
        electrodes_ok=(True,),
        unit=limits.unit,
    )
    payload = state_payload(
        snap,
        controller_id="bedside",
        ts=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        limits=limits,
        remote_start=True,
        selected_program=None,
    )
    return json.loads(payload.to_bytes())


def cases() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lname, limits in (("mA", MA), ("levels", LEVELS), ("unknown", UNKNOWN)):
        for remote_start in (False, True):
            out[f"{lname}-remote_start={remote_start}"] = {
                "payload": discovery_payload(
                    TOPICS,
                    limits=limits,
                    programs=PROGRAMS,
                    remote_start=remote_start,
                    version="0.1.0",
                    support_url=SUPPORT,
                ),
                "states": [
                    _state(limits, SessionState.RUNNING, 600.0),  # 0: a session runs
                    _state(limits, SessionState.STOPPED, 312.0),  # 1: it has ended
                    _state(limits, SessionState.READY, None),  # 2: none yet
                ],
            }
    return out


def judge(result: dict[str, Any]) -> None:
    problems = {
        name: case["problems"] for name, case in result["cases"].items() if case["problems"]
    }
    assert not problems, f"Home Assistant {result['ha_version']} says: {problems}"
    for name, case in result["cases"].items():
        r = case["rendered"]
        # Intensity is always there; available only while limits are known (item 10: a
        # dropped entity keeps its stale range in HA)
        assert "intensity" in r, name
        for row in r["intensity"]["availability"]:
            assert row, f"{name}: intensity has no availability of its own"
            if name.startswith("unknown"):
                assert "offline" in row, (name, row)
            else:
                assert all(v == "online" for v in row), (name, row)
        # Time left: the count while running, 0 once the session ended, unknown before any
        assert r["time_left"]["value"] == ["600.0", "0.0", "None"], name
        assert r["session"]["value"] == ["running", "stopped", "ready"], name


def run_check(folder: Any) -> None:
    judge(ha_venv.check(folder, cases()))


def test_payloads_pass_home_assistant() -> None:
    folder = ha_venv.venv_dir()
    if not ha_venv.ready(folder):
        pytest.skip(
            f"no Home Assistant venv cached at {folder}: build it once with "
            "`pytest -m slow tests/daemon/test_ha_schema.py` (minutes)"
        )
    run_check(folder)


def test_the_check_sees_what_home_assistant_refuses_or_drops() -> None:
    """The check itself can fail: a misspelt key (HA drops it without a word), a unit HA has
    not for the device class, a component availability list beside a shared topic."""
    folder = ha_venv.venv_dir()
    if not ha_venv.ready(folder):
        pytest.skip(f"no Home Assistant venv cached at {folder}")
    case = cases()["mA-remote_start=True"]
    cmps = case["payload"]["cmps"]
    cmps["time_left"]["unit_of_measure"] = cmps["time_left"].pop("unit_of_measurement")
    cmps["delivered"]["unit_of_measurement"] = "mV"
    shared = dict(case["payload"])
    shared["availability_topic"] = shared.pop("availability")[0]["topic"]
    got = ha_venv.check(folder, {"bad": case, "shared": {"payload": shared, "states": []}})
    bad = " | ".join(got["cases"]["bad"]["problems"])
    assert "time_left (sensor): keys HA drops as unknown: ['unit_of_measure']" in bad
    assert "delivered (sensor): unit 'mV' is not one HA has for current" in bad
    assert "intensity (number): two or more values" in " ".join(got["cases"]["shared"]["problems"])


@pytest.mark.slow
@pytest.mark.timeout(ha_venv.BUILD_TIMEOUT_S + 600)
def test_build_ha_venv_and_check() -> None:
    folder = ha_venv.venv_dir()
    why = ha_venv.build(folder)
    if why is not None:
        pytest.skip(f"cannot make the Home Assistant venv: {why}")
    run_check(folder)
