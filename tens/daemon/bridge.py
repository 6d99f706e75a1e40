"""The MQTT side of the daemon: connect, publish, obey; reconnect with backoff.

aiomqtt has no reconnect of its own, so :meth:`MqttBridge.run` is an outer loop around one
``aiomqtt.Client`` connection: on connect it subscribes to ``cmd/+`` and Home Assistant's
status, publishes ``online`` (retained; the broker holds ``offline`` as our last will), the
discovery config and the current state; it then publishes state changes and events and answers
commands until the connection drops, waits (exponential backoff with jitter) and starts over.

The receive loop does O(1) work per message and never awaits (docs/mqtt.md, "Floods and
poison"), so a flood cannot delay a stop:

- ``stop`` is obeyed at once: it bumps the stop epoch, answers every command still queued
  with ``cancelled_by_stop``, cancels the command in flight (a start is left to the
  controller, which refuses a start that saw a stop arrive: cancelling it could leave its
  session record half written), and starts the controller's stop in its own task. In the
  client's incoming queue, stop messages go ahead of every other message.
- Other commands pass a per-topic rate limit and a bounded queue (excess refused, the
  refusal replies themselves rate-limited) to one worker that runs them in arrival order;
  a command whose epoch is older than the latest stop is refused, never run.
- ``homeassistant/status`` ``online`` is coalesced: at most one republish per
  ``HA_STATUS_MIN_INTERVAL_S``. Every other payload there is ignored.
- Replies go through a bounded queue to a publisher task.

Controller events are consumed for the daemon's whole life, so the state published after a
reconnect is the latest one.

TCP_NODELAY is set on the client socket: without it a QoS 1 command and its reply can stall
40-90 ms on Nagle's algorithm and delayed ACKs.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tens.clock import Clock
from tens.daemon.commands import CommandHandler, RemoteControl, _peek_id
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
from tens.daemon.topics import OFFLINE, ONLINE, VERBS, Topics
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
QUEUE_MAX = 8
"""Non-stop commands waiting for the worker; more are refused (``queue_full``)."""
RATE_PER_S = 10.0
RATE_BURST = 10
"""Per command topic: at most RATE_BURST at once, RATE_PER_S a second after (``rate_limited``)."""
REFUSAL_REPLIES_PER_S = 5.0
"""Per topic, replies to rate-limited or queue-full commands; beyond, they go unanswered."""
REPLY_QUEUE_MAX = 64
"""Replies waiting to be published; more are dropped (counted, logged)."""
INCOMING_MAX = 2000
"""Non-stop messages waiting in the client's incoming queue; more are dropped (never a stop)."""
HA_STATUS_MIN_INTERVAL_S = 1.0
"""At most one discovery + state republish per interval, however often HA says ``online``."""
MAX_VERB_CHARS = 64
"""An unknown verb longer than this gets no reply (nor a reply topic of that size)."""


@dataclass(slots=True)
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float = -1.0
    t: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.t = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate_per_s)
        self.t = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class _Job:
    verb: str
    payload: bytes
    retained: bool
    epoch: int
    """The stop epoch when the command arrived: older than the latest stop, it never runs."""


@dataclass
class BridgeCounters:
    """What the bridge refused or dropped without the controller (for logs and benchmarks)."""

    rate_limited: int = 0
    queue_full: int = 0
    cancelled_by_stop: int = 0
    replies_dropped: int = 0
    incoming_dropped: int = 0
    ha_online: int = 0
    bad_messages: int = 0
    stops: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


ARRIVAL_EPOCH = "_tens_epoch"
"""Attribute set on each incoming message: the stop epoch when it came off the socket."""


def stop_first_queue(
    stop_topic: str,
    counters: BridgeCounters,
    on_stop: Callable[[], int],
    epoch: Callable[[], int],
) -> type[asyncio.Queue[Any]]:
    """The client's incoming-message queue: stop messages ahead of all others, and at most
    INCOMING_MAX others (more are dropped, so a flood cannot grow it without bound).

    A stop jumps ahead of what arrived before it, so "before" is decided here, in socket
    order: ``on_stop`` counts the stop the moment it arrives (returning the new epoch) and
    every other message is tagged with the epoch it arrived in; one from an older epoch is
    refused as cancelled by the stop, never run.
    """

    class StopFirstQueue(asyncio.Queue[Any]):
        def _init(self, maxsize: int) -> None:
            self._queue: list[tuple[int, int, Any]] = []
            self._seq = itertools.count()

        def _qsize(self) -> int:
            return len(self._queue)

        def _put(self, item: Any) -> None:
            first = str(item.topic) == stop_topic
            if first:
                setattr(item, ARRIVAL_EPOCH, on_stop())
            elif len(self._queue) >= INCOMING_MAX:
                counters.incoming_dropped += 1
                return
            else:
                setattr(item, ARRIVAL_EPOCH, epoch())
            heapq.heappush(self._queue, (0 if first else 1, next(self._seq), item))

        def _get(self) -> Any:
            return heapq.heappop(self._queue)[2]

    return StopFirstQueue


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
        self._work: asyncio.Queue[_Job] = asyncio.Queue(QUEUE_MAX)
        self._replies: asyncio.Queue[tuple[CommandResult, bool]] = asyncio.Queue(REPLY_QUEUE_MAX)
        self._epoch = 0
        self._current: asyncio.Future[CommandResult] | None = None
        self._current_job: _Job | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._refusal_buckets: dict[str, TokenBucket] = {}
        self._stop_tasks: set[asyncio.Task[None]] = set()
        self._ha_online = asyncio.Event()
        self.counters = BridgeCounters()
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

    async def _reply(self, result: CommandResult, *, event: bool = True) -> None:
        await self._publish(self.topics.result(result.verb), result.to_bytes())
        if event:
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
                    code=result.code,
                )
            )
            self._state_dirty.set()

    def _queue_reply(self, result: CommandResult, *, event: bool = True) -> None:
        if result.code is not None:
            self.counters.by_code[result.code] = self.counters.by_code.get(result.code, 0) + 1
        try:
            self._replies.put_nowait((result, event))
        except asyncio.QueueFull:
            self.counters.replies_dropped += 1
            if self.counters.replies_dropped % 1000 == 1:
                log.warning(
                    "MQTT replies dropped (%d so far): commands arrive faster than replies go",
                    self.counters.replies_dropped,
                )

    async def _reply_pump(self) -> None:
        while True:
            result, event = await self._replies.get()
            try:
                await self._reply(result, event=event)
            except Exception:  # a reply that cannot be sent must not end the daemon
                log.exception("could not publish the reply to %s", result.verb)

    def _cancelled(self, job: _Job) -> CommandResult:
        self.counters.cancelled_by_stop += 1
        return self.handler._result(
            job.verb,
            ok=False,
            outcome="refused",
            reason="cancelled: a stop arrived after this command, before it ran",
            id=_peek_id(job.payload),
            code="cancelled_by_stop",
        )

    async def _worker(self) -> None:
        while True:
            job = await self._work.get()
            if job.epoch != self._epoch:
                self._queue_reply(self._cancelled(job))
                continue
            task = asyncio.ensure_future(
                self.handler.handle(job.verb, job.payload, retained=job.retained)
            )
            self._current, self._current_job = task, job
            try:
                result = await task
            except asyncio.CancelledError:
                if _being_cancelled():
                    task.cancel()
                    raise
                result = self._cancelled(job)  # a stop cancelled it in flight
            except Exception as exc:
                log.exception("command %s failed", job.verb)
                result = self.handler._result(
                    job.verb,
                    ok=False,
                    outcome="error",
                    reason=f"internal error: {type(exc).__name__}",
                    code="internal",
                )
            finally:
                self._current = self._current_job = None
            if job.epoch != self._epoch and not result.ok and result.code is None:
                # e.g. the controller refused a start that saw the stop arrive
                result = result.model_copy(update={"code": "cancelled_by_stop"})
            self._queue_reply(result)

    async def _serve_stop(self, payload: bytes) -> None:
        try:
            result = await self.handler.stop(payload)
        except Exception as exc:  # handler.stop reports failures itself; belt and braces
            log.exception("stop from MQTT failed")
            result = self.handler._result(
                "stop",
                ok=False,
                outcome="error",
                reason=f"stop failed: {exc!r}",
                code="stop_failed",
            )
        await self._reply(result)  # straight out, never behind queued replies

    def _stop_arrived(self) -> int:
        """A stop came off the socket: from now on, every earlier command is cancelled."""
        self._epoch += 1
        return self._epoch

    def _on_stop(self, payload: bytes, epoch: int | None = None) -> None:
        """Obey a stop now: nothing that arrived before it may run after it."""
        self.counters.stops += 1
        if epoch is None:  # not counted on arrival (a direct call)
            self._stop_arrived()
        task = asyncio.ensure_future(self._serve_stop(payload))
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)
        current, job = self._current, self._current_job
        if current is not None and job is not None and job.verb != "start":
            current.cancel()
        while not self._work.empty():
            self._queue_reply(self._cancelled(self._work.get_nowait()))

    def _refuse_cheaply(self, verb: str, key: str, payload: bytes, code: str, reason: str) -> None:
        now = self._clock.monotonic()
        bucket = self._refusal_buckets.setdefault(
            key, TokenBucket(REFUSAL_REPLIES_PER_S, REFUSAL_REPLIES_PER_S)
        )
        if bucket.take(now):
            result = self.handler._result(
                verb, ok=False, outcome="refused", reason=reason, id=_peek_id(payload), code=code
            )
            self._queue_reply(result, event=False)

    def _dispatch(
        self, topic: str, payload: bytes, retained: bool, epoch: int | None = None
    ) -> None:
        """One incoming message, in O(1) and without awaiting anything.

        ``epoch``: the stop epoch it arrived in (see :func:`stop_first_queue`); None: now.
        """
        if topic == self.topics.ha_status:
            if payload.strip() == b"online":
                self.counters.ha_online += 1
                self._ha_online.set()  # coalesced by _ha_pump
            return
        verb = self.topics.verb_of(topic)
        if verb is None:
            return
        if verb == "stop":
            self._on_stop(payload, epoch)
            return
        if len(verb) > MAX_VERB_CHARS:
            return
        key = verb if verb in VERBS else "?"  # unknown verbs share one limit
        bucket = self._buckets.setdefault(key, TokenBucket(RATE_PER_S, RATE_BURST))
        if not bucket.take(self._clock.monotonic()):
            self.counters.rate_limited += 1
            self._refuse_cheaply(
                verb,
                key,
                payload,
                "rate_limited",
                f"too many commands on cmd/{key}: at most {RATE_PER_S:g} a second",
            )
            return
        job = _Job(verb, payload, retained, self._epoch if epoch is None else epoch)
        if job.epoch != self._epoch:  # a stop that arrived after it was served first
            self._queue_reply(self._cancelled(job))
            return
        try:
            self._work.put_nowait(job)
        except asyncio.QueueFull:
            self.counters.queue_full += 1
            self._refuse_cheaply(
                verb,
                key,
                payload,
                "queue_full",
                f"{QUEUE_MAX} commands are already waiting: try again",
            )

    async def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        """One message as the receive loop handles it (kept for tests and callers)."""
        self._dispatch(topic, payload, retained)

    async def _ha_pump(self) -> None:
        while True:
            await self._ha_online.wait()
            self._ha_online.clear()
            if self._client is not None:
                await self.publish_discovery(force=True)
                await self.publish_state()
            await self._clock.sleep(HA_STATUS_MIN_INTERVAL_S)

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
            queue_type=stop_first_queue(
                self.topics.command("stop"), self.counters, self._stop_arrived, lambda: self._epoch
            ),
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
            try:
                payload = message.payload
                if isinstance(payload, bytes | bytearray):
                    data = bytes(payload)
                elif isinstance(payload, str):
                    data = payload.encode("utf-8", "replace")
                else:
                    data = b"" if payload is None else str(payload).encode()
                self._dispatch(
                    str(message.topic),
                    data,
                    bool(message.retain),
                    getattr(message, ARRIVAL_EPOCH, None),
                )
            except Exception:  # no message may end the daemon (docs/mqtt.md)
                self.counters.bad_messages += 1
                if self.counters.bad_messages % 1000 == 1:
                    log.exception("message on %s could not be handled", message.topic)

    async def run(self) -> None:
        """Serve forever (cancel to end), reconnecting with backoff."""
        import aiomqtt

        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume_events())
            tg.create_task(self._state_pump())
            tg.create_task(self._worker())
            tg.create_task(self._reply_pump())
            tg.create_task(self._ha_pump())
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
