"""Home Assistant MQTT device discovery: one retained config for the whole daemon.

Published on ``<discovery_prefix>/device/<controller_id>/config`` with ``dev`` (the device),
``o`` (origin: this software) and ``cmps`` (its entities). Entities read the retained state
JSON; commands carry a ``ts`` from Home Assistant's ``now()`` so the daemon's staleness rule
holds for them too. The start button exists only when remote start is on; the intensity
number's min/max/step come from the effective limits, so the config is re-published when
they change (a device connects, the config changes).
"""

from __future__ import annotations

from typing import Any

from tens.daemon.payloads import LimitsPayload
from tens.daemon.topics import OFFLINE, ONLINE, Topics
from tens.events import SessionState

# Jinja for HA: the time of the press, so a command queued too long is refused by the daemon.
_TS = "{{ now().timestamp() }}"


def discovery_payload(
    topics: Topics,
    *,
    limits: LimitsPayload,
    programs: list[str],
    remote_start: bool,
    version: str,
    model: str | None = None,
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
    if limits.max is not None:
        cmps["intensity"] = entity(
            "intensity",
            "number",
            "Intensity",
            command_topic=topics.command("intensity"),
            command_template='{"value": {{ value }}, "ts": ' + _TS + "}",
            value_template="{{ value_json.target }}",
            min=limits.min,
            max=limits.max,
            step=limits.step or 1.0,
            unit_of_measurement=limits.unit,
            mode="slider",
        )
    return {
        "dev": {
            "identifiers": [uid],
            "name": f"TENS {cid}",
            "manufacturer": "tens (open source)",
            "model": model or "tens daemon",
            "sw_version": version,
        },
        "o": {"name": "tens", "sw_version": version},
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "state_topic": topics.state,
        "qos": 1,
        "cmps": cmps,
    }
