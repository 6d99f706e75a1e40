"""``tens tui``: the terminal UI — live session control and pain logging.

``tens tui --simulator`` runs against a simulated wearable in this process; ``--device
ADDRESS``, a configured ``[device] address`` (or ``--radio HOST:PORT``) connects at once; with
none of them, the devices screen scans first. Textual and the drivers are imported only when
the verb runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from tens.cli.common import add_config, load_or_fail
from tens.cli.exitcodes import ExitCode
from tens.cli.output import fail
from tens.cli.target import (
    add_target_arguments,
    chosen_address,
    exit_code_for,
    open_target,
    radio_spec,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tui",
        help="terminal UI: start and watch sessions, stop with one key, log pain",
        description="The terminal UI. s or Esc stops output at once, from every screen.",
    )
    add_target_arguments(parser)
    add_config(parser)
    parser.add_argument(
        "--no-pain-prompts",
        action="store_true",
        help="do not ask for pain before and after each session",
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    from tens.controller import Controller
    from tens.device import DeviceError
    from tens.store import AsyncDB, StoreError
    from tui.app import make_app
    from tui.device_choice import DeviceChoice

    config = load_or_fail(args)
    if isinstance(config, int):
        return config
    try:
        db = await AsyncDB.open()
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE)
    # a device named (--device, or [device] address) or a radio given: connect at once
    named, _ = chosen_address(args, config.config.device)
    chosen = bool(args.simulator or named or radio_spec(args))
    try:
        async with open_target(args, settings=config.config.device) as target:
            choice = DeviceChoice(target)
            controller = Controller(
                config, choice.open, db, declared_electrodes=target.declared_electrodes
            )
            app = make_app(
                controller,
                store=db,
                devices=choice,
                connect=chosen,
                show_devices=not chosen,
                ask_pain=False if args.no_pain_prompts else None,
            )
            try:
                result = await app.run_async()
            finally:
                await controller.close()  # stop output, disconnect
                await choice.aclose()
    except ValueError as exc:  # a malformed --radio
        return fail(str(exc), ExitCode.USAGE)
    except DeviceError as exc:
        return fail(str(exc), exit_code_for(exc))
    finally:
        await db.close()
    return int(result or 0)
