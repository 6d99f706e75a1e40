"""tens.cli.target: the device options every verb shares, and how a target picks its device."""

from __future__ import annotations

import argparse

import pytest

from devices.opentens.driver import OpenTensDriver
from simulators.radio.radio import VirtualRadio
from tens.cli.target import (
    EXIT_NO_DEVICE,
    TargetUnavailable,
    TargetUsageError,
    add_target_arguments,
    exit_code_for,
    open_target,
    radio_spec,
)
from tens.device import DeviceError, DeviceNotFound
from tests.devices.scripted import start_scripted


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_and_radio_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENS_RADIO", raising=False)
    assert radio_spec(parse()) is None
    monkeypatch.setenv("TENS_RADIO", "127.0.0.1:9")
    assert radio_spec(parse()) == "127.0.0.1:9"
    assert radio_spec(parse("--radio", "10.0.0.1:7")) == "10.0.0.1:7"
    assert radio_spec(parse("--simulator")) is None  # --simulator wins over the environment
    with pytest.raises(SystemExit):
        parse("--simulator", "--radio", "127.0.0.1:9")
    assert parse("--device", "AA:BB").device == "AA:BB"


def test_exit_codes() -> None:
    assert exit_code_for(TargetUsageError("x")) == 2
    assert exit_code_for(TargetUnavailable("x")) == EXIT_NO_DEVICE == 6
    assert exit_code_for(DeviceNotFound("x")) == 6


async def test_simulator_target_opens_the_simulated_wearable() -> None:
    async with open_target(parse("--simulator")) as target:
        assert target.simulator is not None
        device = await target.open_device()
        assert isinstance(device, OpenTensDriver)
        assert device.info.address == target.simulator.address
        await device.connect()
        assert target.simulator.connected
    assert not device.connected  # the target closed what it opened


async def test_radio_target_picks_the_only_device_or_asks(radio: VirtualRadio) -> None:
    await radio.serve_tcp("127.0.0.1", 0)
    host, port = radio.tcp_addresses[0]
    where = f"{host}:{port}"
    async with open_target(parse("--radio", where)) as target:
        target.scan_timeout = 0.3
        with pytest.raises(DeviceNotFound, match="no known device"):
            await target.open_device()
    first = await start_scripted(radio, name="First")
    async with open_target(parse("--radio", where)) as target:
        target.scan_timeout = 0.5
        device = await target.open_device()
        assert device.info.address == first.address
    await start_scripted(radio, name="Second")
    async with open_target(parse("--radio", where)) as target:
        target.scan_timeout = 0.5
        with pytest.raises(DeviceError, match=r"2 devices found.*--device"):
            await target.open_device()
    async with open_target(parse("--radio", where, "--device", "Second")) as target:
        device = await target.open_device()
        assert device.info.name == "Second"


async def test_bad_radio_options_are_device_errors() -> None:
    with pytest.raises(TargetUsageError, match="HOST:PORT"):
        async with open_target(parse("--radio", "no-port")):
            pass
    with pytest.raises(TargetUnavailable, match=r"tens simulate --listen 127\.0\.0\.1:1"):
        async with open_target(parse("--radio", "127.0.0.1:1")):
            pass
