"""Pairing on the BlueZ tier: bleak's own BlueZ backend runs ``pair()`` against the fake
``org.bluez``, whose ``Device1.Pair()`` asks a registered agent for the passkey (as
``bluetoothctl``'s agent answers on a Pi). The driver code is the one of the bumble tier: the
device's "Not paired" refusals become ``LinkNotSecure``; nothing is driven without the bond.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from devices.opentens.driver import OpenTensDriver
from devices.pairing import forget_device, pair_device
from devices.registry import find
from devices.transport import BleTransport
from simulators.bluez.opentens import start_bluez_wearable
from simulators.bluez.service import FakeBlueZ
from simulators.opentens.config import LinkSecurity, SimConfig
from tens.device import ChannelOutput, LinkNotSecure, PairingFailed

pytestmark = pytest.mark.timeout(60)

PASSKEY = 314159
AGENT_PATH = "/test/agent"
SECURE = SimConfig(security=LinkSecurity(passkey=PASSKEY))


class _Agent:
    """What `bluetoothctl`'s agent does: answers RequestPasskey with what the person typed."""

    def __init__(self, passkey: int) -> None:
        self.passkey = passkey
        self.asked: list[str] = []

    def handle(self, message: Message) -> Message | None:
        if (
            message.message_type != MessageType.METHOD_CALL
            or message.path != AGENT_PATH
            or message.interface != "org.bluez.Agent1"
        ):
            return None
        if message.member != "RequestPasskey":
            return Message.new_error(message, "org.bluez.Error.Rejected", "not asked here")
        self.asked.append(str(message.body[0]))
        return Message.new_method_return(message, "u", [self.passkey])


@contextlib.asynccontextmanager
async def agent(bus_address: str, passkey: int) -> AsyncIterator[_Agent]:
    bus = await MessageBus(bus_address=bus_address).connect()
    answering = _Agent(passkey)
    bus.add_message_handler(answering.handle)
    for member, signature, body in (
        ("RegisterAgent", "os", [AGENT_PATH, "KeyboardDisplay"]),
        ("RequestDefaultAgent", "o", [AGENT_PATH]),
    ):
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path="/org/bluez",
                interface="org.bluez.AgentManager1",
                member=member,
                signature=signature,
                body=body,
            )
        )
        assert reply is not None and reply.message_type == MessageType.METHOD_RETURN, reply
    try:
        yield answering
    finally:
        bus.disconnect()


async def _driver(sim: object) -> OpenTensDriver:
    found = await find(BleTransport(), sim.name, 5.0)  # type: ignore[attr-defined]
    return OpenTensDriver(found.ble_device, BleTransport())


async def test_unpaired_the_driver_gets_not_paired_and_drives_nothing(
    fake_bluez: FakeBlueZ,
) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Unpaired", config=SECURE)
    try:
        driver = await _driver(sim)
        with pytest.raises(LinkNotSecure) as info:
            await driver.connect()
        assert info.value.code == "not_paired"  # BlueZ's NotPermitted "Not paired"
        assert sim.model.asked == []
        assert all(s.intensity_ma == 0 for s in sim.record.samples)
    finally:
        await sim.close()


async def test_bleaks_bluez_pair_asks_the_agent_then_the_driver_runs(
    fake_bluez: FakeBlueZ,
) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Paired", config=SECURE)
    try:
        async with agent(fake_bluez.bus_address or "", PASSKEY) as answering:
            paired = await pair_device(BleTransport(), sim.address, passkey=None)
        assert paired.address == sim.address
        assert answering.asked == [sim.device_path]
        assert ("Pair", sim.device_path) in fake_bluez.calls
        assert await sim.bonds() == [fake_bluez.config.adapter_address]
        driver = await _driver(sim)
        await driver.connect()
        try:
            await driver.set_device_limits(10.0, 5.0, 1.0)
            await driver.arm((0,))
            await driver.set_output(0, ChannelOutput(2.0, 200, 80.0))
            await sim.record.wait_for(lambda s: s.intensity_ma > 0, timeout=5.0)
            await driver.stop()
        finally:
            await driver.disconnect()
        await forget_device(BleTransport(), sim.address)  # bleak's unpair: RemoveDevice
        assert ("RemoveDevice", sim.device_path) in fake_bluez.calls
    finally:
        await sim.close()


async def test_a_wrong_passkey_from_the_agent_fails_and_bonds_nothing(
    fake_bluez: FakeBlueZ,
) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Wrong", config=SECURE)
    try:
        async with agent(fake_bluez.bus_address or "", PASSKEY + 1):
            with pytest.raises(PairingFailed) as info:
                await pair_device(BleTransport(), sim.address)
        assert info.value.code == "wrong_passkey"
        assert await sim.bonds() == []
    finally:
        await sim.close()


async def test_bond_lost_on_the_device_is_not_paired_again(fake_bluez: FakeBlueZ) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Forgot", config=SECURE)
    try:
        async with agent(fake_bluez.bus_address or "", PASSKEY):
            await pair_device(BleTransport(), sim.address)
        await sim.forget_bonds()
        driver = await _driver(sim)
        with pytest.raises(LinkNotSecure):
            await driver.connect()
        assert sim.model.asked == []
    finally:
        await sim.close()
