"""Home Assistant MQTT device discovery: one retained config for the whole daemon.

Published on ``<discovery_prefix>/device/<controller_id>/config`` with ``dev`` (the device),
``o`` (origin: this software) and ``cmps`` (its entities). Entities read the retained state
JSON; commands carry a ``ts`` from Home Assistant's ``now()`` so the daemon's staleness rule
holds for them too. The start button exists only when remote start is on (otherwise a
platform-only stub, which is how HA removes it). The intensity number is always there: its
min/max/step come from the effective limits, so the config is re-published when they change (a
device connects, the config changes), and it is unavailable while no limits are known (the
retained state says ``limits.max: null``), so HA never keeps a stale range to offer.

Checked against Home Assistant's own schemas by tests/daemon/test_ha_schema.py.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

from tens.daemon.payloads import LimitsPayload
from tens.daemon.topics import OFFLINE, ONLINE, Topics
from tens.events import SessionState

# Jinja for HA: the time of the press, so a command queued too long is refused by the daemon.
_TS = "{{ now().timestamp() }}"
# Read by HA from the retained state: the intensity control is usable only with known limits.
LIMITS_KNOWN = "{{ 'online' if value_json.limits.max is not none else 'offline' }}"


SUPPORT_LABELS = ("documentation", "docs", "homepage", "home", "source", "repository")
"""Project-URL labels taken as the origin's support link, in this order of preference."""


def support_url_from(project_urls: Iterable[str]) -> str | None:
    """The support link among a package's ``Project-URL`` entries (``"Label, URL"``)."""
    found: dict[str, str] = {}
    for entry in project_urls:
        label, _, url = entry.partition(",")
        url = url.strip()
        if url.startswith(("https://", "http://")):
            found.setdefault(label.strip().lower(), url)
    return next((found[k] for k in SUPPORT_LABELS if k in found), None)


def package_support_url(dist: str = "tens") -> str | None:
    """The installed package's own support link (``[project.urls]`` in pyproject.toml)."""
    try:
        meta = importlib.metadata.metadata(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    return support_url_from(meta.get_all("Project-URL") or [])


def intensity_name(limits: LimitsPayload) -> str:
    """The number's name says what one request can do: the governor raises the target at
    most one manual step above the present output, whatever the slider asked (lowering is
    never narrowed). HA keeps an entity's id by its unique_id, so a new step in the name
    does not move the entity (no ``object_id``: HA 2025.10 deprecated it, 2026.4 dropped it,
    and 2025.4 does not know its successor ``default_entity_id``)."""
    if limits.max is None or not limits.step:
        return "Intensity"
    return f"Intensity (rises {limits.step:g} {limits.unit} at a time)"


def discovery_payload(
    topics: Topics,
    *,
    limits: LimitsPayload,
    programs: list[str],
    remote_start: bool,
    version: str,
    model: str | None = None,
    support_url: str | None = None,
) -> dict[str, Any]:
    """The device discovery config, as a dict ready for ``json.dumps``."""
    cid = topics.controller_id
    uid = f"tens_{cid}"

    def entity(key: str, platform: str, name: str, **extra: Any) -> dict[str, Any]:
        # qos in every component: Home Assistant does not pass the device-level qos down, so a
        # Stop sent while it reconnects would otherwise go at QoS 0 and could be lost
        return {"p": platform, "name": name, "unique_id": f"{uid}_{key}", "qos": 1, **extra}

    cmps: dict[str, dict[str, Any]] = {
        "session": entity(
            "session",
            "sensor",
            "Session",
            device_class="enum",
            options=[str(s) for s in SessionState],
            value_template="{{ value_json.session }}",
            icon="mdi:sine-wave",
        ),
        "delivered": entity(
            "delivered",
            "sensor",
            "Delivered intensity",
            unit_of_measurement=limits.unit,
            state_class="measurement",
            suggested_display_precision=1,
            value_template="{{ value_json.delivered_max }}",
            **({"device_class": "current"} if limits.unit == "mA" else {}),
        ),
        "time_left": entity(
            "time_left",
            "sensor",
            "Time left",
            device_class="duration",
            unit_of_measurement="s",
            value_template="{{ value_json.remaining_s if value_json.remaining_s is not none "
            "else 'None' }}",
        ),
        "battery": entity(
            "battery",
            "sensor",
            "Battery",
            device_class="battery",
            entity_category="diagnostic",
            unit_of_measurement="%",
            state_class="measurement",
            value_template="{{ value_json.battery_percent if value_json.battery_percent "
            "is not none else 'None' }}",
        ),
        "electrode": entity(
            "electrode",
            "binary_sensor",
            "Electrode contact",
            device_class="plug",
            value_template="{{ 'None' if value_json.electrode_ok is none else "
            "('ON' if value_json.electrode_ok else 'OFF') }}",
        ),
        "link": entity(
            "link",
            "binary_sensor",
            "Device link",
            device_class="connectivity",
            entity_category="diagnostic",
            value_template="{{ 'ON' if value_json.link == 'connected' else 'OFF' }}",
        ),
        "link_security": entity(
            "link_security",
            "sensor",
            "Link security",
            device_class="enum",
            entity_category="diagnostic",
            options=["encrypted_bonded", "unprotected"],
            value_template="{{ value_json.link_security if value_json.link_security "
            "is not none else 'None' }}",
            icon="mdi:shield-lock",
        ),
        "stop": entity(
            "stop",
            "button",
            "Stop",
            command_topic=topics.command("stop"),
            payload_press="{}",
            icon="mdi:stop-circle",
        ),
        "program": entity(
            "program",
            "select",
            "Program",
            command_topic=topics.command("program"),
            command_template='{"program": "{{ value }}", "ts": ' + _TS + "}",
            options=list(programs),
            value_template="{{ value_json.program }}",
        ),
    }
    if remote_start:
        cmps["start"] = entity(
            "start",
            "button",
            "Start",
            command_topic=topics.command("start"),
            command_template='{"ts": ' + _TS + "}",
            icon="mdi:play-circle",
        )
    else:
        # a platform-only stub: Home Assistant removes an entity dropped from cmps only when it
        # is sent like this, so a Start button left from remote_start = true goes away
        cmps["start"] = {"p": "button"}
    known = limits.max is not None
    step = limits.step or 1.0
    cmps["intensity"] = entity(
        "intensity",
        "number",
        intensity_name(limits),
        command_topic=topics.command("intensity"),
        command_template='{"value": {{ value }}, "ts": ' + _TS + "}",
        value_template="{{ value_json.target }}",
        # no limits: a range that can only ask for nothing, and HA shows it unavailable
        min=limits.min if known else 0.0,
        max=limits.max if known else 0.0,
        step=step,
        unit_of_measurement=limits.unit,
        mode="slider",
        availability=[
            _daemon_online(topics),
            {"topic": topics.state, "value_template": LIMITS_KNOWN},
        ],
        availability_mode="all",
        **({"device_class": "current"} if limits.unit == "mA" else {}),
    )
    return {
        "dev": {
            "identifiers": [uid],
            "name": f"TENS {cid}",
            "manufacturer": "tens (open source)",
            "model": model or "tens daemon",
            "sw_version": version,
        },
        "o": {
            "name": "tens",
            "sw_version": version,
            **({"support_url": support_url} if support_url else {}),
        },
        # a list, not availability_topic: HA merges this into each component that has none
        # of its own, and a component's own list may not meet a shared availability_topic
        "availability": [_daemon_online(topics)],
        "state_topic": topics.state,
        "qos": 1,
        "cmps": cmps,
    }


def _daemon_online(topics: Topics) -> dict[str, str]:
    return {
        "topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
    }
