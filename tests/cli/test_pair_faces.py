"""After `tens pair --radio`, the other faces drive the secure wearable over the bond too:
`tens daemon` (its own process) gets an encrypted link; unpaired it drives nothing and says
how to pair. Exit code 12 for both link-security errors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulators.opentens import start_simulated_wearable
from simulators.opentens.config import LinkSecurity, SimConfig
from simulators.radio.radio import VirtualRadio
from tens.cli.exitcodes import ExitCode
from tens.cli.target import exit_code_for
from tens.device import LinkNotSecure, PairingFailed

TENS = [sys.executable, "-m", "tens"]
PASSKEY = 271828


def test_link_security_errors_exit_12() -> None:
    assert exit_code_for(LinkNotSecure("x", "insufficient_authentication", 5)) == 12
    assert exit_code_for(PairingFailed("x", "wrong_passkey")) == ExitCode.NOT_PAIRED == 12


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "TENS_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    for name in ("TENS_RADIO", "TENS_CONFIG", "TENS_DEVICE__ADDRESS"):
        env.pop(name, None)
    subprocess.run([*TENS, "checklist", "--none-apply"], env=env, check=True, timeout=60)
    return env


@pytest.fixture
async def served() -> AsyncIterator[tuple[Any, str]]:
    radio = await VirtualRadio.local()
    sim = await start_simulated_wearable(
        radio, name="OT-Daemon", config=SimConfig(security=LinkSecurity(passkey=PASSKEY))
    )
    await radio.serve_tcp("127.0.0.1", 0)
    host, port = radio.tcp_addresses[0]
    try:
        yield sim, f"{host}:{port}"
    finally:
        await sim.close()
        await radio.close()


async def _tens(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*TENS, *argv, env=env, stdout=PIPE, stderr=PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_daemon_drives_the_paired_wearable_over_the_encrypted_link(
    served: tuple[Any, str], home: dict[str, str], tmp_path: Path
) -> None:
    sim, where = served
    code, out, err = await _tens(
        home, "pair", "--radio", where, "--passkey", str(PASSKEY), "--json"
    )
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["paired"] == sim.address
    assert f'address = "{sim.address}"' in (tmp_path / "config.toml").read_text()
    proc = await asyncio.create_subprocess_exec(
        *TENS, "daemon", "--radio", where, "--no-mqtt", env=home, stdout=PIPE, stderr=PIPE
    )
    try:
        await asyncio.wait_for(sim.wait_connected(), 30)
        await asyncio.sleep(0.5)  # the driver's setup: subscribe, SET_LIMITS
        assert sim.link_encrypted
        assert sim.connected
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)


async def test_an_unpaired_daemon_drives_nothing_and_says_how_to_pair(
    served: tuple[Any, str], home: dict[str, str]
) -> None:
    sim, where = served
    proc = await asyncio.create_subprocess_exec(
        *TENS, "daemon", "--radio", where, "--device", sim.address, "--no-mqtt",
        env=home, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = ""
    try:
        async with asyncio.timeout(30):
            while "tens pair" not in seen:
                line = await proc.stderr.readline()
                assert line, seen
                seen += line.decode()
        assert sim.model.asked == []
        assert all(s.intensity_ma == 0 for s in sim.record.samples)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)
