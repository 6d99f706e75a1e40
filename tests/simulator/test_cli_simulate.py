"""``tens simulate``: a real process serving the radio over TCP; a central joins and drives it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner

from simulators.opentens.codec import SetOutput, Start, encode_command
from simulators.opentens.profile import CONTROL_POINT_UUID, SERVICE_UUID
from simulators.radio import VirtualRadio
from tens.cli import main


def test_list_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list-scenarios", "--json"]) == 0
    names = [json.loads(line)["scenario"] for line in capsys.readouterr().out.splitlines()]
    assert names == [
        "steady",
        "peel-off",
        "link-drop",
        "low-battery",
        "stuck",
        "hung",
        "malformed",
        "reject",
        "reboot",
        "forget-bonds",
        "wrong-passkey",
        "intruder",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen", "nohost"],
        ["--scenario", "nope"],
        ["--interval-ms", "5"],
        ["--channels", "5"],
        ["--model", "coyote3", "--scenario", "steady"],
    ],
)
def test_bad_usage_is_refused_with_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--json", *argv]) == 2
    assert "error" in json.loads(capsys.readouterr().out)


def test_the_verb_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, tens.cli.simulate; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bumble', 'bleak', 'textual', 'aiomqtt', 'simulators')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def _line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), 20.0)
    assert raw, "tens simulate ended early"
    return dict(json.loads(raw))


async def test_simulate_serves_a_wearable_that_another_process_drives() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tens",
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--name",
        "Sim-CLI",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        serving = await _line(proc)
        assert serving["event"] == "serving" and serving["name"] == "Sim-CLI"
        host, port = serving["radio"].rsplit(":", 1)
        radio = await VirtualRadio.connect(host, int(port))
        try:
            device = await BleakScanner.find_device_by_filter(
                lambda _d, adv: SERVICE_UUID in adv.service_uuids,
                timeout=10.0,
                **radio.transport().scanner_options(),
            )
            assert device is not None and device.address == serving["address"]
            assert serving["security"]["method"] == "passkey"  # secure by default
            async with BleakClient(device, **radio.transport().client_options()) as client:
                await client.pair(passkey=serving["security"]["passkey"])  # printed at start
                await client.write_gatt_char(
                    CONTROL_POINT_UUID, encode_command(Start(1, 0x01)), response=True
                )
                await client.write_gatt_char(
                    CONTROL_POINT_UUID,
                    encode_command(SetOutput(2, 0, 3, 200, 1000, 0)),
                    response=True,
                )
                seen: list[dict[str, Any]] = []
                while not any(e.get("intensity_ma") == 0.3 for e in seen):
                    seen.append(await _line(proc))
        finally:
            await radio.close()
        events = [e["event"] for e in seen]
        assert "link" in events and "delivered" in events
        while (event := await _line(proc))["event"] != "delivered":
            pass
        assert event["intensity_ma"] == 0.0 and event["cause"] == "disconnect"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest, _err = await asyncio.wait_for(proc.communicate(), 20.0)
    assert proc.returncode == 0
    assert json.loads(rest.decode().splitlines()[-1]) == {"event": "stopped"}


def test_scenarios_name_channels_as_people_count_them(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18.8: the peel-off scenario's summary says `channel 1`, not `electrode 0`."""
    assert main(["simulate", "--list-scenarios"]) == 0
    [peel] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("peel-off")]
    assert "channel 1" in peel and " 0 " not in peel


def test_a_delivered_change_is_shown_with_its_channel_counted_from_1() -> None:
    """Both `tens simulate` faces (the radio and --bluez) print through sample_report."""
    from simulators.opentens.record import DeliveredSample, sample_report

    line, fields = sample_report(DeliveredSample(12.5, 1, 3.25, "ramp"), 2.5)
    assert line == "     2.500 s  channel 2     3.25 mA  ramp"
    assert fields == {
        "event": "delivered",
        "t": 2.5,
        "mono": 12.5,
        "channel": 2,
        "intensity_ma": 3.25,
        "unit": "mA",
        "cause": "ramp",
    }


def test_a_coyotes_change_is_shown_in_levels_not_ma() -> None:
    """The Coyote simulators' record holds strength levels: `tens simulate --model coyote3`
    printed them labelled "mA" (a level has no published mA figure)."""
    from simulators.opentens.record import DeliveredSample, sample_report

    line, fields = sample_report(DeliveredSample(1.0, 0, 12.0, "frame"), 1.0, "level")
    assert "12 level" in line and "mA" not in line
    assert fields["unit"] == "level" and fields["intensity_ma"] == 12.0
