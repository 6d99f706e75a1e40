"""Edit one key of the configuration file in place: ``[device] address`` after ``tens pair``.

Only that line changes: comments, order and every other key stay as the person wrote them.
The result is loaded and validated before it replaces the file (atomically); a file that
would not load is left untouched and :class:`~tens.config.ConfigError` says why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tens.config import ConfigError, ConfigProblem, LoadedConfig, load

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")
_ADDRESS = re.compile(r"^(\s*)address\s*=")


def _with_device_address(text: str, address: str) -> str:
    line = f"address = {json.dumps(address)}"  # a TOML basic string is a JSON string here
    lines = text.splitlines()
    start: int | None = None
    for i, raw in enumerate(lines):
        header = _HEADER.match(raw)
        if header is None or raw.lstrip().startswith("[["):
            continue
        if header.group(1).strip() == "device":
            start = i
            break
    if start is None:
        body = text if not text or text.endswith("\n") else text + "\n"
        separator = "\n" if body else ""
        return f"{body}{separator}[device]\n{line}\n"
    end = len(lines)
    for j in range(start + 1, len(lines)):
        if lines[j].lstrip().startswith("["):
            end = j
            break
    for j in range(start + 1, end):
        found = _ADDRESS.match(lines[j])
        if found is not None:
            lines[j] = found.group(1) + line
            break
    else:
        lines.insert(start + 1, line)
    return "\n".join(lines) + "\n"


def set_device_address(path: Path, address: str) -> LoadedConfig:
    """Write ``[device] address = "<address>"`` into the file at ``path`` (created if
    missing) and return the configuration as loaded from the new file.

    Raises ConfigError (nothing written) when the result would not load, or OSError."""
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    new = _with_device_address(old, address)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    try:
        loaded = load(tmp)
    except ConfigError:
        tmp.unlink(missing_ok=True)
        raise
    if loaded.config.device.address != address:
        tmp.unlink(missing_ok=True)
        origin = loaded.origins.get("device.address", "?")
        raise ConfigError.of(
            [
                ConfigProblem(
                    "device.address",
                    "overridden",
                    f"written, but {origin} sets another address; nothing was changed",
                    str(path),
                )
            ]
        )
    tmp.replace(path)
    return load(path)
