"""Typed events the controller publishes to every face (TUI, CLI, daemon).

Plain frozen dataclasses: faces render them, the daemon turns them into MQTT payloads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Source(enum.StrEnum):
    """Who asked for an output change. Recorded with every decision in the audit trail."""

    CLI = "cli"
    TUI = "tui"
    MQTT = "mqtt"
    SCHEDULER = "scheduler"
    DEVICE = "device"
    SYSTEM = "system"


class SessionState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    RAMPING = "ramping"
    RUNNING = "running"
    PAUSED = "paused"
    RAMPING_DOWN = "ramping_down"
    FINISHED = "finished"
    STOPPED = "stopped"
    ABORTED = "aborted"

    @property
    def active(self) -> bool:
        """Output may be on (or about to be) in this state."""
        return self in (SessionState.RAMPING, SessionState.RUNNING, SessionState.RAMPING_DOWN)

    @property
    def ended(self) -> bool:
        return self in (SessionState.FINISHED, SessionState.STOPPED, SessionState.ABORTED)


class LinkState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a face shows at a glance. Published on every change as StateChanged."""

    link: LinkState
    session: SessionState
    device_name: str | None = None
    device_address: str | None = None
    driver: str | None = None
    link_security: str | None = None
    """``encrypted_bonded``, ``unprotected``, or None (see ``tens.device.DeviceInfo``)."""
    unit: str = "mA"
    program: str | None = None
    target: float = 0.0
    setpoint: float = 0.0
    delivered: tuple[float, ...] = ()
    limit: float | None = None
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    battery_percent: int | None = None
    electrodes_ok: tuple[bool | None, ...] = ()
    session_id: int | None = None
    end_reason: str | None = None
    end_code: str | None = None
    """Machine-readable cause of the last session's end (``link_lost``, ``store_failed`` …)."""
    notices: tuple[str, ...] = ()

    @property
    def delivered_max(self) -> float:
        return max(self.delivered, default=0.0)


@dataclass(frozen=True, slots=True)
class StateChanged:
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class OutputDelivered:
    """The device reported what its electrodes carry (from status notifications)."""

    t: float
    delivered: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """The governor's answer to one request, recorded in the audit trail."""

    source: Source
    action: str
    requested: float | str | None
    allowed: float | str | None
    outcome: str  # "allowed" | "narrowed" | "refused" | "info"
    reasons: tuple[str, ...] = field(default_factory=tuple)
    code: str | None = None
    """A machine-readable code beside the human text (e.g. ``stop_unconfirmed``,
    ``cancelled_by_stop``): faces and exit codes branch on this, never on the wording."""

    @property
    def refused(self) -> bool:
        return self.outcome == "refused"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class Refused:
    """A request was refused; ``decision.reason`` says which limit and why."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class Narrowed:
    """A request was clamped to a limit (e.g. intensity asked above the peak limit)."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session_id: int | None
    state: SessionState
    reason: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a person should read (a fault, a link event, advice)."""

    level: str  # "info" | "warning" | "error"
    text: str


ControllerEvent = StateChanged | OutputDelivered | Refused | Narrowed | SessionEnded | Notice
