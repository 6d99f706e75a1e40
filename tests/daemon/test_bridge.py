"""The MQTT face against a real Mosquitto, with the real controller (no device attached)."""

from __future__ import annotations

import asyncio
import json
import time

from tests.daemon.broker import Broker
from tests.daemon.harness import running_daemon, settings_for
from tests.daemon.mqtt_watch import Seen, watching


def now_ts() -> float:
    return time.time()


async def test_availability_and_state_are_retained(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        # A client that subscribes afterwards still gets both: they are retained.
        async with watching(broker.port, f"{t.base}/#") as w:
            avail = await w.wait_for(t.availability)
            assert avail.payload == b"online" and avail.retain
            state = await w.wait_for(t.state)
            assert state.retain
            body = state.json()
            assert body["v"] == 1 and body["controller"] == "bedside"
            assert body["session"] == "idle" and body["link"] == "disconnected"
            assert body["remote_start"] is False and body["limits"]["max"] is None


async def test_clean_shutdown_says_offline(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        async with watching(broker.port, t.availability) as w:
            await w.wait_for(t.availability, lambda s: s.payload == b"online")
            mark = w.mark()
            run.daemon.request_stop()
            async with asyncio.timeout(30):
                assert await run.task == 0
            off = await w.wait_for(t.availability, lambda s: s.payload == b"offline", after=mark)
            assert off.payload == b"offline"
    async with watching(broker.port, t.availability) as late:
        assert (await late.wait_for(t.availability)).payload == b"offline"


async def test_bad_commands_get_error_replies_and_change_nothing(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        before = run.controller.snapshot()
        async with watching(broker.port, f"{t.base}/cmd/+/result", t.events) as w:
            cases: list[tuple[str, bytes, str, str]] = [
                ("intensity", b"{oops", "error", "JSON"),
                ("intensity", json.dumps({"value": -3, "ts": now_ts()}).encode(), "error", "value"),
                (
                    "intensity",
                    json.dumps({"value": 3, "ts": now_ts() - 60}).encode(),
                    "refused",
                    "old",
                ),
                ("reboot", b"{}", "error", "unknown command"),
                (
                    "start",
                    json.dumps({"ts": now_ts(), "id": "s1"}).encode(),
                    "refused",
                    "remote start is off",
                ),
                (
                    "intensity",
                    json.dumps({"value": 5, "ts": now_ts()}).encode(),
                    "refused",
                    "no session",
                ),
            ]
            for verb, payload, outcome, words in cases:
                mark = w.mark()
                await w.publish(t.command(verb), payload)
                reply = (await w.wait_for(t.result(verb), after=mark)).json()
                assert reply["ok"] is False, (verb, reply)
                assert reply["outcome"] == outcome, (verb, reply)
                assert words in reply["reason"], (verb, reply)
            assert reply["verb"] == "intensity"
            ev = await w.wait_for(t.events, lambda s: s.json().get("kind") == "command")
            assert ev.json()["source"] == "mqtt"
        after = run.controller.snapshot()
        assert (after.session, after.target, after.setpoint) == (
            before.session,
            before.target,
            before.setpoint,
        )


async def test_stop_is_obeyed_whatever_the_payload(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        async with watching(broker.port, t.result("stop")) as w:
            for payload in (b"", b"garbage \xff", b'{"ts": 1}', b'{"id": "x9"}'):
                mark = w.mark()
                await w.publish(t.command("stop"), payload)
                reply = (await w.wait_for(t.result("stop"), after=mark)).json()
                assert reply["ok"] is True and reply["outcome"] == "allowed"
            assert reply["id"] == "x9"


async def test_retained_command_is_refused(broker: Broker) -> None:
    settings = settings_for(broker.port, remote_start=True)
    t_base = f"{settings.prefix}/{settings.controller_id}"
    async with watching(broker.port) as pub:
        # Left on the broker before the daemon comes up: must never start anything.
        await pub.publish(f"{t_base}/cmd/start", json.dumps({"ts": now_ts()}), retain=True)
    async with watching(broker.port, f"{t_base}/cmd/start/result") as w:
        async with running_daemon(settings):
            reply = (await w.wait_for(f"{t_base}/cmd/start/result")).json()
            assert reply["outcome"] == "refused" and "retained" in reply["reason"]
        await w.publish(f"{t_base}/cmd/start", b"", retain=True)  # clear it


async def test_discovery_resent_when_home_assistant_comes_online(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        async with watching(broker.port, t.discovery) as w:
            first = await w.wait_for(t.discovery)
            assert first.retain
            cfg = first.json()
            assert set(cfg["cmps"]) >= {"stop", "session", "link", "electrode", "battery"}
            assert cfg["cmps"]["start"] == {"p": "button"}  # a stub: HA removes the button
            mark = w.mark()
            await w.publish(t.ha_status, b"online")
            again: Seen = await w.wait_for(t.discovery, after=mark)
            assert again.json() == cfg


async def test_broker_restart_reconnects_and_republishes(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        assert run.daemon.bridge is not None
        first = run.daemon.bridge.connections
        broker.stop()
        broker.start()  # same port; nothing retained survives (persistence off)
        async with watching(broker.port, t.availability, t.state) as w:
            assert (await w.wait_for(t.availability, within=10)).payload == b"online"
            assert (await w.wait_for(t.state)).json()["controller"] == "bedside"
        assert run.daemon.bridge.connections > first


async def test_cancel_ends_the_bridge_even_when_the_broker_hangs(broker: Broker) -> None:
    """Shutdown must not wait on a broker that answers nothing (no PUBACK, no CONNACK)."""
    import os
    import signal

    async with running_daemon(settings_for(broker.port, timeout_s=0.5)) as run:
        bridge = run.daemon.bridge
        assert bridge is not None and broker.proc is not None
        bridge_task = next(t for t in asyncio.all_tasks() if t.get_name() == "mqtt")
        os.kill(broker.proc.pid, signal.SIGSTOP)  # the broker hangs: no answer to anything
        try:
            bridge_task.cancel()
            done, _ = await asyncio.wait({bridge_task}, timeout=5)
            assert done, "the bridge ignored its cancellation"
            assert bridge_task.cancelled()
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)


async def test_program_select_changes_the_program_of_a_later_start(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port)) as run:
        t = run.topics
        async with watching(broker.port, t.result("program"), t.state, t.discovery) as w:
            options = (await w.wait_for(t.discovery)).json()["cmps"]["program"]["options"]
            assert "burst" in options and "conventional" in options
            await w.publish(t.command("program"), json.dumps({"program": "nope", "ts": now_ts()}))
            bad = (await w.wait_for(t.result("program"))).json()
            assert bad["outcome"] == "refused" and "unknown program" in bad["reason"]
            mark = w.mark()
            await w.publish(t.command("program"), json.dumps({"program": "burst", "ts": now_ts()}))
            good = (await w.wait_for(t.result("program"), after=mark)).json()
            assert good["ok"] is True and good["allowed"] == "burst"
            await w.wait_for(t.state, lambda s: s.json()["program"] == "burst", after=mark)


async def test_client_socket_has_tcp_nodelay(broker: Broker) -> None:
    """Without it a QoS 1 command and its reply stall on Nagle's algorithm and delayed ACKs."""
    import socket

    async with running_daemon(settings_for(broker.port)) as run:
        bridge = run.daemon.bridge
        assert bridge is not None and bridge._client is not None
        sock = bridge._client._client.socket()  # paho's socket under aiomqtt
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
