"""`tens programs`: the built-in and custom stimulation programs."""

from __future__ import annotations

import argparse

from tens.cli.common import add_config, add_json, load_or_fail
from tens.cli.output import emit_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("programs", help="list stimulation programs")
    add_json(p)
    add_config(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    table = loaded.config.program_table()
    if args.json:
        emit_json([p.model_dump(mode="json", exclude_none=True) for p in table.values()])
        return 0
    for p in table.values():
        shape = f"{p.frequency_hz:g} Hz, {p.pulse_width_us} µs, {p.waveform.value}"
        print(f"{p.name:14} {shape:32} {p.description}")
    return 0
