"""Versioned JSON payloads on the bus (documented in docs/mqtt.md).

Every payload carries ``v`` (the payload version, 1 here) and ``ts`` (UTC, ISO 8601). Commands
are strict: unknown keys, wrong types, non-finite or out-of-range numbers are refused with a
reason, and nothing changes. A command's ``ts`` is when it was issued (ISO 8601 or Unix
seconds); stale commands are refused (see :mod:`tens.daemon.commands`).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tens.events import Decision, Snapshot

PAYLOAD_VERSION: Literal[1] = 1
MAX_TEXT = 500
"""Longest text field we publish (a reason, an id, a verb); longer is cut."""


def clean_text(value: object, limit: int = MAX_TEXT) -> object:
    """A string that can always be encoded as UTF-8 (lone surrogates become ``?``), cut to
    ``limit`` characters; anything else unchanged. Every text we publish passes here, so a
    reply can never fail to serialise on what a message carried."""
    if not isinstance(value, str):
        return value
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.encode("utf-8", "replace").decode("utf-8")


class _Out(BaseModel):
    """A payload we publish."""

    model_config = ConfigDict(frozen=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class DevicePayload(_Out):
    name: str | None = None
    address: str | None = None
    driver: str | None = None


class LimitsPayload(_Out):
    """The effective output limits, in the device's unit (what HA's number entity uses)."""

    unit: str = "mA"
    min: float = 0.0
    max: float | None = None
    """None: no device, or no limit can be computed: remote intensity commands are refused."""
    step: float | None = None
    ramp_per_s: float | None = None


class StatePayload(_Out):
    """Retained on ``<prefix>/<id>/state``; republished on every change."""

    v: Literal[1] = PAYLOAD_VERSION
    ts: dt.datetime
    controller: str
    link: str
    device: DevicePayload | None = None
    link_security: str | None = None
    """``encrypted_bonded`` / ``unprotected`` while a device is connected, else None."""
    session: str
    active: bool
    program: str | None = None
    """The running session's program, else the program a remote start would use."""
    unit: str = "mA"
    target: float = 0.0
    setpoint: float = 0.0
    delivered: list[float] = Field(default_factory=list)
    delivered_max: float = 0.0
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    battery_percent: int | None = None
    electrodes_ok: list[bool | None] = Field(default_factory=list)
    electrode_ok: bool | None = None
    """All electrodes in contact (None: the device does not report it, or no device)."""
    limits: LimitsPayload = LimitsPayload()
    remote_start: bool = False
    session_id: int | None = None
    end_reason: str | None = None
    notices: list[str] = Field(default_factory=list)


def electrode_summary(values: tuple[bool | None, ...]) -> bool | None:
    """False when any electrode is off; None when unknown; True when all are on."""
    if any(v is False for v in values):
        return False
    if not values or any(v is None for v in values):
        return None
    return True


def state_payload(
    snap: Snapshot,
    *,
    controller_id: str,
    ts: dt.datetime,
    limits: LimitsPayload,
    remote_start: bool,
    selected_program: str | None,
) -> StatePayload:
    device = None
    if snap.device_name or snap.device_address or snap.driver:
        device = DevicePayload(
            name=snap.device_name, address=snap.device_address, driver=snap.driver
        )
    return StatePayload(
        ts=ts,
        controller=controller_id,
        link=str(snap.link),
        device=device,
        link_security=snap.link_security,
        session=str(snap.session),
        active=snap.session.active,
        program=snap.program
        if snap.session.active or snap.session == "paused"
        else (selected_program or snap.program),
        unit=snap.unit,
        target=round(snap.target, 3),
        setpoint=round(snap.setpoint, 3),
        delivered=[round(d, 3) for d in snap.delivered],
        delivered_max=round(snap.delivered_max, 3),
        elapsed_s=round(snap.elapsed_s, 1),
        # An ended session has no time left, whatever its last count said (issue 18).
        remaining_s=0.0
        if snap.session.ended
        else (None if snap.remaining_s is None else round(snap.remaining_s, 1)),
        battery_percent=snap.battery_percent,
        electrodes_ok=list(snap.electrodes_ok),
        electrode_ok=electrode_summary(snap.electrodes_ok),
        limits=limits,
        remote_start=remote_start,
        session_id=snap.session_id,
        end_reason=snap.end_reason,
        notices=list(snap.notices),
    )


class EventPayload(_Out):
    """Not retained, on ``<prefix>/<id>/events``."""

    v: Literal[1] = PAYLOAD_VERSION
    ts: dt.datetime
    kind: Literal["refused", "narrowed", "session_ended", "notice", "command"]
    source: str | None = None
    action: str | None = None
    outcome: str | None = None
    requested: float | str | None = None
    allowed: float | str | None = None
    reason: str | None = None
    state: str | None = None
    session_id: int | None = None
    level: str | None = None
    text: str | None = None
    code: str | None = None

    @field_validator(
        "source",
        "action",
        "outcome",
        "requested",
        "allowed",
        "reason",
        "state",
        "text",
        "code",
        mode="before",
    )
    @classmethod
    def _clean(cls, value: object) -> object:
        return clean_text(value)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def decision_event(
    kind: Literal["refused", "narrowed"], d: Decision, ts: dt.datetime
) -> EventPayload:
    return EventPayload(
        ts=ts,
        kind=kind,
        source=str(d.source),
        action=d.action,
        outcome=d.outcome,
        requested=d.requested,
        allowed=d.allowed,
        reason=d.reason or None,
        code=d.code,
    )


# --- commands (what we receive) ----------------------------------------------------------


class Command(BaseModel):
    """Fields every command may carry."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    v: Literal[1] = PAYLOAD_VERSION
    ts: dt.datetime | None = None
    """When the command was issued; required for every verb except stop."""
    id: str | None = Field(default=None, max_length=64)
    """Echoed in the result, so a caller can match replies to requests."""


class StartCommand(Command):
    program: str | None = Field(default=None, min_length=1, max_length=64)
    minutes: float | None = Field(default=None, gt=0, le=720)
    intensity: float | None = Field(default=None, ge=0)
    """Target intensity; the session starts at zero and ramps to it at the governed rate."""
    placement: str | None = Field(default=None, min_length=1, max_length=64)


class IntensityCommand(Command):
    value: float = Field(ge=0)


class ProgramCommand(Command):
    program: str = Field(min_length=1, max_length=64)


class StopCommand(Command):
    """Stop is obeyed whatever the payload; this model only reads an ``id`` when it can."""


COMMAND_MODELS: dict[str, type[Command]] = {
    "start": StartCommand,
    "stop": StopCommand,
    "pause": Command,
    "resume": Command,
    "intensity": IntensityCommand,
    "program": ProgramCommand,
}


class CommandResult(_Out):
    """The reply on ``cmd/<verb>/result`` (QoS 1, not retained)."""

    v: Literal[1] = PAYLOAD_VERSION
    ts: dt.datetime
    verb: str
    ok: bool
    outcome: Literal["allowed", "narrowed", "refused", "error"]
    """``refused``: the rules said no; ``error``: the command could not be understood."""
    reason: str | None = None
    id: str | None = None
    requested: float | str | None = None
    allowed: float | str | None = None
    code: str | None = None
    """Machine-readable beside ``reason`` (docs/mqtt.md lists them): branch on this, never on
    the wording. ``None`` when the command was done as asked."""

    @field_validator("verb", "reason", "id", "requested", "allowed", "code", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        return clean_text(value)
