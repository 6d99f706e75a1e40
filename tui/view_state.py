"""The TUI's view of the controller: the latest snapshot, recent output, the event log.

Fed with controller events (or snapshots injected by tests); widgets render from it only.
Plain Python, no Textual, so it is easy to test and deterministic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from tens.events import (
    ControllerEvent,
    LinkState,
    Narrowed,
    Notice,
    OutputDelivered,
    Refused,
    SessionEnded,
    SessionState,
    Snapshot,
    StateChanged,
)
from tui import format as fmt

LOGGED_STATES = frozenset({SessionState.RAMPING, SessionState.RUNNING, SessionState.PAUSED})
"""Session states worth a log line (endings are logged from SessionEnded, with the reason)."""

CHART_SPAN_S = 180.0
"""The output chart shows the last three minutes."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the session screen's event log."""

    at: str  # wall-clock time of day, HH:MM:SS
    level: str  # "info" | "warning" | "error"
    text: str

    def render(self) -> str:
        tag = {"warning": "! ", "error": "!! "}.get(self.level, "")
        return f"{self.at} {tag}{self.text}"


@dataclass(slots=True)
class ViewState:
    snapshot: Snapshot = field(
        default_factory=lambda: Snapshot(link=LinkState.DISCONNECTED, session=SessionState.IDLE)
    )
    delivered: tuple[float, ...] = ()
    samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=50_000))
    log: deque[LogLine] = field(default_factory=lambda: deque(maxlen=200))
    last_refusal: str | None = None

    @property
    def output_may_be_on(self) -> bool:
        """True while a session is active or paused, or the device reports any output."""
        s = self.snapshot.session
        return s.active or s is SessionState.PAUSED or max(self.delivered, default=0.0) > 0

    @property
    def delivered_max(self) -> float:
        return max(self.delivered, default=0.0)

    def add_sample(self, t: float, value: float) -> None:
        """Keep what the chart needs: the window, plus the last sample before it (the value
        held at the window's left edge)."""
        self.samples.append((t, value))
        while len(self.samples) > 1 and self.samples[1][0] < t - CHART_SPAN_S:
            self.samples.popleft()

    def add_log(self, at: str, level: str, text: str) -> None:
        self.log.append(LogLine(at, level, text))

    def apply(self, event: ControllerEvent, *, at: str, now: float) -> None:
        """Fold one controller event into the view. ``at`` is HH:MM:SS, ``now`` monotonic."""
        if isinstance(event, StateChanged):
            self.apply_snapshot(event.snapshot, at=at, now=now)
        elif isinstance(event, OutputDelivered):
            self.delivered = event.delivered
            self.add_sample(event.t, max(event.delivered, default=0.0))
        elif isinstance(event, Refused):
            reason = event.decision.reason or "no reason given"
            self.last_refusal = f"{event.decision.action}: {reason}"
            self.add_log(at, "warning", f"REFUSED {event.decision.action}: {reason}")
        elif isinstance(event, Narrowed):
            d = event.decision
            self.add_log(
                at,
                "info",
                f"LIMITED {d.action}: asked {d.requested}, allowed {d.allowed} ({d.reason})",
            )
        elif isinstance(event, SessionEnded):
            self.last_refusal = None
            # The controller also sends the ending as a Notice just before: one line, not two.
            said = f"session {event.state.value}: {event.reason}"
            if self.log and self.log[-1].text.lower() == said.lower():
                self.log.pop()
            self.add_log(
                at,
                "warning" if event.state is SessionState.ABORTED else "info",
                f"Session {fmt.state_word(event.state).lower()}: {event.reason}",
            )
        elif isinstance(event, Notice):
            self.add_log(at, event.level, event.text)

    def apply_snapshot(
        self, snap: Snapshot, *, at: str, now: float, with_notices: bool = False
    ) -> None:
        """Take a snapshot. ``with_notices``: also log its notices (only for the first one:
        later notices arrive as Notice events)."""
        old = self.snapshot
        self.snapshot = snap
        if snap.delivered or not old.delivered:
            self.delivered = snap.delivered
        if snap.delivered:
            self.add_sample(now, snap.delivered_max)
        if snap.link is not old.link:
            level = "error" if snap.link is LinkState.LOST else "info"
            self.add_log(at, level, f"Link {fmt.link_word(snap.link)}")
        if snap.session is not old.session and snap.session in LOGGED_STATES:
            self.add_log(at, "info", f"Session {fmt.state_word(snap.session).lower()}")
        if with_notices:
            for text in snap.notices:
                self.add_log(at, "info", text)

    def take_time(self, snap: Snapshot) -> None:
        """Take only the session's clock from a newer snapshot of the same session (the state
        still comes from the event stream, in order). Time never runs backwards here."""
        old = self.snapshot
        if snap.session_id is None or snap.session_id != old.session_id:
            return
        if snap.elapsed_s <= old.elapsed_s:
            return
        self.snapshot = replace(old, elapsed_s=snap.elapsed_s, remaining_s=snap.remaining_s)

    def chart(self, now: float, columns: int) -> list[float]:
        return fmt.bucket_max(list(self.samples), now, CHART_SPAN_S, columns)
