"""The MQTT side of the daemon: connect, publish, obey; reconnect with backoff.

aiomqtt has no reconnect of its own, so :meth:`MqttBridge.run` is an outer loop around one
``aiomqtt.Client`` connection: on connect it subscribes to ``cmd/+`` and Home Assistant's
status, publishes ``online`` (retained; the broker holds ``offline`` as our last will), the
discovery config and the current state; it then publishes state changes and events and answers
commands until the connection drops, waits (exponential backoff with jitter) and starts over.

The receive loop does O(1) work per message and never awaits (docs/mqtt.md, "Floods and
poison"), so a flood cannot delay a stop:

- Each message is handled in the client's read callback, in socket order
  (:func:`dispatching_queue`), never behind a queue of earlier messages.
- ``stop`` is obeyed at once: it bumps the stop epoch, answers every command still queued
  with ``cancelled_by_stop``, cancels the command in flight (a start is left to the
  controller, which refuses a start that saw a stop arrive: cancelling it could leave its
  session record half written), and starts the controller's stop in its own task.
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
import collections
import contextlib
import json
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tens.clock import Clock
from tens.daemon.commands import (
    CommandHandler,
    CommandRefusal,
    RemoteControl,
    _peek_id,
    parse_command,
)
from tens.daemon.discovery import discovery_payload, package_support_url
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
HA_STATUS_MIN_INTERVAL_S = 1.0
"""At most one discovery + state republish per interval, however often HA says ``online``."""
READ_BATCH = 16
"""Messages read per socket-readable callback (paho reads one by default, then the loop
goes round once per message: under a flood, that round trip is most of the cost)."""
READ_WINDOW_S = 0.1
READ_BUDGET_S = 0.01
"""Reading the main connection may take at most READ_BUDGET_S of CPU time in every
READ_WINDOW_S (a tenth of a core): a flood cannot starve the device link, nor make this
process the one the kernel schedules last. Stops have their own connection."""
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
    stop_twins: int = 0
    """Stops that came on both connections and were obeyed once."""
    replies_dropped: int = 0
    ha_online: int = 0
    bad_messages: int = 0
    read_pauses: int = 0
    """Times the main connection was not read for the rest of a window (its budget spent)."""
    stops: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


def dispatching_queue(receive: Callable[[Any], None]) -> type[asyncio.Queue[Any]]:
    """The client's incoming-message "queue": it hands each message to ``receive`` the moment
    the client has parsed it off the socket, and keeps nothing.

    aiomqtt's message iterator costs a task and an ``asyncio.wait`` per message (tens of
    microseconds): behind a flood of 10 000 messages a second a stop would wait seconds in
    that queue. Here every message is handled in socket order, in O(1), inside the read
    callback that parsed it, so a stop is obeyed as soon as it is read, and "before the
    stop" means exactly what arrived before it on the connection.
    """

    class DispatchingQueue(asyncio.Queue[Any]):
        def put_nowait(self, item: Any) -> None:  # what the client calls; no waiter to wake
            receive(item)

    return DispatchingQueue


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
        self._support_url = settings.support_url or package_support_url()
        self.handler = CommandHandler(
            control,
            remote_start=settings.remote_start,
            max_age_s=settings.command_max_age_s,
            wall=clock.wall,
            default_program=default_program,
            program_names=programs,
        )
        self._client: aiomqtt.Client | None = None
        self._stop_client: aiomqtt.Client | None = None
        self._state_dirty = asyncio.Event()
        self._last_discovery: bytes | None = None
        self._work: asyncio.Queue[_Job] = asyncio.Queue(QUEUE_MAX)
        self._replies: asyncio.Queue[tuple[CommandResult, bool]] = asyncio.Queue(REPLY_QUEUE_MAX)
        self._epoch = 0
        self._received = 0
        self._links_up = {"main": False, "stop": False}
        self._twins: dict[str, collections.deque[tuple[bytes, float]]] = {
            "main": collections.deque(),
            "stop": collections.deque(),
        }
        """Per link: stops already served from the other link whose copy is still to come
        here (payload, when served)."""
        self._current: asyncio.Future[CommandResult] | None = None
        self._current_job: _Job | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._refusal_buckets: dict[str, TokenBucket] = {}
        self._stop_tasks: set[asyncio.Future[Any]] = set()
        self._ha_online = asyncio.Event()
        self.counters = BridgeCounters()
        self.connected = asyncio.Event()
        self.stop_link_connected = asyncio.Event()
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
                support_url=self._support_url,
            ),
            separators=(",", ":"),
        ).encode()

    # ---- publishing -----------------------------------------------------------------------

    async def _publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        client: aiomqtt.Client | None = None,
    ) -> bool:
        client = client or self._client
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

    async def _reply(
        self, result: CommandResult, *, event: bool = True, reply: bool = True
    ) -> None:
        if reply:
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
            if (
                job.epoch != self._epoch
                and not result.ok
                and result.code in (None, "controller_refused")
            ):
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
        # Straight out, never behind queued replies; on the stop link when it is up (the main
        # connection's acknowledgements may be queued behind a flood it has still to read).
        stop_client = self._stop_client if self._links_up["stop"] else None
        await self._publish(self.topics.result(result.verb), result.to_bytes(), client=stop_client)
        await self._reply(result, reply=False)

    def _twin_window_s(self) -> float:
        """How long a stop's copy on the other link is waited for. After twice the command
        age limit, no command from before the stop can pass the staleness rule any more."""
        return 2.0 * self.settings.command_max_age_s

    def _take_twin(self, link: str, payload: bytes) -> bool:
        """Is this stop the copy of one already served from the other link?"""
        twins = self._twins[link]
        cutoff = self._clock.monotonic() - self._twin_window_s()
        while twins and twins[0][1] < cutoff:
            twins.popleft()
        for i, (p, _t) in enumerate(twins):
            if p == payload:
                del twins[i]
                return True
        return False

    def _main_behind_a_stop(self) -> bool:
        """A stop came first on the stop link and its copy has not yet come on the main one:
        what the main link delivers now may have been sent before that stop."""
        twins = self._twins["main"]
        cutoff = self._clock.monotonic() - self._twin_window_s()
        while twins and twins[0][1] < cutoff:
            twins.popleft()
        return bool(twins)

    def _on_stop(self, payload: bytes, link: str = "main") -> None:
        """Obey a stop now: nothing that arrived before it may run after it.

        With the stop link up, every stop comes twice, once per connection. The first copy
        is obeyed; the second only marks its place in its own connection's order (on the
        main link: everything before it is cancelled, as the first copy already did).
        """
        twin = self._take_twin(link, payload)
        if twin and link == "stop":  # the main copy came first and did all of this
            self.counters.stop_twins += 1
            return
        self._epoch += 1
        current, job = self._current, self._current_job
        if current is not None and job is not None and job.verb != "start":
            current.cancel()
        while not self._work.empty():
            self._queue_reply(self._cancelled(self._work.get_nowait()))
        if twin:  # obeyed already from the stop link; this marked its place on the main one
            self.counters.stop_twins += 1
            return
        self.counters.stops += 1
        task = asyncio.ensure_future(self._serve_stop(payload))
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)
        other = "stop" if link == "main" else "main"
        if self._links_up[other]:
            self._twins[other].append((payload, self._clock.monotonic()))

    def _receive_stop_link(self, message: Any) -> None:
        """A message on the stop link (subscribed to ``cmd/stop`` only); never raises."""
        try:
            payload = message.payload
            data = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
            if self.topics.verb_of(str(message.topic)) == "stop":
                self._on_stop(data, "stop")
        except Exception:
            self.counters.bad_messages += 1
            log.exception("a message on the stop link could not be handled")

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

    def _refuse_retained(self, topic: str, verb: str, payload: bytes) -> None:
        """A retained command (found at connect): refused once, then cleared from the broker
        (an empty retained message), so the next connect does not find it again. (A retained
        stop is obeyed, not cleared: clearing it would publish a stop to every subscriber.)"""
        if not payload:
            return  # nothing kept on the broker
        refusal = parse_command(
            verb,
            payload,
            now=self._clock.wall(),
            max_age_s=self.settings.command_max_age_s,
            retained=True,
        )
        assert isinstance(refusal, CommandRefusal)
        self._queue_reply(
            self.handler._result(
                verb,
                ok=False,
                outcome=refusal.outcome,
                reason=refusal.reason + "; cleared from the broker",
                id=refusal.id,
                code=refusal.code,
            )
        )
        task = asyncio.ensure_future(self._publish(topic, b"", retain=True))
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)

    def _dispatch(self, topic: str, payload: bytes, retained: bool) -> None:
        """One incoming message, in O(1) and without awaiting anything."""
        if topic == self.topics.ha_status:
            if payload.strip() == b"online":
                self.counters.ha_online += 1
                self._ha_online.set()  # coalesced by _ha_pump
            return
        verb = self.topics.verb_of(topic)
        if verb is None:
            return
        if verb == "stop":
            self._on_stop(payload, "main")
            return
        if len(verb) > MAX_VERB_CHARS:
            return
        if retained:
            self._refuse_retained(topic, verb, payload)
            return
        if not payload:  # an empty message clears a retained command: it is not one
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
        job = _Job(verb, payload, retained, self._epoch)
        if self._main_behind_a_stop():
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

    def _make_client(self, *, stop_link: bool = False) -> aiomqtt.Client:
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
            identifier=f"tens-{s.controller_id}" + ("-stop" if stop_link else ""),
            will=None
            if stop_link
            else aiomqtt.Will(self.topics.availability, OFFLINE, qos=1, retain=True),
            keepalive=s.keepalive_s,
            tls_params=tls_params,
            socket_options=[NODELAY],
            timeout=s.timeout_s,
            queue_type=dispatching_queue(self._receive_stop_link if stop_link else self._receive),
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connected period: announce, then serve until the connection drops."""
        t = self.topics
        # Replies can go out from here on: retained messages arrive as soon as we subscribe
        # (and are handled at once, in the read callback).
        self._client = client
        self._batch_reads(client)
        self._twins["main"].clear()  # a new connection: nothing of the old one is to come
        await client.subscribe(t.command_filter, qos=1)
        self._links_up["main"] = True
        if self.settings.discovery:
            await client.subscribe(t.ha_status, qos=1)
        self.connections += 1
        await client.publish(t.availability, ONLINE, qos=1, retain=True)
        await self.publish_discovery(force=True)
        await self.publish_state()
        self.connected.set()
        self.on_status(f"MQTT connected to {self.settings.describe()}")
        # Messages are handled in the client's read callback (dispatching_queue): this only
        # waits for the connection to drop (the iterator raises MqttError then).
        async for message in client.messages:
            self._receive(message)

    def _batch_reads(self, client: aiomqtt.Client) -> None:
        """Bound what reading the main connection may cost, so a flood cannot starve the loop.

        aiomqtt's reader callback calls paho's public ``loop_read()``, which reads one packet;
        this wraps it to read on while each read delivered a message (up to READ_BATCH; the
        last read of a batch finds the socket empty), and to spend at most READ_BUDGET_S of
        CPU time in every READ_WINDOW_S reading: past that, the socket is not read until the
        window ends (a flood then waits in the kernel and the broker, not in this process;
        the device link, the timers and the stop link go on). paho still parses every packet,
        in order.
        """
        paho = getattr(client, "_client", None)
        one = getattr(paho, "loop_read", None)
        if paho is None or one is None:
            return
        window = {"start": 0.0, "spent": 0.0}

        def loop_read(max_packets: int = 1) -> Any:
            began = time.perf_counter()  # real time, not the session clock
            cpu = time.thread_time()  # CPU time: being preempted spends no budget
            if began - window["start"] >= READ_WINDOW_S:
                window["start"], window["spent"] = began, 0.0
            rc = one(max_packets)
            for _ in range(READ_BATCH - 1):
                before = self._received
                if rc != 0:  # MQTT_ERR_SUCCESS; anything else is handled by the caller
                    break
                rc = one(max_packets)
                if self._received == before:
                    break
            window["spent"] += time.thread_time() - cpu
            if rc == 0 and window["spent"] >= READ_BUDGET_S:
                self._pause_reading(paho, window["start"] + READ_WINDOW_S - time.perf_counter())
            return rc

        paho.loop_read = loop_read

    def _pause_reading(self, paho: Any, delay_s: float) -> None:
        """Stop watching the main socket for ``delay_s``, then watch it again (if it is still
        the same connection). Best effort: without asyncio's selector, no pause."""
        sock = paho.socket()
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        try:
            fd = sock.fileno()
            handle = loop._selector.get_key(fd).data[0]  # type: ignore[attr-defined]
            callback, args = handle._callback, handle._args or ()
        except (AttributeError, KeyError, ValueError, IndexError, TypeError):
            return
        if callback is None or not loop.remove_reader(fd):
            return
        self.counters.read_pauses += 1

        def resume() -> None:
            if paho.socket() is not sock:  # closed or reconnected meanwhile
                return
            loop.add_reader(fd, callback, *args)
            pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
            if pending is not None and pending() > 0:
                loop.call_soon(callback, *args)

        loop.call_later(max(delay_s, 0.001), resume)

    def _receive(self, message: Any) -> None:
        """One message off the socket; never raises (no message may end the daemon)."""
        self._received += 1
        try:
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                data = bytes(payload)
            elif isinstance(payload, str):
                data = payload.encode("utf-8", "replace")
            else:
                data = b"" if payload is None else str(payload).encode()
            self._dispatch(str(message.topic), data, bool(message.retain))
        except Exception:
            self.counters.bad_messages += 1
            if self.counters.bad_messages % 1000 == 1:
                log.exception(
                    "a message could not be handled (%d so far)", self.counters.bad_messages
                )

    async def run(self) -> None:
        """Serve forever (cancel to end), reconnecting with backoff."""
        import aiomqtt

        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume_events())
            tg.create_task(self._state_pump())
            tg.create_task(self._worker())
            tg.create_task(self._reply_pump())
            tg.create_task(self._ha_pump())
            if self.settings.stop_link:
                tg.create_task(self._run_stop_link())
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
                    self._links_up["main"] = False
                    self.connected.clear()
                self.on_status(f"MQTT disconnected; retrying in {delay:.0f} s")
                await self._clock.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _run_stop_link(self) -> None:
        """The stop link: its own connection, subscribed to ``cmd/stop`` only (no will: the
        main connection's says ``offline``), reconnecting with backoff like the main one."""
        import aiomqtt

        delay = self.settings.reconnect_min_s
        while True:
            try:
                async with self._make_client(stop_link=True) as client:
                    self._stop_client = client
                    delay = self.settings.reconnect_min_s
                    self._twins["stop"].clear()
                    await client.subscribe(self.topics.command("stop"), qos=1)
                    self._links_up["stop"] = True
                    self.stop_link_connected.set()
                    async for message in client.messages:  # handled in the read callback
                        self._receive_stop_link(message)
            except aiomqtt.MqttError as exc:
                if _being_cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("MQTT stop link %s: %s", self.settings.describe(), exc)
            except ValueError as exc:
                log.error("MQTT settings: %s", exc)
            finally:
                self._links_up["stop"] = False
                self._stop_client = None
                self.stop_link_connected.clear()
            await self._clock.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def goodbye(self) -> None:
        """Publish the final state, then ``offline`` (both retained), before a clean exit.

        The daemon calls this after output stopped and the device link closed, so the state
        the broker keeps says what is true once we are gone: no session, link down.

        The caller then cancels :meth:`run`, whose client context sends DISCONNECT, so the
        broker drops the will; an unclean end (crash, kill, power) leaves the will to say it.
        """
        await self.publish_state()
        await self.publish_offline()
