"""Issue 18 item 6: what the broker keeps (retained) tells the truth after we are gone.

- On SIGTERM the last retained state, published before ``offline``, says the link is down
  and no session runs.
- After an abort, ``remaining_s`` is 0, not the last value it had.
- A retained command found at (re)connect is refused once and cleared (an empty retained
  payload), not refused again at every reconnect.
"""

from __future__ import annotations

import asyncio
import json
import time

from tens.controller import StartRequest
from tens.events import Source
from tests.daemon.broker import Broker
from tests.daemon.harness import running_daemon, settings_for
from tests.daemon.mqtt_watch import watching
from tests.daemon.test_stop_ordering import rig


async def test_final_state_before_offline_says_link_down_and_no_session(broker: Broker) -> None:
    async with rig(broker) as (run, sim, _log):
        d = await run.controller.start(StartRequest(intensity=3, minutes=2), Source.CLI)
        assert not d.refused, d.reason
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 1.0, 10)
        t = run.topics
        async with watching(broker.port, t.state, t.availability) as w:
            await w.wait_for(t.availability, lambda s: s.payload == b"online")
            mark = w.mark()
            run.daemon.request_stop()
            async with asyncio.timeout(30):
                assert await run.task == 0
            off = await w.wait_for(t.availability, lambda s: s.payload == b"offline", after=mark)
            states = [s for s in w.seen[mark:] if s.topic == t.state and s.t <= off.t]
            assert states, "no state published on the way out"
            final = states[-1].json()
        assert final["link"] == "disconnected", final
        assert final["active"] is False and final["session"] != "running", final
        assert final["delivered_max"] == 0.0
    async with watching(broker.port, t.state) as late:  # what the broker keeps
        kept = (await late.wait_for(t.state)).json()
    assert kept["link"] == "disconnected" and kept["active"] is False


async def test_remaining_is_zero_after_an_abort(broker: Broker) -> None:
    async with rig(broker, state_refresh_s=0.5) as (run, sim, _log):
        d = await run.controller.start(StartRequest(intensity=3, minutes=2), Source.CLI)
        assert not d.refused, d.reason
        await sim.record.wait_for(lambda s: s.channel == 0 and s.intensity_ma >= 1.0, 10)
        t = run.topics
        async with watching(broker.port, t.state) as w:
            await w.wait_for(t.state, lambda s: (s.json()["remaining_s"] or 0) > 60)
            await sim.drop_link()
            aborted = await w.wait_for(t.state, lambda s: s.json()["session"] == "aborted")
        assert aborted.json()["remaining_s"] == 0.0, aborted.json()


async def test_retained_command_is_refused_once_and_cleared(broker: Broker) -> None:
    settings = settings_for(broker.port, remote_start=True)
    base = f"{settings.prefix}/{settings.controller_id}"
    async with watching(broker.port) as pub:
        await pub.publish(f"{base}/cmd/start", json.dumps({"ts": time.time()}), retain=True)
    async with watching(broker.port, f"{base}/cmd/start/result") as w:
        async with running_daemon(settings):
            first = (await w.wait_for(f"{base}/cmd/start/result")).json()
            assert first["code"] == "retained", first
            await asyncio.sleep(0.5)
        async with running_daemon(settings):  # a restart (or a reconnect): not again
            await asyncio.sleep(1.0)
        replies = [s.json() for s in w.seen if s.topic == f"{base}/cmd/start/result"]
    assert len(replies) == 1, replies
    async with watching(broker.port, f"{base}/cmd/start") as late:
        await asyncio.sleep(0.5)
        assert not [s for s in late.seen if s.retain], "the broker still keeps the command"
