"""The driver registry: matchers, scanning on the virtual radio, finding a device by address or
name, and a missing device ending in DeviceNotFound in bounded time."""

from __future__ import annotations

import asyncio

import pytest

from devices import registry
from devices.opentens.driver import OpenTensDriver
from devices.opentens.profile import SERVICE_UUID
from devices.registry import (
    COYOTE2_NAME,
    COYOTE3_NAME,
    COYOTE3_SERVICE_UUID,
    DriverSpec,
    Found,
    has_service,
    match,
    name_is,
)
from simulators.radio.radio import VirtualRadio
from tens.device import Advertisement, DeviceNotFound
from tests.devices.scripted import start_scripted


def adv(name: str | None = None, *uuids: str) -> Advertisement:
    return Advertisement(address="AA:BB:CC:DD:EE:FF", name=name, rssi=-60, service_uuids=uuids)


def test_opentens_is_matched_by_its_service_uuid_only() -> None:
    spec = match(adv("anything", SERVICE_UUID))
    assert spec is not None and spec.name == "opentens"
    assert match(adv("OpenTENS", "0000180f-0000-1000-8000-00805f9b34fb")) is None
    assert match(adv(None)) is None


def test_matchers_compose() -> None:
    coyote3 = name_is(COYOTE3_NAME) | has_service(COYOTE3_SERVICE_UUID)
    assert coyote3(adv(COYOTE3_NAME))
    assert coyote3(adv("renamed", COYOTE3_SERVICE_UUID.upper()))
    assert coyote3(adv("renamed", "180C"))
    assert has_service("180c")(adv(None, COYOTE3_SERVICE_UUID))
    assert not coyote3(adv(COYOTE2_NAME))
    both = name_is(COYOTE2_NAME) & has_service(SERVICE_UUID)
    assert not both(adv(COYOTE2_NAME))
    assert both(adv(COYOTE2_NAME, SERVICE_UUID))
    assert "47L121000" in coyote3.label


def test_register_extension_point_and_order() -> None:
    def factory(_seen: object, _transport: object) -> OpenTensDriver:
        raise AssertionError("not built in this test")

    spec = DriverSpec("test-family", name_is("TestFamily-1"), factory)
    before = registry.drivers()
    try:
        registry.register(spec)
        assert match(adv("TestFamily-1")) is spec
        assert registry.drivers()[-1] is spec
        registry.register(spec, first=True)
        assert registry.drivers()[0] is spec
        assert [s.name for s in registry.drivers()].count("test-family") == 1
    finally:
        registry._registered[:] = before


def test_a_broken_matcher_does_not_hide_the_others() -> None:
    def broken(_adv: Advertisement) -> bool:
        raise RuntimeError("boom")

    before = registry.drivers()
    try:
        registry.register(DriverSpec("broken", broken, lambda s, t: None), first=True)  # type: ignore[arg-type,return-value]
        spec = match(adv("x", SERVICE_UUID))
        assert spec is not None and spec.name == "opentens"
    finally:
        registry._registered[:] = before


async def test_scan_lists_known_drivers_and_all_on_request(radio: VirtualRadio) -> None:
    mine = await start_scripted(radio, name="Mine")
    other = await radio.add_peripheral("Stranger")
    await other.start_advertising(
        advertising_data=bytes([2, 0x01, 0x06, 9, 0x09]) + b"Stranger",
        advertising_interval_min=20,
        advertising_interval_max=20,
    )
    radio.set_rssi(mine.address, -40)
    known = await registry.scan(radio.transport(), 0.3)
    assert [(f.name, f.driver, f.rssi) for f in known] == [("Mine", "opentens", -40)]
    assert known[0].address == mine.address
    assert known[0].as_json() == {
        "name": "Mine",
        "address": mine.address,
        "driver": "opentens",
        "rssi": -40,
    }
    everything = await registry.scan(radio.transport(), 0.3, show_all=True)
    assert [(f.name, f.driver) for f in everything] == [("Mine", "opentens"), ("Stranger", None)]


async def test_open_device_by_address_any_case_or_by_name(radio: VirtualRadio) -> None:
    mine = await start_scripted(radio, name="Mine")
    by_address = await registry.open_device(radio.transport(), mine.address.lower(), 2.0)
    assert isinstance(by_address, OpenTensDriver)
    assert by_address.info.address == mine.address
    assert by_address.info.name == "Mine"
    assert not by_address.connected
    by_name = await registry.open_device(radio.transport(), "Mine", 2.0)
    assert by_name.info.address == mine.address
    await by_name.connect()
    try:
        assert by_name.capabilities.channels == 2
    finally:
        await by_name.disconnect()


async def test_missing_device_is_not_found_in_bounded_time(radio: VirtualRadio) -> None:
    await start_scripted(radio, name="Mine")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeviceNotFound, match="C0:FF:EE:00:00:01"):
        async with asyncio.timeout(5.0):
            await registry.open_device(radio.transport(), "C0:FF:EE:00:00:01", 0.5)
    assert loop.time() - started < 5.0


async def test_a_device_without_driver_is_not_opened(radio: VirtualRadio) -> None:
    other = await radio.add_peripheral("Stranger")
    await other.start_advertising(
        advertising_data=bytes([2, 0x01, 0x06, 9, 0x09]) + b"Stranger",
        advertising_interval_min=20,
        advertising_interval_max=20,
    )
    with pytest.raises(DeviceNotFound, match="no driver here speaks to it"):
        await registry.open_device(radio.transport(), "Stranger", 1.0)


def test_found_is_plain_data() -> None:
    a = adv("n", SERVICE_UUID)
    f = Found(a.address, a.name, "opentens", a.rssi, None, a)
    assert f.as_json()["driver"] == "opentens"


@pytest.mark.parametrize("model", ["opentens", "coyote3", "coyote2"])
async def test_every_level_driver_has_a_hard_cap_of_its_full_range(
    radio: VirtualRadio, model: str
) -> None:
    """The domain declares the level drivers it knows (tens.limits.LEVEL_PEAK_CAPS, so it needs
    no import of devices/): every driver here that speaks levels is in it, capped at the
    device's own full range."""
    from tens.device import IntensityUnit
    from tens.limits import HARD_CAPS

    if model == "opentens":
        from simulators.opentens import start_simulated_wearable

        sim = await start_simulated_wearable(radio, name="Level-Check")
    else:
        from simulators.coyote.simulator import start_coyote

        sim = await start_coyote(radio, model)
    device = await registry.open_device(radio.transport(), sim.address, 2.0)
    await device.connect()
    try:
        caps, driver = device.capabilities, device.info.driver
    finally:
        await device.disconnect()
    if caps.intensity_unit is IntensityUnit.LEVEL:
        assert HARD_CAPS.level_peak[driver] == caps.intensity_max
    else:
        assert driver not in HARD_CAPS.level_peak
    level_specs = {s.name for s in registry.drivers()} & {"coyote2", "coyote3"}
    assert level_specs == set(HARD_CAPS.level_peak)
