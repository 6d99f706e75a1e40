"""Home Assistant discovery payloads, checked against HA's documented MQTT keys.

The key lists below are restated from Home Assistant's MQTT documentation (device discovery,
and the sensor, binary_sensor, button, number and select platforms). Templates are rendered
with Jinja2 as HA does, against a real state payload, and the command templates must yield
commands that the daemon's own parser accepts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from tens.daemon.commands import CommandRefusal, parse_command
from tens.daemon.discovery import discovery_payload, support_url_from
from tens.daemon.payloads import LimitsPayload, StatePayload, state_payload
from tens.daemon.topics import Topics
from tens.events import LinkState, SessionState, Snapshot
from tests.daemon.harness import settings_for

ENTITY_COMMON = {
    "p",
    "platform",
    "name",
    "unique_id",
    "object_id",
    "default_entity_id",
    "icon",
    "entity_category",
    "enabled_by_default",
    "encoding",
    "qos",
    "availability",
    "availability_topic",
    "availability_mode",
    "availability_template",
    "payload_available",
    "payload_not_available",
    "json_attributes_topic",
    "json_attributes_template",
    "entity_picture",
}
PLATFORM_KEYS = {
    "sensor": {
        "device_class",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "options",
        "state_class",
        "state_topic",
        "suggested_display_precision",
        "unit_of_measurement",
        "value_template",
    },
    "binary_sensor": {
        "device_class",
        "expire_after",
        "force_update",
        "off_delay",
        "payload_off",
        "payload_on",
        "state_topic",
        "value_template",
    },
    "button": {"command_template", "command_topic", "device_class", "payload_press", "retain"},
    "number": {
        "command_template",
        "command_topic",
        "device_class",
        "min",
        "max",
        "mode",
        "optimistic",
        "payload_reset",
        "retain",
        "state_topic",
        "step",
        "unit_of_measurement",
        "value_template",
    },
    "select": {
        "command_template",
        "command_topic",
        "optimistic",
        "options",
        "retain",
        "state_topic",
        "value_template",
    },
}
REQUIRED = {
    "button": {"command_topic"},
    "number": {"command_topic"},
    "select": {"command_topic", "options"},
}
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
SHARED_TOP = {
    "dev",
    "o",
    "cmps",
    "state_topic",
    "command_topic",
    "qos",
    "encoding",
    "availability_topic",
    "availability",
    "availability_mode",
    "payload_available",
    "payload_not_available",
}

TOPICS = Topics("tens", "bedside", "homeassistant")
LIMITS = LimitsPayload(unit="mA", min=0.0, max=40.0, step=1.0, ramp_per_s=2.0)
PROGRAMS = ["conventional", "burst", "acupuncture-like"]


def payload(remote_start: bool, limits: LimitsPayload = LIMITS) -> dict[str, Any]:
    return discovery_payload(
        TOPICS, limits=limits, programs=PROGRAMS, remote_start=remote_start, version="0.1.0"
    )


@pytest.mark.parametrize("remote_start", [False, True])
def test_keys_are_home_assistants(remote_start: bool) -> None:
    p = payload(remote_start)
    json.dumps(p)  # serialisable
    assert set(p) <= SHARED_TOP
    assert set(p["dev"]) <= DEVICE_KEYS and p["dev"]["identifiers"]
    assert set(p["o"]) <= ORIGIN_KEYS and p["o"]["name"]
    uids = set()
    for key, comp in p["cmps"].items():
        platform = comp["p"]
        assert platform in PLATFORM_KEYS, key
        if set(comp) == {"p"}:
            continue  # a platform-only stub: how HA is told to remove an entity
        assert comp["qos"] == 1, f"{key}: HA does not pass the device's qos down"
        extra = set(comp) - ENTITY_COMMON - PLATFORM_KEYS[platform]
        assert not extra, f"{key}: keys HA does not know: {extra}"
        assert REQUIRED.get(platform, set()) <= set(comp), key
        assert comp["unique_id"] not in uids
        uids.add(comp["unique_id"])
        if comp.get("device_class") == "enum":
            assert "options" in comp and "unit_of_measurement" not in comp
            assert "state_class" not in comp


def test_start_button_only_with_remote_start_and_stop_always() -> None:
    # off: a platform-only stub, so Home Assistant removes a Start button it still has
    assert payload(False)["cmps"]["start"] == {"p": "button"}
    assert payload(True)["cmps"]["start"]["command_topic"] == "tens/bedside/cmd/start"
    for rs in (False, True):
        assert payload(rs)["cmps"]["stop"]["command_topic"] == "tens/bedside/cmd/stop"


def test_intensity_number_follows_the_effective_limits() -> None:
    n = payload(False)["cmps"]["intensity"]
    assert (n["min"], n["max"], n["step"], n["unit_of_measurement"]) == (0.0, 40.0, 1.0, "mA")
    assert n["device_class"] == "current"  # calibrated mA: HA shows it as a current
    levels = payload(False, LimitsPayload(unit="level", max=60, step=5))["cmps"]
    assert levels["intensity"]["max"] == 60 and levels["intensity"]["step"] == 5
    assert "device_class" not in levels["delivered"]  # "current" only for calibrated mA
    assert "device_class" not in levels["intensity"]  # abstract levels are no current


def test_intensity_is_always_published_and_unavailable_without_limits() -> None:
    """A number dropped from cmps keeps its old range in HA; so it stays, and says
    unavailable (from the retained state) while no limits are known, with a range that can
    only ask for nothing."""
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for limits in (LIMITS, LimitsPayload(max=None)):
        n = payload(False, limits)["cmps"]["intensity"]
        assert n["availability_mode"] == "all"
        topics = [a["topic"] for a in n["availability"]]
        assert topics == [TOPICS.availability, TOPICS.state]
        tpl = n["availability"][1]["value_template"]
        known = json.loads(_state().to_bytes())
        unknown = json.loads(
            _state().model_copy(update={"limits": LimitsPayload(max=None)}).to_bytes()
        )
        assert env.from_string(tpl).render(value_json=known) == "online"
        assert env.from_string(tpl).render(value_json=unknown) == "offline"
    blind = payload(False, LimitsPayload(max=None))["cmps"]["intensity"]
    assert blind["min"] == blind["max"] == 0.0


def test_intensity_name_says_one_request_rises_one_step() -> None:
    """The slider can ask for 0 -> 40 mA; the governor raises one manual step at a time."""
    assert payload(False)["cmps"]["intensity"]["name"] == "Intensity (rises 1 mA at a time)"
    lv = payload(False, LimitsPayload(unit="level", max=60, step=5))["cmps"]["intensity"]
    assert lv["name"] == "Intensity (rises 5 level at a time)"
    assert lv["step"] == 5  # and each notch of the slider is one such step
    # HA keeps the entity id by unique_id when the name changes; no object_id (HA dropped it)
    assert lv["unique_id"] == "tens_bedside_intensity" and "object_id" not in lv


def test_origin_names_a_support_url() -> None:
    url = "https://example.org/tens/docs/mqtt.md#home-assistant"
    p = discovery_payload(
        TOPICS,
        limits=LIMITS,
        programs=PROGRAMS,
        remote_start=False,
        version="0.1.0",
        support_url=url,
    )
    assert p["o"]["support_url"] == url
    assert "support_url" not in payload(False)["o"]  # none known: none made up
    entries = ["Source, https://example.org/src", "Documentation, https://example.org/docs"]
    assert support_url_from(entries) == "https://example.org/docs"
    assert support_url_from(["Issues, https://example.org/i", "Bad, ftp://x"]) is None


def test_support_url_setting_must_be_a_web_address() -> None:
    assert settings_for(1883, support_url="https://example.org/t").support_url
    for bad in ("example.org/t", "file:///etc/passwd", "https:// x"):
        with pytest.raises(ValueError, match="http"):
            settings_for(1883, support_url=bad)


def _state(**snap: Any) -> StatePayload:
    s = Snapshot(
        link=LinkState.CONNECTED,
        session=SessionState.RUNNING,
        program="burst",
        target=12.0,
        setpoint=10.0,
        delivered=(9.5, 9.0),
        remaining_s=600.0,
        battery_percent=80,
        electrodes_ok=(True, True),
        **snap,
    )
    return state_payload(
        s,
        controller_id="bedside",
        ts=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        limits=LIMITS,
        remote_start=True,
        selected_program=None,
    )


def test_templates_render_against_the_state_payload() -> None:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    fields = set(StatePayload.model_fields)
    cmps = payload(True)["cmps"]
    for comp in cmps.values():
        tpl = comp.get("value_template")
        if tpl is None:
            continue
        for name in re.findall(r"value_json\.(\w+)", tpl):
            assert name in fields, f"template reads {name}, which the state lacks"
    value_json = json.loads(_state().to_bytes())
    out = {
        k: env.from_string(c["value_template"]).render(value_json=value_json)
        for k, c in cmps.items()
        if "value_template" in c
    }
    assert out["session"] == "running" and out["session"] in cmps["session"]["options"]
    assert out["delivered"] == "9.5" and out["intensity"] == "12.0"
    assert out["battery"] == "80" and out["electrode"] == "ON" and out["link"] == "ON"
    assert out["program"] == "burst"
    unknown = json.loads(
        _state().model_copy(update={"battery_percent": None, "electrode_ok": None}).to_bytes()
    )
    assert env.from_string(cmps["battery"]["value_template"]).render(value_json=unknown) == "None"
    assert env.from_string(cmps["electrode"]["value_template"]).render(value_json=unknown) == "None"


def test_command_templates_make_commands_the_daemon_accepts() -> None:
    jinja2 = pytest.importorskip("jinja2")
    now = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["now"] = lambda: now
    cmps = payload(True)["cmps"]
    for key, value in (("start", None), ("intensity", 7.5), ("program", "burst")):
        text = env.from_string(cmps[key]["command_template"]).render(value=value)
        verb = cmps[key]["command_topic"].rsplit("/", 1)[1]
        parsed = parse_command(verb, text.encode(), now=now, max_age_s=5)
        assert not isinstance(parsed, CommandRefusal), (key, text, parsed)
    stale = now + dt.timedelta(seconds=30)
    text = env.from_string(cmps["intensity"]["command_template"]).render(value=3)
    assert isinstance(
        parse_command("intensity", text.encode(), now=stale, max_age_s=5), CommandRefusal
    )


def test_link_security_is_a_diagnostic_entity_fed_by_the_state() -> None:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    comp = payload(False)["cmps"]["link_security"]
    assert comp["entity_category"] == "diagnostic" and comp["p"] == "sensor"
    template = env.from_string(comp["value_template"])
    for value in ("encrypted_bonded", "unprotected"):
        state = json.loads(_state(link_security=value).to_bytes())
        assert template.render(value_json=state) == value
        assert value in comp["options"]
    assert template.render(value_json=json.loads(_state().to_bytes())) == "None"
