"""`tens electrodes`: state the electrode (pad) size on each channel, show it, clear it.

No session starts on a channel whose pad size is not known: the r.m.s. current density limit
(2 mA/cm², IEC 60601-2-10) divides by it, and an assumed area describes pads nobody checked.
Changing pads: state the new size (or ``clear``, and the next session asks again).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tens.cli.common import add_json, channel_arg
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

SIZE_HELP = "5x5, 5x9, round-3.2, WxH in cm (e.g. 4x6), round-D (diameter D cm), or an area: 12cm2"


def _add_channels(parser: argparse.ArgumentParser, what: str) -> None:
    """The repeatable, required ``--channel N`` of ``set`` and ``clear``."""
    parser.add_argument(
        "--channel",
        type=channel_arg,
        action="append",
        dest="channels",
        metavar="N",
        required=True,
        help=f"{what}; repeat for several",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "electrodes",
        help="state the electrode size on each channel (needed before a session)",
        description=(__doc__ or "").split("\n\n", 1)[1],
    )
    verbs = p.add_subparsers(dest="electrodes_what", metavar="WHAT")
    s = verbs.add_parser("set", help="state the pad size now on a channel")
    s.add_argument("size", metavar="SIZE", help=SIZE_HELP)
    _add_channels(s, "output channel, numbered from 1 as in `tens run --channel`")
    add_json(s)
    s.set_defaults(handler=run_set)
    c = verbs.add_parser("clear", help="forget the size on a channel (new pads: asked again)")
    _add_channels(c, "output channel, numbered from 1")
    add_json(c)
    c.set_defaults(handler=run_clear)
    show = verbs.add_parser("show", help="the size stated for each channel")
    add_json(show)
    show.set_defaults(handler=run_show)
    add_json(p)
    p.set_defaults(handler=run_show)


def _rows(stated: dict[int, Any]) -> list[dict[str, Any]]:
    """One row per channel, the channel numbered from 1 (``--json`` too)."""
    from tens.channels import number

    return [
        {
            "channel": number(ch),
            "size": st.size.label,
            "area_cm2": round(st.size.area_cm2, 3),
            "stated_at": st.stated_at,
        }
        for ch, st in sorted(stated.items())
    ]


MAX_CHANNELS = 16
"""More than any wearable here has; the governor checks each start against the device."""


def _bad_channels(channels: list[int], as_json: bool) -> int | None:
    from tens.channels import label

    bad = [c for c in channels if not 0 <= c < MAX_CHANNELS]
    if bad:
        return fail(
            f"channel {label(bad[0])} is not a channel (1 to {MAX_CHANNELS})",
            ExitCode.USAGE,
            as_json=as_json,
        )
    return None


def run_set(args: argparse.Namespace) -> int:
    from tens.channels import label
    from tens.electrodes import ElectrodeSizeError, parse_size
    from tens.store import StoreError, open_db
    from tens.store.electrodes import state_electrode, stated_electrodes

    try:
        size = parse_size(args.size)
    except ElectrodeSizeError as exc:
        return fail(str(exc), ExitCode.USAGE, as_json=args.json)
    bad = _bad_channels(args.channels, args.json)
    if bad is not None:
        return bad
    try:
        conn = open_db()
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=args.json)
    try:
        for ch in dict.fromkeys(args.channels):
            state_electrode(conn, ch, size)
        stated = stated_electrodes(conn)
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=args.json)
    finally:
        conn.close()
    if args.json:
        emit_json({"stated": True, "electrodes": _rows(stated)})
    else:
        for ch in dict.fromkeys(args.channels):
            print(f"channel {label(ch)}: {size.label} ({size.area_cm2:.3g} cm²)")
        print("Changing pads? State the new size again before the next session.")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from tens.channels import label, number
    from tens.store import StoreError, open_db
    from tens.store.electrodes import clear_electrode, stated_electrodes

    try:
        conn = open_db()
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=args.json)
    try:
        cleared = [ch for ch in dict.fromkeys(args.channels) if clear_electrode(conn, ch)]
        stated = stated_electrodes(conn)
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=args.json)
    finally:
        conn.close()
    if args.json:
        emit_json({"cleared": [number(ch) for ch in cleared], "electrodes": _rows(stated)})
    else:
        for ch in args.channels:
            was = "cleared" if ch in cleared else "had no size stated"
            print(f"channel {label(ch)}: {was}; the next session on it asks for the size")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tens.electrodes import COMMON_SIZES
    from tens.store import StoreError, open_db
    from tens.store.electrodes import stated_electrodes

    try:
        conn = open_db()
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=getattr(args, "json", False))
    try:
        stated = stated_electrodes(conn)
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=getattr(args, "json", False))
    finally:
        conn.close()
    if getattr(args, "json", False):
        emit_json(
            {
                "electrodes": _rows(stated),
                "common_sizes": {
                    k: {"size": v.label, "area_cm2": round(v.area_cm2, 3)}
                    for k, v in COMMON_SIZES.items()
                },
            }
        )
        return 0
    if not stated:
        print("No electrode size stated: no session can start until you state it, e.g.")
        print("  tens electrodes set --channel 1 5x5")
    for row in _rows(stated):
        print(
            f"channel {row['channel']}: {row['size']} ({row['area_cm2']:.3g} cm²), "
            f"stated {row['stated_at']:%Y-%m-%d %H:%M} UTC"
        )
    print(f"sizes: {SIZE_HELP}")
    return 0


def ask_size(channel: int) -> Any:
    """Ask the size of the pads on ``channel`` at the terminal until it reads, or None (Enter,
    end of input): the common sizes offered first."""
    from tens.electrodes import COMMON_SIZES, ElectrodeSizeError, parse_size

    offered = list(COMMON_SIZES.values())
    from tens.channels import label

    print(f"What size are the electrodes on channel {label(channel)}? (on the pads' packet)")
    for i, size in enumerate(offered, 1):
        print(f"  {i}) {size.label} ({size.area_cm2:.3g} cm²)")
    print("  or type WxH in cm (4x6), round-D (diameter), or an area (12cm2)")
    for _ in range(3):
        sys.stdout.write("size (Enter to cancel): ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line.strip():
            return None
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(offered):
            return offered[int(text) - 1]
        try:
            return parse_size(text)
        except ElectrodeSizeError as exc:
            print(exc)
    return None
