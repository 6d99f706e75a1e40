"""The session runner: ramp up within the governor, hold, ramp down, end on time.

One :class:`Session` is one start. Its output task ticks on fixed deadlines of the injected
clock (no busy-waiting, no drift), and every setpoint it writes passes
:func:`tens.safety.gate` first, on the device's intensity grid (rounded down), against every
window of the setpoints written so far (no ramp credit after a hold). Halting (stop, pause,
abort) is not the task's job: the controller cancels the task and writes STOP to the device
at once, so a stop never waits for a tick. While paused, :meth:`OutputTask.hold_paused` keeps
the device's keepalive going at output 0 and ends the session after the longest pause.
Time is counted on the monotonic clock, so a wall-clock jump cannot stretch a session; paused
time is not stimulation time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tens.clock import Clock
from tens.device import ChannelOutput, Device
from tens.events import Decision, SessionState, Source
from tens.safety import (
    EffectiveLimits,
    StartPlan,
    gate,
    next_setpoint,
    quantise_down,
    rise_slack,
)

TICK_S = 0.1
RECENT_S = 1.0  # how long a written setpoint may still show in the device's status
KEEPALIVE_FRACTION = 0.3  # keepalive at least every 0.3 x the device's watchdog
MAX_PAUSE_S = 600.0  # the default longest pause (config session.max_pause_minutes)
TIME_EPS_S = 1e-9
"""Time closer than this to a session boundary is at it: summed ticks leave float dust
(5.999999999999999 s of 6.0), and a wait of 8.9e-16 s fires at the same loop time forever."""


class SessionHalted(Exception):
    """The output task ended the session itself (a refused gate, a device error)."""

    def __init__(self, state: SessionState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


@dataclass
class Session:
    """One session's plan and accounting. Its state changes only through its own methods
    (called by its output task and the controller) and the output task."""

    plan: StartPlan
    limits: EffectiveLimits
    ramp_down_s: float
    max_pause_s: float = MAX_PAUSE_S
    id: int | None = None
    state: SessionState = SessionState.RAMPING
    target: float = 0.0
    setpoint: float = 0.0
    elapsed_s: float = 0.0
    max_setpoint: float = 0.0
    recent: list[tuple[float, float]] = field(default_factory=list)
    """(time, setpoint) written in the last ``RECENT_S``: a status in flight may show these."""
    writes: list[tuple[float, float]] = field(default_factory=list)
    """(time, setpoint) written, oldest first, as far back as a window can still matter
    (peak / rate): what the governor checks every rise against."""
    end_reason: str | None = None
    end_code: str | None = None
    """Machine-readable cause of the end (e.g. ``link_lost``, ``store_failed``), or None."""
    ramp_down_from: float = 0.0
    paused_at: float | None = None
    armed: bool = False
    """The device acknowledged this session's START: fault bits it reports from here on are
    this session's (before it, a watchdog or electrode-off bit can still be latched from the
    previous session: the device clears them on START)."""
    _last_tick_t: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def remaining_s(self) -> float:
        """Stimulation time left; dust below ``TIME_EPS_S`` is none (0.0), so every
        end-of-session comparison and wait is made on a clean value."""
        left = self.plan.duration_s - self.elapsed_s
        return left if left > TIME_EPS_S else 0.0

    @property
    def paused(self) -> bool:
        return self.state is SessionState.PAUSED

    def allowed_now(self, now: float) -> float:
        """The most the device may be delivering now: the setpoint, or one written within
        ``RECENT_S`` (a decrease takes a connection event to show in a status)."""
        return max([self.setpoint] + [v for t, v in self.recent if now - t <= RECENT_S])

    def set_target(self, value: float) -> None:
        self.target = value
        self._changed.set()

    def record_write(self, now: float, value: float) -> None:
        """A setpoint went to the device (0 for a STOP): the history every rise is checked
        against. Values whose hold ended longer ago than peak / rate bound nothing more."""
        lim = self.limits
        horizon = lim.peak / lim.ramp_per_s if lim.ramp_per_s > 0 else float("inf")
        w = self.writes
        w.append((now, value))
        keep = 0
        while keep < len(w) - 1 and now - w[keep + 1][0] > horizon:
            keep += 1
        if keep:
            del w[:keep]
        self.setpoint = value
        self.max_setpoint = max(self.max_setpoint, value)
        self.recent = [(t, v) for t, v in self.recent if now - t <= RECENT_S] + [(now, value)]

    def advance(self, now: float) -> None:
        """Count stimulation time up to now (never while paused)."""
        if self._last_tick_t is not None and not self.paused:
            self.elapsed_s += max(0.0, now - self._last_tick_t)
        self._last_tick_t = now

    def pause(self, now: float) -> None:
        """Output 0 from now (the controller writes STOP); the time so far is counted, the
        time from here is not, and the 0 is in the history: a resume ramps from zero."""
        self.advance(now)
        self._last_tick_t = None
        self.state = SessionState.PAUSED
        self.paused_at = now
        self.record_write(now, 0.0)

    def resume(self) -> None:
        """Leave the pause; the output task that runs next arms, writes 0 and ramps."""
        self.state = SessionState.RAMPING
        self.paused_at = None

    def output(self, intensity: float) -> ChannelOutput:
        p = self.plan.program
        return ChannelOutput(
            intensity=intensity,
            pulse_width_us=p.pulse_width_us,
            frequency_hz=p.frequency_hz,
            waveform=p.waveform,
        )


OnWrite = Callable[[Decision], Awaitable[None]]
OnState = Callable[[], None]


class OutputTask:
    """Drives one session's output until it ends, is cancelled (stop/pause) or fails."""

    def __init__(
        self,
        session: Session,
        device: Device,
        clock: Clock,
        on_write: OnWrite,
        on_state: OnState,
        tick_s: float = TICK_S,
        on_progress: OnState | None = None,
    ) -> None:
        self.s = session
        self.device = device
        self.clock = clock
        self.on_write = on_write
        self.on_state = on_state
        self.on_progress = on_progress
        """Called on every wake-up (ramp tick, keepalive): the controller persists from it."""
        caps = device.capabilities
        ka = caps.keepalive_interval_s
        if caps.watchdog_timeout_s:
            wd = caps.watchdog_timeout_s * KEEPALIVE_FRACTION
            ka = wd if ka is None else min(ka, wd)
        self.keepalive_s = ka
        self.alive = True
        self.tick_s = min(tick_s, ka) if ka else tick_s
        self.quantum = caps.intensity_step
        """The device's intensity grid: every setpoint is rounded down onto it before the
        gate, so the gate checks exactly what is written."""
        self.slack = rise_slack(session.limits, self.tick_s, self.quantum)

    def halt(self) -> None:
        """No further byte from this task, even if its cancellation were lost in flight."""
        self.alive = False

    def _check_alive(self) -> None:
        if not self.alive:
            raise asyncio.CancelledError("output task halted")

    async def _write(self, value: float, now: float) -> None:
        s = self.s
        value = quantise_down(value, self.quantum)
        decision = gate(
            s.limits,
            s.plan.program,
            s.writes,
            value,
            now,
            s.elapsed_s,
            s.plan.duration_s,
            Source.SYSTEM,
            slack=self.slack,
        )
        if decision.refused:
            await self.on_write(decision)
            raise SessionHalted(SessionState.ABORTED, f"output refused: {decision.reason}")
        out = s.output(value)
        for ch in s.plan.channels:
            self._check_alive()
            await self.device.set_output(ch, out)
        s.record_write(now, value)
        await self.on_write(decision)

    def _goal(self) -> float:
        return quantise_down(self.s.target, self.quantum)

    def _next_value(self, now: float) -> float:
        s = self.s
        if s.state is SessionState.RAMPING_DOWN:
            if s.ramp_down_s <= 0 or s.remaining_s <= 0:
                return 0.0
            # linear from where the ramp-down began to zero at the end of the session
            value = min(s.setpoint, s.ramp_down_from * s.remaining_s / s.ramp_down_s)
        else:
            value = next_setpoint(s.limits, s.writes, s.target, now, self.slack)
        return quantise_down(value, self.quantum)

    async def hold_paused(self) -> SessionState:
        """While the session is paused: output stays 0 and the device's keepalive goes on (a
        device watchdog must not end a pause). Ends the session as stopped when the pause
        lasts longer than ``max_pause_s``; never writes a setpoint."""
        s = self.s
        now = self.clock.monotonic()
        began = s.paused_at if s.paused_at is not None else now
        last_keepalive = now
        while True:
            now = self.clock.monotonic()
            if now - began >= s.max_pause_s - 1e-9:
                raise SessionHalted(
                    SessionState.STOPPED,
                    f"paused longer than {s.max_pause_s / 60:g} min (session.max_pause_minutes)",
                )
            if self.keepalive_s and now - last_keepalive >= self.keepalive_s - 1e-9:
                self._check_alive()
                await self.device.keepalive()
                last_keepalive = now
            waits = [began + s.max_pause_s - now]
            if self.keepalive_s:
                waits.append(last_keepalive + self.keepalive_s - now)
            await self.clock.sleep(max(0.0, min(waits)))

    async def run(self) -> SessionState:
        """Returns FINISHED when the time is up; raises SessionHalted on a refusal."""
        s = self.s
        now = self.clock.monotonic()
        s.advance(now)  # counting starts here (after a pause: from the resume)
        # start from zero: arm, then an explicit zero setpoint with the program's pulses
        self._check_alive()
        await self.device.arm(s.plan.channels)
        s.armed = True
        await self._write(0.0, now)
        last_keepalive = now
        deadline = now
        while True:
            s._changed.clear()  # a target change from here on wakes the wait below
            now = self.clock.monotonic()
            s.advance(now)
            if self.on_progress is not None:
                self.on_progress()
            if s.remaining_s <= 0:
                return SessionState.FINISHED
            if (
                s.state in (SessionState.RAMPING, SessionState.RUNNING)
                and s.remaining_s <= s.ramp_down_s + TIME_EPS_S
            ):
                s.state = SessionState.RAMPING_DOWN
                s.ramp_down_from = s.setpoint
                self.on_state()
            value = self._next_value(now)
            if abs(value - s.setpoint) > 1e-9:
                await self._write(value, now)
                last_keepalive = now
            elif self.keepalive_s and now - last_keepalive >= self.keepalive_s - 1e-9:
                self._check_alive()
                await self.device.keepalive()
                last_keepalive = now
            goal = self._goal()
            if s.state is SessionState.RAMPING and abs(s.setpoint - goal) <= 1e-9:
                s.state = SessionState.RUNNING
                self.on_state()
            elif s.state is SessionState.RUNNING and s.setpoint + 1e-9 < goal:
                s.state = SessionState.RAMPING
                self.on_state()
            now = self.clock.monotonic()
            if s.state is SessionState.RUNNING and abs(s.setpoint - goal) <= 1e-9:
                # holding: nothing to ramp, so wake only for the keepalive, the start of the
                # ramp-down, or a new target (the event); no ticks while nothing changes
                waits = [s.remaining_s - s.ramp_down_s]
                if self.keepalive_s:
                    waits.append(last_keepalive + self.keepalive_s - now)
                wait = max(0.0, min(waits))
                deadline = now + wait
            else:
                # ramping: the next deadline on the fixed grid; skip missed ticks, never burst
                deadline += self.tick_s
                if deadline < now:
                    deadline = now + self.tick_s - ((now - deadline) % self.tick_s)
                wait = min(deadline - now, s.remaining_s)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as its timeout fires, and a stop must end this task
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wait)):
                    await s._changed.wait()
