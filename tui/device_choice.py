"""Which device the controller opens: chosen on the devices screen, or given on the command line.

The controller is built with ``open_device=choice.open``; the devices screen scans through
``choice.scan()``, sets ``choice.address`` (or switches to the simulator) and asks the
controller to connect again.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from tens.device import Device

SCAN_S = 4.0


class DeviceChoice:
    """Wraps a :class:`tens.cli.target.Target`; can start an in-process simulator on demand."""

    def __init__(self, target: Any, *, scan_s: float = SCAN_S) -> None:
        self.target = target
        self.address: str | None = None
        self.scan_s = scan_s
        self._sim_stack: contextlib.AsyncExitStack | None = None
        self._sim_target: Any | None = None

    @property
    def using_simulator(self) -> bool:
        return self._sim_target is not None or getattr(self.target, "simulator", None) is not None

    def _active(self) -> Any:
        return self._sim_target if self._sim_target is not None else self.target

    async def open(self) -> Device:
        """The controller's ``open_device``: build the chosen device's driver (not connected)."""
        device: Device = await self._active().open_device(self.address)
        return device

    async def scan(self) -> list[Any]:
        """Devices a driver here speaks to (``devices.registry.Found``), strongest first."""
        from devices.registry import scan

        found: list[Any] = await scan(self._active().transport, self.scan_s)
        return found

    def choose(self, address: str) -> None:
        self.address = address

    async def use_simulator(self) -> None:
        """Switch to a simulated wearable on a virtual radio in this process."""
        self.address = None
        if self.using_simulator:
            return
        from tens.cli.target import open_target

        stack = contextlib.AsyncExitStack()
        args = argparse.Namespace(simulator=True, radio=None, device=None)
        self._sim_target = await stack.enter_async_context(open_target(args))
        self._sim_stack = stack

    async def aclose(self) -> None:
        if self._sim_stack is not None:
            await self._sim_stack.aclose()
            self._sim_stack = None
            self._sim_target = None
