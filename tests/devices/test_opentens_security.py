"""The OpenTENS driver on a wearable that requires link security (profile v2).

No session without an encrypted, bonded link: the driver turns the device's Insufficient
Encryption / Authentication into :class:`LinkNotSecure` ("run tens pair"), closes the link and
never falls back to plaintext. The simulator's record is the judge: nothing asked, nothing
delivered.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices import registry
from devices.opentens.driver import OpenTensDriver
from devices.pairing import bonded_addresses, forget_device, pair_device
from simulators.opentens import start_simulated_wearable
from simulators.opentens.config import LinkSecurity, SimConfig
from simulators.radio.radio import VirtualRadio
from tens.device import ChannelOutput, DeviceNotFound, LinkNotSecure, PairingFailed

PASSKEY = 135790
TENS = ChannelOutput(intensity=10.0, pulse_width_us=200, frequency_hz=80.0)


def _secure(keystore: Path | None = None) -> SimConfig:
    return SimConfig(security=LinkSecurity(passkey=PASSKEY, keystore=keystore))


@contextlib.asynccontextmanager
async def on_radio(
    config: SimConfig, central_keys: Path | None = None
) -> AsyncIterator[tuple[VirtualRadio, Any]]:
    radio = await VirtualRadio.local(keystore=central_keys)
    sim = await start_simulated_wearable(radio, name="OpenTENS-Secure", config=config)
    try:
        yield radio, sim
    finally:
        await sim.close()
        await radio.close()


async def _driver(radio: VirtualRadio, sim: Any) -> OpenTensDriver:
    found = await registry.find(radio.transport(), sim.address, 5.0)
    return OpenTensDriver(found.ble_device, radio.transport(), advertisement=found.advertisement)


def _nothing_reached(sim: Any) -> bool:
    return (
        sim.model.asked == []
        and all(s.intensity_ma == 0 for s in sim.record.samples)
        and not any(ch.armed for ch in sim.model.channels)
    )


async def test_unpaired_connect_is_refused_clearly_and_drives_nothing() -> None:
    async with on_radio(_secure()) as (radio, sim):
        driver = await _driver(radio, sim)
        with pytest.raises(LinkNotSecure) as info:
            await driver.connect()
        assert info.value.code == "insufficient_encryption"  # the status subscription first
        assert info.value.att_code == 0x0F
        assert "tens pair" in str(info.value)
        assert not driver.connected
        assert not sim.connected  # the driver closed the link
        assert _nothing_reached(sim)


async def test_paired_the_driver_runs_over_the_encrypted_link() -> None:
    async with on_radio(_secure()) as (radio, sim):
        paired = await pair_device(radio.transport(), sim.address, passkey=PASSKEY)
        assert paired.address == sim.address and paired.driver == "opentens"
        assert await bonded_addresses(radio.transport()) == [sim.address]
        driver = await _driver(radio, sim)
        await driver.connect()
        try:
            assert sim.link_encrypted
            assert driver.info.link_security == "encrypted_bonded"
            await driver.set_device_limits(20.0, 5.0, 1.0)
            await driver.arm((0,))
            await driver.set_output(0, TENS)
            await sim.record.wait_for(lambda s: s.intensity_ma > 0, timeout=5.0)
            await driver.stop()
            assert driver.last_stop_confirmed
        finally:
            await driver.disconnect()


async def test_a_wrong_passkey_is_a_pairing_failure_with_its_code() -> None:
    async with on_radio(_secure()) as (radio, sim):
        with pytest.raises(PairingFailed) as info:
            await pair_device(radio.transport(), sim.address, passkey=PASSKEY - 1)
        assert info.value.code == "wrong_passkey"
        assert await bonded_addresses(radio.transport()) == []
        with pytest.raises(LinkNotSecure):
            await (await _driver(radio, sim)).connect()
        assert _nothing_reached(sim)


async def test_bond_lost_on_the_device_is_the_clear_error_not_a_fallback() -> None:
    async with on_radio(_secure()) as (radio, sim):
        await pair_device(radio.transport(), sim.address, passkey=PASSKEY)
        await sim.forget_bonds()
        asked_before = len(sim.model.asked)
        driver = await _driver(radio, sim)
        with pytest.raises(LinkNotSecure) as info:
            await driver.connect()
        assert "forgot us" in str(info.value)
        assert not sim.connected
        assert len(sim.model.asked) == asked_before
        # forget our half too, pair again: driven again
        await forget_device(radio.transport(), sim.address)
        assert await bonded_addresses(radio.transport()) == []
        await pair_device(radio.transport(), sim.address, passkey=PASSKEY)
        driver = await _driver(radio, sim)
        await driver.connect()
        await driver.disconnect()


async def test_the_bond_survives_a_restart_of_both_sides(tmp_path: Path) -> None:
    sim_keys, central_keys = tmp_path / "wearable.json", tmp_path / "controller.json"
    async with on_radio(_secure(sim_keys), central_keys) as (radio, sim):
        await pair_device(radio.transport(), sim.address, passkey=PASSKEY)
        address = sim.address
    async with on_radio(_secure(sim_keys), central_keys) as (radio, sim):
        assert sim.address == address
        driver = await _driver(radio, sim)
        await driver.connect()
        try:
            assert sim.link_encrypted
            await driver.arm((0,))
        finally:
            await driver.disconnect()


async def test_pairing_a_device_that_is_not_there_is_not_found() -> None:
    async with on_radio(_secure()) as (radio, _sim):
        with pytest.raises(DeviceNotFound):
            await pair_device(radio.transport(), "C0:00:00:00:00:01", passkey=1, scan_timeout=0.5)


async def test_link_security_is_reported_unprotected_on_an_open_link_and_for_a_coyote() -> None:
    from simulators.coyote.simulator import start_coyote

    async with on_radio(SimConfig()) as (radio, sim):  # the open-link development mode
        driver = await _driver(radio, sim)
        await driver.connect()
        try:
            assert driver.info.link_security == "unprotected"
        finally:
            await driver.disconnect()
        coyote = await start_coyote(radio, "coyote3")
        try:
            device = await registry.open_device(radio.transport(), coyote.address, 5.0)
            assert device.info.link_security == "unprotected"
        finally:
            await coyote.close()
