"""The simulated OpenTENS wearable: device model, codec, delivered-output record, GATT server.

``OpenTensSimulator`` (the bumble GATT server) is imported lazily so that importing the model
or the codec never pulls in bumble.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.opentens.config import SimConfig
from simulators.opentens.model import ChannelState, CommandRefused, LinkDown, OpenTensModel
from simulators.opentens.record import DeliveredRecord, DeliveredSample
from simulators.opentens.wearable import start_simulated_wearable

if TYPE_CHECKING:
    from simulators.opentens.server import OpenTensSimulator

__all__ = [
    "ChannelState",
    "CommandRefused",
    "DeliveredRecord",
    "DeliveredSample",
    "LinkDown",
    "OpenTensModel",
    "OpenTensSimulator",
    "SimConfig",
    "start_simulated_wearable",
]


def __getattr__(name: str) -> Any:
    if name == "OpenTensSimulator":
        from simulators.opentens.server import OpenTensSimulator

        return OpenTensSimulator
    raise AttributeError(name)
