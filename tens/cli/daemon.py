"""`tens daemon`: headless service with MQTT control and status (see docs/mqtt.md).

Runs one asyncio loop: keeps the device connected, runs the configured schedules, publishes
state and obeys commands over MQTT. Under systemd (``Type=notify``) it reports READY,
WATCHDOG and STOPPING. SIGTERM or Ctrl-C: output stops first, then ``offline`` is published.
aiomqtt is imported only when the daemon runs, never to build ``--help``; Textual never.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from tens.cli.common import add_config, load_or_fail
from tens.cli.exitcodes import ExitCode
from tens.cli.output import fail

EXIT_CONFIG = ExitCode.CONFIG
EXIT_STORE = ExitCode.STORE
LOG_LEVELS = ("debug", "info", "warning", "error")


def log_level(args: argparse.Namespace) -> str | None:
    """--log-level, else TENS_LOG_LEVEL, else info; None when TENS_LOG_LEVEL is not a level
    (argparse checks only what is typed, never a default taken from the environment)."""
    if args.log_level is not None:
        return str(args.log_level)
    level = os.environ.get("TENS_LOG_LEVEL", "info").strip().lower()
    return level if level in LOG_LEVELS else None


def register(subparsers: Any) -> None:
    from tens.cli.target import add_target_arguments

    p = subparsers.add_parser(
        "daemon",
        help="run headless: schedules, MQTT control and status, Home Assistant discovery",
        description="Run headless (e.g. on a Raspberry Pi under systemd). Publishes state to "
        "MQTT, obeys stop always and other commands within the limits, announces itself to "
        "Home Assistant. Configure the broker in the [mqtt] section (docs/mqtt.md).",
    )
    add_config(p)
    add_target_arguments(p)
    p.add_argument(
        "--no-mqtt", action="store_true", help="run schedules only, without connecting to MQTT"
    )
    p.add_argument(
        "--log-level",
        default=None,
        choices=LOG_LEVELS,
        help="how much to log to stderr (journald under systemd); default TENS_LOG_LEVEL, "
        "else info",
    )
    p.add_argument(
        "--ble-log-level",
        default="warning",
        choices=LOG_LEVELS,
        help="how much the Bluetooth stack (bleak, bumble) logs; default warning, so its packet "
        "noise stays out of journald",
    )
    p.set_defaults(handler=run)


def _setup_logging(level: str, ble_level: str = "warning") -> None:
    # Under systemd, journald adds its own timestamps (JOURNAL_STREAM is set for us).
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr, force=True)
    logging.getLogger("aiomqtt").setLevel(logging.WARNING)
    for name in ("bumble", "bleak"):
        logging.getLogger(name).setLevel(ble_level.upper())


def mqtt_settings(raw: Any, *, disabled: bool) -> Any:
    """The ``mqtt`` config section as MqttSettings (the config may hold a dict or the model)."""
    from tens.daemon.settings import MqttSettings

    settings = raw if isinstance(raw, MqttSettings) else MqttSettings.model_validate(raw or {})
    if disabled:
        settings = settings.model_copy(update={"enabled": False})
    return settings


async def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tens.cli.target import TargetUnavailable, exit_code_for, open_target
    from tens.clock import LoopClock
    from tens.controller import Controller
    from tens.daemon.service import Daemon
    from tens.store import AsyncDB, StoreError

    level = log_level(args)
    if level is None:
        return fail(
            f"TENS_LOG_LEVEL={os.environ.get('TENS_LOG_LEVEL')!r} is not a log level: use one "
            f"of {', '.join(LOG_LEVELS)}",
            EXIT_CONFIG,
        )
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    try:
        settings = mqtt_settings(loaded.config.mqtt, disabled=args.no_mqtt)
        if settings.enabled:
            settings.resolve_password()  # a missing password file is a config error, now
    except ValidationError as exc:
        lines = [f"mqtt.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return fail("configuration refused:\n" + "\n".join(lines), EXIT_CONFIG)
    except ValueError as exc:
        return fail(f"configuration refused: {exc}", EXIT_CONFIG)
    _setup_logging(level, args.ble_log_level)
    try:
        db = await AsyncDB.open()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE)
    try:
        async with open_target(args, settings=loaded.config.device) as target:
            clock = LoopClock()
            controller = Controller(
                loaded,
                target.open_device,
                db,
                clock,
                declared_electrodes=target.declared_electrodes,
            )
            daemon = Daemon(
                controller,
                settings,
                clock=clock,
                schedules=loaded.config.schedules,
                default_program=loaded.config.session.program,
            )
            daemon.install_signal_handlers()
            return await daemon.run()
    except TargetUnavailable as exc:
        return fail(str(exc), exit_code_for(exc))
    finally:
        await db.close()
