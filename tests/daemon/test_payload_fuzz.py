"""Fuzzing every MQTT payload parser (issue 12, item 7 and "an adversarial campaign").

The documented contract: whatever the bytes on whatever topic,

- ``load_json`` returns a value or raises :class:`PayloadError`; nothing else;
- each command model raises only pydantic's ``ValidationError``;
- ``parse_command`` and ``_peek_id`` never raise: a command or a :class:`CommandRefusal`
  with a code;
- ``CommandHandler.handle`` (on the real controller, no device) answers with a
  :class:`CommandResult` that serialises; a refusal carries a code;
- the bridge's receive step (``MqttBridge._dispatch``, which also handles
  ``homeassistant/status``) never raises and never queues past its bound.

The default suite runs ~200 examples each; ``-m slow`` runs many more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tens.clock import ManualClock
from tens.config import TensConfig
from tens.controller import Controller
from tens.daemon.bridge import QUEUE_MAX, MqttBridge
from tens.daemon.commands import (
    CommandHandler,
    CommandRefusal,
    PayloadError,
    _peek_id,
    load_json,
    parse_command,
)
from tens.daemon.payloads import COMMAND_MODELS, Command, CommandResult, LimitsPayload
from tens.daemon.topics import VERBS
from tests.daemon.harness import no_device, settings_for

NOW = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
SHORT = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LONG = settings(
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any character, lone surrogates included (hypothesis leaves them out by default).
chars = st.characters() | st.characters(categories=["Cs"])
text = st.text(chars, max_size=24)
keys = st.sampled_from(["v", "ts", "id", "value", "program", "minutes", "intensity", "placement"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**5000), max_value=10**5000)
    | st.floats()
    | text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys | text, inner, max_size=5),
    max_leaves=24,
)
# Objects shaped like our commands, so validation gets past the first key more often.
ts_values = st.floats(
    min_value=NOW.timestamp() - 10, max_value=NOW.timestamp() + 10, allow_nan=False
) | st.sampled_from([NOW.isoformat(), "2026-01-05T08:00:00", "9999-12-31T23:59:59Z", 1e400])
commandish = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", None]),
        "ts": ts_values | json_values,
        "id": text | json_values,
        "value": st.floats() | st.integers() | json_values,
        "program": text | st.sampled_from(["conventional", "burst"]),
        "minutes": st.floats() | st.integers(),
        "intensity": st.floats() | st.integers(),
        "placement": text,
    },
)


def encoded(value: Any, ascii_only: bool) -> bytes:
    try:
        out = json.dumps(value, ensure_ascii=ascii_only)
    except (ValueError, RecursionError):  # e.g. a huge int's digits limit
        return b"{}"
    return out.encode("utf-8", "surrogatepass")  # invalid UTF-8 when a surrogate is kept


payloads = st.one_of(
    st.binary(max_size=300),
    st.builds(encoded, json_values, st.booleans()),
    st.builds(encoded, commandish, st.booleans()),
    st.builds(
        lambda n, o: (o * n).encode(), st.integers(0, 5000), st.sampled_from(["[", "{", '{"a":'])
    ),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=4), st.integers(1, 1500)),
)
verbs = st.sampled_from([*VERBS, "reboot", "", "x" * 80]) | st.text(chars, max_size=10)


def check_refusal(r: CommandRefusal) -> None:
    assert r.outcome in ("error", "refused")
    assert r.reason and r.code
    assert r.id is None or len(r.id) <= 64


# ---------------------------------------------------------------- pure parsers


def _load_json(payload: bytes) -> None:
    try:
        load_json(payload)
    except PayloadError as exc:
        assert exc.code and exc.reason


def _models(value: Any) -> None:
    for model in COMMAND_MODELS.values():
        try:
            model.model_validate(value)
        except ValidationError:
            pass


def _parse(verb: str, payload: bytes, retained: bool) -> None:
    r = parse_command(verb, payload, now=NOW, max_age_s=5.0, retained=retained)
    assert isinstance(r, Command | CommandRefusal)
    if isinstance(r, CommandRefusal):
        check_refusal(r)
    peeked = _peek_id(payload)
    assert peeked is None or (isinstance(peeked, str) and len(peeked) <= 64)
    result = CommandResult(
        ts=NOW,
        verb=verb,
        ok=False,
        outcome="error",
        reason=getattr(r, "reason", None),
        id=peeked,
        code=getattr(r, "code", None),
    )
    json.loads(result.to_bytes())  # what we publish always serialises


@SHORT
@given(payloads)
def test_load_json_raises_only_its_typed_error(payload: bytes) -> None:
    _load_json(payload)


@SHORT
@given(json_values | commandish)
def test_command_models_raise_only_validation_errors(value: Any) -> None:
    _models(value)


@SHORT
@given(verbs, payloads, st.booleans())
def test_parse_command_is_total(verb: str, payload: bytes, retained: bool) -> None:
    _parse(verb, payload, retained)


# ---------------------------------------------------------------- handler and bridge


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:

        async def drain() -> None:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        lp.run_until_complete(drain())
        lp.close()


def make_bridge(clock: ManualClock) -> tuple[MqttBridge, Controller]:
    controller = Controller(TensConfig(), no_device, None, clock)
    bridge = MqttBridge(
        controller,
        settings_for(1883, remote_start=True),
        clock=clock,
        version="test",
        limits=lambda: LimitsPayload(max=None),
        programs=lambda: ["conventional", "burst"],
    )
    return bridge, controller


def _handle(
    handler: CommandHandler,
    loop: asyncio.AbstractEventLoop,
    verb: str,
    payload: bytes,
    retained: bool,
) -> None:
    result = loop.run_until_complete(handler.handle(verb, payload, retained=retained))
    assert isinstance(result, CommandResult)
    json.loads(result.to_bytes())
    if not result.ok:
        assert result.reason and result.code, result


def _dispatch(
    bridge: MqttBridge,
    loop: asyncio.AbstractEventLoop,
    clock: ManualClock,
    topic: str,
    payload: bytes,
    retained: bool,
    dt_s: float,
) -> None:
    async def step() -> None:
        clock.advance(dt_s)
        bridge._dispatch(topic, payload, retained)  # synchronous: it must not raise
        for _ in range(3):
            await asyncio.sleep(0)  # let a stop (or a clear) it started run

    loop.run_until_complete(step())
    assert bridge._work.qsize() <= QUEUE_MAX
    while not bridge._replies.empty():
        result, _event = bridge._replies.get_nowait()
        json.loads(result.to_bytes())
        assert result.code, result
    if bridge._work.qsize() == QUEUE_MAX:
        while not bridge._work.empty():
            bridge._work.get_nowait()


def _topics(bridge: MqttBridge) -> st.SearchStrategy[str]:
    t = bridge.topics
    return (
        st.sampled_from([t.ha_status, *(t.command(v) for v in VERBS)])
        | verbs.map(t.command)
        | st.sampled_from([f"{t.base}/state", "elsewhere/cmd/start", f"{t.base}/cmd/a/b"])
    )


def test_handler_answers_every_payload(loop: asyncio.AbstractEventLoop) -> None:
    clock = ManualClock(wall=NOW)
    bridge, _ = make_bridge(clock)

    @SHORT
    @given(verbs.filter(lambda v: v != "stop"), payloads, st.booleans())
    def run(verb: str, payload: bytes, retained: bool) -> None:
        _handle(bridge.handler, loop, verb, payload, retained)

    run()


def test_receive_step_never_raises(loop: asyncio.AbstractEventLoop) -> None:
    clock = ManualClock(wall=NOW)
    bridge, _ = make_bridge(clock)

    @SHORT
    @given(_topics(bridge), payloads, st.booleans(), st.floats(0, 0.5))
    def run(topic: str, payload: bytes, retained: bool, dt_s: float) -> None:
        _dispatch(bridge, loop, clock, topic, payload, retained, dt_s)

    run()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_parser_long_run(loop: asyncio.AbstractEventLoop) -> None:
    clock = ManualClock(wall=NOW)
    bridge, _ = make_bridge(clock)

    @LONG
    @given(verbs, payloads, st.booleans(), _topics(bridge), st.floats(0, 0.5))
    def run(verb: str, payload: bytes, retained: bool, topic: str, dt_s: float) -> None:
        _load_json(payload)
        _parse(verb, payload, retained)
        if verb != "stop":
            _handle(bridge.handler, loop, verb, payload, retained)
        _dispatch(bridge, loop, clock, topic, payload, retained, dt_s)

    run()

    @LONG
    @given(json_values | commandish)
    def models(value: Any) -> None:
        _models(value)

    models()
