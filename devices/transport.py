"""Which bleak backend a driver talks through.

On a Raspberry Pi this is bleak's default (BlueZ over D-Bus): ``BleTransport()``. For the
simulator, ``simulators.radio`` returns a transport whose backend classes run bleak's
``BleakClient``/``BleakScanner`` over a virtual bumble radio. Drivers never know which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BleTransport:
    """bleak backend classes and extra keyword arguments; None means bleak's platform default."""

    client_backend: type[Any] | None = None
    scanner_backend: type[Any] | None = None
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    scanner_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = "system Bluetooth (bleak default backend)"
    bonds: Callable[[], Awaitable[list[str]]] | None = None
    """The addresses this controller holds bonds with, when the backend can tell (the
    virtual radio); None on BlueZ, which keeps them itself (``bluetoothctl devices Paired``)."""

    def client_options(self) -> dict[str, Any]:
        opts = dict(self.client_kwargs)
        if self.client_backend is not None:
            opts["backend"] = self.client_backend
        return opts

    def scanner_options(self) -> dict[str, Any]:
        opts = dict(self.scanner_kwargs)
        if self.scanner_backend is not None:
            opts["backend"] = self.scanner_backend
        return opts
