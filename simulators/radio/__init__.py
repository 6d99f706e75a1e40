"""A virtual BLE radio (bumble) and the bleak backend that drives it.

``VirtualRadio.local()`` makes a radio in this process; ``add_peripheral`` gives a simulator a
bumble ``Device`` on it; ``transport()`` gives drivers the bleak backend options. Heavy
imports (bumble, bleak) load on first use of those names, so ``RADIO_ENV`` and
``parse_radio`` stay cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.radio.spec import RADIO_ENV, parse_radio

if TYPE_CHECKING:
    from simulators.radio.client import BumbleClient
    from simulators.radio.radio import VirtualRadio
    from simulators.radio.scanner import BumbleScanner

__all__ = ["RADIO_ENV", "BumbleClient", "BumbleScanner", "VirtualRadio", "parse_radio"]

_LAZY = {
    "VirtualRadio": "simulators.radio.radio",
    "BumbleClient": "simulators.radio.client",
    "BumbleScanner": "simulators.radio.scanner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
