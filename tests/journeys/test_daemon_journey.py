"""Journey: the installed ``tens daemon`` on a real Mosquitto, driven as a dashboard drives it.

Three programs a person would run, nothing imported: ``tens simulate --json`` (a wearable on a
virtual radio, whose JSON lines are its record of delivered output; paired once with
``tens pair --radio``), ``tens daemon --radio`` with a fresh TENS_HOME, and the broker's own
``mosquitto_pub`` / ``mosquitto_sub``. In order: discovery seen (and, where the Home
Assistant venv of tests/daemon/ha_venv.py is cached, read by HA's own code as published); a
program chosen, then Start and Stop sent back to back (Stop
wins: the retained state and the wearable's record say no output); a real session, a big
slider jump narrowed to one step, Stop (Time left 0); another session, and SIGTERM (a final
state, link down and no session, then ``offline``); a retained Start left on the broker, and a
restart (no output comes back by itself, the retained command is refused once and cleared from
the broker). Skipped when Mosquitto or its clients are missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import ha_venv
from tests.daemon.broker import MOSQUITTO, NO_BROKER_REASON, Broker, running_broker
from tests.journeys.terminal import TENS

MOSQUITTO_PUB = shutil.which("mosquitto_pub")
MOSQUITTO_SUB = shutil.which("mosquitto_sub")
CID = "journey"
BASE = f"tens/{CID}"
DISCOVERY = f"homeassistant/device/{CID}/config"
PADS = ["--channel", "1", "--channel", "2"]

pytestmark = [
    pytest.mark.skipif(
        MOSQUITTO is None or MOSQUITTO_PUB is None or MOSQUITTO_SUB is None,
        reason=NO_BROKER_REASON,
    ),
    pytest.mark.timeout(240),
]


@dataclass(frozen=True)
class Line:
    t: float
    """time.monotonic() when it was read"""
    text: str


class Lines:
    """Every line a process prints, as it comes, read by a thread; wait for one that fits."""

    def __init__(self, argv: list[str], **kw: Any) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
        )
        self.lines: list[Line] = []
        self._cv = threading.Condition()
        self._err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cv:
                self.lines.append(Line(time.monotonic(), raw.rstrip("\n")))
                self._cv.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._err.append(raw.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self._err)

    def mark(self) -> int:
        with self._cv:
            return len(self.lines)

    def wait(self, fits: Callable[[str], bool], *, after: int = 0, within: float = 20.0) -> Line:
        def find() -> Line | None:
            return next((x for x in self.lines[after:] if fits(x.text)), None)

        with self._cv:
            if not self._cv.wait_for(lambda: find() is not None, timeout=within):
                tail = "\n".join(x.text[:300] for x in self.lines[after:][-15:])
                raise AssertionError(f"not seen within {within} s; last lines:\n{tail}")
            found = find()
        assert found is not None
        return found

    def since(self, index: int) -> list[Line]:
        with self._cv:
            return list(self.lines[index:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class Bus(Lines):
    """``mosquitto_sub -v`` on everything of this daemon: lines are ``topic payload``."""

    def __init__(self, port: int) -> None:
        assert MOSQUITTO_SUB is not None
        super().__init__(
            [
                MOSQUITTO_SUB,
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-q",
                "1",
                "-v",
                "-t",
                f"{BASE}/#",
                "-t",
                DISCOVERY,
            ]
        )

    def wait_json(
        self,
        topic: str,
        fits: Callable[[Any], bool] = lambda _p: True,
        *,
        after: int = 0,
        within: float = 20.0,
    ) -> Any:
        def ok(text: str) -> bool:
            head, _, body = text.partition(" ")
            if head != topic:
                return False
            try:
                return bool(fits(json.loads(body)))
            except (ValueError, KeyError, TypeError):
                return False

        return json.loads(self.wait(ok, after=after, within=within).text.partition(" ")[2])

    def payloads(self, topic: str, after: int = 0) -> list[tuple[float, str]]:
        out = []
        for x in self.since(after):
            head, _, body = x.text.partition(" ")
            if head == topic:
                out.append((x.t, body))
        return out


class Wearable(Lines):
    """``tens simulate --json``: its ``delivered`` lines are the record of what flowed."""

    def delivered(self, after: float = 0.0) -> list[dict[str, Any]]:
        out = []
        for x in self.since(0):
            if x.t >= after and x.text.startswith("{"):
                ev = json.loads(x.text)
                if ev.get("event") == "delivered":
                    out.append(ev)
        return out

    def last_per_channel(self) -> dict[int, float]:
        last: dict[int, float] = {}
        for ev in self.delivered():
            last[ev["channel"]] = ev["intensity_ma"]
        return last


def pub(
    port: int, verb_or_topic: str, payload: dict[str, Any] | None, *, retain: bool = False
) -> None:
    """What a dashboard sends: QoS 1, not retained (unless asked), ``ts`` = now."""
    assert MOSQUITTO_PUB is not None
    topic = verb_or_topic if "/" in verb_or_topic else f"{BASE}/cmd/{verb_or_topic}"
    argv = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic]
    if payload is None:
        argv.append("-n")
    else:
        argv += ["-m", json.dumps({"ts": time.time(), **payload})]
    if retain:
        argv.append("-r")
    subprocess.run(argv, check=True, timeout=10, capture_output=True)


def retained(port: int, topic: str) -> list[str]:
    """What the broker keeps on `topic` (a fresh subscriber, retained messages only)."""
    assert MOSQUITTO_SUB is not None
    done = subprocess.run(
        [
            MOSQUITTO_SUB,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            topic,
            "--retained-only",
            "-W",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return [line for line in done.stdout.splitlines() if line]


@dataclass
class Rig:
    broker: Broker
    home: Path
    config: Path
    radio: str
    bus: Bus
    wearable: Wearable

    def daemon(self) -> Lines:
        return Lines(
            [TENS, "daemon", "--radio", self.radio, "--config", str(self.config)],
            env={**os.environ, "TENS_HOME": str(self.home), "TENS_LOG_LEVEL": "info"},
        )

    def connected(self, after: int, within: float = 40.0) -> Any:
        return self.bus.wait_json(
            f"{BASE}/state", lambda s: s["link"] == "connected", after=after, within=within
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    home = tmp_path / "home"
    home.mkdir()
    with running_broker(tmp_path) as broker:
        config = home / "config.toml"
        config.write_text(
            # a test home: no rest between this journey's sessions; every other limit as shipped
            "[limits]\nrest_minutes = 0\n\n"
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ncontroller_id = "{CID}"\n'
            "remote_start = true\n\n"
            # the Start button sends no placement: the configured one is used (docs/mqtt.md)
            '[session]\nplacement = "lower-back"\n',
            encoding="utf-8",
        )
        # a person's first run: the checklist, then the pads on each channel
        for argv in (["checklist", "--none-apply"], ["electrodes", "set", "5x5", *PADS]):
            done = subprocess.run(
                [TENS, *argv],
                env={**os.environ, "TENS_HOME": str(home)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
        wearable = Wearable([TENS, "simulate", "--listen", "127.0.0.1:0", "--json"])
        bus = Bus(broker.port)
        try:
            serving = json.loads(wearable.wait(lambda x: '"serving"' in x, within=30).text)
            # the wearable has link security (as tens simulate does by default): pair once,
            # with the passkey it printed, as a person would; that writes [device] address
            paired = subprocess.run(
                [
                    *(TENS, "pair", "--radio", serving["radio"], "--config", str(config)),
                    *("--passkey", str(serving["security"]["passkey"]), "--json"),
                ],
                env={**os.environ, "TENS_HOME": str(home)},
                capture_output=True,
                text=True,
                timeout=90,
            )
            assert paired.returncode == 0, paired.stderr
            yield Rig(broker, home, config, serving["radio"], bus, wearable)
        finally:
            bus.stop()
            wearable.stop()


def test_a_dashboard_drives_the_daemon_through_mosquitto(rig: Rig) -> None:
    port = rig.broker.port
    bus = rig.bus
    daemon = rig.daemon()
    try:
        # 1. Discovery seen, as Home Assistant sees it: Stop at QoS 1, Start (remote start on),
        #    Intensity; then the device connects.
        disc = bus.wait_json(DISCOVERY, lambda d: "intensity" in d["cmps"], within=30)
        assert disc["cmps"]["stop"]["qos"] == 1
        assert disc["cmps"]["start"]["command_topic"] == f"{BASE}/cmd/start"
        bus.wait(lambda x: x == f"{BASE}/availability online")
        rig.connected(0)
        disc = bus.wait_json(DISCOVERY, lambda d: d["cmps"]["intensity"]["max"] == 40.0)
        kept_state = json.loads(retained(port, f"{BASE}/state")[0])
        assert kept_state["link_security"] == "encrypted_bonded"  # over the bond
        if ha_venv.ready(ha_venv.venv_dir()):  # what was published, read by HA's own code
            got = ha_venv.check(
                ha_venv.venv_dir(), {"live": {"payload": disc, "states": [kept_state]}}
            )
            assert got["cases"]["live"]["problems"] == [], got["cases"]["live"]["problems"]
            assert got["cases"]["live"]["rendered"]["intensity"]["availability"] == [["online"]]

        # 2. The dashboard picks a program, then Start and Stop back to back: Stop wins.
        mark = bus.mark()
        pub(port, "program", {"program": "burst"})
        assert bus.wait_json(f"{BASE}/cmd/program/result", after=mark)["ok"] is True
        mark = bus.mark()
        sent = time.monotonic()
        pub(port, "start", {"intensity": 4, "minutes": 1})
        pub(port, "stop", None)
        stop_reply = bus.wait_json(f"{BASE}/cmd/stop/result", after=mark)
        start_reply = bus.wait_json(f"{BASE}/cmd/start/result", after=mark)
        assert stop_reply["ok"] is True, stop_reply
        time.sleep(2.0)  # long enough for a start that slipped past the stop to ramp up
        after = rig.wearable.delivered(sent)
        if start_reply["ok"]:
            # the start ran before the stop arrived (they are two programs, ms apart): the
            # device was told to stop, and nothing flowed after it
            flowed = [i for i, e in enumerate(after) if e["intensity_ma"] > 0]
            stops = [i for i, e in enumerate(after) if e["cause"] == "stop"]
            if flowed:
                assert stops and stops[0] > flowed[-1], (start_reply, after)
        else:
            assert start_reply["code"] == "cancelled_by_stop", start_reply
            assert not [e for e in after if e["intensity_ma"] > 0], after
        kept = json.loads(retained(port, f"{BASE}/state")[0])
        assert kept["active"] is False and kept["delivered_max"] == 0.0, kept
        assert kept["session"] in ("ready", "stopped"), kept
        assert kept["remaining_s"] in (0.0, None), kept  # no time left shown after a stop

        # 3. A real session; the slider asks for a big jump; the governor gives one step.
        mark = bus.mark()
        pub(port, "start", {"intensity": 4, "minutes": 1})
        assert bus.wait_json(f"{BASE}/cmd/start/result", after=mark)["ok"] is True
        rig.wearable.wait(lambda x: '"delivered"' in x and json.loads(x)["intensity_ma"] >= 2.0)
        bus.wait_json(f"{BASE}/state", lambda s: (s["remaining_s"] or 0) > 30, after=mark)
        mark = bus.mark()
        pub(port, "intensity", {"value": 30})
        jump = bus.wait_json(f"{BASE}/cmd/intensity/result", after=mark)
        assert jump["outcome"] == "narrowed" and jump["code"] == "manual_step", jump
        assert jump["allowed"] < 30

        # Stop pressed mid-session: output ends, and Time left shows 0, not its last count.
        mark, worn = bus.mark(), rig.wearable.mark()
        pub(port, "stop", None)
        bus.wait_json(f"{BASE}/state", lambda s: s["session"] == "stopped", after=mark)
        kept = json.loads(retained(port, f"{BASE}/state")[0])
        assert kept["session"] == "stopped" and kept["remaining_s"] == 0.0, kept
        rig.wearable.wait(lambda x: '"delivered"' in x and '"cause":"stop"' in x, after=worn)
        assert all(v == 0.0 for v in rig.wearable.last_per_channel().values())

        # Again, to be running when the service is stopped.
        mark, worn = bus.mark(), rig.wearable.mark()
        pub(port, "start", {"intensity": 4, "minutes": 1})
        assert bus.wait_json(f"{BASE}/cmd/start/result", after=mark)["ok"] is True
        rig.wearable.wait(
            lambda x: '"delivered"' in x and json.loads(x)["intensity_ma"] >= 1.0, after=worn
        )

        # 4. SIGTERM: a final state (link down, no session), then offline; output ends.
        mark, worn = bus.mark(), rig.wearable.mark()
        os.kill(daemon.proc.pid, signal.SIGTERM)
        assert daemon.proc.wait(timeout=30) == 0, daemon.stderr
        bus.wait(lambda x: x == f"{BASE}/availability offline", after=mark)
        offline_at = bus.payloads(f"{BASE}/availability", mark)[-1][0]
        states = [json.loads(b) for t, b in bus.payloads(f"{BASE}/state", mark) if t <= offline_at]
        assert states, "no state published before offline"
        final = states[-1]
        assert final["link"] == "disconnected" and final["active"] is False, final
        assert final["session"] not in ("ramping", "running", "ramping_down"), final
        assert final["remaining_s"] in (0.0, None), final
        rig.wearable.wait(lambda x: '"link"' in x and '"disconnected"' in x, after=worn)
        assert all(v == 0.0 for v in rig.wearable.last_per_channel().values()), (
            rig.wearable.last_per_channel()
        )
        assert json.loads(retained(port, f"{BASE}/state")[0]) == final
        assert retained(port, f"{BASE}/availability") == ["offline"]

        # 5. A Start left retained on the broker (a dashboard set up with retain), then a
        #    restart: refused once and cleared; no output comes back by itself.
        pub(port, "start", {"intensity": 4, "minutes": 1}, retain=True)
        assert retained(port, f"{BASE}/cmd/start"), "the broker should keep it for the test"
        mark = bus.mark()
        restarted = time.monotonic()
        daemon = rig.daemon()
        refused = bus.wait_json(f"{BASE}/cmd/start/result", after=mark, within=30)
        assert refused["ok"] is False and refused["code"] == "retained", refused
        back = rig.connected(mark)
        assert back["active"] is False and back["session"] == "ready", back
        time.sleep(3.0)  # a resume, if there were one, would have ramped by now
        assert not [e for e in rig.wearable.delivered(restarted) if e["intensity_ma"] > 0]
        assert retained(port, f"{BASE}/cmd/start") == [], "the retained start was not cleared"
        replies = bus.payloads(f"{BASE}/cmd/start/result", mark)
        assert len(replies) == 1, replies
        kept = json.loads(retained(port, f"{BASE}/state")[0])
        assert kept["link"] == "connected" and kept["active"] is False, kept
    finally:
        daemon.stop()
        assert "Traceback" not in daemon.stderr, daemon.stderr
