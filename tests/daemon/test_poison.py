"""Issue 12 item 7: no message can kill the daemon.

Any payload on any topic gets a clear refusal or is ignored, and the daemon keeps serving
(it still obeys a stop afterwards). A retained poison message, received again at every
connect, must not turn systemd's restart into a crash loop: the daemon runs as its own
process here, started with poison retained on the broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tens.daemon.bridge import RATE_BURST, RATE_PER_S
from tens.daemon.topics import VERBS
from tests.daemon.broker import Broker
from tests.daemon.harness import running_daemon, settings_for
from tests.daemon.mqtt_watch import Seen, Watcher, watching

NESTED = b"[" * 4096
POISON: list[bytes] = [
    b'{"id": "\\ud800"}',  # a lone surrogate: valid JSON, not encodable as UTF-8
    b'{"id": "\\udfff\\ud800", "ts": 1, "value": 1}',
    b'{"\\ud800": 1}',  # ... as a key (echoed as "unknown key" in a reason)
    b'{"program": "\\ud83d", "ts": 1}',
    NESTED,  # 4 KB of nested brackets: RecursionError in the JSON decoder
    b'{"a":' * 800 + b"1" + b"}" * 800,
    b"[" * 2048 + b"]" * 2048,
    b"\xff\xfe\x00garbage\x80",  # not UTF-8
    bytes(range(256)),
    b"\xed\xa0\x80",  # a UTF-8-encoded surrogate (invalid UTF-8)
    b"",
    b"null",
    b'"\\ud800"',
    b"1e99999",
    b'{"ts": 1e400, "value": 1e400}',
    b'{"ts": "9999-99-99T99:99:99", "value": 1}',
    b"x" * 70_000,
]


async def stop_still_answered(w: Watcher, topic: str, result: str, tag: str) -> None:
    mark = w.mark()
    await w.publish(topic, json.dumps({"id": tag}).encode())
    reply = await w.wait_for(result, lambda s: s.json().get("id") == tag, after=mark, within=10)
    assert reply.json()["ok"] is True


async def test_poison_on_every_topic_is_refused_or_ignored(broker: Broker) -> None:
    async with running_daemon(settings_for(broker.port, remote_start=True)) as run:
        t = run.topics
        topics = [t.command(v) for v in (*VERBS, "reboot")] + [t.ha_status]
        async with watching(broker.port, f"{t.base}/cmd/+/result") as w:
            for n, topic in enumerate(topics):
                mark = w.mark()
                for i, body in enumerate(POISON):
                    if i and i % RATE_BURST == 0:
                        await asyncio.sleep(RATE_BURST / RATE_PER_S)  # stay within the limit
                    await w.publish(topic, body)
                await stop_still_answered(w, t.command("stop"), t.result("stop"), f"alive{n}")
                assert not run.task.done(), f"daemon ended after poison on {topic}"
                verb = t.verb_of(topic)
                if verb is None or verb == "stop":
                    continue
                result = t.result(verb)

                def answered(mark: int = mark, result: str = result) -> list[Seen]:
                    return [s for s in w.seen[mark:] if s.topic == result]

                # Every poison is answered, except the empty message: it clears a retained
                # command and is not one (ignored).
                expected = len([body for body in POISON if body])
                for _ in range(expected):  # replies may trail the stop's reply
                    got = answered()
                    if len(got) >= expected:
                        break
                    await w.wait_for(result, after=w.seen.index(got[-1]) + 1 if got else mark)
                replies = [s.json() for s in answered()]
                # Every poison on a command topic is answered, and none is obeyed.
                assert len(replies) == expected, (topic, len(replies))
                for r in replies:
                    assert r["ok"] is False and r["outcome"] in ("error", "refused"), r
                    assert r["reason"] and r["code"], r
            # Replies never carry what cannot be encoded: the JSON above parsed.
        assert not run.controller.snapshot().session.active


async def test_retained_poison_does_not_crash_loop_the_daemon(
    broker: Broker, tmp_path: Path
) -> None:
    base = "tens/poisoned"
    retained = {
        f"{base}/cmd/stop": b'{"id": "\\ud800"}',
        f"{base}/cmd/intensity": NESTED,
        f"{base}/cmd/start": b'{"\\ud800": "\\udc00"}',
        f"{base}/cmd/x\xc3\xa9": b"\xff\xfe",
        "homeassistant/status": b"\x00\xff" * 100,
    }
    async with watching(broker.port) as pub:
        for topic, body in retained.items():
            await pub.publish(topic, body, retain=True)
    env = {
        **os.environ,
        "TENS_HOME": str(tmp_path),
        "TENS_CONFIG": str(tmp_path / "config.toml"),
        "TENS_MQTT__HOST": "127.0.0.1",
        "TENS_MQTT__PORT": str(broker.port),
        "TENS_MQTT__CONTROLLER_ID": "poisoned",
        "TENS_MQTT__REMOTE_START": "true",
    }
    env.pop("NOTIFY_SOCKET", None)
    try:
        for attempt in range(2):  # as systemd would restart it: the poison is still there
            async with watching(broker.port, f"{base}/#") as w:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tens",
                    "daemon",
                    "--simulator",
                    "--log-level",
                    "warning",
                    env=env,
                    stderr=asyncio.subprocess.PIPE,
                )
                try:
                    await w.wait_for(
                        f"{base}/state", lambda s: s.json()["link"] == "connected", within=30
                    )
                    # The retained stop is obeyed (harmless) and answered.
                    await w.wait_for(f"{base}/cmd/stop/result", within=10)
                    await stop_still_answered(
                        w, f"{base}/cmd/stop", f"{base}/cmd/stop/result", f"after{attempt}"
                    )
                    assert proc.returncode is None, "the daemon died on retained poison"
                    os.kill(proc.pid, signal.SIGTERM)
                    async with asyncio.timeout(30):
                        code = await proc.wait()
                    assert proc.stderr is not None
                    err = (await proc.stderr.read()).decode(errors="replace")
                    assert code == 0, err
                    assert "Traceback" not in err, err
                finally:
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
    finally:
        async with watching(broker.port) as pub:
            for topic in retained:
                await pub.publish(topic, b"", retain=True)
