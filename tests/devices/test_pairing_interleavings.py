"""Random interleavings of pair / drive / drop / forget (either side) / intruder on a wearable
with link security: output only ever reaches the skin over an encrypted link with a bond on
both sides, and whether a drive works is exactly "both sides hold the bond".

Each example runs on a fresh virtual radio with the real driver, bumble's SMP and the
simulator's record; every control-point write the firmware accepts is checked, as it lands,
against the link it came on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices import registry
from devices.opentens.driver import OpenTensDriver
from devices.pairing import forget_device, pair_device
from simulators.opentens import start_simulated_wearable
from simulators.opentens.config import LinkSecurity, SimConfig
from simulators.radio.radio import VirtualRadio
from tens.device import ChannelOutput, DeviceError, LinkNotSecure

PASSKEY = 424242
OPS = ("pair", "drive", "drive_and_drop", "device_forgets", "controller_forgets", "intruder")


class Violation(AssertionError):
    pass


def _watch_writes(sim: Any, violations: list[str]) -> None:
    """Every write that reaches the firmware: its link must be encrypted and bonded."""
    original = sim._on_control_write

    async def checked(connection: Any, value: bytes) -> None:
        if not connection.is_encrypted:
            violations.append(f"a write reached the firmware on a plaintext link: {value.hex()}")
        bonded = await sim.bonds()
        if str(connection.peer_address) not in bonded:
            violations.append(f"a write from an unbonded central: {connection.peer_address}")
        await original(connection, value)

    sim._on_control_write = checked
    sim.control_characteristic.value.write = checked


async def _drive(radio: VirtualRadio, sim: Any, drop: bool) -> bool:
    found = await registry.find(radio.transport(), sim.address, 5.0)
    driver = OpenTensDriver(found.ble_device, radio.transport(), advertisement=found.advertisement)
    try:
        await driver.connect()
    except LinkNotSecure:
        return False
    try:
        await driver.set_device_limits(10.0, 5.0, 1.0)
        await driver.arm((0,))
        await driver.set_output(0, ChannelOutput(2.0, 200, 80.0))
        await sim.record.wait_for(lambda s: s.intensity_ma > 0, timeout=5.0)
        if drop:
            await sim.drop_link()
        else:
            await driver.stop()
    except DeviceError:
        pass
    finally:
        await driver.disconnect()
    return True


async def _example(ops: list[str]) -> None:
    radio = await VirtualRadio.local()
    config = SimConfig(security=LinkSecurity(passkey=PASSKEY))
    sim = await start_simulated_wearable(radio, name="OpenTENS-Mine", config=config)
    violations: list[str] = []
    _watch_writes(sim, violations)
    mine = radio.central.device.random_address.to_string(False)
    controller_bond = device_bond = False
    try:
        for op in ops:
            samples_before = len(sim.record.samples)
            if op == "pair":
                await pair_device(radio.transport(), sim.address, passkey=PASSKEY)
                controller_bond = device_bond = True
            elif op in ("drive", "drive_and_drop"):
                drove = await _drive(radio, sim, drop=op == "drive_and_drop")
                expected = controller_bond and device_bond
                if drove != expected:
                    violations.append(f"{op}: drove={drove}, bonds both sides={expected}")
                if not drove and any(
                    s.intensity_ma > 0 for s in sim.record.samples[samples_before:]
                ):
                    violations.append(f"{op}: output without a session")
            elif op == "device_forgets":
                await sim.forget_bonds()
                device_bond = False
            elif op == "controller_forgets":
                await forget_device(radio.transport(), sim.address)
                controller_bond = False
            elif op == "intruder":
                got = await sim.intrude()
                if got.accepted:
                    violations.append(f"intruder: {got.describe()}")
            assert (mine in await sim.bonds()) == device_bond, op
            assert (sim.address in await radio.central.bonds()) == controller_bond, op
            await sim.wait_disconnected()
            await asyncio.sleep(0.05)  # advertising again
    finally:
        await sim.close()
        await radio.close()
    if violations:
        raise Violation("; ".join(violations))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.lists(st.sampled_from(OPS), min_size=3, max_size=8))
def test_no_output_without_a_bond_on_both_sides(ops: list[str]) -> None:
    asyncio.run(_example(ops))


def test_a_known_hard_sequence() -> None:
    """Bonded, the device forgets, we drive (refused), pair again, drive, we forget, drive."""
    asyncio.run(
        _example(
            [
                "pair",
                "drive",
                "device_forgets",
                "drive",
                "intruder",
                "pair",
                "drive_and_drop",
                "controller_forgets",
                "drive",
                "pair",
                "drive",
            ]
        )
    )
