"""The real controller, a real SQLite store and a simulated wearable on the virtual radio,
with taps that record what the device was asked (decoded by the simulator's own codec) and a
fault API the campaign draws from.

Two rigs: the OpenTENS wearable (mA, device-side ramp, acks) and the Coyote 3 (levels, a
frame every 100 ms, B1 replies). Both give the campaign the same shape: ``ctrl``, ``trace``,
``faults`` (name -> coroutine function injecting it), ``heal()`` and ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import itertools
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tens.checklist import none_apply
from tens.config import SessionDefaults, TensConfig
from tens.controller import Controller
from tens.events import ControllerEvent, SessionEnded
from tens.limits import LevelLimits, Limits
from tests.stated import placed_config, state_pads

from .trace import Blackout, Bounds, Point, Trace, Unresponsive

_names = itertools.count(1)

PERSIST_BOUND_S = 10.0 + 1.25
"""A session whose stimulation time cannot be persisted stops by then (persisted every 10 s)."""

FaultFn = Callable[[random.Random], Awaitable[None]]


class CampaignClock:
    """The loop's clock, and a wall clock that moves with it (a fixed winter morning), so a
    run's calendar day and daily cap follow virtual time."""

    WALL0 = dt.datetime(2026, 1, 14, 7, 0, tzinfo=dt.UTC)

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> dt.datetime:
        return self.WALL0 + dt.timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class Rig:
    """What both rigs share: the controller, the store and its failure, the trace."""

    kind: str
    channels: int
    bounds: Bounds
    config: TensConfig
    faults: dict[str, FaultFn]

    def __init__(self) -> None:
        self.trace = Trace(self.channels)
        self.ctrl: Controller = None  # type: ignore[assignment]
        self.db: Any = None
        self.radio: Any = None
        self.sim: Any = None
        self._store_broken = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # set by the fault functions; the engine reads them
        self.unresponsive_until = 0.0
        self._silent: dict[int, str] = {}  # token -> kind of each silence fault in force
        self._silent_tokens = 0

    # --- shared plumbing --------------------------------------------------------------
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def later(self, delay: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) ``delay`` s from now, in the background."""

        async def go() -> None:
            await asyncio.sleep(delay)
            result = fn()
            if inspect.isawaitable(result):
                await result

        task = asyncio.ensure_future(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_store(self, tmp: Path, name: str) -> None:
        from tens.store import AsyncDB
        from tens.store.sessions import record_checklist

        self.db = await AsyncDB.open(tmp / f"{name}.db")
        await self.db.run(record_checklist, none_apply(), False)
        await self.db.run(state_pads)

    def _make_controller(self, opener: Callable[[], Awaitable[Any]]) -> None:
        self.ctrl = Controller(placed_config(self.config), opener, self.db, clock=CampaignClock())
        self.ctrl.add_listener(self._on_event)

    def _on_event(self, event: ControllerEvent) -> None:
        if isinstance(event, SessionEnded):
            t = self.now()
            self.trace.ended.append((t, event.state.value, event.reason))
            why = f"session {event.state.value} ({event.reason})"
            self.blackout(why, self.bounds.stop_bound, 0.05, from_stop_asked=True)
            if event.reason.startswith("unexpected error"):
                self.trace.crashes.append((t, f"session task failed: {event.reason}"))

    def blackout(
        self,
        why: str,
        bound: float,
        ask_bound: float | None = None,
        *,
        from_stop_asked: bool = False,
    ) -> None:
        """From now on output must be 0 (see :class:`Blackout`), until a later start."""
        ask = bound if ask_bound is None else ask_bound
        self.trace.blackouts.append(
            Blackout(self.now(), why, bound, ask, from_stop_asked, len(self.trace.calls))
        )

    def unresponsive(self, kind: str, seconds: float) -> None:
        t = self.now()
        self.trace.unresponsive.append(Unresponsive(t, t + seconds, kind))
        self.unresponsive_until = max(self.unresponsive_until, t + seconds)

    def hold_silent(self, kind: str, seconds: float) -> None:
        """Put a silence fault (stuck, hung, acks muted) in force for ``seconds``.

        Silence faults overlap: the firmware is in the worst state of those in force, and the
        end of a short one never ends a longer one (seed 7007: a 1 s stuck inside an 8 s hang
        un-stuck the firmware 7 s early, while the trace still said it was hung)."""
        self._silent_tokens += 1
        token = self._silent_tokens
        self._silent[token] = kind
        self.apply_silence()

        def release() -> None:
            if self._silent.pop(token, None) is not None:
                self.apply_silence()

        self.later(seconds, release)

    def silent_kinds(self) -> set[str]:
        return set(self._silent.values())

    def apply_silence(self) -> None:
        """Set the simulated firmware to the silence faults in force (per rig)."""

    def end_silence(self) -> None:
        """End every silence fault now (heal): the trace's windows end here too."""
        self._silent.clear()
        self.apply_silence()
        t = self.now()
        self.trace.unresponsive[:] = [
            u if u.t1 <= t else Unresponsive(u.t0, max(u.t0, t), u.kind)
            for u in self.trace.unresponsive
        ]
        self.unresponsive_until = 0.0

    async def break_store(
        self, rng: random.Random, how: str | None = None, seconds: float | None = None
    ) -> None:
        """Real SQLite made to fail: read-only (query_only) or full (max_page_count)."""
        how = how or rng.choice(["read-only", "full"])
        seconds = seconds or rng.choice([1.0, 3.0, 8.0, 15.0, 30.0])
        self.trace.step(self.now(), f"store {how} for {seconds:g} s")

        def fail(conn: Any) -> None:
            if how == "read-only":
                conn.execute("PRAGMA query_only=1")
            else:
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count={int(pages)}")

        await self.db.run(fail)
        self._store_broken = True
        if how == "read-only":  # every write fails: the next persist (<= 10 s) must stop it
            if seconds >= PERSIST_BOUND_S:
                self.blackout(f"store {how}", PERSIST_BOUND_S, PERSIST_BOUND_S)
        else:
            # a full database still takes updates in place (as a full disk can, into a WAL
            # already allocated): the session's time may well be saved, and then it runs on
            # rightly (seed 8016). Output must stop once saving its time *fails*.
            self._watch_full_store()
        self.later(seconds, self.mend_store)

    def _watch_full_store(self) -> None:
        if getattr(self.db, "_campaign_watched", False):
            return
        from tens.store.sessions import finish_session, update_session

        run = self.db.run

        async def watched(fn: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await run(fn, *args, **kwargs)
            except Exception:
                if self._store_broken and fn in (update_session, finish_session):
                    self.blackout(
                        "store full: the session's time could not be saved",
                        self.bounds.unconfirmed_stop_bound,
                        self.bounds.unconfirmed_stop_bound,
                    )
                raise

        self.db.run = watched
        self.db._campaign_watched = True

    async def mend_store(self) -> None:
        if not self._store_broken:
            return
        self._store_broken = False

        def mend(conn: Any) -> None:
            conn.execute("PRAGMA query_only=0")
            conn.execute("PRAGMA max_page_count=1073741823")

        await self.db.run(mend)

    async def settle(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def heal(self) -> None:
        """Undo every lasting fault (the engine calls it between episodes)."""
        await self.settle()
        await self.mend_store()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.ctrl.close()
        close = getattr(self.sim, "close", None)
        if close is not None:
            await close()
        await self.radio.close()
        await self.db.close()


# ======================================================================== OpenTENS
class OpenTensRig(Rig):
    kind = "opentens"
    channels = 2
    PEAK = 20.0
    RATE = 5.0
    bounds = Bounds(
        peak=PEAK,
        rate=RATE,
        ramp_tol_delivered=0.25,
        # each SET_OUTPUT is a step (the device ramps it): the controller's 0.1 s tick, one
        # tick skipped after a target change wakes it early, and 0.1 mA rounding
        ramp_tol_asked=RATE * 0.2 + 0.11,
        session_s=3.0 * 60,
        daily_s=6.0 * 60,
    )
    config = TensConfig(
        limits=Limits(
            peak_ma=PEAK,
            ramp_ma_per_s=RATE,
            step_ma=2.0,
            session_minutes=3.0,
            daily_minutes=6.0,
            rest_minutes=0,
        ),
        session=SessionDefaults(ramp_down_s=2, minutes=1.0),
    )

    @classmethod
    async def open(cls, tmp: Path, seed: int) -> OpenTensRig:
        from devices import registry
        from simulators.opentens import SimConfig, start_simulated_wearable
        from simulators.radio import VirtualRadio

        self = cls()
        self.radio = await VirtualRadio.local()
        name = f"OpenTENS-C{next(_names)}"
        self.sim = await start_simulated_wearable(
            self.radio, name=name, config=SimConfig(seed=seed, jitter_ms=5.0)
        )
        await self._open_store(tmp, name)
        transport = self.radio.transport()

        async def opener() -> Any:
            return await registry.open_device(transport, name, 5.0)

        self._make_controller(opener)
        self._tap()
        self.faults = {
            "link_drop": self.f_link_drop,
            "peel_off": self.f_peel_off,
            "low_battery": self.f_low_battery,
            "stuck": self.f_stuck,
            "hung": self.f_hung,
            "stuck_acks": self.f_stuck_acks,
            "malformed": self.f_malformed,
            "reject": self.f_reject,
            "reboot": self.f_reboot,
            "store_fail": self.break_store,
        }
        return self

    def _tap(self) -> None:
        """Record every control-point write as the simulator decodes it, every malformed
        status as it goes out, and every link change."""
        from simulators.opentens.codec import (
            MalformedMessage,
            SetOutput,
            Start,
            Stop,
            decode_command,
            decode_status,
        )

        model = self.sim.model
        write = model.write
        trace = self.trace
        n = self.channels

        def named(mask: int) -> list[int]:
            return [k for k in range(n) if mask == 0xFF or mask & (1 << k)]

        async def tapped(data: bytes) -> None:
            t = self.now()
            try:
                cmd = decode_command(data)
            except MalformedMessage:
                cmd = None
            if isinstance(cmd, SetOutput) and cmd.channel < n:
                trace.asked.append(Point(t, cmd.channel, cmd.intensity / 10, "SET_OUTPUT"))
            elif isinstance(cmd, Stop):
                trace.stops_asked.append(t)
                for k in named(cmd.mask):
                    trace.asked.append(Point(t, k, 0.0, "STOP"))
            elif isinstance(cmd, Start):
                for k in named(cmd.mask):
                    trace.asked.append(Point(t, k, 0.0, "START"))
            await write(data)

        model.write = tapped

        async def on_status(data: bytes) -> None:
            try:
                decode_status(data)
            except MalformedMessage as exc:
                self.blackout(f"malformed status sent ({exc})", self.bounds.stop_bound + 0.1)

        model.add_status_sink(on_status)

        def on_link(what: str) -> None:
            if what == "connected":
                trace.link_up.append(self.now())
            if what == "disconnected":
                t = self.now()
                trace.link_down.append(t)
                for k in range(n):
                    trace.asked.append(Point(t, k, 0.0, "disconnect"))

        self.sim.add_link_listener(on_link)

    def collect(self) -> None:
        """Copy the simulator's delivered-output record into the trace."""
        self.trace.delivered = [
            Point(s.t, s.channel, s.intensity_ma, s.cause) for s in self.sim.record
        ]

    # --- faults -------------------------------------------------------------------------
    async def f_link_drop(self, rng: random.Random) -> None:
        self.trace.step(self.now(), "link drop")
        self.blackout("link drop", 0.05, 0.05)
        await self.sim.drop_link()

    async def f_peel_off(self, rng: random.Random) -> None:
        ch = rng.randrange(self.channels)
        back = rng.choice([0.2, 0.5, 1.5, 4.0])
        self.trace.step(self.now(), f"peel-off channel {ch} for {back:g} s")
        self.sim.peel_off(ch)
        self.blackout(f"peel-off of channel {ch}", self.bounds.stop_bound)
        self.trace.lasting.append((self.now(), self.now() + back, "electrode off"))
        self.later(back, lambda: self.sim.reattach(ch))

    async def f_low_battery(self, rng: random.Random) -> None:
        to = rng.choice([10, 9, 7, 5, 3])
        back = rng.choice([1.0, 5.0, 20.0])
        self.trace.step(self.now(), f"battery to {to} % for {back:g} s")
        self.sim.drain_battery(to)
        self.blackout(f"battery at {to} %", self.bounds.stop_bound)
        self.trace.lasting.append((self.now(), self.now() + back, "low battery"))
        self.later(back, lambda: self.sim.set_battery(100))

    def _silence(self, kind: str, rng: random.Random, seconds: float | None = None) -> float:
        seconds = seconds or rng.choice([0.3, 1.0, 2.5, 4.0, 8.0])
        self.trace.step(self.now(), f"firmware {kind} for {seconds:g} s")
        self.unresponsive(kind, seconds)
        if seconds >= self.bounds.silence_bound:
            self.blackout(f"firmware {kind}", self.bounds.silence_bound)
        return seconds

    async def f_stuck(self, rng: random.Random, seconds: float | None = None) -> None:
        """Writes answered but dropped, no acks, no status; the device's watchdog works."""
        seconds = self._silence("stuck", rng, seconds)
        self.hold_silent("stuck", seconds)

    async def f_hung(self, rng: random.Random, seconds: float | None = None) -> None:
        """Stuck, and its watchdog hangs too: only a disconnect zeroes the output."""
        seconds = self._silence("hung", rng, seconds)
        self.hold_silent("hung", seconds)

    async def f_stuck_acks(self, rng: random.Random, seconds: float | None = None) -> None:
        """Writes obeyed, but no status: nothing is ever acknowledged."""
        seconds = self._silence("acks-muted", rng, seconds)
        self.hold_silent("acks-muted", seconds)

    def apply_silence(self) -> None:
        kinds = self.silent_kinds()
        model = self.sim.model
        if "hung" in kinds:
            hang_firmware(model, True)
        else:
            hang_firmware(model, False)  # no-op unless hung
            if "stuck" in kinds and not model.stuck:
                self.sim.stick(True)
            elif "stuck" not in kinds and model.stuck:
                self.sim.stick(False)
        muted = "acks-muted" in kinds
        if model.acks_muted != muted:
            self.sim.mute_acks(muted)

    async def f_malformed(self, rng: random.Random) -> None:
        kind = rng.choice(["crc", "truncated", "reserved-bit", "type"])
        self.trace.step(self.now(), f"malformed status ({kind})")
        self.sim.send_malformed(kind)  # the blackout starts when it goes out (the tap)

    async def f_reject(self, rng: random.Random) -> None:
        from simulators.opentens.profile import AttCode

        code = rng.choice(list(AttCode))
        self.trace.step(self.now(), f"next write refused with {code.name}")
        self.sim.reject_next_write(int(code))

    async def f_reboot(self, rng: random.Random) -> None:
        self.trace.step(self.now(), "reboot")
        self.blackout("reboot", 0.05, 0.05)
        self.later(0.0, self.sim.reboot)

    async def heal(self) -> None:
        await super().heal()
        model = self.sim.model
        self.end_silence()
        for k in range(self.channels):
            if not model.channel(k).contact:
                self.sim.reattach(k)
        if model.battery_percent < 100:
            self.sim.set_battery(100)


def hang_firmware(model: Any, hung: bool) -> None:
    """Hung firmware on the OpenTENS model: stuck, and its watchdog hangs too.

    Uses the model's ``stick(..., watchdog=False)`` where it has one; otherwise freezes the
    watchdog of this one instance (the same behaviour, until that API lands)."""
    if "watchdog" in inspect.signature(model.stick).parameters:
        if hung:
            model.stick(True, watchdog=False)
        elif getattr(model, "_watchdog_hung", False):
            model.stick(False)
        return
    frozen = "_watchdog_deadline" in vars(model)
    if hung:
        model.stick(True)
        if not frozen:
            model._watchdog_deadline = lambda: None
    elif frozen:
        del model._watchdog_deadline
        model._last_write_t = asyncio.get_running_loop().time()
        model.stick(False)


# ======================================================================== Coyote 3
class Coyote3Rig(Rig):
    kind = "coyote3"
    channels = 2
    PEAK = 30.0
    RATE = 5.0
    bounds = Bounds(
        peak=PEAK,
        rate=RATE,
        # a 0.1 s tick against the driver's own 100 ms frame grid: a frame may carry two
        # ticks' rise, and levels are whole (rounded down)
        ramp_tol_delivered=RATE * 0.2 + 1.0,
        ramp_tol_asked=RATE * 0.2 + 1.0,
        session_s=3.0 * 60,
        daily_s=6.0 * 60,
    )
    config = TensConfig(
        limits=Limits(
            session_minutes=3.0,
            daily_minutes=6.0,
            rest_minutes=0,
            levels={"coyote3": LevelLimits(peak=PEAK, ramp_per_s=RATE, step=3)},
        ),
        session=SessionDefaults(ramp_down_s=2, minutes=1.0),
    )

    @classmethod
    async def open(cls, tmp: Path, seed: int) -> Coyote3Rig:
        from devices import registry
        from simulators.coyote.simulator import Coyote3Simulator
        from simulators.radio import VirtualRadio

        self = cls()
        self.radio = await VirtualRadio.local()
        self.sim = await Coyote3Simulator.start(self.radio)
        await self._open_store(tmp, f"coyote-{next(_names)}")
        transport = self.radio.transport()
        address = self.sim.address

        async def opener() -> Any:
            return await registry.open_device(transport, address, 5.0)

        self._make_controller(opener)
        self._received = 0
        self._asked_state = [0, 0]  # the strength asked, per channel
        self._asked_out = [0.0, 0.0]

        def on_link(what: str) -> None:
            if what == "connected":
                self.trace.link_up.append(self.now())
            if what == "disconnected":
                self.trace.link_down.append(self.now())

        self.sim.add_link_listener(on_link)
        self.faults = {
            "link_drop": self.f_link_drop,
            "low_battery": self.f_low_battery,
            "stuck_acks": self.f_stuck_acks,
            "hung": self.f_hung,
            "malformed": self.f_malformed,
            "reboot": self.f_reboot,
            "store_fail": self.break_store,
        }
        return self

    def collect(self) -> None:
        """The delivered record, and what the device was asked: every B0 the simulator
        received, parsed by its own parser (simulators.coyote.wire3)."""
        from simulators.coyote import wire3

        self.trace.delivered = [
            Point(s.t, s.channel, s.intensity_ma, s.cause) for s in self.sim.record
        ]
        model = self.sim.model
        received = sorted(
            [*model.received, *model.asked_while_hung], key=lambda r: r.t
        )  # hung: ignored by the device, but asked all the same
        asked: list[Point] = []
        strength = [0, 0]
        out = [0.0, 0.0]
        downs = list(self.trace.link_down)
        for r in received:
            # a frame at the very instant of a drop came before it: the simulator takes no
            # write once its link is down (seed 8009 put one after the drop's zero)
            while downs and downs[0] < r.t:
                td = downs.pop(0)
                for ch in range(2):
                    if out[ch]:
                        asked.append(Point(td, ch, 0.0, "disconnect"))
                    out[ch] = 0.0
                strength = [0, 0]
            frame = r.frame
            if not isinstance(frame, wire3.StrengthFrame):
                continue
            stop_like = False
            for ch, part in enumerate(frame.channels):
                value = part.value if part.value_valid else 0
                if part.mode == wire3.SET:
                    strength[ch] = value
                elif part.mode == wire3.ADD:
                    strength[ch] = min(wire3.MAX_STRENGTH, strength[ch] + value)
                elif part.mode == wire3.SUBTRACT:
                    strength[ch] = max(0, strength[ch] - value)
                audible = part.wave_valid and any(i > 0 for i in part.intensities)
                new = float(strength[ch]) if audible else 0.0
                if part.mode == wire3.SET and value == 0 and not part.wave_valid:
                    stop_like = True
                if new != out[ch]:
                    asked.append(Point(r.t, ch, new, "B0"))
                    out[ch] = new
            if stop_like:
                self.trace.stops_asked.append(r.t)
        for td in downs:  # a disconnect after the last frame: the device zeroes
            for ch in range(2):
                if out[ch]:
                    asked.append(Point(td, ch, 0.0, "disconnect"))
                out[ch] = 0.0
        self.trace.asked = asked

    # --- faults -------------------------------------------------------------------------
    async def f_link_drop(self, rng: random.Random) -> None:
        self.trace.step(self.now(), "link drop")
        # frames stop: the device ends output once its frames are played: the one playing
        # (<= 100 ms) and the one waiting behind it (100 ms), plus one connection event
        self.blackout("link drop", 0.25, 0.05)
        await self.sim.drop_link()

    async def f_low_battery(self, rng: random.Random) -> None:
        to = rng.choice([5, 3, 1])
        back = rng.choice([1.0, 5.0, 20.0])
        self.trace.step(self.now(), f"battery to {to} % for {back:g} s")
        self.sim.set_battery(to)
        self.blackout(f"battery at {to} %", self.bounds.stop_bound)
        self.trace.lasting.append((self.now(), self.now() + back, "low battery"))
        self.later(back, lambda: self.sim.set_battery(100))

    def _silence(self, kind: str, rng: random.Random, seconds: float | None = None) -> float:
        seconds = seconds or rng.choice([0.3, 1.0, 2.5, 4.0, 8.0])
        self.trace.step(self.now(), f"firmware {kind} for {seconds:g} s")
        self.unresponsive(kind, seconds)
        return seconds

    async def f_stuck_acks(self, rng: random.Random, seconds: float | None = None) -> None:
        """No B1 replies (the device still obeys frames)."""
        seconds = self._silence("acks-muted", rng, seconds)
        self.hold_silent("acks-muted", seconds)

    def apply_silence(self) -> None:
        kinds = self.silent_kinds()
        if self.sim.model.hung != ("hung" in kinds):
            self.sim.hang("hung" in kinds)
        self.sim.model.silent = "acks-muted" in kinds

    async def f_hung(self, rng: random.Random, seconds: float | None = None) -> None:
        seconds = self._silence("hung", rng, seconds)
        if seconds >= self.bounds.silence_bound:
            self.blackout("firmware hung", self.bounds.silence_bound)
        self.hold_silent("hung", seconds)

    async def f_malformed(self, rng: random.Random) -> None:
        data = rng.choice([b"\xb1", b"\xb1\x01\x02", b"\x00\x00\x00\x00", b"\xb1\x00\xff\x00"])
        self.trace.step(self.now(), f"malformed B1 {data.hex()}")
        self.blackout(f"malformed B1 {data.hex()}", self.bounds.stop_bound)
        self.sim.send_raw_reply(data)

    async def f_reboot(self, rng: random.Random) -> None:
        self.trace.step(self.now(), "power cycle")
        self.blackout("power cycle", 0.05, 0.05)
        await self.sim.power_cycle()

    async def heal(self) -> None:
        await super().heal()
        self.end_silence()
        if self.sim.model.battery < 100:
            self.sim.set_battery(100)


RIGS: dict[str, type[Rig]] = {"opentens": OpenTensRig, "coyote3": Coyote3Rig}
