"""Shared output helpers for CLI verbs: one JSON object per line for scripts, errors to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(obj: Any) -> None:
    """Print one JSON object on one line and flush (scripts read line by line)."""
    sys.stdout.write(json.dumps(obj, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2, *, as_json: bool = False) -> int:
    """Report an error clearly and return the exit code to use."""
    if as_json:
        emit_json({"error": message})
    else:
        sys.stderr.write(f"tens: error: {message}\n")
    return code
