"""A daemon that hangs and is then killed: the wearable's watchdog and the broker's last will
make it safe and visible. The daemon runs as its own process (`python -m tens daemon`),
joined over TCP to a virtual radio that this test hosts with the simulated wearable on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from tests.daemon.broker import Broker
from tests.daemon.mqtt_watch import watching
from tests.stated import cli_home

SIM_NAME = "OpenTENS-Crash"


async def test_hung_then_killed_daemon(broker: Broker, tmp_path: Path) -> None:
    from simulators.opentens import start_simulated_wearable
    from simulators.radio import VirtualRadio

    radio = await VirtualRadio.local()
    sim = await start_simulated_wearable(radio, name=SIM_NAME)
    try:
        await radio.serve_tcp("127.0.0.1", 0)
        host, port = radio.tcp_addresses[0]
        env = cli_home(str(tmp_path))  # checklist, pads, placement: a person's first run
        env.update(
            {
                "TENS_CONFIG": str(tmp_path / "config.toml"),
                "TENS_MQTT__HOST": "127.0.0.1",
                "TENS_MQTT__PORT": str(broker.port),
                "TENS_MQTT__CONTROLLER_ID": "crash",
                "TENS_MQTT__REMOTE_START": "true",
                "TENS_MQTT__KEEPALIVE_S": "5",
            }
        )
        env.pop("NOTIFY_SOCKET", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tens",
            "daemon",
            "--radio",
            f"{host}:{port}",
            "--device",
            SIM_NAME,
            "--log-level",
            "warning",
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with watching(broker.port, "tens/crash/#") as w:
                await w.wait_for(
                    "tens/crash/state", lambda s: s.json()["link"] == "connected", within=30
                )
                await w.publish(
                    "tens/crash/cmd/start",
                    json.dumps({"ts": time.time(), "intensity": 3, "minutes": 2}),
                )
                reply = (await w.wait_for("tens/crash/cmd/start/result", within=10)).json()
                assert reply["ok"] is True, reply
                on = await sim.record.wait_for(
                    lambda s: s.channel == 0 and s.intensity_ma >= 1.0, 10
                )

                os.kill(proc.pid, signal.SIGSTOP)  # hung: links stay up, keepalives stop
                zero = await sim.record.wait_for(
                    lambda s: s.channel == 0 and s.intensity_ma == 0.0, 10, since=on.t
                )
                assert zero.cause == "watchdog"

                mark = w.mark()
                os.kill(proc.pid, signal.SIGKILL)
                will = await w.wait_for(
                    "tens/crash/availability",
                    lambda s: s.payload == b"offline",
                    after=mark,
                    within=15,
                )
                assert will.payload == b"offline"
            await asyncio.sleep(0.5)
            assert sim.record.last(0) == 0.0  # nothing came back on by itself
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
    finally:
        closer = getattr(sim, "aclose", None) or getattr(sim, "close", None)
        if closer is not None:
            result = closer()
            if hasattr(result, "__await__"):
                await result
        await radio.close()
