"""End to end: MQTT ↔ daemon ↔ controller ↔ OpenTENS driver ↔ virtual radio ↔ simulated
wearable. The simulator's delivered-output record is the judge, never the controller's belief.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tens.cli.target import open_target
from tens.controller import StartRequest
from tens.events import LinkState, SessionState, Snapshot, Source
from tests.daemon.broker import Broker
from tests.daemon.harness import Running, running_daemon, settings_for
from tests.daemon.mqtt_watch import watching


async def until(run: Running, check: Callable[[Snapshot], bool], within: float = 10.0) -> None:
    """Wait until the controller's snapshot satisfies `check` (woken by its events)."""
    changed = asyncio.Event()
    remove = run.controller.add_listener(lambda _ev: changed.set())
    try:
        async with asyncio.timeout(within):
            while not check(run.controller.snapshot()):
                changed.clear()
                await changed.wait()
    finally:
        remove()


@contextlib.asynccontextmanager
async def simulated(broker: Broker, **over: Any) -> AsyncIterator[tuple[Running, Any]]:
    """A daemon driving a simulated wearable in this process, connected and ready."""
    args = argparse.Namespace(simulator=True, radio=None, device=None)
    async with open_target(args) as target:
        settings = settings_for(broker.port, **over)
        async with running_daemon(settings, open_device=target.open_device) as run:
            await until(run, lambda s: s.link is LinkState.CONNECTED)
            yield run, target.simulator


def cmd(**fields: Any) -> bytes:
    return json.dumps({"ts": time.time(), **fields}).encode()


async def start_locally(run: Running, intensity: float) -> None:
    d = await run.controller.start(StartRequest(intensity=intensity, minutes=5), Source.CLI)
    assert not d.refused, d.reason


class LineReader:
    """Collects a subprocess's output lines; wait for one that matches."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode().rstrip("\n"))
            self._new.set()

    async def wait_line(self, match: Callable[[str], bool], within: float = 10.0) -> str:
        async with asyncio.timeout(within):
            while True:
                for line in self.lines:
                    if match(line):
                        return line
                self._new.clear()
                await self._new.wait()

    def close(self) -> None:
        self._task.cancel()


def state_line(topic: str, line: str, check: Callable[[dict[str, Any]], bool]) -> bool:
    return line.startswith(topic + " ") and check(json.loads(line.split(" ", 1)[1]))


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto-clients missing")
async def test_mosquitto_clients_see_state_and_stop_the_session(broker: Broker) -> None:
    async with simulated(broker) as (run, sim):
        t = run.topics
        port = str(broker.port)
        sub = await asyncio.create_subprocess_exec(
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-t",
            "tens/#",
            "-v",
            stdout=asyncio.subprocess.PIPE,
        )
        assert sub.stdout is not None
        out = LineReader(sub.stdout)
        try:
            await out.wait_line(lambda x: x == f"{t.availability} online")
            await start_locally(run, 8.0)
            await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 2.0, 10)
            await out.wait_line(
                lambda x: state_line(t.state, x, lambda s: s["session"] in ("ramping", "running"))
            )
            before_stop = asyncio.get_running_loop().time()
            pub = await asyncio.create_subprocess_exec(
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                port,
                "-t",
                t.command("stop"),
                "-n",
                "-q",
                "1",
            )
            assert await pub.wait() == 0
            stopped = await sim.record.wait_for(
                lambda s: s.channel == 0 and s.intensity_ma == 0.0, 10, since=before_stop
            )
            assert stopped.cause == "stop"
            assert sim.record.last(0) == 0.0 and sim.record.last(1) == 0.0
            await out.wait_line(
                lambda x: state_line(
                    t.state, x, lambda s: s["session"] == "stopped" and s["delivered_max"] == 0.0
                )
            )
            await out.wait_line(lambda x: x.startswith(t.result("stop") + " "))
        finally:
            out.close()
            sub.terminate()
            await sub.wait()


async def test_remote_start_refused_when_off(broker: Broker) -> None:
    async with simulated(broker, remote_start=False) as (run, sim):
        t = run.topics
        async with watching(broker.port, t.result("start")) as w:
            await w.publish(t.command("start"), cmd(intensity=5))
            reply = (await w.wait_for(t.result("start"))).json()
        assert reply["outcome"] == "refused" and "remote start is off" in reply["reason"]
        await asyncio.sleep(0.3)
        assert sim.record.max() == 0.0
        assert run.controller.snapshot().session is SessionState.READY


async def test_remote_start_obeyed_when_on_and_ramps_from_zero(broker: Broker) -> None:
    async with simulated(broker, remote_start=True) as (run, sim):
        t = run.topics
        async with watching(broker.port, t.result("start"), t.discovery) as w:
            disc = (await w.wait_for(t.discovery, lambda s: "intensity" in s.json()["cmps"])).json()
            assert "start" in disc["cmps"]
            assert disc["cmps"]["intensity"]["max"] == 40.0  # the default peak limit
            await w.publish(t.command("start"), cmd(intensity=4, minutes=2, id="go"))
            reply = (await w.wait_for(t.result("start"))).json()
        assert reply["ok"] is True and reply["id"] == "go", reply
        first = await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma > 0, 5)
        top = await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 4.0, 10)
        # From zero at no more than the governed 2 mA/s: 4 mA cannot come sooner than ~2 s.
        assert top.t - first.t >= 1.5
        assert sim.record.max(0) <= 4.0 + 1e-6


async def test_a_remote_start_names_its_placement_or_the_configured_one(broker: Broker) -> None:
    """Issue 13 item 6: HA's Start button sends no placement: the config's [session]
    placement is used; with none configured the start is refused with its code, no output."""
    from tens.config import TensConfig

    async with simulated(broker, remote_start=True) as (run, sim):
        run.controller.config = TensConfig()  # no [session] placement
        t = run.topics
        async with watching(broker.port, t.result("start")) as w:
            await w.publish(t.command("start"), cmd(intensity=2, minutes=1, id="bare"))
            reply = (await w.wait_for(t.result("start"))).json()
            assert reply["ok"] is False and reply["code"] == "placement_required", reply
            mark = w.mark()
            await w.publish(t.command("start"), cmd(placement="chest", intensity=2, id="c"))
            reply = (await w.wait_for(t.result("start"), after=mark)).json()
            assert reply["ok"] is False and "never be placed on the chest" in reply["reason"]
            await asyncio.sleep(0.3)
            assert sim.record.max(0) == 0
            mark = w.mark()
            payload = cmd(placement="knee-left", intensity=2, minutes=1, id="knee")
            await w.publish(t.command("start"), payload)
            reply = (await w.wait_for(t.result("start"), after=mark)).json()
            assert reply["ok"] is True, reply
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma > 0, 5)


async def test_over_limit_and_malformed_commands_change_nothing(broker: Broker) -> None:
    async with simulated(broker) as (run, sim):
        t = run.topics
        await start_locally(run, 3.0)
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 3.0, 10)
        before = run.controller.snapshot()
        async with watching(broker.port, f"{t.base}/cmd/+/result") as w:
            for payload, outcome in (
                (cmd(value=60), "refused"),  # above the 40 mA peak limit
                (cmd(value=float("nan")), "error"),
                (b'{"value": 1e400, "ts": %f}' % time.time(), "error"),
                (b"value=20", "error"),
                (cmd(value=20, extra=True), "error"),
            ):
                mark = w.mark()
                await w.publish(t.command("intensity"), payload)
                reply = (await w.wait_for(t.result("intensity"), after=mark)).json()
                assert reply["ok"] is False and reply["outcome"] == outcome, (payload, reply)
        await asyncio.sleep(0.3)
        after = run.controller.snapshot()
        assert after.target == before.target == 3.0
        assert after.session in (SessionState.RUNNING, SessionState.RAMPING)
        assert sim.record.max(0) <= 3.0 + 1e-6


async def test_shutdown_stops_output_before_saying_offline(broker: Broker) -> None:
    async with simulated(broker) as (run, sim):
        t = run.topics
        await start_locally(run, 4.0)
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 2.0, 10)
        async with watching(broker.port, t.availability) as w:
            await w.wait_for(t.availability, lambda s: s.payload == b"online")
            mark = w.mark()
            run.daemon.request_stop()  # what SIGTERM does
            off = await w.wait_for(t.availability, lambda s: s.payload == b"offline", after=mark)
            async with asyncio.timeout(30):
                assert await run.task == 0
        zero = [s for s in sim.record.for_channel(0) if s.intensity_ma == 0.0 and s.cause == "stop"]
        assert zero, "output was not stopped"
        assert zero[0].t <= off.t  # output 0 on the device first, offline on the bus after


async def test_state_is_refreshed_while_a_session_runs(broker: Broker) -> None:
    async with simulated(broker, state_refresh_s=0.5) as (run, sim):
        t = run.topics
        await start_locally(run, 2.0)
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 2.0, 10)
        async with watching(broker.port, t.state) as w:
            first = (await w.wait_for(t.state)).json()
            later = await w.wait_for(
                t.state, lambda s: s.json()["remaining_s"] < first["remaining_s"] - 1.5, within=5
            )
        assert later.json()["session"] == "running"


async def test_link_loss_reconnects_but_never_resumes_output(broker: Broker) -> None:
    async with simulated(broker) as (run, sim):
        t = run.topics
        await start_locally(run, 3.0)
        on = await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 2.0, 10)
        async with watching(broker.port, t.state) as w:
            await sim.drop_link()
            off = await sim.record.wait_for(
                lambda s: s.channel == 0 and s.intensity_ma == 0.0, 10, since=on.t
            )
            aborted = await w.wait_for(t.state, lambda s: s.json()["session"] == "aborted")
            assert "link lost" in (aborted.json()["end_reason"] or "")
            # The daemon brings the link back by itself...
            await w.wait_for(
                t.state, lambda s: s.json()["link"] == "connected", after=w.mark(), within=15
            )
        await until(run, lambda s: s.link is LinkState.CONNECTED)
        await asyncio.sleep(1.0)
        # ...but output stays at zero: only a new start ramps again.
        assert all(s.intensity_ma == 0.0 for s in sim.record.for_channel(0) if s.t >= off.t)
        assert not run.controller.snapshot().session.active


async def test_the_daemon_log_tells_the_story_at_info(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18.5: one INFO line per session start, stop and refusal (with the limit), and the
    link's notices, in plain text (no ANSI colour codes)."""
    caplog.set_level("INFO", logger="tens.daemon")
    async with simulated(broker) as (run, _sim):
        await start_locally(run, 3)
        await until(run, lambda s: s.session.active)
        await run.controller.stop(Source.MQTT, "stopped from the dashboard")
        await until(run, lambda s: s.session is SessionState.STOPPED)
        d = await run.controller.start(StartRequest(intensity=99, minutes=5), Source.MQTT)
        assert d.refused
    lines = [r.getMessage() for r in caplog.records if r.name == "tens.daemon"]
    text = "\n".join(lines)
    assert any(m.startswith("session ") and " started: program " in m for m in lines), text
    assert any(" stopped: stopped from the dashboard" in m for m in lines), text
    assert any(m.startswith("refused start from mqtt:") and "peak" in m for m in lines), text
    assert any("connected to " in m for m in lines), text
    assert "\x1b[" not in text
