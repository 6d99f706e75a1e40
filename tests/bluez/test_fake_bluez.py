"""What only the BlueZ tier can show: bleak runs its own BlueZ backend over D-Bus, and the fake
behaves like bluetoothd where that matters to a Raspberry Pi (discovery signals, AcquireNotify
with fd passing, error names, the battery plugin, the version check, forgotten devices)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends import BleakBackend
from bleak.backends.bluezdbus.utils import assert_gatt_reply
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDBusError, BleakGATTProtocolError
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from devices.bleak_link import characteristic_present, connect_client, disconnect_client, discover
from devices.opentens.driver import OpenTensDriver
from devices.opentens.profile import BATTERY_LEVEL_UUID, CONTROL_POINT_UUID, STATUS_UUID
from devices.registry import BluetoothUnavailable, find, scan
from devices.transport import BleTransport
from simulators.bluez.daemon import PrivateBus
from simulators.bluez.errors import att_dbus_error
from simulators.bluez.opentens import OpenTensBlueZ, start_bluez_wearable
from simulators.bluez.peripheral import Advertisement, Characteristic, Peripheral, Service
from simulators.bluez.service import BATTERY, GATT_CHARACTERISTIC, BlueZConfig, FakeBlueZ
from tens.device import DeviceError, DeviceEvent, DeviceNotFound, LinkLost
from tests.bluez.conftest import drop_bleak_manager, write_bluetoothctl

pytestmark = pytest.mark.timeout(60)


async def wait_until(predicate: object, within_s: float = 3.0) -> bool:
    for _ in range(int(within_s / 0.02)):
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


async def scanned(name: str) -> BLEDevice:
    found = await find(BleTransport(), name, 5.0)
    return found.ble_device


async def test_bleak_runs_its_bluez_backend_over_the_private_bus(fake_bluez: FakeBlueZ) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Backend")
    try:
        seen = await discover(BleTransport(), 5.0, stop_when=lambda a: a.name == "OT-Backend")
        mine = [s for s in seen if s.advertisement.name == "OT-Backend"]
        assert mine and mine[0].ble_device.details["path"] == sim.device_path
        client = await connect_client(BleTransport(), mine[0].ble_device, name="OT-Backend")
        try:
            assert client.backend_id is BleakBackend.BLUEZ_DBUS
            assert client.is_connected and sim.connected
        finally:
            await disconnect_client(client)
        called = {member for member, _ in fake_bluez.calls}
        assert {"SetDiscoveryFilter", "StartDiscovery", "StopDiscovery"} <= called
        assert ("Connect", sim.device_path) in fake_bluez.calls
        assert ("Disconnect", sim.device_path) in fake_bluez.calls
        assert not sim.connected
    finally:
        await sim.close()


async def test_discovery_shows_name_uuids_manufacturer_and_service_data(
    fake_bluez: FakeBlueZ,
) -> None:
    service = "0000fe59-0000-1000-8000-00805f9b34fb"
    peripheral = Peripheral(
        "C1:22:33:44:55:66",
        Advertisement(
            "Tag-1",
            (service,),
            manufacturer_data={0x0059: b"\x01\x02"},
            service_data={service: b"\xaa"},
            tx_power=4,
            rssi=-61,
        ),
        [],
    )
    fake_bluez.add(peripheral)
    got: list[tuple[BLEDevice, AdvertisementData]] = []
    done = asyncio.Event()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        got.append((device, adv))
        if adv.local_name == "Tag-1":
            done.set()

    scanner = BleakScanner(on_adv)
    assert scanner.backend_id is BleakBackend.BLUEZ_DBUS
    async with scanner:
        await asyncio.wait_for(done.wait(), 5.0)
        assert fake_bluez.discovering
    device, adv = next((d, a) for d, a in got if a.local_name == "Tag-1")
    assert device.address == "C1:22:33:44:55:66"
    assert adv.service_uuids == [service]
    assert adv.manufacturer_data == {0x0059: b"\x01\x02"}
    assert adv.service_data == {service: b"\xaa"}
    assert adv.tx_power == 4 and adv.rssi in (-61, -64)
    assert not fake_bluez.discovering  # our session ended with the scanner


async def test_acquire_notify_passes_a_socket_and_closing_it_releases(
    fake_bluez: FakeBlueZ,
) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Acquire")
    device = await scanned("OT-Acquire")
    got: list[bytes] = []
    async with BleakClient(device) as client:
        await client.start_notify(
            STATUS_UUID, lambda _c, data: got.append(bytes(data)), bluez={"use_start_notify": False}
        )
        status_path = next(p for m, p in fake_bluez.calls if m == "AcquireNotify")
        props = fake_bluez.server.props(status_path, GATT_CHARACTERISTIC)
        assert props["NotifyAcquired"].value is True
        sim.model.set_impedance(0, 1500)  # the next status goes out at once
        assert await wait_until(lambda: bool(got))
        assert got[-1][0] == 0x53 and len(got[-1]) == len(sim.model.status_bytes())
        await client.stop_notify(STATUS_UUID)
        assert await wait_until(lambda: props["NotifyAcquired"].value is False)
    assert not sim.connected
    await sim.close()


async def test_a_read_is_also_delivered_as_a_notification_as_bluetoothd_does(
    fake_bluez: FakeBlueZ,
) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Echo")
    sim.model.stick(True)  # no status of its own: anything that arrives is the read's echo
    device = await scanned("OT-Echo")
    got: list[bytes] = []
    async with BleakClient(device) as client:
        await client.start_notify(STATUS_UUID, lambda _c, data: got.append(bytes(data)))
        value = bytes(await client.read_gatt_char(STATUS_UUID))
        assert await wait_until(lambda: value in got, 1.0)
    await sim.close()


async def test_write_without_response_to_the_control_point_is_refused_locally(
    fake_bluez: FakeBlueZ,
) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Command")
    device = await scanned("OT-Command")
    async with BleakClient(device) as client:
        with pytest.raises(BleakGATTProtocolError) as caught:
            await client.write_gatt_char(CONTROL_POINT_UUID, bytes([0x05, 1, 1]), response=False)
        assert caught.value.code == 0x06  # REQUEST_NOT_SUPPORTED: bluetoothd's NotSupported
    assert sim.model.writes_accepted == 0
    await sim.close()


@pytest.mark.parametrize("code", [0x02, 0x03, 0x06, 0x07, 0x08, 0x0D, 0x0E, 0x80, 0x83, 0x87, 0x9F])
def test_att_error_names_are_read_back_by_bleak_as_the_same_code(code: int) -> None:
    error = att_dbus_error(code)
    reply = Message(
        message_type=MessageType.ERROR,
        error_name=error.type,
        reply_serial=1,
        signature="s",
        body=[error.text],
    )
    with pytest.raises(BleakGATTProtocolError) as caught:
        assert_gatt_reply(reply)
    assert int(caught.value.code) == code


def test_not_paired_errors_stay_dbus_errors() -> None:
    error = att_dbus_error(0x05)
    reply = Message(
        message_type=MessageType.ERROR,
        error_name=error.type,
        reply_serial=1,
        signature="s",
        body=[error.text],
    )
    with pytest.raises(BleakDBusError, match="NotPermitted"):
        assert_gatt_reply(reply)


@pytest.mark.parametrize("plugin", [True, False], ids=["battery-plugin", "bluetoothd-P-battery"])
async def test_the_battery_service_is_claimed_by_bluetoothd_unless_the_plugin_is_off(
    bluez_env: PrivateBus, plugin: bool
) -> None:
    fake = await FakeBlueZ(bluez_env.address, BlueZConfig(battery_plugin=plugin)).start()
    sim = await start_bluez_wearable(fake, name="OT-Battery")
    driver = OpenTensDriver(await scanned("OT-Battery"), BleTransport())
    try:
        await driver.connect()
        client = driver._client
        assert client is not None
        assert characteristic_present(client, BATTERY_LEVEL_UUID) is (not plugin)
        assert fake.server.has(sim.device_path, BATTERY) is plugin
        sim.drain_battery(42)
        assert await wait_until(lambda: driver.battery_percent == 42)
        if plugin:
            assert await wait_until(
                lambda: fake.server.get(sim.device_path, BATTERY, "Percentage") == 42
            )
    finally:
        await driver.disconnect()
        await sim.close()
        await drop_bleak_manager()
        await fake.close()


async def test_bluez_older_than_5_55_is_refused(
    fake_bluez: FakeBlueZ, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = write_bluetoothctl(tmp_path / "old-bin", "5.50")
    monkeypatch.setenv("PATH", f"{old}{os.pathsep}{os.environ['PATH']}")
    sim = await start_bluez_wearable(fake_bluez, name="OT-Old")
    driver = OpenTensDriver(await scanned("OT-Old"), BleTransport())
    with pytest.raises(DeviceError, match=r"BlueZ >= 5\.55"):
        await driver.connect()
    assert not sim.connected and sim.record.max(0) == 0
    await sim.close()


async def test_without_bluetoothctl_bleak_warns_and_assumes_a_recent_bluez(
    fake_bluez: FakeBlueZ,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    sim = await start_bluez_wearable(fake_bluez, name="OT-NoCtl")
    driver = OpenTensDriver(await scanned("OT-NoCtl"), BleTransport())
    with caplog.at_level(logging.WARNING, logger="bleak.backends.bluezdbus.version"):
        await driver.connect()
    try:
        assert "bluetoothctl not available" in caplog.text
        assert driver.connected
    finally:
        await driver.disconnect()
        await sim.close()


async def test_a_powered_off_adapter_is_bluetooth_unavailable(bluez_env: PrivateBus) -> None:
    fake = await FakeBlueZ(bluez_env.address, BlueZConfig(powered=False)).start()
    try:
        with pytest.raises(BluetoothUnavailable, match="powered"):
            await scan(BleTransport(), 0.5)
    finally:
        await drop_bleak_manager()
        await fake.close()


async def test_a_device_forgotten_after_discovery_stopped_is_not_found(
    bluez_env: PrivateBus,
) -> None:
    fake = await FakeBlueZ(
        bluez_env.address, BlueZConfig(report_interval_s=0.05, temporary_timeout_s=0.2)
    ).start()
    sim = await start_bluez_wearable(fake, name="OT-Forgotten")
    try:
        device = await scanned("OT-Forgotten")
        assert await wait_until(lambda: not fake.server.has(sim.device_path), 2.0)
        driver = OpenTensDriver(device, BleTransport())
        with pytest.raises(DeviceNotFound):
            await driver.connect()
        assert not sim.connected
    finally:
        await sim.close()
        await drop_bleak_manager()
        await fake.close()


async def test_named_scenarios_run_unchanged_on_this_tier(fake_bluez: FakeBlueZ) -> None:
    sim = await start_bluez_wearable(
        fake_bluez, name="OT-Scenario", scenario="link-drop", after_s=0.3
    )
    assert isinstance(sim, OpenTensBlueZ)
    driver = OpenTensDriver(await scanned("OT-Scenario"), BleTransport())
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.connect()
    assert await wait_until(lambda: any(isinstance(e, LinkLost) for e in events))
    assert not driver.connected
    assert sim.link_events[-1][1] == "disconnected"
    await sim.close()


async def test_bluez_error_names_for_misuse(fake_bluez: FakeBlueZ) -> None:
    sim = await start_bluez_wearable(fake_bluez, name="OT-Misuse")
    await scanned("OT-Misuse")  # the device object exists now
    bus = await MessageBus(bus_address=fake_bluez.bus_address).connect()
    try:

        async def call(
            path: str, iface: str, member: str, sig: str = "", body: list[object] | None = None
        ) -> Message:
            reply = await bus.call(
                Message(
                    destination="org.bluez",
                    path=path,
                    interface=iface,
                    member=member,
                    signature=sig,
                    body=body or [],
                )
            )
            assert reply is not None
            return reply

        adapter = fake_bluez.adapter_path
        stop = await call(adapter, "org.bluez.Adapter1", "StopDiscovery")
        assert stop.error_name == "org.bluez.Error.Failed" and stop.body == ["No discovery started"]
        gone = await call(adapter, "org.bluez.Adapter1", "RemoveDevice", "o", [adapter + "/dev_00"])
        assert gone.error_name == "org.bluez.Error.DoesNotExist"
        off = await call(sim.device_path, "org.bluez.Device1", "Disconnect")
        assert off.error_name == "org.bluez.Error.NotConnected"
        bad = await call(adapter, "org.bluez.Adapter1", "SetDiscoveryFilter", "a{sv}", [{}])
        assert bad.message_type == MessageType.METHOD_RETURN
        objects = await call("/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        assert adapter in objects.body[0] and sim.device_path in objects.body[0]
    finally:
        bus.disconnect()
        await sim.close()


async def test_a_second_write_while_one_is_pending_is_in_progress_and_bleak_retries(
    fake_bluez: FakeBlueZ,
) -> None:
    control = "0000aa01-0000-1000-8000-00805f9b34fb"
    release = asyncio.Event()
    taken: list[bytes] = []

    async def write(value: bytes, _with_response: bool) -> None:
        if not taken:
            await release.wait()  # the device answers the first request late
        taken.append(value)

    peripheral = Peripheral(
        "C1:22:33:44:55:77",
        Advertisement("Slow-1", ("0000aa00-0000-1000-8000-00805f9b34fb",)),
        [
            Service(
                "0000aa00-0000-1000-8000-00805f9b34fb",
                [Characteristic(control, ("write",), write=write)],
            )
        ],
    )
    fake_bluez.add(peripheral)
    device = await BleakScanner.find_device_by_name("Slow-1", timeout=5.0)
    assert device is not None
    async with BleakClient(device) as client:
        first = asyncio.get_running_loop().create_task(
            client.write_gatt_char(control, b"\x01", response=True)
        )
        assert await wait_until(lambda: any(m == "WriteValue" for m, _ in fake_bluez.calls))
        second = asyncio.get_running_loop().create_task(
            client.write_gatt_char(control, b"\x02", response=True)
        )
        assert await wait_until(
            lambda: ("WriteValue", "org.bluez.Error.InProgress") in fake_bluez.server.errors
        )
        assert not second.done()
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5.0)
    assert taken == [b"\x01", b"\x02"]
