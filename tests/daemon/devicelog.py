"""What the simulated wearable was asked: every control-point write it received, decoded.

Beside the delivered-output record (what the electrodes carried), this is the second judge of
the daemon tests: after a stop, no START and no non-zero SET_OUTPUT may reach the device.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from simulators.opentens.codec import MalformedMessage, SetOutput, Start, Stop, decode_command


@dataclass(frozen=True, slots=True)
class Asked:
    t: float
    """Loop time the write reached the device model."""
    command: Any


class DeviceLog:
    """Wraps the simulator model's ``write`` to record each command as it arrives."""

    def __init__(self, sim: Any) -> None:
        self.asked: list[Asked] = []
        model = sim.model
        original = model.write

        async def write(data: bytes) -> None:
            try:
                cmd: Any = decode_command(data)
            except MalformedMessage as exc:
                cmd = exc
            self.asked.append(Asked(asyncio.get_running_loop().time(), cmd))
            await original(data)

        model.write = write

    def last_stop_t(self) -> float | None:
        stops = [a.t for a in self.asked if isinstance(a.command, Stop)]
        return stops[-1] if stops else None

    def raising_after(self, t: float) -> list[Asked]:
        """Commands after loop time ``t`` that could put output on: START, SET_OUTPUT > 0."""
        return [
            a
            for a in self.asked
            if a.t > t
            and (
                isinstance(a.command, Start)
                or (isinstance(a.command, SetOutput) and a.command.intensity > 0)
            )
        ]
