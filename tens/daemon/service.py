"""The daemon's main: one asyncio loop holding the device link, the schedules and MQTT.

``Daemon.run()`` keeps the device connected (retry with backoff; a lost link ends the session
and nothing resumes by itself: only a new start ramps from zero), runs the configured
schedules through the controller (``Source.SCHEDULER``, so every limit applies), serves MQTT
through :class:`tens.daemon.bridge.MqttBridge`, and talks to systemd (READY, WATCHDOG, STATUS,
STOPPING). :meth:`Daemon.shutdown` (SIGTERM, SIGINT) stops output first, closes the device
link, publishes the final state and ``offline``, then disconnects and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any

from tens import __version__
from tens.clock import Clock
from tens.daemon.bridge import MqttBridge
from tens.daemon.payloads import LimitsPayload
from tens.daemon.sdnotify import SdNotifier
from tens.daemon.settings import MqttSettings
from tens.device import DeviceError
from tens.events import (
    LinkState,
    Notice,
    Refused,
    SessionEnded,
    SessionState,
    Source,
    StateChanged,
)
from tens.schedule import Schedule, run_schedules

log = logging.getLogger("tens.daemon")

DEVICE_RETRY_MIN_S = 2.0
DEVICE_RETRY_MAX_S = 60.0
DEVICE_POLL_S = 1.0
SHUTDOWN_STEP_S = 10.0
"""Longest wait for each shutdown step after output has stopped."""


def _awaiting(task: asyncio.Task[Any]) -> str:
    """Where a suspended task waits: its chain of awaited coroutines, outermost first."""
    parts: list[str] = []
    obj: Any = task.get_coro()
    while obj is not None and len(parts) < 12:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None)
        if frame is None:
            parts.append(type(obj).__name__)
            break
        name = frame.f_code.co_filename.rsplit("/", 1)[-1]
        parts.append(f"{frame.f_code.co_name} ({name}:{frame.f_lineno})")
        obj = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None)
    return " -> ".join(parts)


def limits_of(controller: Any) -> LimitsPayload:
    """The controller's effective limits as the payload HA's number entity reads."""
    lim = controller.limits()
    if lim is None:
        return LimitsPayload(unit=controller.snapshot().unit, max=None)
    return LimitsPayload(
        unit=lim.unit.value, min=0.0, max=lim.peak, step=lim.step, ramp_per_s=lim.ramp_per_s
    )


def program_names_of(controller: Any) -> list[str]:
    """Programs the connected device can render (all of them before a device is known)."""
    return [p.name for p, why in controller.programs() if why is None]


class Daemon:
    def __init__(
        self,
        controller: Any,
        settings: MqttSettings,
        *,
        clock: Clock,
        schedules: Sequence[Schedule] = (),
        default_program: str | None = None,
        notifier: SdNotifier | None = None,
    ) -> None:
        self.controller = controller
        self.settings = settings
        self.clock = clock
        self.schedules = [s for s in schedules if s.enabled]
        self.notifier = notifier or SdNotifier()
        self.bridge: MqttBridge | None = None
        if settings.enabled:
            self.bridge = MqttBridge(
                controller,
                settings,
                clock=clock,
                version=__version__,
                limits=lambda: limits_of(controller),
                programs=lambda: program_names_of(controller),
                default_program=default_program,
                model=lambda: controller.snapshot().driver,
            )
            self.bridge.on_status = self._status
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._was_active = False
        controller.add_listener(self._tell)

    def _tell(self, ev: Any) -> None:
        """The daemon's log tells the story at INFO: one line per session start, end (stop,
        abort with its reason, finish), refusal (with the limit), and every notice (link lost,
        connected, faults); journald gets plain text (no colours)."""
        if isinstance(ev, StateChanged):
            snap = ev.snapshot
            active = snap.session.active or snap.session is SessionState.PAUSED
            if active and not self._was_active:
                log.info(
                    "session %s started: program %s, target %g %s",
                    snap.session_id,
                    snap.program,
                    snap.target,
                    snap.unit,
                )
            self._was_active = active
        elif isinstance(ev, SessionEnded):
            line = "session %s %s: %s"
            args = (ev.session_id, ev.state.value, ev.reason)
            if ev.state is SessionState.ABORTED:
                log.warning(line, *args)
            else:
                log.info(line, *args)
        elif isinstance(ev, Refused):
            d = ev.decision
            log.info("refused %s from %s: %s", d.action, d.source.value, d.reason)
        elif isinstance(ev, Notice):
            level = {"error": logging.ERROR, "warning": logging.WARNING}.get(ev.level, logging.INFO)
            log.log(level, "%s", ev.text)

    def _status(self, text: str) -> None:
        log.info("%s", text)
        self.notifier.status(text)

    def request_stop(self) -> None:
        """Ask :meth:`run` to shut down (signal handlers call this)."""
        self._stop_requested.set()

    # ---- device link ----------------------------------------------------------------------

    async def _keep_device(self) -> None:
        delay = DEVICE_RETRY_MIN_S
        while True:
            link = self.controller.snapshot().link
            if link is LinkState.CONNECTED:
                delay = DEVICE_RETRY_MIN_S
                await self.clock.sleep(DEVICE_POLL_S)
                continue
            if link is LinkState.LOST:
                # The session has already ended (aborted); drop the dead link before retrying.
                with contextlib.suppress(DeviceError, asyncio.TimeoutError):
                    await self.controller.disconnect()
            try:
                await self.controller.connect()
                self._status("device connected")
                continue
            except Exception as exc:  # DeviceError, or a transport error the opener let through
                self._status(f"device not connected ({exc}); retrying in {delay:.0f} s")
            await self.clock.sleep(delay)
            delay = min(delay * 2, DEVICE_RETRY_MAX_S)

    # ---- schedules ------------------------------------------------------------------------

    async def _run_schedules(self) -> None:
        quiet = getattr(getattr(self.controller, "config", None), "quiet_hours", None)
        await run_schedules(self.controller, self.schedules, self.clock, log, quiet)

    # ---- systemd watchdog -----------------------------------------------------------------

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        while True:
            self.notifier.watchdog()
            await self.clock.sleep(interval)

    # ---- main -----------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self) -> int:
        """Serve until :meth:`request_stop`; then shut down in the safe order."""
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(self._keep_device(), name="device")]
        if self.schedules:
            tasks.append(asyncio.create_task(self._run_schedules(), name="schedules"))
        if self.notifier.watchdog_interval_s is not None:
            tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        if self.bridge is not None:
            tasks.append(asyncio.create_task(self.bridge.run(), name="mqtt"))
        self.notifier.ready("serving")
        log.info(
            "tens daemon %s serving%s",
            __version__,
            f"; MQTT {self.settings.describe()}" if self.bridge else "; MQTT off",
        )
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        try:
            done, _ = await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
            # Every task serves forever: one that ended is a failure; shut down safely.
            crashed = [t for t in done if t is not stop_wait]
            for t in crashed:
                exc = None if t.cancelled() else t.exception()
                log.error("daemon task %s ended: %r", t.get_name(), exc, exc_info=exc)
            return await self._shutdown(tasks, code=1 if crashed and not stop_wait.done() else 0)
        finally:
            stop_wait.cancel()

    async def _end_tasks(self, tasks: list[asyncio.Task[Any]]) -> None:
        if not tasks:
            return
        for t in tasks:
            t.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_STEP_S)
        for t in stuck:
            where = " <- ".join(
                f"{f.f_code.co_name} ({f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno})"
                for f in t.get_stack(limit=8)
            )
            log.error(
                "daemon task %s did not end within %g s; at %s",
                t.get_name(),
                SHUTDOWN_STEP_S,
                where,
            )

    async def _shutdown(self, tasks: list[asyncio.Task[Any]], *, code: int) -> int:
        self.notifier.stopping("stopping output")
        # 1. Output first: nothing else may delay the STOP write. Bounded all the same: if
        #    the link is wedged, closing it below zeroes the device (it stops on disconnect).
        stopping = asyncio.ensure_future(self.controller.stop(Source.SYSTEM, "daemon stopping"))
        done, _ = await asyncio.wait({stopping}, timeout=SHUTDOWN_STEP_S)
        if not done:
            log.error("STOP was not confirmed within %g s; closing the link", SHUTDOWN_STEP_S)
        elif not stopping.cancelled() and stopping.exception() is not None:
            log.error("stop on shutdown failed: %r", stopping.exception())
        # 2. End the loops (bounded: a task that ignores cancellation must not keep the
        #    process alive) and close the device link, MQTT aside: it still has to speak.
        mqtt = [t for t in tasks if t.get_name() == "mqtt"]
        await self._end_tasks([t for t in tasks if t not in mqtt])
        closing = asyncio.ensure_future(self.controller.close())
        done, _ = await asyncio.wait({closing}, timeout=SHUTDOWN_STEP_S)
        if not done:
            log.error("closing the device link took longer than %g s", SHUTDOWN_STEP_S)
        elif not closing.cancelled() and closing.exception() is not None:
            log.error("closing the controller failed: %r", closing.exception())
        # 3. Tell the bus, while the connection is still up: the final state (no session,
        #    link down), then offline. Then the MQTT client disconnects cleanly.
        if self.bridge is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bridge.goodbye(), 5.0)
        await self._end_tasks(mqtt)
        self.notifier.close()
        self._stopped.set()
        log.info("tens daemon stopped")
        return code
