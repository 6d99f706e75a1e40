"""The OpenTENS driver against a scripted peripheral on the virtual radio: what the simulator
does not model (other profile versions, a device that never acknowledges, a status of the
wrong shape, a peripheral that answers STOP with an error) and the command bytes on the air.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from devices.opentens.codec import ProfileInfo, encode_info
from devices.opentens.driver import DriverTimeouts, OpenTensDriver
from devices.opentens.profile import AttErrorCode, WaveformSet
from devices.registry import find
from simulators.radio.radio import VirtualRadio
from tens.device import (
    ChannelOutput,
    DeviceDisconnected,
    DeviceError,
    DeviceEvent,
    DeviceRejected,
    DeviceStatus,
    DeviceTimeout,
    IntensityUnit,
    LinkLost,
    ProtocolViolation,
    StopUnconfirmed,
    Waveform,
)
from tests.devices.scripted import INFO, Scripted, start_scripted, until

FAST = DriverTimeouts(connect_s=5.0, read_s=2.0, write_s=1.0, ack_s=0.3, stop_write_s=1.0)


async def _driver(
    radio: VirtualRadio, scripted: Scripted, timeouts: DriverTimeouts = FAST
) -> OpenTensDriver:
    found = await find(radio.transport(), scripted.address, 3.0)
    assert found.driver == "opentens"
    return OpenTensDriver(
        found.ble_device, radio.transport(), advertisement=found.advertisement, timeouts=timeouts
    )


@pytest.fixture
async def scripted(radio: VirtualRadio) -> Scripted:
    return await start_scripted(radio)


@pytest.fixture
async def driver(radio: VirtualRadio, scripted: Scripted) -> AsyncIterator[OpenTensDriver]:
    d = await _driver(radio, scripted)
    await d.connect()
    yield d
    await d.disconnect()


async def test_capabilities_from_device_info(driver: OpenTensDriver) -> None:
    caps = driver.capabilities
    assert caps.channels == 2
    assert caps.intensity_unit is IntensityUnit.MILLIAMP
    assert caps.intensity_max == 80.0
    assert caps.intensity_step == 0.1
    assert caps.frequency_hz == (1.0, 150.0)
    assert caps.pulse_width_us == (50, 400)
    assert caps.waveforms == frozenset(Waveform)
    assert caps.watchdog_timeout_s == 1.0
    assert caps.keepalive_interval_s == 0.25
    assert caps.max_ramp_per_s == 5.0
    assert driver.info.firmware == "scripted-1"
    assert driver.info.profile_version == 2
    assert driver.info.driver == "opentens"
    assert driver.battery_percent == 90


async def test_commands_on_the_air(driver: OpenTensDriver, scripted: Scripted) -> None:
    await driver.arm((0, 1))
    await driver.set_output(0, ChannelOutput(12.5, 200, 100.0))
    await driver.set_output(1, ChannelOutput(40.04, 250, 2.0, Waveform.BURST))
    await driver.keepalive()
    await driver.stop(1)
    await driver.stop()
    assert [w.hex().upper() for w in scripted.writes] == [
        "050103",
        "0102007D00C800E80300",
        "0103019001FA00140001",  # 40.04 mA is sent as 40.0 (rounded down, never up)
        "0304",
        "020502",
        "0206FF",
    ]
    assert await driver.confirm_stopped(1.0)


async def test_set_limits_sent_after_connect_and_capabilities_follow(
    radio: VirtualRadio, scripted: Scripted
) -> None:
    d = await _driver(radio, scripted)
    await d.set_device_limits(40.0, 2.0, 0.5)
    await d.connect()
    try:
        assert scripted.writes[0].hex().upper() == "040190011400F401"
        assert d.capabilities.intensity_max == 40.0
        assert d.capabilities.watchdog_timeout_s == 0.5
        assert d.capabilities.keepalive_interval_s == 0.125
        with pytest.raises(DeviceError, match="above the device's factory"):
            await d.set_device_limits(90.0, 2.0, 0.5)
        assert d.device_limits is not None and d.device_limits.max_ma == 40.0
    finally:
        await d.disconnect()


async def test_sequence_numbers_wrap_and_skip_zero(
    driver: OpenTensDriver, scripted: Scripted
) -> None:
    for _ in range(256):
        await driver.keepalive()
    seqs = [w[1] for w in scripted.writes]
    assert 0 not in seqs
    assert seqs[:3] == [1, 2, 3] and seqs[254:] == [255, 1]


@pytest.mark.parametrize(
    ("info_bytes", "why"),
    [
        (bytes([1]) + encode_info(INFO)[1:], "profile version 1 is not supported"),
        (encode_info(INFO)[:-3], "expected"),
        (
            encode_info(INFO).replace(bytes([0x07, 0x32, 0x00]), bytes([0x00, 0x32, 0x00]), 1),
            "no waveform",
        ),
    ],
    ids=["version-1", "truncated", "no-waveform"],
)
async def test_refuses_device_info_it_cannot_trust(
    radio: VirtualRadio, info_bytes: bytes, why: str
) -> None:
    scripted = await start_scripted(radio, info_bytes=info_bytes)
    d = await _driver(radio, scripted)
    with pytest.raises(DeviceError, match=why) as caught:
        await d.connect()
    assert "refusing to drive it" in str(caught.value)
    assert not d.connected
    assert scripted.writes == []  # not one command reached it
    with pytest.raises(DeviceDisconnected):
        await d.set_output(0, ChannelOutput(1.0, 200, 100.0))


async def test_one_channel_device_without_burst(radio: VirtualRadio) -> None:
    info = ProfileInfo(
        version=2,
        channels=1,
        intensity_max=500,
        intensity_step=5,
        pulse_width_min=100,
        pulse_width_max=300,
        frequency_min=20,
        frequency_max=1200,
        waveforms=WaveformSet.CONTINUOUS,
        ramp_max=20,
        watchdog_ms=2000,
        firmware="",
    )
    scripted = await start_scripted(radio, info_bytes=encode_info(info), channels=1)
    d = await _driver(radio, scripted)
    await d.connect()
    try:
        assert d.capabilities.channels == 1
        assert d.capabilities.intensity_step == 0.5
        assert d.capabilities.waveforms == frozenset({Waveform.CONTINUOUS})
        with pytest.raises(DeviceError, match="burst"):
            await d.set_output(0, ChannelOutput(1.0, 200, 10.0, Waveform.BURST))
        with pytest.raises(DeviceError, match=r"has channel 1, not 2$"):
            await d.set_output(1, ChannelOutput(1.0, 200, 10.0))
        with pytest.raises(DeviceError, match="pulse width"):
            await d.set_output(0, ChannelOutput(1.0, 50, 10.0))
        with pytest.raises(DeviceError, match="frequency"):
            await d.set_output(0, ChannelOutput(1.0, 200, 150.0))
        with pytest.raises(DeviceError, match="absolute maximum"):
            await d.set_output(0, ChannelOutput(50.5, 200, 10.0))
        assert scripted.writes == []
        await d.set_output(0, ChannelOutput(12.34, 200, 10.0))
        assert scripted.writes[-1][3:5] == (120).to_bytes(2, "little")  # down to the 0.5 step
    finally:
        await d.disconnect()


async def test_att_error_becomes_device_rejected_with_the_code_name(
    driver: OpenTensDriver, scripted: Scripted
) -> None:
    scripted.reject_with = AttErrorCode.NOT_ARMED
    with pytest.raises(DeviceRejected, match=r"NOT_ARMED \(0x84\)") as caught:
        await driver.set_output(0, ChannelOutput(5.0, 200, 100.0))
    assert caught.value.code == 0x84
    assert driver.connected


async def test_missing_ack_is_a_timeout_and_is_not_retried(
    driver: OpenTensDriver, scripted: Scripted
) -> None:
    scripted.ack = False
    with pytest.raises(DeviceTimeout, match="did not acknowledge SET_OUTPUT"):
        await driver.set_output(0, ChannelOutput(5.0, 200, 100.0))
    assert len(scripted.writes) == 1


async def test_stop_is_not_queued_behind_a_command_waiting_for_its_ack(
    radio: VirtualRadio, scripted: Scripted
) -> None:
    slow = DriverTimeouts(connect_s=5.0, read_s=2.0, write_s=1.0, ack_s=30.0, stop_write_s=1.0)
    d = await _driver(radio, scripted, slow)
    await d.connect()
    try:
        scripted.ack = False
        pending = asyncio.create_task(d.set_output(0, ChannelOutput(5.0, 200, 100.0)))
        await until(lambda: len(scripted.writes) >= 1)
        # the SET_OUTPUT is written and waits (up to 30 s) for an ack that never comes; the
        # STOP goes out beside it at once, and as nothing confirms it either, the driver
        # drops the link within the stop bound (the device zeroes on disconnect)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(StopUnconfirmed, match="did not confirm STOP"):
            await d.stop()
        assert loop.time() - t0 <= slow.stop_confirm_s + 0.1
        assert scripted.writes[-1][0] == 0x02
        assert not d.connected
        with pytest.raises(DeviceDisconnected):
            await pending
    finally:
        await d.disconnect()


async def test_status_with_wrong_channel_count_is_a_protocol_violation(
    driver: OpenTensDriver, scripted: Scripted
) -> None:
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    scripted.status_channels = 3
    with pytest.raises(DeviceTimeout):
        await driver.keepalive()  # the acknowledging status is not believed
    violations = [e for e in events if isinstance(e, ProtocolViolation)]
    assert violations and "3 channels" in violations[0].detail
    assert not any(isinstance(e, DeviceStatus) for e in events)
    # the driver wrote a STOP of its own
    await until(lambda: scripted.writes[-1][0] == 0x02)
    assert scripted.writes[-1][2] == 0xFF


async def test_link_loss_event_and_disconnected_afterwards(
    driver: OpenTensDriver, scripted: Scripted
) -> None:
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    for connection in list(scripted.device.connections.values()):
        await connection.disconnect()
    await until(lambda: not driver.connected)
    assert [e for e in events if isinstance(e, LinkLost)]
    for call in (driver.keepalive(), driver.stop(), driver.arm((0,))):
        with pytest.raises(DeviceDisconnected):
            await call
    await driver.connect()  # a new connect is allowed (never automatic)
    assert driver.connected
    await driver.keepalive()


async def test_unsubscribe(driver: OpenTensDriver) -> None:
    events: list[DeviceEvent] = []
    unsubscribe = driver.subscribe(events.append)
    await driver.keepalive()
    unsubscribe()
    count = len(events)
    await driver.keepalive()
    assert len(events) == count >= 1


async def test_a_failing_subscriber_does_not_break_the_driver(driver: OpenTensDriver) -> None:
    def broken(_event: DeviceEvent) -> None:
        raise RuntimeError("boom")

    seen: list[DeviceEvent] = []
    driver.subscribe(broken)
    driver.subscribe(seen.append)
    await driver.keepalive()
    assert any(isinstance(e, DeviceStatus) for e in seen)


async def test_intentional_disconnect_sends_no_link_lost(driver: OpenTensDriver) -> None:
    events: list[DeviceEvent] = []
    driver.subscribe(events.append)
    await driver.disconnect()
    await asyncio.sleep(0.05)
    assert not [e for e in events if isinstance(e, LinkLost)]
    assert not driver.connected


async def test_racing_connects_make_one_link(radio: VirtualRadio, scripted: Scripted) -> None:
    d = await _driver(radio, scripted)
    await asyncio.gather(d.connect(), d.connect())
    try:
        assert d.connected
        assert len(scripted.device.connections) == 1
        await d.keepalive()
    finally:
        await d.disconnect()
