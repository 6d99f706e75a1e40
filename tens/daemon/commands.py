"""Network commands: the rules a message passes before it reaches the controller.

- ``stop`` is obeyed whatever its payload (empty, garbage, stale, retained): the controller is
  told to stop first, the payload is read afterwards only to echo an ``id``.
- Every other verb needs a JSON object matching its model, a ``ts`` no older (and no further
  ahead) than ``command_max_age_s``, and must not be a retained message: a queued or stored
  message can never start or raise output late.
- ``start`` and ``resume`` (a resume puts output back on: it is a start) are refused unless
  the config turns ``remote_start`` on.
- Parsing is total: any bytes give a command or a :class:`CommandRefusal` with a ``code``.
- What passes goes to the controller with ``Source.MQTT``, so the one governor applies every
  limit (ramp rate, peak, session length, daily cap); its decision becomes the reply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from tens.daemon.payloads import (
    COMMAND_MODELS,
    Command,
    CommandResult,
    IntensityCommand,
    ProgramCommand,
    StartCommand,
)
from tens.events import Decision, Snapshot, Source

log = logging.getLogger("tens.daemon")

MAX_PAYLOAD_BYTES = 4096
STOP_CONFIRM_S = 5.0
"""How long a stop reply waits for the device to confirm before saying it has not."""


class RemoteControl(Protocol):
    """What the daemon needs of :class:`tens.controller.Controller`."""

    async def start(self, request: Any, source: Source) -> Decision: ...

    async def stop(self, source: Source) -> Any: ...

    async def pause(self, source: Source) -> Decision: ...

    async def resume(self, source: Source) -> Decision: ...

    async def set_intensity(self, value: float, source: Source) -> Decision: ...

    def snapshot(self) -> Snapshot: ...


@dataclass(frozen=True, slots=True)
class CommandRefusal:
    """A command that did not reach the controller, with the reason for the reply."""

    reason: str
    outcome: str = "error"  # "error": not understood; "refused": understood, not allowed
    id: str | None = None
    code: str = "invalid"
    """Machine-readable (docs/mqtt.md, "Reply codes"); the reason is for people."""


class PayloadError(ValueError):
    """A payload that is not a JSON value we can read; ``code`` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


MAX_DEPTH = 8
"""Deepest nesting of arrays and objects a command may have (ours are flat)."""


def _check_tree(data: Any) -> None:
    """Iteratively (no recursion): nesting within MAX_DEPTH, every string (keys too) valid
    Unicode, i.e. free of the lone surrogates that JSON escapes like ``\\ud800`` produce."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise PayloadError(
                    "bad_unicode", "payload holds a string that is not valid Unicode"
                ) from None
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise PayloadError("too_deep", f"payload nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)


def load_json(payload: bytes) -> Any:
    """Decode a command payload; raise :class:`PayloadError` (never anything else).

    Strict UTF-8, at most MAX_PAYLOAD_BYTES, nesting at most MAX_DEPTH, no lone surrogates.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("too_large", f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("not_utf8", "payload is not valid JSON (not UTF-8 text)") from None
    if _nesting(text) > MAX_DEPTH:
        raise PayloadError("too_deep", f"payload nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("bad_json", "payload is not valid JSON") from None
    _check_tree(data)
    return data


def _nesting(text: str) -> int:
    """The nesting depth of JSON text (brackets inside strings skipped), stopping early past
    MAX_DEPTH: the decoder never sees 4 KB of nested brackets."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "payload"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc}")
        else:
            parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def _peek_id(payload: bytes) -> str | None:
    try:
        data = load_json(payload)
    except PayloadError:
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str) and len(data["id"]) <= 64:
        return str(data["id"])
    return None


def parse_command(
    verb: str,
    payload: bytes,
    *,
    now: dt.datetime,
    max_age_s: float,
    retained: bool = False,
) -> Command | CommandRefusal:
    """Validate one command message. Pure: no controller, no I/O.

    Total: whatever the bytes, it returns a :class:`Command` or a :class:`CommandRefusal`,
    never raises (tests/daemon/test_payload_fuzz.py holds it to that).
    """
    model = COMMAND_MODELS.get(verb)
    if model is None:
        known = ", ".join(sorted(COMMAND_MODELS))
        return CommandRefusal(
            f"unknown command {verb!r} (known: {known})",
            id=_peek_id(payload),
            code="unknown_command",
        )
    if retained:
        return CommandRefusal(
            "retained commands are refused (publish commands without the retain flag)",
            outcome="refused",
            id=_peek_id(payload),
            code="retained",
        )
    try:
        data = load_json(payload)
    except PayloadError as exc:
        return CommandRefusal(exc.reason, code=exc.code)
    if not isinstance(data, dict):
        return CommandRefusal("payload must be a JSON object", code="not_object")
    try:
        cmd = model.model_validate(data)
    except ValidationError as exc:
        return CommandRefusal(_format_validation(exc), id=_peek_id(payload), code="invalid")
    if cmd.ts is None:
        return CommandRefusal(
            "ts (when the command was issued) is required", id=cmd.id, code="ts_missing"
        )
    try:
        issued = cmd.ts if cmd.ts.tzinfo is not None else cmd.ts.replace(tzinfo=dt.UTC)
        age = (now - issued).total_seconds()
    except (OverflowError, ValueError):
        return CommandRefusal("ts is out of range", id=cmd.id, code="invalid")
    if age > max_age_s:
        return CommandRefusal(
            f"command is {age:.1f} s old (limit {max_age_s:g} s): refused so a queued "
            "message cannot act late",
            outcome="refused",
            id=cmd.id,
            code="stale",
        )
    if age < -max_age_s:
        return CommandRefusal(
            f"command is dated {-age:.1f} s in the future (limit {max_age_s:g} s): "
            "check the clocks",
            outcome="refused",
            id=cmd.id,
            code="future",
        )
    return cmd


@dataclass
class CommandHandler:
    """Turns one command message into controller calls and a :class:`CommandResult`."""

    control: RemoteControl
    remote_start: bool
    max_age_s: float
    wall: Callable[[], dt.datetime]
    """The injected clock's ``wall()`` (aware, UTC)."""
    default_program: str | None = None
    program_names: Callable[[], list[str]] | None = None
    """Programs a remote ``program`` command may select; None accepts any name."""
    selected_program: str | None = field(default=None)

    def _result(
        self,
        verb: str,
        *,
        ok: bool,
        outcome: str,
        reason: str | None = None,
        id: str | None = None,
        requested: float | str | None = None,
        allowed: float | str | None = None,
        code: str | None = None,
    ) -> CommandResult:
        return CommandResult(
            code=code,
            ts=self.wall(),
            verb=verb,
            ok=ok,
            outcome=outcome,
            reason=reason,
            id=id,
            requested=requested,
            allowed=allowed,
        )

    def _from_decision(self, verb: str, d: Decision, id: str | None) -> CommandResult:
        ok = not d.refused
        outcome = d.outcome if d.outcome in ("allowed", "narrowed", "refused") else "allowed"
        return self._result(
            verb,
            ok=ok,
            outcome=outcome,
            reason=d.reason or None,
            id=id,
            requested=d.requested,
            allowed=d.allowed,
            # every refusal carries a code: the controller's own, else a generic one
            code=d.code or ("controller_refused" if not ok else None),
        )

    async def stop(self, payload: bytes) -> CommandResult:
        """Stop at once, whatever the payload; then read the payload for an id.

        The reply waits for the device to confirm, at most ``STOP_CONFIRM_S``; past that the
        reply says so (the stop itself goes on, and the device's own watchdog is the backstop).
        """
        stopping = asyncio.ensure_future(self.control.stop(Source.MQTT))
        done, _ = await asyncio.wait({stopping}, timeout=STOP_CONFIRM_S)
        error: str | None = None
        code = "stop_failed"
        if not done:
            error = f"stop sent, but the device has not confirmed it within {STOP_CONFIRM_S:g} s"
            code = "stop_unconfirmed"
        elif stopping.cancelled() or stopping.exception() is not None:
            error = f"stop failed: {'cancelled' if stopping.cancelled() else stopping.exception()}"
        elif getattr(stopping.result(), "code", None) == "stop_unconfirmed":
            error = stopping.result().reason  # not confirmed: the controller dropped the link
            code = "stop_unconfirmed"
        if error is not None:
            log.error("stop from MQTT: %s", error)
            return self._result(
                "stop", ok=False, outcome="error", reason=error, id=_peek_id(payload), code=code
            )
        return self._result("stop", ok=True, outcome="allowed", id=_peek_id(payload))

    async def handle(self, verb: str, payload: bytes, *, retained: bool = False) -> CommandResult:
        if verb == "stop":
            return await self.stop(payload)
        parsed = parse_command(
            verb, payload, now=self.wall(), max_age_s=self.max_age_s, retained=retained
        )
        if isinstance(parsed, CommandRefusal):
            return self._result(
                verb,
                ok=False,
                outcome=parsed.outcome,
                reason=parsed.reason,
                id=parsed.id,
                code=parsed.code,
            )
        if isinstance(parsed, StartCommand):
            return await self._start(parsed)
        if isinstance(parsed, IntensityCommand):
            d = await self.control.set_intensity(parsed.value, Source.MQTT)
            return self._from_decision(verb, d, parsed.id)
        if isinstance(parsed, ProgramCommand):
            return self._select_program(parsed)
        if verb == "pause":
            return self._from_decision(verb, await self.control.pause(Source.MQTT), parsed.id)
        if verb == "resume":
            if not self.remote_start:
                # Resume is a start: output comes back on. Off, a person paused it locally
                # and only they (or a remote start they allowed) may bring it back.
                return self._remote_start_off("resume", parsed.id)
            return self._from_decision(verb, await self.control.resume(Source.MQTT), parsed.id)
        return self._result(
            verb, ok=False, outcome="error", reason="not handled", id=parsed.id, code="internal"
        )

    def _remote_start_off(self, verb: str, id: str | None) -> CommandResult:
        return self._result(
            verb,
            ok=False,
            outcome="refused",
            id=id,
            reason=f"remote {verb} is off (set mqtt.remote_start = true in the config)",
            code="remote_start_off",
        )

    def _known_programs(self) -> list[str] | None:
        return None if self.program_names is None else list(self.program_names())

    def _select_program(self, cmd: ProgramCommand) -> CommandResult:
        known = self._known_programs()
        if known is not None and cmd.program not in known:
            return self._result(
                "program",
                ok=False,
                outcome="refused",
                id=cmd.id,
                requested=cmd.program,
                reason=f"unknown program {cmd.program!r} (known: {', '.join(known)})",
                code="unknown_program",
            )
        self.selected_program = cmd.program
        return self._result(
            "program",
            ok=True,
            outcome="allowed",
            id=cmd.id,
            requested=cmd.program,
            allowed=cmd.program,
        )

    async def _start(self, cmd: StartCommand) -> CommandResult:
        if not self.remote_start:
            return self._remote_start_off("start", cmd.id)
        from tens.controller import StartRequest  # the controller module, loaded when needed

        kwargs: dict[str, Any] = {
            "program": cmd.program or self.selected_program or self.default_program,
            "intensity": cmd.intensity,
        }
        if cmd.minutes is not None:
            kwargs["minutes"] = cmd.minutes
        if cmd.placement is not None:
            kwargs["placement"] = cmd.placement
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            request = StartRequest(**kwargs)
        except (TypeError, ValueError) as exc:
            return self._result(
                "start", ok=False, outcome="error", reason=str(exc), id=cmd.id, code="invalid"
            )
        d = await self.control.start(request, Source.MQTT)
        return self._from_decision("start", d, cmd.id)
