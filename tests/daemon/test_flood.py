"""Issue 12 item 8, functionally (the timing is benchmarks/mqtt_flood.py's job): a stop
sent during a flood of commands and ``homeassistant/status`` messages is obeyed, on the
simulator's record, and the flood is refused with replies rather than queued without bound.
"""

from __future__ import annotations

import asyncio
import json
import time

from tens.controller import StartRequest
from tens.daemon.bridge import QUEUE_MAX, RATE_BURST, RATE_PER_S
from tens.events import Source
from tests.daemon.broker import Broker
from tests.daemon.mqtt_watch import watching
from tests.daemon.test_stop_ordering import rig

FLOOD = 3000


async def test_stop_during_a_flood_is_obeyed_and_the_flood_refused(broker: Broker) -> None:
    async with rig(broker, remote_start=True) as (run, sim, log):
        bridge = run.daemon.bridge
        assert bridge is not None
        d = await run.controller.start(StartRequest(intensity=3, minutes=2), Source.CLI)
        assert not d.refused, d.reason
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 1.0, 10)
        t = run.topics
        async with (
            watching(broker.port, t.result("intensity"), t.result("stop")) as w,
            watching(broker.port) as flooder,
        ):
            began = asyncio.get_running_loop().time()
            body = json.dumps({"ts": time.time(), "value": 3}).encode()
            for i in range(FLOOD):
                await flooder.client.publish(t.command("intensity"), body, qos=0)
                if i % 3 == 0:
                    await flooder.client.publish(t.ha_status, b"online", qos=0)
            await w.publish(t.command("stop"), b'{"id": "through"}')
            stop = await w.wait_for(
                t.result("stop"), lambda s: s.json().get("id") == "through", within=30
            )
            assert stop.json()["ok"] is True
            await asyncio.sleep(0.5)
            lasted = asyncio.get_running_loop().time() - began
            codes = [s.json().get("code") for s in w.seen if s.topic == t.result("intensity")]
        assert not run.controller.snapshot().session.active
        assert sim.record.last(0) == 0.0 and sim.record.last(1) == 0.0
        last_stop = log.last_stop_t()
        assert last_stop is not None and not log.raising_after(last_stop)
        # The flood was refused (and those refusals answered, within their own limit)...
        assert "rate_limited" in codes, codes[:20]
        assert bridge.counters.rate_limited >= FLOOD // 2
        # ...never queued past the bound, and HA's "online" coalesced, not answered 1000 times.
        assert bridge._work.qsize() <= QUEUE_MAX
        assert len(codes) < FLOOD // 4
        assert sum(1 for c in codes if c is None) <= RATE_BURST + RATE_PER_S * lasted + 1
        assert bridge.counters.ha_online >= 1
