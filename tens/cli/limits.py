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
    # not asdict: level_peak is a read-only mapping, which asdict cannot copy
    caps = {f.name: getattr(HARD_CAPS, f.name) for f in dataclasses.fields(HARD_CAPS)}
    units = {
        "peak_ma": "mA",
        "ramp_ma_per_s": "mA/s",
        "step_ma": "mA",
        "session_minutes": "min",
        "daily_minutes": "min",
        "rest_minutes": "min",
        "current_density_ma_cm2": "mA/cm² r.m.s.",
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
                "hard_cap": list(c) if isinstance(c := caps.get(key), tuple) else c,
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


def density_rows(loaded: object, stated: dict[int, object]) -> list[dict[str, object]]:
    """Per channel (stated, or in ``[session] channels``): the pad, and the highest mA the
    r.m.s. density rule allows there for the configured program (and for every program)."""
    import math

    from tens.config import LoadedConfig
    from tens.limits import HARD_CAPS
    from tens.safety.governor import PHASES_PER_PULSE

    assert isinstance(loaded, LoadedConfig)
    cfg = loaded.config
    density = min(cfg.limits.current_density_ma_cm2, HARD_CAPS.current_density_ma_cm2)
    peak = min(cfg.limits.peak_ma, HARD_CAPS.peak_ma)
    table = cfg.program_table()

    def ceiling(area: float, name: str) -> float:
        return density * area / math.sqrt(table[name].duty() * PHASES_PER_PULSE)

    rows: list[dict[str, object]] = []
    from tens.channels import number

    for ch in sorted({*stated, *cfg.session.channel_indexes}):
        st = stated.get(ch)
        if st is None:
            rows.append(
                {
                    "channel": number(ch),
                    "size": None,
                    "area_cm2": None,
                    "program": cfg.session.program,
                    "density_max_ma": None,
                    "max_ma": None,
                    "binds": None,
                    "refused": "electrode_size_unknown",
                }
            )
            continue
        size = getattr(st, "size")  # noqa: B009 - StatedElectrode, imported lazily
        top = ceiling(size.area_cm2, cfg.session.program)
        rows.append(
            {
                "channel": number(ch),
                "size": size.label,
                "area_cm2": round(size.area_cm2, 3),
                "program": cfg.session.program,
                "density_max_ma": round(top, 1),
                "max_ma": round(min(top, peak), 1),
                "binds": top < peak,
                "refused": None,
                "density_max_ma_by_program": {
                    name: round(ceiling(size.area_cm2, name), 1) for name in sorted(table)
                },
            }
        )
    return rows


def _stated() -> tuple[dict[int, object], str | None]:
    from tens.store import StoreError, open_db
    from tens.store.electrodes import stated_electrodes

    try:
        conn = open_db()
    except StoreError as exc:
        return {}, str(exc)
    try:
        return dict(stated_electrodes(conn)), None
    except StoreError as exc:
        return {}, str(exc)
    finally:
        conn.close()


def run(args: argparse.Namespace) -> int:
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    rows = rows_from_config(loaded)
    stated, store_error = _stated()
    pads = density_rows(loaded, stated)
    notes = [
        "Devices in mA: the device's own maximum also narrows the peak.",
        "Devices in abstract levels (DG-LAB Coyote) use [limits.levels.<driver>]; "
        "r.m.s. current density is not checked for them. Without level limits they are refused.",
        "The density rule's ceiling is per channel, on the pad size stated there "
        "(`tens electrodes set`); a channel with none stated is refused.",
    ]
    if store_error is not None:
        notes.append(f"the stated electrode sizes could not be read: {store_error}")
    if args.json:
        emit_json({"config": str(loaded.path), "limits": rows, "electrodes": pads, "notes": notes})
        return 0
    print(f"config: {loaded.path}")
    for r in rows:
        value = r["value"]
        shown = "–".join(f"{v:g}" for v in value) if isinstance(value, list) else f"{value:g}"
        hard = r["hard_cap"]
        if isinstance(hard, tuple | list):
            hard = "–".join(f"{v:g}" for v in hard)
        elif hard is not None:
            hard = f"{hard:g}"
        cap = f" (hard cap {hard})" if hard is not None else ""
        print(f"  {r['limit']:28} {shown:>10} {r['unit']:14}{cap:18} from {r['from']}")
    print(
        "r.m.s. current density ceiling per channel (program "
        + loaded.config.session.program
        + "):"
    )
    for p in pads:
        if p["size"] is None:
            print(f"  channel {p['channel']}: no electrode size stated: sessions refused")
        else:
            binds = "binds: below the peak" if p["binds"] else "above the peak: the peak binds"
            print(
                f"  channel {p['channel']}: {p['size']} ({p['area_cm2']:.3g} cm²): at most "
                f"{p['density_max_ma']:g} mA ({binds})"
            )
    for n in notes:
        print(f"note: {n}")
    return 0
