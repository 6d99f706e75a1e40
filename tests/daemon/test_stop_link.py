"""The stop link: a second connection subscribed to ``cmd/stop`` only, so a stop never waits
behind what the main connection has still to read (a flood). Every stop then comes twice:
it is obeyed once, and its copy on the main connection marks its place in that order.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tens.controller import StartRequest
from tens.events import Source
from tests.daemon.broker import Broker
from tests.daemon.mqtt_watch import watching
from tests.daemon.test_stop_ordering import rig


def _stall_main_link(bridge: Any) -> Any:
    """Stop the loop reading the main connection's socket; returns a function to resume."""
    loop = asyncio.get_running_loop()
    fd = bridge._client._client.socket().fileno()
    handle = loop._selector.get_key(fd).data[0]  # type: ignore[attr-defined]
    callback, args = handle._callback, handle._args or ()  # (removing clears the handle)
    assert loop.remove_reader(fd)
    return lambda: loop.add_reader(fd, callback, *args)


async def test_a_stop_is_obeyed_once_and_answered_once(broker: Broker) -> None:
    async with rig(broker) as (run, _sim, _log):
        bridge = run.daemon.bridge
        assert bridge is not None and bridge.stop_link_connected.is_set()
        t = run.topics
        async with watching(broker.port, t.result("stop")) as w:
            await w.publish(t.command("stop"), b'{"id": "once"}')
            await w.wait_for(t.result("stop"))
            await asyncio.sleep(1.0)
            replies = [s for s in w.seen if s.topic == t.result("stop")]
        assert len(replies) == 1, [r.json() for r in replies]
        assert bridge.counters.stops == 1 and bridge.counters.stop_twins == 1


async def test_stop_is_obeyed_while_the_main_connection_lags(broker: Broker) -> None:
    """The main connection stops reading (as behind a flood): the stop still lands, and a
    start sent before it, read afterwards on the main connection, never runs."""
    async with rig(broker, remote_start=True) as (run, sim, log):
        bridge = run.daemon.bridge
        assert bridge is not None
        d = await run.controller.start(StartRequest(intensity=3, minutes=2), Source.CLI)
        assert not d.refused, d.reason
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 1.0, 10)
        t = run.topics
        async with watching(broker.port, f"{t.base}/cmd/+/result") as w:
            resume = _stall_main_link(bridge)
            try:
                start = json.dumps({"ts": time.time(), "intensity": 9, "id": "late"}).encode()
                await w.publish(t.command("start"), start)
                before = asyncio.get_running_loop().time()
                await w.publish(t.command("stop"), b"")
                zero = await sim.record.wait_for(
                    lambda s: s.channel == 0 and s.intensity_ma == 0.0, 5, since=before
                )
                assert zero.cause == "stop"
                await w.wait_for(t.result("stop"))  # answered while the main link lags
            finally:
                resume()
            late = (await w.wait_for(t.result("start"))).json()
            assert late["ok"] is False and late["code"] == "cancelled_by_stop", late
            await asyncio.sleep(1.5)
        assert not run.controller.snapshot().session.active
        assert all(s.intensity_ma == 0.0 for s in sim.record if s.t >= zero.t)
        last_stop = log.last_stop_t()
        assert last_stop is not None and not log.raising_after(last_stop)
        assert bridge.counters.stop_twins == 1


async def test_main_link_commands_wait_for_the_stops_copy(broker: Broker) -> None:
    """Between a stop served from the stop link and its copy on the main connection, what
    the main connection delivers may have been sent before the stop: it is refused. The
    copy closes that window. (Driven at the bridge's receive step, to place the copy late.)"""
    import aiomqtt

    async with rig(broker, remote_start=True) as (run, sim, _log):
        bridge = run.daemon.bridge
        assert bridge is not None
        t = run.topics

        def message(topic: str, body: bytes) -> aiomqtt.Message:
            return aiomqtt.Message(topic, body, 1, False, 1, None)

        async with watching(broker.port, f"{t.base}/cmd/+/result") as w:
            bridge._receive_stop_link(message(t.command("stop"), b""))
            start = json.dumps({"ts": time.time(), "intensity": 9, "id": "before"}).encode()
            bridge._receive(message(t.command("start"), start))
            r1 = (await w.wait_for(t.result("start"))).json()
            assert r1["code"] == "cancelled_by_stop", r1
            bridge._receive(message(t.command("stop"), b""))  # the copy
            again = json.dumps({"ts": time.time(), "intensity": 2, "id": "after"}).encode()
            bridge._receive(message(t.command("start"), again))
            r2 = (await w.wait_for(t.result("start"), lambda s: s.json()["id"] == "after")).json()
            assert r2["ok"] is True, r2
            await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma > 0, 10)
            await run.controller.stop(Source.CLI)
        assert bridge.counters.stops == 1 and bridge.counters.stop_twins == 1
