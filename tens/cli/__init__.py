"""The `tens` command line. Verbs live in their own modules and are imported only when run.

Each verb module exposes ``register(subparsers)``, which adds its parser and sets ``handler``
to a callable taking the parsed namespace and returning an exit code (it may be a coroutine
function). Nothing heavy (bleak, bumble, textual, aiomqtt) is imported to build ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tens import __version__

# verb -> module in tens.cli that registers it; kept in one table so a new verb is one line.
VERBS: dict[str, str] = {
    "scan": "tens.cli.scan",
    "simulate": "tens.cli.simulate",
    "run": "tens.cli.run",
    "programs": "tens.cli.programs",
    "limits": "tens.cli.limits",
    "config": "tens.cli.config",
    "checklist": "tens.cli.checklist",
    "electrodes": "tens.cli.electrodes",
    "prescription": "tens.cli.prescription",
    "pain": "tens.cli.pain",
    "peg": "tens.cli.pain",
    "report": "tens.cli.report",
    "export": "tens.cli.report",
    "tui": "tens.cli.tui",
    "daemon": "tens.cli.daemon",
    "install-service": "tens.cli.service",
    "bench": "tens.cli.bench",
    "pair": "tens.cli.pair",
    "devices": "tens.cli.pair",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tens",
        description="Open, safety-first controller for TENS wearables. "
        "Not a medical device: talk to a clinician about TENS.",
    )
    parser.add_argument("--version", action="version", version=f"tens {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    registered: set[str] = set()
    for module_name in dict.fromkeys(VERBS.values()):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a verb not built yet
            raise
        if module_name not in registered:
            module.register(sub)
            registered.add(module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    import asyncio  # only now: `tens --help` stays light
    import inspect

    try:
        if inspect.iscoroutinefunction(handler):
            result = asyncio.run(handler(args))
        else:
            result = handler(args)
    except KeyboardInterrupt:
        return 130  # ExitCode.INTERRUPTED
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
