"""Keep bumble from building debug strings for every packet unless someone is debugging.

bumble (0.0.236) logs each HCI packet and ATT PDU with ``logger.debug(f"... {packet}")``: the
f-string -- ANSI colours and every field of the packet -- is built before the logger checks
its level, on every packet of the virtual radio, and thrown away. docs/performance.md measured
it as about half of the 64-wearable stop-all time. :func:`quiet_bumble_debug` swaps bumble's
``color`` for the plain text and the packets' ``__str__`` for their class name, unless
debugging: the ``bumble`` logger enabled for DEBUG, or ``BUMBLE_DEBUG_STRINGS=1`` in the
environment. Only the text of bumble's own log lines changes; no packet's bytes do.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

ENV = "BUMBLE_DEBUG_STRINGS"

_MODULES = (
    "bumble.controller",
    "bumble.host",
    "bumble.device",
    "bumble.hci",
    "bumble.att",
    "bumble.l2cap",
    "bumble.gatt",
    "bumble.gatt_client",
    "bumble.gatt_server",
    "bumble.smp",
)
_done: list[str] | None = None


def bumble_debugging() -> bool:
    """Someone wants bumble's debug lines: leave them whole."""
    return os.environ.get(ENV, "") not in ("", "0") or logging.getLogger("bumble").isEnabledFor(
        logging.DEBUG
    )


def _plain(text: Any, *_args: Any, **_kwargs: Any) -> str:
    return str(text)


def _short(self: object) -> str:
    return type(self).__name__


def quiet_bumble_debug() -> list[str]:
    """Make bumble's never-printed debug strings cheap (once per process); returns what was
    swapped (empty when debugging)."""
    global _done
    if _done is not None:
        return _done
    if bumble_debugging():
        return []
    patched: list[str] = []
    for name in _MODULES:
        module = sys.modules.get(name) or importlib.import_module(name)
        if callable(getattr(module, "color", None)):
            setattr(module, "color", _plain)  # noqa: B010 (a module attribute mypy cannot see)
            patched.append(f"{name}.color")
    hci = importlib.import_module("bumble.hci")
    att = importlib.import_module("bumble.att")
    l2cap = importlib.import_module("bumble.l2cap")
    classes: list[Any] = [hci.HCI_Packet, hci.HCI_Event, hci.HCI_Command, hci.HCI_AclDataPacket]
    classes += [att.ATT_PDU]
    classes += [c for c in (getattr(l2cap, "L2CAP_PDU", None),) if c is not None]
    for cls in classes:
        setattr(cls, "__str__", _short)  # noqa: B010
        patched.append(f"{cls.__module__}.{cls.__name__}.__str__")
    _done = patched
    return patched
