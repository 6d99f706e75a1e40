"""Start a simulated OpenTENS wearable on a virtual radio (used by ``--simulator``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from simulators.opentens.config import SimConfig

if TYPE_CHECKING:
    from simulators.opentens.server import OpenTensSimulator

DEFAULT_NAME = "OpenTENS-Sim"


async def start_simulated_wearable(
    radio: Any,
    *,
    name: str = DEFAULT_NAME,
    config: SimConfig | None = None,
    scenario: str | None = None,
    address: str | None = None,
    after_s: float | None = None,
    for_s: float | None = None,
) -> OpenTensSimulator:
    """Add a peripheral to ``radio`` (a ``VirtualRadio``), serve OpenTENS on it, advertise.

    ``scenario`` names a fault scenario (``simulators.opentens.scenarios.SCENARIOS``) that
    starts counting at the first connection. Close the result with ``await sim.close()``.
    With a key-store file in ``config.security`` and no ``address``, the wearable comes back
    at the address its bonds belong to (a controller knows it by that address).
    """
    from simulators.opentens.scenarios import SCENARIOS
    from simulators.opentens.server import OpenTensSimulator

    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    cfg = dataclasses.replace(config or SimConfig(), name=name)
    if scenario is not None and SCENARIOS[scenario].needs_security and cfg.security is None:
        raise ValueError(f"scenario {scenario!r} needs a wearable with link security")
    if address is None and cfg.security is not None and cfg.security.keystore is not None:
        from simulators.radio.keystore import stored_identity

        stored = stored_identity(cfg.security.keystore)
        if stored is not None:
            address = stored.to_string(with_type_qualifier=False)
    device = await radio.add_peripheral(name, address)
    simulator = OpenTensSimulator(device, cfg)
    simulator.radio = radio
    await simulator.start()
    if scenario is not None:
        simulator.run_scenario(scenario, after_s=after_s, for_s=for_s)
    return simulator
