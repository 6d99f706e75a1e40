"""`tens limits`: the limits in force and where each value came from."""

from __future__ import annotations

import argparse
import dataclasses

from tens.cli.common import add_config, add_json, load_or_fail
from tens.cli.output import emit_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "limits", help="show the safety limits in force and where each value came from"
    )
    add_json(p)
    add_config(p)
    p.set_defaults(handler=run)


def rows_from_config(loaded: object) -> list[dict[str, object]]:
    from tens.config import LoadedConfig
    from tens.limits import HARD_CAPS, LIMIT_DOCS

    assert isinstance(loaded, LoadedConfig)
    lim = loaded.config.limits
    caps = dataclasses.asdict(HARD_CAPS)
    units = {
        "peak_ma": "mA",
        "ramp_ma_per_s": "mA/s",
        "step_ma": "mA",
        "session_minutes": "min",
        "daily_minutes": "min",
        "rest_minutes": "min",
        "current_density_ma_cm2": "mA/cm² r.m.s.",
        "electrode_area_cm2": "cm²",
        "frequency_hz": "Hz",
        "pulse_width_us": "µs",
    }
    rows: list[dict[str, object]] = []
    for key, label in LIMIT_DOCS.items():
        value = getattr(lim, key)
        rows.append(
            {
                "key": f"limits.{key}",
                "limit": label,
                "value": list(value) if isinstance(value, tuple) else value,
                "unit": units[key],
                "hard_cap": caps.get(key),
                "from": loaded.origin(f"limits.{key}"),
            }
        )
    for driver, lv in lim.levels.items():
        for key in ("peak", "ramp_per_s", "step"):
            rows.append(
                {
                    "key": f"limits.levels.{driver}.{key}",
                    "limit": f"{driver} {key.replace('_', ' ')}",
                    "value": getattr(lv, key),
                    "unit": "level" if key != "ramp_per_s" else "level/s",
                    "hard_cap": None,
                    "from": loaded.origin(f"limits.levels.{driver}.{key}"),
                }
            )
    return rows


def run(args: argparse.Namespace) -> int:
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    rows = rows_from_config(loaded)
    notes = [
        "Devices in mA: the device's own maximum also narrows the peak.",
        "Devices in abstract levels (DG-LAB Coyote) use [limits.levels.<driver>]; "
        "r.m.s. current density is not checked for them. Without level limits they are refused.",
    ]
    if args.json:
        emit_json({"config": str(loaded.path), "limits": rows, "notes": notes})
        return 0
    print(f"config: {loaded.path}")
    for r in rows:
        value = r["value"]
        shown = "–".join(f"{v:g}" for v in value) if isinstance(value, list) else f"{value:g}"
        cap = f" (hard cap {r['hard_cap']:g})" if r["hard_cap"] is not None else ""
        print(f"  {r['limit']:28} {shown:>10} {r['unit']:14}{cap:18} from {r['from']}")
    for n in notes:
        print(f"note: {n}")
    return 0
