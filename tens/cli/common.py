"""Helpers shared by CLI verbs: config loading with clear errors, the --json flag."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tens.cli.exitcodes import ExitCode
from tens.cli.output import fail


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def channel_arg(text: str) -> int:
    """``type=`` for a ``--channel`` flag: the channel a person names (1, 2, …) as the device's
    index (0, 1, …); 0, negative numbers and non-numbers are a usage error (exit 2)."""
    from tens import channels

    try:
        return channels.parse(text)
    except channels.ChannelNumberError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="config file (default: the user config dir)"
    )


def load_or_fail(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Any:
    """LoadedConfig, or an int exit code after printing the error (callers check the type)."""
    from tens.config import ConfigError, load

    try:
        return load(getattr(args, "config", None), overrides)
    except ConfigError as exc:
        return fail(
            f"configuration refused:\n{exc}", ExitCode.CONFIG, as_json=getattr(args, "json", False)
        )
