"""The MQTT side of the daemon: connect, publish, obey; reconnect with backoff.

aiomqtt has no reconnect of its own, so :meth:`MqttBridge.run` is an outer loop around one
``aiomqtt.Client`` connection: on connect it subscribes to ``cmd/+`` and Home Assistant's
status, publishes ``online`` (retained; the broker holds ``offline`` as our last will), the
discovery config and the current state; it then publishes state changes and events and answers
commands until the connection drops, waits (exponential backoff with jitter) and starts over.

``stop`` is handled in the message loop itself, never queued behind another command; other
commands go through one worker in arrival order. Controller events are consumed for the
daemon's whole life, so the state published after a reconnect is the latest one.

TCP_NODELAY is set on the client socket: without it a QoS 1 command and its reply can stall
40-90 ms on Nagle's algorithm and delayed ACKs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from tens.clock import Clock
from tens.daemon.commands import CommandHandler, RemoteControl
from tens.daemon.discovery import discovery_payload
from tens.daemon.payloads import (
    CommandResult,
    EventPayload,
    LimitsPayload,
    StatePayload,
    decision_event,
    state_payload,
)
from tens.daemon.settings import MqttSettings
from tens.daemon.topics import OFFLINE, ONLINE, Topics
from tens.events import (
    ControllerEvent,
    Narrowed,
    Notice,
    Refused,
    SessionEnded,
    StateChanged,
)

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger("tens.daemon")

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
SHORT_CONNECTION_S = 5.0
STATE_MIN_INTERVAL_S = 0.2
"""Coalesce bursts of state changes (ramp steps) into at most one publish per interval."""


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class EventSource(Protocol):
    def events(self) -> contextlib.AbstractAsyncContextManager[Any]: ...


class BridgedController(RemoteControl, EventSource, Protocol):
    pass


class MqttBridge:
    def __init__(
        self,
        control: BridgedController,
        settings: MqttSettings,
        *,
        clock: Clock,
        version: str,
        limits: Callable[[], LimitsPayload],
        programs: Callable[[], list[str]],
        default_program: str | None = None,
        model: Callable[[], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.prefix, settings.controller_id, settings.discovery_prefix)
        self._control = control
        self._clock = clock
        self._version = version
        self._limits = limits
        self._programs = programs
        self._model = model or (lambda: None)
        self.handler = CommandHandler(
            control,
            remote_start=settings.remote_start,
            max_age_s=settings.command_max_age_s,
            wall=clock.wall,
            default_program=default_program,
            program_names=programs,
        )
        self._client: aiomqtt.Client | None = None
        self._state_dirty = asyncio.Event()
        self._last_discovery: bytes | None = None
        self._work: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.connections = 0
        self.on_status: Callable[[str], None] = lambda text: None

    # ---- payloads -------------------------------------------------------------------------

    def current_state(self) -> StatePayload:
        return state_payload(
            self._control.snapshot(),
            controller_id=self.topics.controller_id,
            ts=self._clock.wall(),
            limits=self._limits(),
            remote_start=self.settings.remote_start,
            selected_program=self.handler.selected_program or self.handler.default_program,
        )

    def current_discovery(self) -> bytes:
        return json.dumps(
            discovery_payload(
                self.topics,
                limits=self._limits(),
                programs=self._programs(),
                remote_start=self.settings.remote_start,
                version=self._version,
                model=self._model(),
            ),
            separators=(",", ":"),
        ).encode()

    # ---- publishing -----------------------------------------------------------------------

    async def _publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> bool:
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except Exception as exc:  # aiomqtt.MqttError and friends: the run loop reconnects
            log.debug("publish to %s failed: %s", topic, exc)
            return False
        return True

    async def publish_state(self) -> None:
        await self._publish(self.topics.state, self.current_state().to_bytes(), retain=True)

    async def publish_discovery(self, *, force: bool = False) -> None:
        if not self.settings.discovery:
            return
        payload = self.current_discovery()
        if force or payload != self._last_discovery:
            if await self._publish(self.topics.discovery, payload, retain=True):
                self._last_discovery = payload

    async def publish_event(self, event: EventPayload) -> None:
        await self._publish(self.topics.events, event.to_bytes())

    async def publish_offline(self) -> None:
        """Say ``offline`` (retained) before a clean exit; the will covers unclean ones."""
        await self._publish(self.topics.availability, OFFLINE, retain=True)

    # ---- controller events ----------------------------------------------------------------

    def _event_payload(self, ev: ControllerEvent) -> EventPayload | None:
        ts = self._clock.wall()
        if isinstance(ev, Refused):
            return decision_event("refused", ev.decision, ts)
        if isinstance(ev, Narrowed):
            return decision_event("narrowed", ev.decision, ts)
        if isinstance(ev, SessionEnded):
            return EventPayload(
                ts=ts,
                kind="session_ended",
                state=str(ev.state),
                reason=ev.reason,
                session_id=ev.session_id,
            )
        if isinstance(ev, Notice):
            return EventPayload(ts=ts, kind="notice", level=ev.level, text=ev.text)
        return None

    async def _consume_events(self) -> None:
        async with self._control.events() as stream:
            async for ev in stream:
                if isinstance(ev, StateChanged):
                    self._state_dirty.set()
                    continue
                payload = self._event_payload(ev)
                if payload is not None:
                    await self.publish_event(payload)
                    self._state_dirty.set()

    async def _state_pump(self) -> None:
        while True:
            if self._control.snapshot().session.active:
                # Time left and elapsed move even when nothing else does: refresh them.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.state_refresh_s):
                        await self._state_dirty.wait()
            else:
                await self._state_dirty.wait()
            self._state_dirty.clear()
            if self._client is not None:
                await self.publish_state()
                await self.publish_discovery()  # limits or programs may have changed
            await self._clock.sleep(STATE_MIN_INTERVAL_S)

    # ---- commands -------------------------------------------------------------------------

    async def _reply(self, result: CommandResult) -> None:
        await self._publish(self.topics.result(result.verb), result.to_bytes())
        await self.publish_event(
            EventPayload(
                ts=result.ts,
                kind="command",
                source="mqtt",
                action=result.verb,
                outcome=result.outcome,
                requested=result.requested,
                allowed=result.allowed,
                reason=result.reason,
            )
        )
        self._state_dirty.set()

    async def _worker(self) -> None:
        while True:
            verb, payload, retained = await self._work.get()
            try:
                result = await self.handler.handle(verb, payload, retained=retained)
            except Exception as exc:
                log.exception("command %s failed", verb)
                result = self.handler._result(
                    verb, ok=False, outcome="error", reason=f"internal error: {exc}"
                )
            await self._reply(result)

    async def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self.topics.ha_status:
            if payload.strip() == b"online":
                await self.publish_discovery(force=True)
                await self.publish_state()
            return
        verb = self.topics.verb_of(topic)
        if verb is None:
            return
        if verb == "stop":
            # Obeyed here, at once, never behind another command in the queue.
            await self._reply(await self.handler.stop(payload))
            return
        self._work.put_nowait((verb, payload, retained))

    # ---- connection -----------------------------------------------------------------------

    def _make_client(self) -> aiomqtt.Client:
        import aiomqtt

        s = self.settings
        tls_params = None
        if s.tls is not None:
            tls_params = aiomqtt.TLSParameters(
                ca_certs=str(s.tls.ca_file) if s.tls.ca_file else None,
                certfile=str(s.tls.cert_file) if s.tls.cert_file else None,
                keyfile=str(s.tls.key_file) if s.tls.key_file else None,
            )
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.resolve_password(),
            identifier=f"tens-{s.controller_id}",
            will=aiomqtt.Will(self.topics.availability, OFFLINE, qos=1, retain=True),
            keepalive=s.keepalive_s,
            tls_params=tls_params,
            socket_options=[NODELAY],
            timeout=s.timeout_s,
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connected period: announce, then serve until the connection drops."""
        t = self.topics
        await client.subscribe(t.command_filter, qos=1)
        if self.settings.discovery:
            await client.subscribe(t.ha_status, qos=1)
        self._client = client
        self.connections += 1
        await client.publish(t.availability, ONLINE, qos=1, retain=True)
        await self.publish_discovery(force=True)
        await self.publish_state()
        self.connected.set()
        self.on_status(f"MQTT connected to {self.settings.describe()}")
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, str):
                data = payload.encode()
            elif isinstance(payload, bytes | bytearray):
                data = bytes(payload)
            else:
                data = b"" if payload is None else str(payload).encode()
            await self._on_message(str(message.topic), data, bool(message.retain))

    async def run(self) -> None:
        """Serve forever (cancel to end), reconnecting with backoff."""
        import aiomqtt

        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume_events())
            tg.create_task(self._state_pump())
            tg.create_task(self._worker())
            delay = self.settings.reconnect_min_s
            while True:
                connected_at: float | None = None
                try:
                    client = self._make_client()
                    async with client:
                        delay = self.settings.reconnect_min_s
                        connected_at = self._clock.monotonic()
                        await self._session(client)
                except aiomqtt.MqttError as exc:
                    # aiomqtt's __aexit__ may turn our cancellation into an MqttError (a
                    # DISCONNECT that is never acknowledged): never swallow a cancel.
                    if _being_cancelled():
                        raise asyncio.CancelledError from exc
                    hint = ""
                    if (
                        connected_at is not None
                        and self._clock.monotonic() - connected_at < SHORT_CONNECTION_S
                    ):
                        hint = (
                            f" (dropped right after connecting: is another client using the "
                            f"id tens-{self.settings.controller_id}? each daemon needs its own "
                            "controller_id)"
                        )
                    log.warning("MQTT %s: %s%s", self.settings.describe(), exc, hint)
                except ValueError as exc:  # e.g. the password file cannot be read
                    log.error("MQTT settings: %s", exc)
                finally:
                    self._client = None
                    self.connected.clear()
                self.on_status(f"MQTT disconnected; retrying in {delay:.0f} s")
                await self._clock.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.settings.reconnect_max_s)

    async def goodbye(self) -> None:
        """Publish ``offline`` (retained) before a clean exit.

        The caller then cancels :meth:`run`, whose client context sends DISCONNECT, so the
        broker drops the will; an unclean end (crash, kill, power) leaves the will to say it.
        """
        await self.publish_offline()
