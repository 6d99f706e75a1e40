"""The controller: the one API the CLI, the TUI and the daemon drive (docs/controller-api.md).

Every request from every source passes the safety governor here; every decision and every
output change is recorded with its source and reason (the audit trail, in SQLite). Stop is
always allowed: it cancels the output task and writes STOP to the device at once. Link loss,
peel-off, faults and unparseable notifications abort the session; nothing resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tens.audit import AuditTrail
from tens.clock import Clock, LoopClock
from tens.config import LoadedConfig, TensConfig
from tens.device import (
    Device,
    DeviceError,
    DeviceEvent,
    DeviceStatus,
    Fault,
    LinkLost,
    ProtocolViolation,
)
from tens.electrodes import ElectrodeSize
from tens.events import (
    ControllerEvent,
    Decision,
    LinkState,
    Narrowed,
    Notice,
    OutputDelivered,
    Refused,
    SessionEnded,
    SessionState,
    Snapshot,
    Source,
    StateChanged,
)
from tens.programs import Program
from tens.safety import (
    EffectiveLimits,
    GovernorRefusal,
    StartRequest,
    Usage,
    check_start,
    check_target,
    effective_limits,
)
from tens.safety.governor import PLACEMENT_REQUIRED, PLACEMENT_REQUIRED_TEXT
from tens.session import OutputTask, Session, SessionHalted

log = logging.getLogger(__name__)

__all__ = ["Controller", "StartRequest"]

DeviceOpener = Callable[[], Awaitable[Device]]
MANUAL_SOURCES = frozenset({Source.CLI, Source.TUI, Source.MQTT})
FAULT_TEXT: dict[Fault, str] = {
    Fault.WATCHDOG: "the device's watchdog tripped (it heard nothing from us in time)",
    Fault.ELECTRODE_OFF: "an electrode came off: reattach it and start again from zero",
    Fault.LIMIT_REFUSED: "the device refused a value above its own limit",
    Fault.LOW_BATTERY: "the device's battery is low: charge it before the next session",
    Fault.INTERNAL: "the device reports an internal fault",
    Fault.WHEEL_OVER_LIMIT: "the device's own control raised output above the limit",
}
PERSIST_EVERY_S = 10.0  # = tens.store.sessions.RUNNING_UPDATE_S (a test holds them equal)
STORE_FAILED = "store_failed"
"""Decision.code of a start refused, or a session ended, because storage failed."""
MAX_DEVICE_WATCHDOG_S = 1.0
"""A device must zero its output by itself within this when it hears nothing from us; one
whose watchdog cannot be set at or below it is refused (refuse when unsure)."""
STOP_UNCONFIRMED = "stop_unconfirmed"
LINK_LOST = "link_lost"
"""The end code of a session the link loss ended (``Snapshot.end_code``)."""
DEVICE_LIMITS_MISSING = "device_limits_missing"


class StorageUnavailable(Exception):
    """The store cannot be read or written; the message says what failed."""


CONTRAINDICATION_WHY: dict[str, str] = {
    "head": "no current across the head",
    "eyes": "no stimulation on the eyes",
    "mouth": "no stimulation over the mouth",
    "jaw": "no current across the head",
    "front-of-neck": "the carotid sinus is there (blood pressure, heart rhythm)",
    "chest": "current across the chest can disturb the heart's rhythm",
}


def _red_flag_blocks(conn: Any) -> dict[str, str]:
    from tens.journal.repository import red_flag_blocks

    return red_flag_blocks(conn)


def contraindicated_placements() -> dict[str, str]:
    """Placement key -> why electrodes must never go there (from the journal's regions)."""
    from tens.journal.regions import REGIONS

    return {
        key: CONTRAINDICATION_WHY.get(r.area, "a contraindicated placement")
        for key, r in REGIONS.items()
        if r.contraindicated_for_electrodes
    }


@dataclass
class _Subscriber:
    queue: asyncio.Queue[ControllerEvent]


LINK_DOWN_TEXT = "the link is down: the device zeroes its output on disconnect"


class Controller:
    """See the module docstring and docs/controller-api.md."""

    def __init__(
        self,
        config: TensConfig | LoadedConfig,
        open_device: DeviceOpener,
        store: Any = None,
        clock: Clock | None = None,
        declared_electrodes: Mapping[int, ElectrodeSize] | None = None,
    ) -> None:
        if isinstance(config, LoadedConfig):
            self._origins = dict(config.origins)
            self.config = config.config
        else:
            self._origins = {}
            self.config = config
        self._open_device = open_device
        self.store = store  # tens.store.AsyncDB or None (no persistence: tests of pure flow)
        self.clock: Clock = clock or LoopClock()
        self.declared_electrodes: dict[int, ElectrodeSize] = dict(declared_electrodes or {})
        """Pads the device side declares (the in-process simulator's simulated pads); a size
        the person stated in the store wins over it. A real device declares none."""
        self.device: Device | None = None
        self.limits_in_force: EffectiveLimits | None = None
        self._limits_refusal: str | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._link = LinkState.DISCONNECTED
        self._session: Session | None = None
        self._last_session: Session | None = None
        self._task: asyncio.Task[SessionState] | None = None
        self._runner: OutputTask | None = None
        self._stops = 0
        self._stopping = 0  # stops waiting for the device's confirmation right now
        self.unconfirmed_stops = 0
        """Stops the device did not confirm (the link was dropped each time); `tens run`
        exits with its own code when this is not 0."""
        self._halting = False
        self._delivered: tuple[float, ...] = ()
        self._battery: int | None = None
        self._electrodes: tuple[bool | None, ...] = ()
        self._notices: list[str] = []
        self._subs: list[_Subscriber] = []
        self._listeners: list[Callable[[ControllerEvent], None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._ended = asyncio.Event()
        self._persist_at = 0.0
        self._unsaved: dict[int, dict[str, Any]] = {}  # session id -> final record not written
        self._lock = asyncio.Lock()  # serialises start/resume/connect, never stop
        self.programs_table: dict[str, Program] = self.config.program_table()
        self.audit = AuditTrail(store, on_failure=self._audit_failed)

    # ---------------------------------------------------------------- events
    def add_listener(self, fn: Callable[[ControllerEvent], None]) -> Callable[[], None]:
        """A synchronous callback for every event; returns a function that removes it."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    @contextlib.asynccontextmanager
    async def events(self, maxsize: int = 1000) -> AsyncIterator[AsyncIterator[ControllerEvent]]:
        """Every event from now on, as an async iterator (oldest dropped if a reader lags)."""
        sub = _Subscriber(asyncio.Queue(maxsize))
        self._subs.append(sub)

        async def gen() -> AsyncIterator[ControllerEvent]:
            while True:
                yield await sub.queue.get()

        try:
            yield gen()
        finally:
            self._subs.remove(sub)

    def _emit(self, event: ControllerEvent) -> None:
        for sub in list(self._subs):
            if sub.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()
            sub.queue.put_nowait(event)
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # a face's bug must never reach the output path
                log.exception("event listener failed")

    def _changed(self) -> None:
        self._emit(StateChanged(self.snapshot()))

    def _notice(self, level: str, text: str) -> None:
        self._notices = [*self._notices[-4:], text]
        self._emit(Notice(level, text))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- state
    @property
    def session_state(self) -> SessionState:
        if self._session is not None:
            return self._session.state
        if self._last_session is not None:
            return self._last_session.state
        if self._link is LinkState.CONNECTED:
            return SessionState.READY
        if self._link is LinkState.CONNECTING:
            return SessionState.CONNECTING
        return SessionState.IDLE

    def snapshot(self) -> Snapshot:
        s = self._session or self._last_session
        dev = self.device
        info = dev.info if dev is not None and self._link is not LinkState.DISCONNECTED else None
        lim = self.limits_in_force
        return Snapshot(
            link=self._link,
            session=self.session_state,
            device_name=info.name if info else None,
            device_address=info.address if info else None,
            driver=info.driver if info else None,
            link_security=info.link_security if info else None,
            unit=lim.unit.value if lim else "mA",
            program=s.plan.program.name if s else None,
            target=s.target if s else 0.0,
            setpoint=self._session.setpoint if self._session is not None else 0.0,
            delivered=self._delivered,
            limit=lim.peak if lim else None,
            elapsed_s=s.elapsed_s if s else 0.0,
            remaining_s=s.remaining_s if s else None,
            battery_percent=self._battery,
            electrodes_ok=self._electrodes,
            session_id=s.id if s else None,
            end_reason=s.end_reason if s and self._session is None else None,
            end_code=s.end_code if s and self._session is None else None,
            notices=tuple(self._notices),
        )

    def programs(self) -> list[tuple[Program, str | None]]:
        """Every program with the reason the connected device cannot render it (or None)."""
        caps = self.device.capabilities if self.device and self._connected() else None
        return [
            (p, p.unrenderable_reason(caps) if caps else None) for p in self.programs_table.values()
        ]

    def limits(self) -> EffectiveLimits | None:
        """The limits in force for the connected device (None before a device is known)."""
        return self.limits_in_force

    @property
    def limits_refusal(self) -> str | None:
        """Why this device may not be driven at all (e.g. missing level limits), or None."""
        return self._limits_refusal

    def _connected(self) -> bool:
        return self.device is not None and self._link is LinkState.CONNECTED

    # ---------------------------------------------------------------- store
    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.store is None:
            return None
        return await self.store.run(fn, *args, **kwargs)

    def _audit(self, decision: Decision, session_id: int | None = None) -> None:
        self.audit.add(self.clock.wall(), session_id, decision)

    def _publish_decision(self, decision: Decision) -> None:
        if decision.outcome == "refused":
            self._emit(Refused(decision))
        elif decision.outcome == "narrowed":
            self._emit(Narrowed(decision))

    async def _usage(self) -> Usage:
        """Today's stimulation, the last end and the checklist, from the store, after
        writing any final record still unsaved and closing records that a crash left
        "running" (as interrupted). Raises StorageUnavailable when the store fails."""
        if self.store is None:
            return Usage(0.0, None, True, False)
        from tens.journal.validate import local_midnight
        from tens.store.sessions import (
            close_interrupted,
            last_session_end,
            latest_checklist,
            stimulation_seconds_since,
        )

        now = self.clock.wall()
        try:
            await self._save_unsaved()
            closed = await self._db(close_interrupted, now=now, margin_s=PERSIST_EVERY_S)
            earlier = getattr(self.store, "interrupted", None)  # closed when the store opened
            if isinstance(earlier, list) and earlier:
                closed = [*earlier, *(closed or ())]
                earlier.clear()
            for rec in closed or ():
                self._notice(
                    "warning",
                    f"session {rec.id} was interrupted (tens ended without closing it): "
                    f"counted {rec.stimulation_seconds / 60:.1f} min; rest counts from "
                    f"{rec.ended_at.astimezone():%H:%M}",
                )
            # the local calendar day, DST-correct (one helper with the journal's report)
            midnight = local_midnight(now.astimezone().date())
            used = await self._db(stimulation_seconds_since, midnight)
            last = await self._db(last_session_end, now)
            checklist = await self._db(latest_checklist)
            expired_because = checklist.expiry_reason(now) if checklist is not None else None
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(
                f"storage failed: cannot read today's sessions ({exc})"
            ) from exc
        return Usage(
            stimulation_today_s=float(used or 0.0),
            last_session_end=last,
            checklist_answered=checklist is not None and expired_because is None,
            checklist_any_yes=bool(checklist.any_yes) if checklist else False,
            checklist_expired_because=expired_because,
        )

    async def _save_unsaved(self) -> None:
        """Write the final records that storage refused earlier (their time must count)."""
        from tens.store.sessions import finish_session

        for sid, values in list(self._unsaved.items()):
            try:
                await self._db(finish_session, sid, **values)
            except Exception as exc:
                raise StorageUnavailable(
                    f"storage failed: the record of session {sid} could not be saved ({exc}); "
                    "no session starts until its stimulation time is counted"
                ) from exc
            self._unsaved.pop(sid, None)

    async def _persist(self, s: Session, **fields: Any) -> bool:
        """Write the session's stimulation time (and ``fields``; with ``state`` it is the
        final record). A failure ends a running session: time that is not counted would
        let the daily limit be passed."""
        if self.store is None or s.id is None:
            return True
        from tens.store.sessions import finish_session, update_session

        final = "state" in fields
        values = {
            "stimulation_seconds": round(s.elapsed_s, 3),
            "max_delivered": max(s.max_setpoint, max(self._delivered, default=0.0)),
            "target_intensity": s.target,
            "persisted_at": self.clock.wall(),
            **fields,
        }
        if final:
            self._unsaved[s.id] = values  # until it is written (retried at the next start)
        try:
            await self._db(finish_session if final else update_session, s.id, **values)
        except Exception as exc:
            log.error("could not update the record of session %s: %s", s.id, exc)
            self._store_failed(s, "the stimulation time could not be saved", exc)
            return False
        if final:
            self._unsaved.pop(s.id, None)
        return True

    def _store_failed(self, s: Session | None, what: str, exc: Exception) -> None:
        """Storage failed: end the running session (a clear reason, code store_failed)."""
        if s is not None and self._session is s:
            reason = f"storage failed: {what} ({exc}); output stopped so the daily limit holds"
            self._end(s, SessionState.ABORTED, reason, write_stop=True, code=STORE_FAILED)
        else:
            self._notice("error", f"storage failed: {what} ({exc})")

    def _audit_failed(self, exc: Exception) -> None:
        if self._session is not None or self.audit.failures == 1:
            self._store_failed(self._session, "the audit trail could not be saved", exc)

    # ---------------------------------------------------------------- link
    async def connect(self) -> None:
        """Open and connect the device; compute the limits in force. Raises DeviceError."""
        async with self._lock:
            if self._connected():
                return
            self._link = LinkState.CONNECTING
            self._changed()
            try:
                device = await self._open_device()
                if not device.connected:
                    await device.connect()
            except BaseException as exc:
                self._link = LinkState.DISCONNECTED
                self._changed()
                if isinstance(exc, DeviceError):
                    self._notice("error", f"could not connect: {exc}")
                raise
            self.device = device
            if self._unsubscribe is not None:
                self._unsubscribe()  # a sink left from a link that was lost
            self._unsubscribe = device.subscribe(self._on_device_event)
            self._link = LinkState.CONNECTED
            self._delivered = tuple(0.0 for _ in range(device.capabilities.channels))
            self._last_session = None
            try:
                self.limits_in_force = effective_limits(
                    self.config.limits, device.capabilities, device.info.driver, self._origins
                )
                self._limits_refusal = None
                for n in self.limits_in_force.notices:
                    self._notice("info", n)
                missing = await self._push_device_limits(device, self.limits_in_force)
                if missing is not None:
                    raise GovernorRefusal(missing)
                self._keep_stricter_device_limit(device)
            except GovernorRefusal as exc:
                self.limits_in_force = None
                self._limits_refusal = str(exc)
                self._notice("error", str(exc))
            self._notice("info", f"connected to {device.info.name} ({device.info.address})")
            self._changed()

    async def _push_device_limits(self, device: Device, lim: EffectiveLimits) -> str | None:
        """Loop's second layer: the device enforces our limits too, before any output.

        Writes the lower of ours and the device's own (never raises a stricter device limit)
        and a watchdog of at most MAX_DEVICE_WATCHDOG_S. Returns why no session may start
        when that could not be done (refused, not acknowledged, a watchdog above 1 s or none),
        else None.
        """
        caps = device.capabilities
        push = getattr(device, "set_device_limits", None)
        if push is not None:
            watchdog = min(caps.watchdog_timeout_s or MAX_DEVICE_WATCHDOG_S, MAX_DEVICE_WATCHDOG_S)
            peak = min(lim.peak, caps.intensity_max)
            ramp = lim.ramp_per_s
            if caps.max_ramp_per_s is not None:
                ramp = min(ramp, caps.max_ramp_per_s)
            try:
                await push(peak, ramp, watchdog)
            except DeviceError as exc:
                return f"the device's own limits could not be set ({exc}): no session can start"
            caps = device.capabilities
        wd = caps.watchdog_timeout_s
        if wd is None or wd > MAX_DEVICE_WATCHDOG_S + 1e-9:
            have = "no watchdog" if wd is None else f"a watchdog of {wd:g} s"
            return (
                f"the device has {have} and it cannot be set at or below "
                f"{MAX_DEVICE_WATCHDOG_S:g} s: refusing to drive it"
            )
        return None

    def _keep_stricter_device_limit(self, device: Device) -> None:
        """A device-side peak found below ours (a Coyote 3.0's own soft limit) is kept by
        the governor too, so it never asks for more than the device will give."""
        lim = self.limits_in_force
        device_max = device.capabilities.intensity_max
        if lim is None or device_max >= lim.peak - 1e-9:
            return
        origins = {**lim.origins, "peak intensity": "the device's own limit"}
        self.limits_in_force = replace(lim, peak=device_max, origins=origins)
        self._notice(
            "info",
            f"the device's own limit {device_max:g} {lim.unit.value} is below the configured "
            f"{lim.peak:g}: kept (tens never raises a device's own limit)",
        )

    async def disconnect(self) -> None:
        await self.stop(Source.SYSTEM, "disconnecting")
        dev, self.device = self.device, None
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if dev is not None:
            with contextlib.suppress(DeviceError, asyncio.TimeoutError):
                await dev.disconnect()
        self._link = LinkState.DISCONNECTED
        self._changed()

    async def close(self) -> None:
        """Stop output, disconnect, and finish pending records."""
        await self.disconnect()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        with contextlib.suppress(StorageUnavailable):
            await self._save_unsaved()  # else the next start closes it as interrupted
        await self.audit.close()

    # ---------------------------------------------------------------- device events
    def _on_device_event(self, event: DeviceEvent) -> None:
        if isinstance(event, LinkLost):
            if self._link is not LinkState.CONNECTED:
                return
            self._link = LinkState.LOST
            self._delivered = tuple(0.0 for _ in self._delivered)
            self._notice("error", f"link to the device lost: {event.reason}")
            if not self._stopping:  # else the stop in progress ends the session itself
                self._abort(f"link lost: {event.reason}", write_stop=False, code=LINK_LOST)
            self._changed()
        elif isinstance(event, ProtocolViolation):
            self._notice("error", f"unreadable message from the device: {event.detail}")
            self._abort(f"unreadable message from the device ({event.detail})")
            self._changed()
        elif isinstance(event, DeviceStatus):
            self._on_status(event)

    def _on_status(self, st: DeviceStatus) -> None:
        delivered = tuple(c.delivered for c in st.channels)
        changed = delivered != self._delivered
        self._delivered = delivered
        if st.battery_percent is not None:
            changed |= st.battery_percent != self._battery
            self._battery = st.battery_percent
        electrodes = tuple(c.contact for c in st.channels)
        changed |= electrodes != self._electrodes
        self._electrodes = electrodes
        if delivered:
            self._emit(OutputDelivered(self.clock.monotonic(), delivered))
        if st.faults and self._session is not None and self._session.armed:
            # (bits in a status before this session's START was acknowledged are latched
            # from the one before: the device clears them on START, and outputs nothing
            # until then)
            # any fault ends a session: low battery (warning bit included), peel-off, watchdog,
            # a refused over-limit value, an internal fault, the device's own control
            text = "; ".join(FAULT_TEXT[f] for f in sorted(st.faults))
            self._abort(text)
        elif self._session is not None and self.limits_in_force is not None:
            s = self._session
            allowed = s.allowed_now(self.clock.monotonic())
            over = max(delivered, default=0.0)
            tolerance = max(self.limits_in_force.step, 0.5)
            if over > self.limits_in_force.peak + 1e-6 or over > allowed + tolerance:
                self._abort(
                    f"the device delivers {over:g} {self.limits_in_force.unit.value}, more than "
                    "was allowed: output stopped"
                )
        if changed:
            self._changed()

    # ---------------------------------------------------------------- commands
    async def start(self, request: StartRequest, source: Source) -> Decision:
        """Start a session from zero, if the governor allows it.

        A stop that arrives while the start is still being checked or recorded wins: the
        session is not launched (stop is never queued behind a start).
        """
        stops_before = self._stops
        async with self._lock:
            if self._stops != stops_before:  # a stop came while this start waited its turn
                cancelled = self._cancelled_by_stop(source, "start", request.intensity)
                self._publish_decision(cancelled)
                self._audit(cancelled)
                return cancelled
            decision, plan = await self._check_start(request, source)
            self._publish_decision(decision)
            if plan is None or self.device is None or self.limits_in_force is None:
                self._audit(decision)
                return decision
            # a gentle ramp-down, at most a quarter of a short session
            ramp_down = min(self.config.session.ramp_down_s, plan.duration_s / 4)
            max_pause = self.config.session.max_pause_minutes * 60
            # as checked: narrowed by a prescription, with the stated electrode area
            limits = plan.limits
            s = Session(plan, limits, ramp_down, max_pause_s=max_pause)
            s.target = plan.target
            if self.store is not None:
                from tens.store.sessions import start_session

                try:
                    s.id = await self._db(
                        start_session,
                        started_at=self.clock.wall(),
                        device=self.device.info.address,
                        program=plan.program.name,
                        placement=plan.placement,
                        target_intensity=plan.target,
                        unit=self.limits_in_force.unit.value,
                    )
                except Exception as exc:  # no record, no session: its time would not count
                    failed = Decision(
                        source,
                        "start",
                        request.intensity,
                        None,
                        "refused",
                        (f"storage failed: the session record could not be written ({exc})",),
                        code=STORE_FAILED,
                    )
                    self._publish_decision(failed)
                    self._audit(failed)
                    return failed
            if self._stops != stops_before:
                stopped = self._cancelled_by_stop(source, "start", request.intensity)
                self._publish_decision(stopped)
                self._audit(stopped, s.id)
                if self.store is not None and s.id is not None:
                    s.state = SessionState.STOPPED
                    s.end_reason = "stopped while starting"
                    await self._persist(
                        s, state="stopped", end_reason=s.end_reason, ended_at=self.clock.wall()
                    )
                return stopped
            self._audit(decision, s.id)
            self._session = s
            self._last_session = None
            self._ended.clear()
            self._launch(s)
            self._changed()
            return decision

    async def check_start(self, request: StartRequest, source: Source) -> Decision:
        """What :meth:`start` would decide now, with the same checks, launching and recording
        nothing: a face asks this before its own questions (the TUI's pain score), so a start
        that will be refused asks nothing. ``start`` checks again; only its answer counts."""
        decision, _ = await self._check_start(request, source)
        return decision

    async def _check_start(self, request: StartRequest, source: Source) -> tuple[Decision, Any]:
        def refused(reason: str) -> tuple[Decision, None]:
            return Decision(source, "start", request.intensity, None, "refused", (reason,)), None

        if self._session is not None:
            d, _ = refused("a session is already running: stop it first")
            return replace(d, code="already_running"), None
        if not self._connected() or self.device is None:
            return refused("no device connected")
        if self.limits_in_force is None:
            return refused(self._limits_refusal or "no limits in force for this device")
        cfg = self.config.session
        placement = request.placement if request.placement is not None else cfg.placement
        if placement is None or not placement.strip():  # before the prescription's own check
            d, _ = refused(PLACEMENT_REQUIRED_TEXT)
            return replace(d, code=PLACEMENT_REQUIRED), None
        from tens.journal.regions import normalize_region

        try:
            placement = normalize_region(placement)
        except ValueError as exc:
            return refused(f"placement: {exc}")
        try:
            usage = await self._usage()
            rx = await self._prescription_outcome(request.program or cfg.program, placement)
            electrodes = await self.electrodes(prescribed=rx.electrode)
        except StorageUnavailable as exc:
            d = Decision(source, "start", request.intensity, None, "refused", (str(exc),))
            return replace(d, code=STORE_FAILED), None
        if rx.refusal is not None:
            d, _ = refused(rx.refusal)
            return replace(d, code=rx.code), None
        if rx.notice is not None:
            self._notice("warning", rx.notice)
        return check_start(
            rx.limits,
            self.device.capabilities,
            self.programs_table,
            replace(request, placement=placement),
            usage,
            self.clock.wall(),
            source,
            default_program=cfg.program,
            default_minutes=cfg.minutes,
            default_channels=cfg.channel_indexes,
            contraindicated=contraindicated_placements(),
            blocked_sites=await self._db(_red_flag_blocks),  # red flags not yet cleared
            electrodes=electrodes,
        )

    async def electrodes(self, prescribed: ElectrodeSize | None = None) -> dict[int, ElectrodeSize]:
        """Channel -> the electrode size in force: stated by the person (the store), else
        the prescription's (``prescribed``, on every channel the device has), else declared
        by the device side. Raises StorageUnavailable when the store fails."""
        out = dict(self.declared_electrodes)
        if prescribed is not None and self.device is not None:
            out.update(dict.fromkeys(range(self.device.capabilities.channels), prescribed))
        if self.store is None:
            return out
        from tens.store.electrodes import stated_electrodes

        try:
            stated = await self._db(stated_electrodes)
        except Exception as exc:
            raise StorageUnavailable(
                f"storage failed: cannot read the electrode sizes ({exc})"
            ) from exc
        out.update({ch: st.size for ch, st in (stated or {}).items()})
        return out

    async def _prescription_outcome(self, program: str, placement: str | None) -> Any:
        """The accepted prescription (if any) applied to the limits in force, for one start.

        A stored prescription that no longer validates applies nothing and refuses (refuse
        when unsure); with no store there is no prescription."""
        from tens.safety.prescription import Outcome, prescribed_limits

        assert self.limits_in_force is not None
        if self.store is None:
            return Outcome(self.limits_in_force)
        from tens.journal.validate import local_midnight
        from tens.prescription import PrescriptionError, parse
        from tens.prescription_signature import check, refusal
        from tens.store.prescription_keys import all_keys
        from tens.store.prescriptions import active_source, sessions_started_since
        from tens.store.sessions import last_session_end

        now = self.clock.wall()
        try:
            source = await self._db(active_source)
            if source is None:
                return Outcome(self.limits_in_force)
            keys = await self._db(all_keys)
            midnight = local_midnight(now.astimezone().date())
            done = await self._db(sessions_started_since, midnight)
            last = await self._db(last_session_end, now)
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(
                f"storage failed: cannot read the prescription or today's sessions ({exc})"
            ) from exc
        try:
            rules = parse(source).rules()
        except PrescriptionError as exc:
            return Outcome(
                self.limits_in_force,
                refusal=f"the stored prescription cannot be read ({exc}): refusing; "
                "remove it with `tens prescription remove` or import it again",
                code="rx-unreadable",
            )
        # Re-verified on every start: a row altered in the database, a key the person has
        # since withdrawn, or (with require_signature) no trusted signature -> refused.
        refused = refusal(
            check(source, keys), require_signature=self.config.prescription.require_signature
        )
        if refused is not None:
            code, why = refused
            return Outcome(
                self.limits_in_force,
                refusal=f"{rules.name} is not applied: {why} Refusing every start until you "
                "import one that passes, or remove it with `tens prescription remove`",
                code=f"rx-{code}",
            )
        return prescribed_limits(
            self.limits_in_force,
            rules,
            program=program,
            placement=placement,
            today=now.astimezone().date(),
            sessions_today=int(done),
            rested_s=None if last is None else (now - last).total_seconds(),
        )

    def _launch(self, s: Session) -> None:
        """Start the session's output task: the ramp, or (paused) the keepalive at 0."""
        assert self.device is not None
        runner = OutputTask(
            s,
            self.device,
            self.clock,
            self._on_write,
            self._changed,
            on_progress=self._on_progress,
        )
        self._runner = runner
        self._task = asyncio.ensure_future(runner.hold_paused() if s.paused else runner.run())
        self._task.add_done_callback(lambda t: self._on_task_done(s, t))

    def _halt_output(self) -> None:
        """Stop the output task now: it writes nothing more (flag first, then cancel)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.halt()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    async def _on_write(self, decision: Decision) -> None:
        s = self._session
        self._changed()
        if decision.refused:
            self._publish_decision(decision)
        self._audit(decision, s.id if s else None)

    def _on_progress(self) -> None:
        """Persist the stimulation time every PERSIST_EVERY_S, holds included, so a crash
        loses at most that much of the daily count."""
        s = self._session
        now = self.clock.monotonic()
        if s is not None and now >= self._persist_at:
            self._persist_at = now + PERSIST_EVERY_S
            self._spawn(self._persist(s))

    def _on_task_done(self, s: Session, task: asyncio.Task[SessionState]) -> None:
        if task.cancelled():
            return  # stop/pause/abort own the ending
        exc = task.exception()  # always retrieved, even when the session already ended
        if self._session is not s:
            return  # stop/pause/abort/link loss own the ending
        if exc is None:
            self._end(s, SessionState.FINISHED, "finished on time", write_stop=True)
        elif isinstance(exc, SessionHalted):
            self._end(s, exc.state, exc.reason, write_stop=True)
        elif isinstance(exc, DeviceError):
            self._end(s, SessionState.ABORTED, f"device error: {exc}", write_stop=True)
        else:
            log.error("session task failed", exc_info=exc)
            self._end(s, SessionState.ABORTED, f"unexpected error: {exc!r}", write_stop=True)

    async def _write_stop(
        self, source: Source = Source.SYSTEM, reason: str = "stop"
    ) -> Decision | None:
        """STOP on every channel, confirmed by the device: None (also with no link: nothing
        can be on). Else the link is dropped and the decision that says so (audited here,
        with every notice; ``code="stop_unconfirmed"``) is returned."""
        dev = self.device
        if dev is None or not dev.connected:
            return None
        self._stopping += 1
        try:
            await dev.stop(None)
        except DeviceError as exc:
            failure = str(exc)
        else:
            return None
        finally:
            self._stopping -= 1
        return await self._stop_unconfirmed(dev, source, reason, failure)

    async def _stop_unconfirmed(
        self, dev: Device, source: Source, reason: str, failure: str
    ) -> Decision:
        """The device did not confirm a stop: drop the link (a conforming device zeroes its
        output on disconnect; the driver has usually dropped it already) and say so."""
        self.unconfirmed_stops += 1
        with contextlib.suppress(DeviceError, TimeoutError):
            await dev.disconnect()
        if self.device is dev and self._link is not LinkState.DISCONNECTED:
            self._link = LinkState.LOST
        self._delivered = tuple(0.0 for _ in self._delivered)
        text = (
            f"the device did not confirm the stop ({failure}); the link was dropped so that "
            "it zeroes its output: check the device before the next session"
        )
        self._notice("error", text)
        if self._session is not None:  # e.g. a pause's stop: the link is gone, so is the session
            self._end(
                self._session, SessionState.ABORTED, f"link dropped: {text}", write_stop=False
            )
        s = self._session or self._last_session
        decision = Decision(
            source, "stop", None, None, "info", (reason, text), code=STOP_UNCONFIRMED
        )
        self._audit(decision, s.id if s else None)
        self._changed()
        return decision

    def _end(
        self,
        s: Session,
        state: SessionState,
        reason: str,
        *,
        write_stop: bool,
        code: str | None = None,
    ) -> None:
        """End the session now. Synchronous up to the point where STOP is handed to the device."""
        if self._session is not s:
            return
        self._halt_output()
        if write_stop:
            self._spawn(self._write_stop())
        s.state = state
        s.end_reason = reason
        s.end_code = code
        s.setpoint = 0.0
        self._session = None
        self._last_session = s
        level = "info" if state is SessionState.FINISHED else "warning"
        if state is SessionState.ABORTED:
            level = "error"
        self._notice(level, f"session {state.value}: {reason}")
        self._spawn(
            self._persist(s, state=state.value, end_reason=reason, ended_at=self.clock.wall())
        )
        self._audit(
            Decision(
                Source.SYSTEM, "end", None, 0.0, "info", (f"{state.value}: {reason}",), code=code
            ),
            s.id,
        )
        self._emit(SessionEnded(s.id, state, reason, code))
        self._ended.set()
        self._changed()

    def _abort(self, reason: str, *, write_stop: bool = True, code: str | None = None) -> None:
        if self._session is not None:
            self._end(self._session, SessionState.ABORTED, reason, write_stop=write_stop, code=code)
        elif write_stop:
            self._spawn(self._write_stop())

    async def stop(self, source: Source, reason: str = "stopped") -> Decision:
        """Output 0 on every channel, at once. Always allowed; never waits behind anything.

        Returns an "allowed" decision when the device confirmed the stop (or no device is
        connected, so nothing can be on: a device zeroes its output when the link drops).
        When it did not confirm within the driver's bound (at most 1 s), the link is dropped
        and the decision has ``code="stop_unconfirmed"``; the session ends either way.
        """
        self._stops += 1  # a start still in progress sees this and launches nothing
        s = self._session
        self._halt_output()  # no further byte from the output task
        dev = self.device
        decision = Decision(source, "stop", None, 0.0, "allowed", (reason,))
        failure: str | None = None
        if dev is None or not dev.connected:  # nothing to wait for: no link, no output
            decision = Decision(source, "stop", None, 0.0, "allowed", (reason, LINK_DOWN_TEXT))
        else:
            self._stopping += 1
            try:
                await dev.stop(None)
            except DeviceError as exc:
                failure = str(exc)
            finally:
                self._stopping -= 1
        if s is not None and self._session is s:
            why = f"{reason} ({source.value})"
            if failure is not None:
                why += "; the device did not confirm it: link dropped"
            self._end(s, SessionState.STOPPED, why, write_stop=False)
        if failure is not None:
            assert dev is not None
            return await self._stop_unconfirmed(dev, source, reason, failure)
        self._changed()
        self._audit(decision, s.id if s else None)
        return decision

    def _cancelled_by_stop(self, source: Source, action: str, requested: Any) -> Decision:
        d = Decision(
            source,
            action,
            requested,
            None,
            "refused",
            (f"cancelled: a stop came before this {action} could run",),
            code="cancelled_by_stop",
        )
        return d

    async def pause(self, source: Source) -> Decision:
        """Output 0 at once (STOP), and the link held: the session's output task keeps the
        device's keepalive going at 0 until resume, a stop, or the longest pause
        (session.max_pause_minutes), which ends the session as stopped."""
        s = self._session
        if s is None or s.paused:
            d = Decision(
                source,
                "pause",
                None,
                None,
                "refused",
                ("no running session to pause",),
                code="not_running",
            )
            self._publish_decision(d)
            return d
        self._halt_output()  # the ramp writes nothing more
        s.pause(self.clock.monotonic())
        self._launch(s)  # the keepalive at 0 (its first keepalive comes after STOP)
        unconfirmed = await self._write_stop(source, "pause")
        if unconfirmed is not None:  # the link is gone, and the session with it: say so
            return replace(unconfirmed, action="pause")
        d = Decision(source, "pause", None, 0.0, "allowed", ("output 0; resume ramps from zero",))
        self._audit(d, s.id)
        self._changed()
        return d

    async def resume(self, source: Source) -> Decision:
        stops_before = self._stops
        async with self._lock:
            s = self._session
            if self._stops != stops_before:
                d = self._cancelled_by_stop(source, "resume", None)
                self._publish_decision(d)
                self._audit(d, s.id if s else None)
                return d
            if s is None or not s.paused:
                d = Decision(
                    source, "resume", None, None, "refused", ("no paused session",), "not_paused"
                )
                self._publish_decision(d)
                return d
            if not self._connected():
                d = Decision(source, "resume", None, None, "refused", ("no device connected",))
                self._publish_decision(d)
                return d
            self._halt_output()  # the keepalive at 0
            s.resume()
            d = Decision(source, "resume", s.target, s.target, "allowed", ("ramps from zero",))
            self._audit(d, s.id)
            self._launch(s)  # arms, writes 0, ramps within the governor
            self._changed()
            return d

    async def set_intensity(self, value: float, source: Source) -> Decision:
        """Ask for a new target intensity; it is reached at the governed ramp rate."""
        return await self._change_target(value, source, "intensity")

    async def step_intensity(self, steps: int, source: Source) -> Decision:
        """Raise or lower the target by whole manual steps (one step per request up)."""
        lim = self.limits_in_force
        s = self._session
        if lim is None or s is None:
            return await self._change_target(float("nan"), source, "step")
        value = max(0.0, s.target + steps * lim.step)
        return await self._change_target(round(value, 6), source, "step")

    async def _change_target(self, value: float, source: Source, action: str) -> Decision:
        s = self._session
        # the session's own limits: those in force narrowed by a prescription, if any
        lim = s.limits if s is not None else self.limits_in_force
        if s is None or lim is None:
            d = Decision(
                source, action, value, None, "refused", ("no session running",), "not_running"
            )
        elif self._runner is None:
            # the output is being halted (a stop is writing STOP): nothing may raise it now
            d = self._cancelled_by_stop(source, action, value)
        else:
            d = check_target(
                lim,
                s.plan.program,
                s.target,
                value,
                source,
                manual=source in MANUAL_SOURCES,
                action=action,
                output=s.setpoint,
            )
            if d.allowed is not None and isinstance(d.allowed, float | int):
                s.set_target(float(d.allowed))
        self._publish_decision(d)
        self._audit(d, s.id if s else None)
        self._changed()
        return d

    async def wait_ended(self) -> Snapshot:
        """Wait until the current session ends; returns the final snapshot."""
        if self._session is not None:
            await self._ended.wait()
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.audit.flush()
        return self.snapshot()
