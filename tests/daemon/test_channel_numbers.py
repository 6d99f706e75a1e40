"""MQTT names channels as every face does, from 1 (issue 18.8): a remote start for a channel
the wearable lacks is refused with the channel as a person counts it and its own code, and
the state's per-channel lists start with channel 1. Judged on the simulator's record."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from tens.cli.target import open_target
from tens.config import SessionDefaults, TensConfig
from tens.events import LinkState
from tests.daemon.broker import Broker
from tests.daemon.harness import running_daemon, settings_for
from tests.daemon.mqtt_watch import watching
from tests.daemon.test_end_to_end import until


def cmd(**fields: Any) -> bytes:
    return json.dumps({"ts": time.time(), **fields}).encode()


async def test_a_remote_start_on_a_channel_the_device_lacks_names_it_from_1(
    broker: Broker,
) -> None:
    """Kills: the reason printing indexes (`[2]`), the refusal without its own code (a
    dashboard would have to read the wording), any output on the electrodes."""
    config = TensConfig(session=SessionDefaults(channels=(1, 3)))
    args = argparse.Namespace(simulator=True, radio=None, device=None)
    async with open_target(args) as target:
        settings = settings_for(broker.port, remote_start=True)
        async with running_daemon(settings, open_device=target.open_device, config=config) as run:
            await until(run, lambda s: s.link is LinkState.CONNECTED)
            t = run.topics
            async with watching(broker.port, t.result("start"), t.events, t.state) as w:
                await w.publish(t.command("start"), cmd(intensity=4, minutes=2))
                reply = (await w.wait_for(t.result("start"))).json()
                event = (
                    await w.wait_for(t.events, lambda s: s.json().get("kind") == "refused")
                ).json()
                state = (await w.wait_for(t.state)).json()
            await asyncio.sleep(0.3)
            assert target.simulator.record.max() == 0.0
    why = "channel 3 is not on this device: it has channels 1–2"
    assert reply["outcome"] == "refused" and reply["code"] == "no_such_channel", reply
    assert reply["reason"].startswith(why), reply
    assert event["reason"].startswith(why), event
    assert len(state["delivered"]) == 2  # position 0 is channel 1 (docs/mqtt.md)
