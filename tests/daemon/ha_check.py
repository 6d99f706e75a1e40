"""Run inside a venv with ``homeassistant`` installed (not the project's): check discovery
payloads the way Home Assistant's MQTT integration reads them.

Reads JSON on stdin: ``{"cases": {name: {"payload": <device discovery dict>, "states":
[<state payload dict>, ...]}}}``. For each case it does what HA does with a message on
``<prefix>/device/<id>/config`` (``homeassistant/components/mqtt/discovery.py``): expand the
abbreviations, validate ``DEVICE_DISCOVERY_SCHEMA``, then for every component pop its platform,
add the device and origin, merge the shared options the component does not set, and validate
the platform's own ``DISCOVERY_SCHEMA``. A platform-only component (``{"p": ...}``) is HA's
removal stub and is not validated further.

Problems are reported, never raised: a schema error, a key the schema silently drops (HA's
discovery schemas use ``REMOVE_EXTRA``, so a misspelt key would vanish without a word), a unit
HA does not accept for the device class, and any warning HA logs while validating. Each value
and availability template is also rendered with HA's own template engine against every state
given, and the outputs are returned, so the caller can check what HA would show.

Writes JSON on stdout: ``{"ha_version": ..., "cases": {name: {"problems": [...], "rendered":
{component: {"value": [...], "availability": [[...], ...]}}}}}``.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import logging
import sys
import tempfile
from typing import Any


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def _units(platform: str) -> dict[Any, Any]:
    try:
        mod = importlib.import_module(f"homeassistant.components.{platform}.const")
    except ImportError:
        return {}
    return dict(getattr(mod, "DEVICE_CLASS_UNITS", {}))


def _render(template: Any, variables: dict[str, Any]) -> str:
    return str(template.async_render(variables, parse_result=False))


def check_case(case: dict[str, Any]) -> dict[str, Any]:
    from homeassistant.components.mqtt import discovery as d
    from homeassistant.components.mqtt.schemas import DEVICE_DISCOVERY_SCHEMA

    problems: list[str] = []
    rendered: dict[str, Any] = {}
    payload = d.MQTTDiscoveryPayload(copy.deepcopy(case["payload"]))
    d._replace_all_abbreviations(payload)
    try:
        DEVICE_DISCOVERY_SCHEMA(copy.deepcopy(dict(payload)))
    except Exception as exc:
        return {"problems": [f"device: {exc}"], "rendered": {}}
    for cid, comp in payload["components"].items():
        comp = dict(comp)
        platform = comp.pop("platform")
        if not comp:
            continue  # HA's removal stub
        given = set(comp)  # what we set; a shared option the platform ignores is fine
        config = d.MQTTDiscoveryPayload(comp)
        config["device"] = payload["device"]
        config["origin"] = payload.get("origin")
        d._merge_common_device_options(config, payload)
        mod = importlib.import_module(f"homeassistant.components.mqtt.{platform}")
        try:
            valid = mod.DISCOVERY_SCHEMA(dict(config))
        except Exception as exc:
            problems.append(f"{cid} ({platform}): {exc}")
            continue
        dropped = given - set(valid)
        if dropped:
            problems.append(f"{cid} ({platform}): keys HA drops as unknown: {sorted(dropped)}")
        dc, unit = valid.get("device_class"), valid.get("unit_of_measurement")
        units = _units(platform)
        if dc is not None and unit is not None and dc in units and unit not in units[dc]:
            problems.append(f"{cid} ({platform}): unit {unit!r} is not one HA has for {dc}")
        out: dict[str, Any] = {"value": [], "availability": []}
        for state in case.get("states", []):
            variables = {"value_json": state, "value": json.dumps(state)}
            if "value_template" in valid:
                out["value"].append(_render(valid["value_template"], variables))
            row = []
            for av in valid.get("availability", []):
                if "value_template" in av:
                    row.append(_render(av["value_template"], variables))
            out["availability"].append(row)
        rendered[cid] = out
    return {"problems": problems, "rendered": rendered}


async def main() -> None:
    from homeassistant import const
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import frame

    request = json.loads(sys.stdin.read())
    collect = _Collect()
    logging.getLogger("homeassistant").addHandler(collect)
    with tempfile.TemporaryDirectory() as config_dir:
        hass = HomeAssistant(config_dir)  # templates are validated against a running core
        frame.async_setup(hass)
        result: dict[str, Any] = {"ha_version": const.__version__, "cases": {}}
        for name, case in request["cases"].items():
            collect.records.clear()
            checked = check_case(case)
            checked["problems"].extend(f"HA logged: {r}" for r in collect.records)
            result["cases"][name] = checked
        await hass.async_stop(force=True)
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
