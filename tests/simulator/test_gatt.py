"""The GATT server: bumble's own GATT client on a private LocalLink, and bleak on the radio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from bumble import att
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from simulators.opentens.codec import (
    SetOutput,
    Start,
    decode_device_info,
    decode_status,
    encode_command,
)
from simulators.opentens.config import SimConfig
from simulators.opentens.profile import (
    CONTROL_POINT_UUID,
    DEVICE_INFO_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    AttCode,
    FaultBit,
)
from simulators.opentens.server import OpenTensSimulator, advertising_payloads
from tests.simulator.kit import BATTERY_LEVEL_UUID, bleak_session, radio_with_wearable


def _device(link: LocalLink, name: str, address: str) -> Device:
    controller = Controller(name, link=link, public_address=address)
    return Device(
        name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller))
    )


@contextlib.asynccontextmanager
async def bumble_pair() -> AsyncIterator[tuple[OpenTensSimulator, Peer]]:
    """A simulator and a bumble central on their own LocalLink, connected, services found."""
    link = LocalLink()
    central = _device(link, "central", "F0:F0:F0:F0:F0:F0")
    peripheral = _device(link, "OpenTENS-Sim", "F1:F1:F1:F1:F1:F1")
    await central.power_on()
    await peripheral.power_on()
    sim = OpenTensSimulator(peripheral, SimConfig())
    await sim.start()
    try:
        connection = await central.connect(peripheral.random_address)
        peer = Peer(connection)
        await peer.discover_services()
        await peer.discover_characteristics()
        yield sim, peer
    finally:
        await sim.close()


def test_advertising_fits_and_carries_uuid_and_name() -> None:
    for name in ("OpenTENS-Sim", "T", "A much longer wearable name than fits in 31 bytes"):
        adv, scan = advertising_payloads(name)
        assert len(adv) <= 31 and len(scan) <= 31
        ad = AdvertisingData.from_bytes(adv)
        uuids = ad.get(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)
        assert uuids == [UUID(SERVICE_UUID)]
        short = ad.get(AdvertisingData.SHORTENED_LOCAL_NAME) or ad.get(
            AdvertisingData.COMPLETE_LOCAL_NAME
        )
        assert isinstance(short, str) and name.startswith(short)
        full = AdvertisingData.from_bytes(scan).get(AdvertisingData.COMPLETE_LOCAL_NAME)
        assert isinstance(full, str) and name.startswith(full)


async def test_bumble_gatt_client_round_trip() -> None:
    async with bumble_pair() as (sim, peer):
        [info] = peer.get_characteristics_by_uuid(UUID(DEVICE_INFO_UUID))
        [control] = peer.get_characteristics_by_uuid(UUID(CONTROL_POINT_UUID))
        [status] = peer.get_characteristics_by_uuid(UUID(STATUS_UUID))
        assert decode_device_info(await info.read_value()) == SimConfig().device_info()
        for uuid, text in (
            ("2A29", "tens project"),
            ("2A24", "OpenTENS Simulator"),
            ("2A26", "sim-1.0"),
        ):
            [char] = peer.get_characteristics_by_uuid(UUID.from_16_bits(int(uuid, 16)))
            assert (await char.read_value()) == text.encode()
        [battery] = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A19))
        assert (await battery.read_value()) == bytes([100])

        notes: asyncio.Queue[bytes] = asyncio.Queue()
        await status.subscribe(lambda value: notes.put_nowait(bytes(value)))
        await control.write_value(encode_command(Start(1, 0x03)), with_response=True)
        while (report := decode_status(await asyncio.wait_for(notes.get(), 2.0))).acked_seq != 1:
            pass
        assert all(ch.armed for ch in report.channels)

        with pytest.raises(att.ATT_Error) as refused:
            await control.write_value(
                encode_command(SetOutput(2, 0, 801, 200, 1000, 0)), with_response=True
            )
        assert refused.value.error_code == AttCode.OVER_LIMIT
        with pytest.raises(att.ATT_Error) as refused:
            await control.write_value(b"\x09\x01", with_response=True)
        assert refused.value.error_code == AttCode.UNKNOWN_OPCODE

        await control.write_value(
            encode_command(SetOutput(3, 0, 5, 200, 1000, 0)), with_response=True
        )
        sample = await sim.record.wait_for(lambda s: s.intensity_ma == 0.5, timeout=2.0)
        assert sample.channel == 0
        assert decode_status(await status.read_value()).acked_seq == 3


async def test_write_without_response_to_the_control_point_is_ignored() -> None:
    async with bumble_pair() as (sim, peer):
        [control] = peer.get_characteristics_by_uuid(UUID(CONTROL_POINT_UUID))
        await control.write_value(encode_command(Start(1, 0x03)), with_response=False)
        await asyncio.sleep(0.2)
        assert sim.model.acked_seq == 0
        assert not any(ch.armed for ch in sim.model.channels)


@pytest.mark.looptime
async def test_bleak_sees_connects_and_is_refused_with_profile_codes() -> None:
    from bleak import BleakScanner

    async with radio_with_wearable() as (radio, sim):
        found = await BleakScanner.discover(
            timeout=1.0, return_adv=True, **radio.transport().scanner_options()
        )
        [(device, adv)] = [v for v in found.values() if SERVICE_UUID in v[1].service_uuids]
        assert adv.local_name == "OpenTENS-Sim"
        assert device.address == sim.address
        async with bleak_session(radio, sim) as c:
            info = await c.client.read_gatt_char(DEVICE_INFO_UUID)
            assert decode_device_info(bytes(info)).channels == 2
            assert await c.refused(c.set_output(0, 1.0)) == AttCode.NOT_ARMED
            await c.start()
            async with c.feeding_watchdog():
                await c.set_output(1, 3.0)
                await sim.record.wait_for(lambda s: s.channel == 1 and s.intensity_ma == 3.0, 5.0)
                status = await c.next_status()
                assert status.channels[1].delivered == 30
            assert await c.client.read_gatt_char(BATTERY_LEVEL_UUID) == bytearray([100])
        closed_at = asyncio.get_running_loop().time()
        await asyncio.sleep(0.1)
        last = sim.record[-1]
        assert (last.channel, last.intensity_ma, last.cause) == (1, 0.0, "disconnect")
        assert last.t == pytest.approx(closed_at, abs=0.01)
        assert not sim.connected


@pytest.mark.looptime
async def test_drop_link_zeroes_output_and_a_new_link_starts_disarmed() -> None:
    async with radio_with_wearable() as (radio, sim):
        async with bleak_session(radio, sim) as c:
            await c.start()
            async with c.feeding_watchdog():
                await c.set_output(0, 2.0)
                await sim.record.wait_for(lambda s: s.intensity_ma == 2.0, 5.0)
                dropped_at = asyncio.get_running_loop().time()
                await sim.drop_link()
                await asyncio.wait_for(c.lost.wait(), 5.0)
        assert sim.record.last(0) == 0.0
        drop = [s for s in sim.record if s.cause == "disconnect"]
        assert drop and drop[0].t == pytest.approx(dropped_at, abs=1e-6)
        async with bleak_session(radio, sim) as c:  # advertising again
            assert await c.refused(c.set_output(0, 2.0)) == AttCode.NOT_ARMED
        assert sim.record.max(0) == 2.0


@pytest.mark.looptime
async def test_fault_injection_over_gatt() -> None:
    async with radio_with_wearable() as (radio, sim):
        async with bleak_session(radio, sim) as c:
            await c.start()
            async with c.feeding_watchdog():
                await c.set_output(0, 1.0)
                # a refused write
                sim.reject_next_write()
                assert await c.refused(c.keepalive()) == AttCode.BUSY
                await c.keepalive()
                # garbage status, then good ones again
                sim.send_malformed()
                await c.next_status()
                assert len(c.garbage) == 1
                await c.next_status()
                # electrode
                sim.peel_off(1)
                status = await c.next_status()
                assert status.faults & FaultBit.ELECTRODE_OFF
                sim.reattach(1)
                # battery
                sim.drain_battery(8)
                status = await c.next_status()
                assert status.faults & FaultBit.LOW_BATTERY and status.battery_percent == 8
                await asyncio.sleep(0.2)
                assert c.battery[-1] == 8
            # stuck: writes answered, nothing acknowledged, no status; the watchdog still acts
            sim.stick(True)
            acked = c.statuses[-1][1].acked_seq
            count = len(c.statuses)
            for _ in range(5):
                await c.keepalive()
                await asyncio.sleep(0.3)
            assert len(c.statuses) == count
            assert sim.model.acked_seq == acked
            assert any(s.cause == "watchdog" for s in sim.record)
            sim.stick(False)
            status = await c.next_status()
            assert status.faults & FaultBit.WATCHDOG


@pytest.mark.looptime
async def test_reboot_drops_the_link_and_comes_back_factory_fresh() -> None:
    async with radio_with_wearable() as (radio, sim):
        async with bleak_session(radio, sim) as c:
            await c.start()
            async with c.feeding_watchdog():
                await c.set_output(0, 1.0)
                await sim.record.wait_for(lambda s: s.intensity_ma == 1.0, 5.0)
                sim.stick(True)
                await sim.reboot()
                await asyncio.wait_for(c.lost.wait(), 5.0)
        assert [s.cause for s in sim.record if s.channel == 0][-1] == "reboot"
        assert not sim.model.stuck
        async with bleak_session(radio, sim) as c:
            await c.start()
            await asyncio.sleep(0.1)
            status = c.statuses[-1][1]
            assert status.acked_seq == 1 and status.faults == 0
