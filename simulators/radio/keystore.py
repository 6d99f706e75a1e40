"""Bond storage on the virtual radio: bumble's ``JsonKeyStore`` in a private file.

A key-store file holds the bonds (long-term keys) of one radio participant, a simulated
wearable or the controller's central, in one namespace named by that participant's own
address (bumble's convention: the namespace is the controller's BD_ADDR). Reusing a file
therefore also reuses its address: a peer stores a bond under the address it paired with,
so a wearable or a central that came back with a fresh random address would be a stranger.

The file holds secrets: it is written with mode 0600.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bumble import hci
from bumble.keys import JsonKeyStore

from simulators.radio.spec import normalize_address


class PrivateJsonKeyStore(JsonKeyStore):
    """``JsonKeyStore`` whose file only its owner can read (it holds long-term keys)."""

    async def save(self, db: dict[str, dict[str, dict[str, object]]]) -> None:
        self.directory_name.mkdir(parents=True, exist_ok=True)
        temp = self.filename.with_name(self.filename.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(db, out, sort_keys=True, indent=4)
        os.replace(temp, self.filename)


def stored_identity(path: Path) -> hci.Address | None:
    """The address a key-store file belongs to (its one namespace), or None.

    None when the file does not exist, is empty, or holds no single namespace that is a
    Bluetooth address. Raises ValueError when the file exists but is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if not text.strip():
        return None
    try:
        db = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a key-store file (not JSON: {exc})") from exc
    if not isinstance(db, dict):
        raise ValueError(f"{path} is not a key-store file (not a JSON object)")
    if len(db) != 1:
        return None
    (namespace,) = db
    try:
        return hci.Address(normalize_address(namespace), hci.Address.RANDOM_DEVICE_ADDRESS)
    except ValueError:
        return None


def open_keystore(path: Path, address: hci.Address) -> PrivateJsonKeyStore:
    """The key store in ``path`` for the participant at ``address``."""
    return PrivateJsonKeyStore(namespace=str(address), filename=str(path))
