"""Link security (profile v2) over the virtual radio: bumble's SMP on both sides, bleak's API.

The simulated wearable enforces it with bumble's own SMP and GATT permissions; the central is
bleak with the project's bumble backend. Each test checks what the device was asked and what
it delivered (its record), not only what the central saw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError
from bumble import att, smp
from bumble.pairing import PairingDelegate

from simulators.opentens import start_simulated_wearable
from simulators.opentens.codec import SetOutput, Start, encode_command
from simulators.opentens.config import LinkSecurity, SimConfig
from simulators.opentens.profile import CONTROL_POINT_UUID, DEVICE_INFO_UUID, STATUS_UUID
from simulators.radio import VirtualRadio
from simulators.radio.client import PairingFailed
from tests.simulator.kit import BATTERY_LEVEL_UUID, radio_with_wearable

PASSKEY = 246810
START = encode_command(Start(1, 0xFF))
OUTPUT = encode_command(SetOutput(2, 0, 100, 200, 1000, 0))


def _secure(keystore: Path | None = None, **kwargs: Any) -> SimConfig:
    return SimConfig(security=LinkSecurity(passkey=PASSKEY, keystore=keystore, **kwargs))


def wearable(config: SimConfig, central_keys: Path | None = None) -> Any:
    """The kit's radio and wearable, the central keeping its bonds in ``central_keys``."""
    return radio_with_wearable(config, central_keys=central_keys)


@contextlib.asynccontextmanager
async def connected(radio: VirtualRadio, sim: Any) -> AsyncIterator[BleakClient]:
    found = await BleakScanner.find_device_by_address(
        sim.address, timeout=5.0, **radio.transport().scanner_options()
    )
    assert found is not None
    client = BleakClient(found, **radio.transport().client_options())
    await client.connect()
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def _refused(client: BleakClient, data: bytes) -> int:
    with pytest.raises(BleakGATTProtocolError) as info:
        await client.write_gatt_char(CONTROL_POINT_UUID, data, response=True)
    return int(info.value.code)


def _no_output(sim: Any) -> bool:
    """Nothing delivered and nothing armed, on the simulator's own record."""
    delivered = all(sample.intensity_ma == 0 for sample in sim.record.samples)
    return delivered and not any(ch.armed for ch in sim.model.channels)


async def test_pairing_with_the_printed_passkey_bonds_and_encrypts() -> None:
    async with wearable(_secure()) as (radio, sim), connected(radio, sim) as client:
        assert not client._backend.encrypted  # type: ignore[attr-defined]
        await client.pair(passkey=PASSKEY)
        assert client._backend.encrypted  # type: ignore[attr-defined]
        assert await sim.bonds() == [radio.central.device.random_address.to_string(False)]
        assert await radio.central.bonds() == [sim.address]
        await client.start_notify(STATUS_UUID, lambda _c, _d: None)
        await client.write_gatt_char(CONTROL_POINT_UUID, START, response=True)
        await client.write_gatt_char(CONTROL_POINT_UUID, OUTPUT, response=True)
        assert any(ch.armed for ch in sim.model.channels)
        await client.pair(passkey=1)  # bonded already: nothing asked, nothing fails


async def test_a_passkey_callback_is_asked() -> None:
    asked: list[str] = []

    async def ask() -> int:
        asked.append("passkey?")
        return PASSKEY

    async with wearable(_secure()) as (radio, sim), connected(radio, sim) as client:
        await client.pair(passkey=ask)
        assert asked == ["passkey?"]
        assert client._backend.encrypted  # type: ignore[attr-defined]


async def test_a_wrong_passkey_fails_and_bonds_nothing() -> None:
    async with wearable(_secure()) as (radio, sim), connected(radio, sim) as client:
        with pytest.raises(PairingFailed) as info:
            await client.pair(passkey=PASSKEY + 1)
        assert info.value.reason == smp.ErrorCode.CONFIRM_VALUE_FAILED
        assert await sim.bonds() == [] and await radio.central.bonds() == []
        assert await _refused(client, START) == att.ErrorCode.INSUFFICIENT_AUTHENTICATION
        assert _no_output(sim)


async def test_the_wrong_passkey_fault_fails_the_printed_one() -> None:
    async with wearable(_secure()) as (radio, sim), connected(radio, sim) as client:
        sim.set_passkey(111111)
        with pytest.raises(PairingFailed):
            await client.pair(passkey=PASSKEY)
        assert await sim.bonds() == []


async def test_plaintext_is_refused_by_the_att_layer_and_delivers_nothing() -> None:
    async with wearable(_secure()) as (radio, sim), connected(radio, sim) as client:
        assert (await client.read_gatt_char(DEVICE_INFO_UUID))[0] == 2  # open
        assert len(await client.read_gatt_char(BATTERY_LEVEL_UUID)) == 1  # open
        assert await _refused(client, START) == att.ErrorCode.INSUFFICIENT_AUTHENTICATION
        assert await _refused(client, OUTPUT) == att.ErrorCode.INSUFFICIENT_AUTHENTICATION
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.start_notify(STATUS_UUID, lambda _c, _d: None)
        assert info.value.code == att.ErrorCode.INSUFFICIENT_ENCRYPTION
        with pytest.raises(BleakGATTProtocolError) as read:
            await client.read_gatt_char(STATUS_UUID)
        assert read.value.code == att.ErrorCode.INSUFFICIENT_ENCRYPTION
        assert sim.model.asked == []  # the firmware never saw a command
        assert _no_output(sim)


async def test_just_works_is_refused_with_authentication_requirements() -> None:
    async with wearable(_secure()) as (radio, sim), connected(radio, sim) as client:
        connection = client._backend._connection  # type: ignore[attr-defined]
        radio.central.expect_pairing(connection, PairingDelegate())  # no input, no output
        with pytest.raises(Exception) as info:
            await connection.pair()
        assert getattr(info.value, "error_code", None) == smp.ErrorCode.AUTHENTICATION_REQUIREMENTS
        assert await sim.bonds() == []
        assert not connection.is_encrypted


async def test_numeric_comparison_when_the_device_has_a_display() -> None:
    shown: list[int] = []

    def same(number: int) -> bool:
        shown.append(number)
        return True

    async with wearable(_secure(numeric_comparison=True)) as (radio, sim):
        async with connected(radio, sim) as client:
            await client.pair(compare_numbers=same)
            assert client._backend.encrypted  # type: ignore[attr-defined]
            assert len(shown) == 1 and 0 <= shown[0] <= 999_999
        await sim.forget_bonds()
        async with connected(radio, sim) as client:
            with pytest.raises(PairingFailed):
                await client.pair(compare_numbers=lambda _n: False)
            assert await sim.bonds() == []


async def test_someone_elses_controller_cannot_write_during_or_after() -> None:
    async with wearable(_secure()) as (radio, sim):
        other = await radio.add_central("neighbour")
        try:
            async with connected(radio, sim) as mine:
                await mine.pair(passkey=PASSKEY)
                await mine.write_gatt_char(CONTROL_POINT_UUID, START, response=True)
                # while mine holds the link the device does not advertise: no way in
                options = other.transport().client_options()
                intruder = BleakClient(sim.address, timeout=1.0, **options)
                with pytest.raises(TimeoutError):
                    await intruder.connect()
            asked_before = len(sim.model.asked)
            async with connected(other, sim) as intruder_client:
                assert await _refused(intruder_client, START) == 0x05
                assert await _refused(intruder_client, OUTPUT) == 0x05
                with pytest.raises(PairingFailed):  # and it cannot guess its way in
                    await intruder_client.pair(passkey=123456)
                assert len(sim.model.asked) == asked_before  # not one of its writes got in
                assert _no_output(sim)
            assert await sim.bonds() == [radio.central.device.random_address.to_string(False)]
        finally:
            await other.close()


async def test_the_bond_survives_a_restart_of_both_sides(tmp_path: Path) -> None:
    sim_keys, central_keys = tmp_path / "wearable.json", tmp_path / "controller.json"
    async with wearable(_secure(sim_keys), central_keys) as (radio, sim):
        first_address = sim.address
        central_address = radio.central.device.random_address.to_string(False)
        async with connected(radio, sim) as client:
            await client.pair(passkey=PASSKEY)
    assert sim_keys.stat().st_mode & 0o077 == 0  # private: it holds long-term keys
    assert central_keys.stat().st_mode & 0o077 == 0
    async with wearable(_secure(sim_keys), central_keys) as (radio, sim):
        assert sim.address == first_address
        assert radio.central.device.random_address.to_string(False) == central_address
        async with connected(radio, sim) as client:
            assert client._backend.encrypted  # type: ignore[attr-defined]  # no pairing asked
            assert sim.link_encrypted
            await client.start_notify(STATUS_UUID, lambda _c, _d: None)
            await client.write_gatt_char(CONTROL_POINT_UUID, START, response=True)


async def test_bond_lost_on_the_device_leaves_the_link_plaintext_and_refused() -> None:
    async with wearable(_secure()) as (radio, sim):
        async with connected(radio, sim) as client:
            await client.pair(passkey=PASSKEY)
        await sim.forget_bonds()
        async with connected(radio, sim) as client:
            assert not client._backend.encrypted  # type: ignore[attr-defined]
            assert await _refused(client, START) == att.ErrorCode.INSUFFICIENT_AUTHENTICATION
            assert _no_output(sim)
            await client.unpair()  # forget our side too, then pair again
        assert await radio.central.bonds() == []
        async with connected(radio, sim) as client:
            await client.pair(passkey=PASSKEY)
            await client.write_gatt_char(CONTROL_POINT_UUID, START, response=True)


async def test_a_full_device_refuses_a_new_bond() -> None:
    async with wearable(_secure(max_bonds=1)) as (radio, sim):
        async with connected(radio, sim) as client:
            await client.pair(passkey=PASSKEY)
        other = await radio.add_central("second-phone")
        try:
            async with connected(other, sim) as client:
                with pytest.raises(PairingFailed) as info:
                    await client.pair(passkey=PASSKEY)
                assert info.value.reason == smp.ErrorCode.PAIRING_NOT_SUPPORTED
        finally:
            await other.close()


# --- the security fault scenarios (tests/simulator/test_scenarios.py runs the others) -------


async def test_a_security_scenario_needs_a_secure_wearable() -> None:
    radio = await VirtualRadio.local()
    try:
        with pytest.raises(ValueError, match="link security"):
            await start_simulated_wearable(radio, scenario="intruder")
    finally:
        await radio.close()


async def test_scenario_forget_bonds_drops_the_link_and_the_bond() -> None:
    said: list[str] = []
    async with wearable(_secure()) as (radio, sim):
        sim.run_scenario("forget-bonds", after_s=0.3, say=said.append)
        async with connected(radio, sim) as client:
            await client.pair(passkey=PASSKEY)
            await sim.wait_disconnected()
        assert await sim.bonds() == [] and said
        async with connected(radio, sim) as client:
            assert await _refused(client, START) == 0x05


async def test_scenario_wrong_passkey_fails_the_printed_passkey() -> None:
    async with wearable(_secure()) as (radio, sim):
        sim.run_scenario("wrong-passkey")
        async with connected(radio, sim) as client:
            with pytest.raises(PairingFailed):
                await client.pair(passkey=PASSKEY)
        assert await sim.bonds() == []


async def test_scenario_intruder_is_refused_during_and_after_the_session() -> None:
    said: list[str] = []
    first = asyncio.Event()

    def say(text: str) -> None:
        said.append(text)
        first.set()

    async with wearable(_secure()) as (radio, sim):
        task = sim.run_scenario("intruder", after_s=0.3, say=say)
        async with connected(radio, sim) as client:
            await client.pair(passkey=PASSKEY)
            await client.write_gatt_char(CONTROL_POINT_UUID, START, response=True)
            await asyncio.wait_for(first.wait(), 10.0)
        await asyncio.wait_for(task, 10.0)
        asked = [type(item).__name__ for _t, item in sim.model.asked]
        assert asked == ["Start"]  # only my controller's START reached the firmware
    assert said == [
        "someone else's controller could not connect (the link is held)",
        "someone else's controller was refused: 0x05, 0x05",
    ]
