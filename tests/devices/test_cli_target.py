"""tens.cli.target: the device options every verb shares, and how a target picks its device."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from asyncio.subprocess import PIPE
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices.opentens.driver import OpenTensDriver
from simulators.radio.radio import VirtualRadio
from tens.cli.target import (
    EXIT_NO_DEVICE,
    DeviceChoiceNeeded,
    TargetUnavailable,
    TargetUsageError,
    add_target_arguments,
    exit_code_for,
    open_target,
    radio_spec,
)
from tens.device import DeviceError, DeviceNotFound
from tests.devices.scripted import start_scripted
from tests.stated import cli_home


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


# ---- only my device (issue 12 item 12): two wearables on the radio, every face ---------------

MINE = "C0:00:00:00:0A:01"
NEIGHBOUR = "C0:00:00:00:0B:02"
ABSENT = "C0:00:00:00:0C:03"
TENS_EXE = [sys.executable, "-m", "tens"]


@dataclass
class TwoWearables:
    """Mine and a neighbour's on one virtual radio, served over TCP for faces in subprocesses.
    The neighbour is heard louder, so "the strongest one" would be the wrong one."""

    radio: VirtualRadio
    mine: Any
    neighbour: Any
    where: str

    def untouched(self, sim: Any) -> bool:
        return not sim.link_events and not sim.connected


@pytest.fixture
async def two(radio: VirtualRadio) -> TwoWearables:
    from simulators.opentens import start_simulated_wearable

    mine = await start_simulated_wearable(radio, name="Mine", address=MINE)
    neighbour = await start_simulated_wearable(radio, name="Neighbour", address=NEIGHBOUR)
    radio.set_rssi(NEIGHBOUR, -30)
    radio.set_rssi(MINE, -80)
    await radio.serve_tcp("127.0.0.1", 0)
    host, port = radio.tcp_addresses[0]
    return TwoWearables(radio, mine, neighbour, f"{host}:{port}")


def config_with(address: str | None) -> Any:
    from tens.config import DeviceSettings

    return DeviceSettings(address=address)


async def test_target_uses_the_configured_device(two: TwoWearables) -> None:
    for configured in (MINE, MINE.lower(), "Mine"):
        async with open_target(parse("--radio", two.where), settings=config_with(configured)) as t:
            device = await t.open_device()
            assert device.info.address == MINE
    assert two.untouched(two.neighbour)


async def test_command_line_device_overrides_the_config(two: TwoWearables) -> None:
    args = parse("--radio", two.where, "--device", NEIGHBOUR)
    async with open_target(args, settings=config_with(MINE)) as target:
        assert (await target.open_device()).info.address == NEIGHBOUR


async def test_none_configured_and_two_around_is_refused_listing_both(two: TwoWearables) -> None:
    async with open_target(parse("--radio", two.where), settings=config_with(None)) as target:
        target.scan_timeout = 1.0
        with pytest.raises(DeviceChoiceNeeded) as info:
            await target.open_device()
    assert {a for a, _ in info.value.found} == {MINE, NEIGHBOUR}
    assert MINE in str(info.value) and NEIGHBOUR in str(info.value)
    assert "[device] address" in str(info.value)
    assert two.untouched(two.mine) and two.untouched(two.neighbour)


async def test_configured_device_not_around_is_not_found_never_another(
    two: TwoWearables,
) -> None:
    async with open_target(parse("--radio", two.where), settings=config_with(ABSENT)) as target:
        target.scan_timeout = 0.5
        with pytest.raises(DeviceNotFound) as info:
            await target.open_device()
    assert ABSENT in str(info.value) and "[device] address" in str(info.value)
    assert two.untouched(two.mine) and two.untouched(two.neighbour)


async def test_simulator_flag_ignores_the_configured_address() -> None:
    async with open_target(parse("--simulator"), settings=config_with(ABSENT)) as target:
        device = await target.open_device()
        assert device.info.address == target.simulator.address


# Each face in its own process, as a person starts it, joined to the test's radio over TCP.


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return cli_home(str(tmp_path / "home"))


def write_config(tmp_path: Path, address: str | None) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[device]\naddress = "{address}"\n' if address else "", encoding="utf-8")
    return path


async def tens(env: dict[str, str], *argv: str, within: float = 60.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*TENS_EXE, *argv, env=env, stdout=PIPE, stderr=PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_tens_run_uses_the_configured_device(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, MINE)
    code, out, err = await tens(
        home, "run", "--radio", two.where, "--config", str(cfg), "--minutes", "0.02",
        "--intensity", "1", "--placement", "lower-back", "--json",
    )  # fmt: skip
    assert code == 0, err + out
    assert max(s.intensity_ma for s in two.mine.record.samples) > 0  # delivered on mine
    assert two.untouched(two.neighbour)


async def test_tens_run_on_a_device_with_unknown_pads_is_refused(
    two: TwoWearables, tmp_path: Path
) -> None:
    """Issue 13 item 1: a wearable that is not the in-process simulator declares no pads;
    with none stated the session is refused with its code and the device is asked nothing."""
    env = {**os.environ, "TENS_HOME": str(tmp_path / "bare"), "PYTHONUNBUFFERED": "1"}
    for name in ("TENS_RADIO", "TENS_CONFIG", "TENS_SESSION__PLACEMENT"):
        env.pop(name, None)
    assert (await tens(env, "checklist", "--none-apply"))[0] == 0
    cfg = write_config(tmp_path, MINE)
    code, out, err = await tens(
        env, "run", "--radio", two.where, "--config", str(cfg), "--minutes", "0.02",
        "--intensity", "1", "--placement", "lower-back", "--json",
    )  # fmt: skip
    assert code == 5, err + out
    refused = [json.loads(x) for x in out.splitlines() if '"refused"' in x]
    assert refused and refused[-1]["code"] == "electrode_size_unknown"
    assert max((s.intensity_ma for s in two.mine.record.samples), default=0.0) == 0
    assert two.untouched(two.neighbour)


async def test_tens_run_asks_the_pad_size_at_a_terminal_and_keeps_it(
    two: TwoWearables, tmp_path: Path
) -> None:
    """Issue 13 item 1: interactive, `tens run` offers the common sizes for a channel with
    none stated, stores the answer (the next run does not ask) and the session runs."""
    import pty

    env = {**os.environ, "TENS_HOME": str(tmp_path / "asked"), "PYTHONUNBUFFERED": "1"}
    for name in ("TENS_RADIO", "TENS_CONFIG", "TENS_SESSION__PLACEMENT"):
        env.pop(name, None)
    assert (await tens(env, "checklist", "--none-apply"))[0] == 0
    cfg = write_config(tmp_path, MINE)
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *TENS_EXE, "run", "--radio", two.where, "--config", str(cfg), "--minutes", "0.02",
        "--intensity", "1", "--placement", "lower-back", "--pain-before", "3",
        "--pain-after", "2", env=env, stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        async with asyncio.timeout(60):
            while b"size (Enter to cancel)" not in seen:
                seen += await asyncio.to_thread(os.read, master, 4096)
            assert b"1) 5x5 cm" in seen and b"channel 1" in seen
            os.write(master, b"1\n")
            assert await proc.wait() == 0, seen.decode(errors="replace")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)
    assert max(s.intensity_ma for s in two.mine.record.samples) > 0
    code, out, _ = await tens(env, "electrodes", "show", "--json")
    assert code == 0 and json.loads(out)["electrodes"][0]["size"] == "5x5 cm"


async def test_tens_run_refuses_with_two_around_and_none_configured(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, None)
    code, out, err = await tens(
        home, "run", "--radio", two.where, "--config", str(cfg), "--intensity", "1",
        "--placement", "lower-back",
    )  # fmt: skip
    assert code == EXIT_NO_DEVICE
    assert MINE in out + err and NEIGHBOUR in out + err
    assert two.untouched(two.mine) and two.untouched(two.neighbour)


async def test_tens_run_with_the_configured_device_absent_is_not_found(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, ABSENT)
    code, out, err = await tens(
        home, "run", "--radio", two.where, "--config", str(cfg), "--intensity", "1",
        "--placement", "lower-back",
    )  # fmt: skip
    assert code == EXIT_NO_DEVICE
    assert ABSENT in out + err and "[device] address" in out + err
    assert two.untouched(two.mine) and two.untouched(two.neighbour)


async def test_tens_bench_uses_the_configured_device(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, MINE)
    code, out, err = await tens(
        home, "bench", "stop", "--radio", two.where, "--config", str(cfg), "--allow-output",
        "--count", "2", "--intensity", "1", "--json",
    )  # fmt: skip
    assert code == 0, err + out
    assert MINE in json.loads(out)["device"]
    assert two.mine.link_events and two.untouched(two.neighbour)


async def test_tens_daemon_uses_the_configured_device(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, MINE)
    proc = await asyncio.create_subprocess_exec(
        *TENS_EXE, "daemon", "--radio", two.where, "--config", str(cfg), "--no-mqtt",
        env=home, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    try:
        await asyncio.wait_for(two.mine.wait_connected(), 30)
        await asyncio.sleep(0.5)  # time to open a second link, if it would
        assert two.untouched(two.neighbour)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)


async def test_tens_daemon_with_two_around_and_none_configured_connects_to_neither(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, None)
    proc = await asyncio.create_subprocess_exec(
        *TENS_EXE, "daemon", "--radio", two.where, "--config", str(cfg), "--no-mqtt",
        env=home, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = ""
    try:
        async with asyncio.timeout(30):
            while not (MINE in seen and NEIGHBOUR in seen):
                line = await proc.stderr.readline()
                assert line, seen
                seen += line.decode()
        assert two.untouched(two.mine) and two.untouched(two.neighbour)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)


TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None, reason="needs tmux (installed by .ci/run)")
async def test_tens_tui_uses_the_configured_device(
    two: TwoWearables, home: dict[str, str], tmp_path: Path
) -> None:
    assert TMUX is not None
    cfg = write_config(tmp_path, MINE)
    server = [TMUX, "-L", f"tens-test-mydevice-{os.getpid()}"]
    exe = Path(sys.executable).with_name("tens")
    command = (
        f"env TENS_HOME={home['TENS_HOME']} TERM=xterm-256color {exe} tui "
        f"--radio {two.where} --config {cfg}"
    )
    tmux = await asyncio.create_subprocess_exec(
        *server, "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command
    )
    await tmux.wait()
    try:
        await asyncio.wait_for(two.mine.wait_connected(), 30)
        await asyncio.sleep(0.5)
        assert two.untouched(two.neighbour)
    finally:
        kill = await asyncio.create_subprocess_exec(*server, "kill-server", stderr=PIPE)
        await asyncio.wait_for(kill.communicate(), 10)
