"""The session runner: ramp up within the governor, hold, ramp down, end on time.

One :class:`Session` is one start. Its output task ticks on fixed deadlines of the injected
clock (no busy-waiting, no drift), and every setpoint it writes passes
:func:`tens.safety.gate` first. Halting (stop, pause, abort) is not the task's job: the
controller cancels the task and writes STOP to the device at once, so a stop never waits for
a tick. Time is counted on the monotonic clock, so a wall-clock jump cannot stretch a session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tens.clock import Clock
from tens.device import ChannelOutput, Device
from tens.events import Decision, SessionState, Source
from tens.safety import EffectiveLimits, StartPlan, gate, next_setpoint

TICK_S = 0.1
RECENT_S = 1.0  # how long a written setpoint may still show in the device's status
KEEPALIVE_FRACTION = 0.3  # keepalive at least every 0.3 x the device's watchdog


class SessionHalted(Exception):
    """The output task ended the session itself (a refused gate, a device error)."""

    def __init__(self, state: SessionState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


@dataclass
class Session:
    """One session's plan and accounting. Mutated only by its output task and the controller."""

    plan: StartPlan
    limits: EffectiveLimits
    ramp_down_s: float
    id: int | None = None
    state: SessionState = SessionState.RAMPING
    target: float = 0.0
    setpoint: float = 0.0
    elapsed_s: float = 0.0
    max_setpoint: float = 0.0
    recent: list[tuple[float, float]] = field(default_factory=list)
    """(time, setpoint) written in the last ``RECENT_S``: a status in flight may show these."""
    end_reason: str | None = None
    ramp_down_from: float = 0.0
    _last_write_t: float | None = None
    _last_tick_t: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.plan.duration_s - self.elapsed_s)

    def allowed_now(self, now: float) -> float:
        """The most the device may be delivering now: the setpoint, or one written within
        ``RECENT_S`` (a decrease takes a connection event to show in a status)."""
        return max([self.setpoint] + [v for t, v in self.recent if now - t <= RECENT_S])

    def set_target(self, value: float) -> None:
        self.target = value
        self._changed.set()

    def output(self, intensity: float) -> ChannelOutput:
        p = self.plan.program
        return ChannelOutput(
            intensity=round(intensity, 3),
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

    def halt(self) -> None:
        """No further byte from this task, even if its cancellation were lost in flight."""
        self.alive = False

    def _check_alive(self) -> None:
        if not self.alive:
            raise asyncio.CancelledError("output task halted")

    async def _write(self, value: float, now: float) -> None:
        s = self.s
        prev = s.setpoint
        dt_s = 0.0 if s._last_write_t is None else now - s._last_write_t
        decision = gate(
            s.limits,
            s.plan.program,
            prev,
            value,
            dt_s if s._last_write_t is not None else 0.0,
            s.elapsed_s,
            s.plan.duration_s,
            Source.SYSTEM,
        )
        if decision.refused:
            await self.on_write(decision)
            raise SessionHalted(SessionState.ABORTED, f"output refused: {decision.reason}")
        out = s.output(value)
        for ch in s.plan.channels:
            self._check_alive()
            await self.device.set_output(ch, out)
        s.setpoint = value
        s.max_setpoint = max(s.max_setpoint, value)
        s.recent = [(t, v) for t, v in s.recent if now - t <= RECENT_S] + [(now, value)]
        s._last_write_t = now
        await self.on_write(decision)

    def _advance(self, now: float) -> None:
        s = self.s
        if s._last_tick_t is not None:
            s.elapsed_s += max(0.0, now - s._last_tick_t)
        s._last_tick_t = now

    def _next_value(self, now: float) -> float:
        s = self.s
        dt_s = 0.0 if s._last_write_t is None else now - s._last_write_t
        if s.state is SessionState.RAMPING_DOWN:
            if s.ramp_down_s <= 0 or s.remaining_s <= 0:
                return 0.0
            # linear from where the ramp-down began to zero at the end of the session
            return min(s.setpoint, s.ramp_down_from * s.remaining_s / s.ramp_down_s)
        return next_setpoint(s.limits, s.setpoint, s.target, dt_s)

    async def run(self) -> SessionState:
        """Returns FINISHED when the time is up; raises SessionHalted on a refusal."""
        s = self.s
        now = self.clock.monotonic()
        s._last_tick_t = now
        # start from zero: arm, then an explicit zero setpoint with the program's pulses
        self._check_alive()
        await self.device.arm(s.plan.channels)
        s.setpoint = 0.0
        s._last_write_t = None
        await self._write(0.0, now)
        last_keepalive = now
        deadline = now
        while True:
            s._changed.clear()  # a target change from here on wakes the wait below
            now = self.clock.monotonic()
            self._advance(now)
            if self.on_progress is not None:
                self.on_progress()
            if s.remaining_s <= 0:
                return SessionState.FINISHED
            if (
                s.state in (SessionState.RAMPING, SessionState.RUNNING)
                and s.remaining_s <= s.ramp_down_s
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
            if s.state is SessionState.RAMPING and abs(s.setpoint - s.target) <= 1e-9:
                s.state = SessionState.RUNNING
                self.on_state()
            elif s.state is SessionState.RUNNING and s.setpoint + 1e-9 < s.target:
                s.state = SessionState.RAMPING
                self.on_state()
            now = self.clock.monotonic()
            if s.state is SessionState.RUNNING and abs(s.setpoint - s.target) <= 1e-9:
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
