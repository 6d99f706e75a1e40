"""What one campaign run leaves behind, and the invariants judged on it.

A :class:`Trace` holds the simulator's delivered-output record, what the device was asked
(decoded by the *simulator's* codec, never the driver's encoder), every controller call with
its outcome, every injected fault and every moment after which output must be 0. The checks
(:func:`check`) read only that: never what the controller believes it sent.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Point:
    """A value of one channel from time ``t`` on (delivered or asked)."""

    t: float
    channel: int
    value: float
    why: str


@dataclass
class Call:
    """One call into the controller: when it began and ended, and what it returned."""

    t0: float
    action: str
    source: str
    arg: object = None
    t1: float | None = None
    outcome: str | None = None
    reason: str = ""
    code: str | None = None
    minutes: float | None = None
    ended_before: int = 0
    """How many SessionEnded had been seen when the call began: many things happen at one
    virtual instant, so "after the call" is judged by order, not by time alone."""

    @property
    def allowed(self) -> bool:
        return self.outcome in ("allowed", "narrowed")


@dataclass(frozen=True, slots=True)
class Blackout:
    """From ``t`` on, output must be 0: delivered by ``t + bound``, asked by ``t + ask_bound``,
    until a start (or resume) that *began* after ``t`` is allowed."""

    t: float
    why: str
    bound: float
    ask_bound: float
    from_stop_asked: bool = False
    after_call: int = 0
    """Only calls from this index of ``Trace.calls`` on came after it (the virtual clock does
    not move between two calls made one after the other)."""
    """Asked output must be 0 from the first STOP the device received after ``t`` (a write
    already in flight may land before it), or ``t + ask_bound`` if none came within 0.5 s."""


@dataclass(frozen=True, slots=True)
class Unresponsive:
    """The firmware answered nothing from ``t0`` to ``t1`` (stuck, hung, acks muted)."""

    t0: float
    t1: float
    kind: str


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    t: float
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] t={self.t:.3f}: {self.detail}"


@dataclass(frozen=True)
class Bounds:
    """The limits the controller runs with, and the time bounds the checks allow."""

    peak: float
    rate: float  # per second
    ramp_tol_delivered: float
    ramp_tol_asked: float
    session_s: float
    daily_s: float
    stop_bound: float = 0.3
    """A commanded stop: delivered 0 within this (a few connection events)."""
    silence_bound: float = 2.25
    """Firmware silent mid-session: delivered 0 within this (detection <= 1 s, then a stop
    that is not confirmed within <= 1 s drops the link)."""
    unconfirmed_stop_bound: float = 1.25
    """A stop the device does not confirm: the link is dropped within this (~1 s)."""
    on_time_slack: float = 1.0


@dataclass
class Trace:
    channels: int
    delivered: list[Point] = field(default_factory=list)
    asked: list[Point] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    blackouts: list[Blackout] = field(default_factory=list)
    unresponsive: list[Unresponsive] = field(default_factory=list)
    stops_asked: list[float] = field(default_factory=list)
    """Times the device received a STOP (or the Coyote's absolute-0, waveform-dropped B0)."""
    link_up: list[float] = field(default_factory=list)
    """Times the device saw a central connect."""
    link_down: list[float] = field(default_factory=list)
    """Times the device saw its link go down (a disconnect zeroes a conforming device)."""
    faults: Counter[str] = field(default_factory=Counter)
    fault_times: list[tuple[float, str]] = field(default_factory=list)
    lasting: list[tuple[float, float, str]] = field(default_factory=list)
    """(from, until, kind) of faults that stay in force (low battery, an electrode off): a
    session that starts inside one may end for it at any moment (seed 8057)."""
    """(time, kind) of every device or store fault injected."""
    command_times: list[tuple[float, str]] = field(default_factory=list)
    """(time, kind) of every command fault (two sources, stop race, hold, pause)."""
    crashes: list[tuple[float, str]] = field(default_factory=list)
    ended: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, state, reason) of every SessionEnded the controller emitted."""
    steps: list[tuple[float, str]] = field(default_factory=list)
    """What the campaign did, in order: the reproduction printed with a violation."""
    end_t: float = 0.0
    day_changed: bool = False

    def step(self, t: float, what: str) -> None:
        self.steps.append((t, what))

    def starts(self) -> list[Call]:
        return [c for c in self.calls if c.action in ("start", "resume") and c.allowed]

    def next_start_after(self, bo: Blackout) -> float:
        """When the first start or resume made after ``bo`` was allowed (inf if none)."""
        later = [
            c.t1
            for c in self.calls[bo.after_call :]
            if c.action in ("start", "resume") and c.allowed and c.t1 is not None
        ]
        return min(later, default=math.inf)


def check(trace: Trace, b: Bounds) -> list[Violation]:
    out: list[Violation] = []
    out += _peak(trace, b)
    out += _ramp(trace.delivered, b.rate, b.ramp_tol_delivered, "ramp_delivered", trace)
    out += _ramp(trace.asked, b.rate, b.ramp_tol_asked, "ramp_asked", trace)
    out += _blackouts(trace, b)
    out += _unconfirmed_stop(trace, b)
    out += _on_time(trace, b)
    out += _pause_holds(trace)
    out += _stop_returns(trace, b)
    for t, text in trace.crashes:
        kind = "unretrieved_exception" if "never retrieved" in text else "crash"
        if "Host.on_packet" in text:
            kind = "radio_error"  # in bumble's host (the virtual radio), not in tens
        out.append(Violation(kind, t, text))
    return out


def _peak(trace: Trace, b: Bounds) -> list[Violation]:
    out = []
    for name, points in (("peak_delivered", trace.delivered), ("peak_asked", trace.asked)):
        for p in points:
            if p.value > b.peak + EPS:
                out.append(Violation(name, p.t, f"channel {p.channel} at {p.value:g} > {b.peak:g}"))
                break
    return out


def _by_channel(points: list[Point], channel: int) -> list[Point]:
    return [p for p in points if p.channel == channel]


def _ramp(points: list[Point], rate: float, tol: float, name: str, trace: Trace) -> list[Violation]:
    """Rise over *any* window [a, b] <= rate * (b - a) + tol: no credit from a hold.

    With the value a step function, (v_b - rate*t_b) - min over a <= b of (v_a - rate*t_a)
    is the worst excess ending at b; the value held until b counts at b too."""
    out = []
    for ch in range(trace.channels):
        lowest = math.inf
        prev: Point | None = None
        for p in _by_channel(points, ch):
            if prev is not None:
                lowest = min(lowest, prev.value - rate * p.t)  # held until now
            excess = (p.value - rate * p.t) - lowest
            if excess > tol + EPS:
                start = prev.value if prev else 0.0
                out.append(
                    Violation(
                        name,
                        p.t,
                        f"channel {ch}: {start:g} -> {p.value:g} ({p.why}); rise exceeds "
                        f"{rate:g}/s over a window by {excess:.3g} (tolerance {tol:g})",
                    )
                )
                break
            lowest = min(lowest, p.value - rate * p.t)
            prev = p
    return out


def _value_at(points: list[Point], channel: int, t: float) -> float:
    value = 0.0
    for p in points:
        if p.t > t + EPS:
            break
        if p.channel == channel:
            value = p.value
    return value


def _blackouts(trace: Trace, b: Bounds) -> list[Violation]:
    out = []
    for bo in trace.blackouts:
        until = trace.next_start_after(bo)
        bound, ask_bound = bo.bound, bo.ask_bound
        if any(u.t0 - EPS <= bo.t <= u.t1 for u in trace.unresponsive):
            # the firmware hears nothing now: only silence detection (or its watchdog) helps
            bound = max(bound, b.silence_bound)
            ask_bound = max(ask_bound, b.silence_bound)
        for kind, points, lim in (
            ("zero_after_stop", trace.delivered, bound),
            ("asked_after_stop", trace.asked, ask_bound),
        ):
            frm = bo.t + lim
            if kind == "asked_after_stop" and bo.from_stop_asked and ask_bound == bo.ask_bound:
                stop_at = min((t for t in trace.stops_asked if t >= bo.t - EPS), default=math.inf)
                if stop_at <= bo.t + 0.5:
                    frm = stop_at
            if frm >= until:
                continue
            bad = None
            for ch in range(trace.channels):
                v = _value_at(points, ch, frm)
                if v > EPS:
                    bad = (frm, ch, v, "still on")
                    break
                for p in _by_channel(points, ch):
                    if frm < p.t < until and p.value > EPS:
                        bad = (p.t, ch, p.value, p.why)
                        break
                if bad:
                    break
            if bad:
                t, ch, v, why = bad
                nxt = "no new start" if until == math.inf else f"next start at {until:.3f}"
                out.append(
                    Violation(
                        kind,
                        t,
                        f"after {bo.why} at {bo.t:.3f} (bound {lim:g} s, {nxt}): channel "
                        f"{ch} at {v:g} ({why})",
                    )
                )
    return out


def _unconfirmed_stop(trace: Trace, b: Bounds) -> list[Violation]:
    """A stop (or pause) the device cannot confirm: the link drops within the bound."""
    out = []
    for c in trace.calls:
        if c.action not in ("stop", "pause") or (c.action == "pause" and not c.allowed):
            continue
        ups = [t for t in trace.link_up if t <= c.t0]
        downs = [t for t in trace.link_down if t <= c.t0]
        if not ups or (downs and max(downs) >= max(ups)):
            continue  # no link when the stop came: nothing to drop
        for u in trace.unresponsive:
            if u.t0 <= c.t0 and c.t0 + b.unconfirmed_stop_bound <= u.t1:
                drops = [t for t in trace.link_down if c.t0 - EPS <= t]
                first = min(drops, default=math.inf)
                if first > c.t0 + b.unconfirmed_stop_bound:
                    when = "never" if first == math.inf else f"at {first:.3f}"
                    out.append(
                        Violation(
                            "unconfirmed_stop_drops_link",
                            c.t0,
                            f"{c.action} from {c.source} while the firmware was {u.kind} "
                            f"({u.t0:.3f}-{u.t1:.3f}): link dropped {when}, bound "
                            f"{b.unconfirmed_stop_bound:g} s; {c.action} returned {c.outcome}",
                        )
                    )
                break
    return out


def _on_time(trace: Trace, b: Bounds) -> list[Violation]:
    """Output time (delivered > 0 on any channel) per session and per run (one day)."""
    out = []
    spans: list[tuple[float, float]] = []
    on_since: float | None = None
    values = [0.0] * trace.channels
    for p in trace.delivered:
        values[p.channel] = p.value
        on = any(v > EPS for v in values)
        if on and on_since is None:
            on_since = p.t
        elif not on and on_since is not None:
            spans.append((on_since, p.t))
            on_since = None
    if on_since is not None:
        spans.append((on_since, trace.end_t))
    starts = sorted(
        c.t1 for c in trace.calls if c.action == "start" and c.allowed and c.t1 is not None
    )
    minutes = {c.t1: c.minutes for c in trace.calls if c.action == "start" and c.allowed}
    for i, s0 in enumerate(starts):
        s1 = starts[i + 1] if i + 1 < len(starts) else math.inf
        on = sum(max(0.0, min(e, s1) - max(a, s0)) for a, e in spans)
        allowed = min(b.session_s, 60 * (minutes.get(s0) or math.inf))
        if on > allowed + b.on_time_slack:
            out.append(
                Violation(
                    "session_time",
                    s0,
                    f"session started at {s0:.3f} delivered for {on:.2f} s, its time is "
                    f"{allowed:g} s",
                )
            )
    total = sum(e - a for a, e in spans)
    if not trace.day_changed and total > b.daily_s + b.on_time_slack * max(1, len(starts)):
        out.append(
            Violation(
                "daily_cap", trace.end_t, f"{total:.1f} s of output in one day, cap {b.daily_s:g} s"
            )
        )
    return out


def _pause_holds(trace: Trace) -> list[Violation]:
    """A pause keeps the session (output 0, link held) until resume or stop: nothing but a
    fault, a stop or the link going down may end it meanwhile."""
    out = []
    for i, p in enumerate(trace.calls):
        if p.action != "pause" or not p.allowed or p.t1 is None:
            continue
        later = [c.t0 for c in trace.calls[i + 1 :] if c.action in ("resume", "stop")]
        until = min(later, default=math.inf)
        for t, state, reason in trace.ended[p.ended_before :]:
            if not p.t1 <= t < until:
                continue
            excuses = [f for f, _ in trace.fault_times if p.t0 - 1.5 <= f <= t]
            excuses += [a for a, e, _ in trace.lasting if a <= t and e >= p.t0 - 1.5]
            excuses += [d for d in trace.link_down if p.t0 <= d <= t]
            excuses += [u.t0 for u in trace.unresponsive if u.t0 <= t and u.t1 >= p.t0 - 1.5]
            if not excuses:
                out.append(
                    Violation(
                        "pause_holds",
                        t,
                        f"paused at {p.t0:.3f} by {p.source}, the session {state} at {t:.3f} "
                        f"with no fault or stop: {reason}",
                    )
                )
            break
    return out


def _stop_returns(trace: Trace, b: Bounds) -> list[Violation]:
    """Stop never waits behind anything: the call returns (confirmed, or the link dropped
    and said so) within the unconfirmed-stop bound."""
    out = []
    for c in trace.calls:
        if c.action == "stop" and c.t1 is not None and c.t1 - c.t0 > b.unconfirmed_stop_bound:
            out.append(
                Violation(
                    "stop_returns_in_bound",
                    c.t0,
                    f"stop from {c.source} took {c.t1 - c.t0:.3f} s "
                    f"(bound {b.unconfirmed_stop_bound:g} s): {c.outcome}: {c.reason}",
                )
            )
    return out
