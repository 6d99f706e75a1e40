"""``tens scan``: list the wearables around that a driver here can talk to.

Output: a table (name, address, driver, RSSI), or with ``--json`` one JSON array on one line
(each element ``{"name", "address", "driver", "rssi"}``; ``driver`` is null for devices only
``--all`` shows). Exit 0 with or without results ("no devices found" goes to stderr with
``--json``, to stdout otherwise); 2 for bad usage (a malformed ``--radio``); 6 when there is
no Bluetooth adapter or the radio cannot be reached (the same code as ``tens run``'s "no
device"). Errors are one clear line on stderr, or ``{"error": ...}`` with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail
from tens.cli.target import add_target_arguments, exit_code_for, open_target

DEFAULT_TIMEOUT_S = 5.0
NO_DEVICES = "no devices found"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="list nearby TENS wearables",
        description="Scan for Bluetooth LE TENS wearables that a driver here can talk to.",
    )
    add_target_arguments(parser, device=False)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to scan (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--all", action="store_true", dest="show_all", help="also list devices no driver knows"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON array of the devices found"
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    from devices.registry import scan
    from tens.device import DeviceError

    as_json = bool(args.json)
    if not 0 < args.timeout <= 600:
        return fail("--timeout must be between 0 and 600 seconds", ExitCode.USAGE, as_json=as_json)
    try:
        async with open_target(args) as target:
            found = await scan(target.transport, args.timeout, show_all=args.show_all)
    except DeviceError as exc:
        return fail(str(exc), exit_code_for(exc), as_json=as_json)

    rows = [f.as_json() for f in found]
    if as_json:
        emit_json(rows)
        if not rows:
            sys.stderr.write(f"{NO_DEVICES}\n")
        return 0
    if not rows:
        hint = "" if args.show_all else " (try --all, or a longer --timeout)"
        sys.stdout.write(f"{NO_DEVICES}{hint}\n")
        return 0
    sys.stdout.write(format_table(rows))
    sys.stdout.write(unprotected_note(rows))
    return 0


def unprotected_note(rows: list[dict[str, Any]]) -> str:
    """A plain line under the table for every device whose link anyone in range can drive."""
    from devices.registry import link_protected

    lines = [
        f"{r['name'] or r['address']} ({r['driver']}): link UNPROTECTED, no pairing in its "
        "protocol; anyone in range can write to it. tens drives it only when it is the "
        "configured [device] address or named with --device."
        for r in rows
        if r["driver"] and not link_protected(str(r["driver"]))
    ]
    return "".join(line + "\n" for line in lines)


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ("NAME", "ADDRESS", "DRIVER", "RSSI")
    cells = [
        (
            str(r["name"] or "?"),
            str(r["address"]),
            str(r["driver"] or "-"),
            "" if r["rssi"] is None else f"{r['rssi']} dBm",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [
        "  ".join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip()
        for line in (header, *cells)
    ]
    return "\n".join(lines) + "\n"
