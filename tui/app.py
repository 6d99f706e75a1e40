"""The Textual app: screens over the controller, with one stop key everywhere.

``make_app(controller, ...)`` builds it; ``tens tui`` and the tests call that. The app holds no
rules: every output change goes to the controller (and so through the safety governor), and
what the screens show comes from the controller's snapshot and events only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any, ClassVar

from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea

from tens.clock import Clock, LoopClock
from tens.device import DeviceError
from tens.events import ControllerEvent, Decision, SessionEnded, SessionState, Source
from tens.safety.governor import CHECKLIST_UNANSWERED, PLACEMENT_REQUIRED
from tui.device_choice import DeviceChoice
from tui.messages import ControllerEventArrived
from tui.pain_answer import PainAnswer
from tui.ports import ControllerPort
from tui.view_state import ViewState
from tui.widgets.session.plan import SessionPlan

TICK_S = 1.0
"""How often the session screen's time moves on without any other change."""


class TensApp(App[int]):
    """The TUI. Build it with :func:`make_app`."""

    CSS_PATH = "app.tcss"
    TITLE = "tens"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # Stop is bound on the app with priority: no screen, modal or widget can swallow it.
        Binding("s", "stop_key", "STOP", priority=True),
        Binding("escape", "stop_escape", "STOP", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", show=False),
        Binding("f1", "help", "Help", show=False),  # like ?, from every screen
    ]

    def __init__(
        self,
        controller: ControllerPort,
        *,
        store: Any | None = None,
        clock: Clock | None = None,
        live: bool = True,
        connect: bool = True,
        refresh_s: float = 0.2,
        ask_pain: bool | None = None,
        devices: DeviceChoice | None = None,
        show_devices: bool = False,
        plan: SessionPlan | None = None,
        tz: dt.tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.store = store
        self.clock: Clock = clock or LoopClock()
        self.live = live
        self.connect_on_start = connect
        self.refresh_s = refresh_s
        defaults = getattr(getattr(controller, "config", None), "session", None)
        self.ask_before = bool(getattr(defaults, "ask_pain_before", True))
        self.ask_after = bool(getattr(defaults, "ask_pain_after", True))
        if ask_pain is not None:
            self.ask_before = self.ask_after = ask_pain
        self.plan = plan or SessionPlan.from_defaults(defaults)
        self.tz = tz
        self.devices = devices
        self.show_devices = show_devices
        self.view = ViewState()
        self._flush_timer: Timer | None = None

    # ---- time -------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.monotonic()

    def wall_hms(self) -> str:
        wall = self.clock.wall()
        wall = wall.astimezone(self.tz) if self.tz is not None else wall.astimezone()
        return wall.strftime("%H:%M:%S")

    # ---- lifecycle --------------------------------------------------------------------

    async def on_mount(self) -> None:
        from tui.screens.session import SessionScreen

        if self.live:  # subscribe first, so nothing after the snapshot below is missed
            self.run_worker(self._pump_events(), name="controller-events", exclusive=False)
        self.view.apply_snapshot(
            self.controller.snapshot(), at=self.wall_hms(), now=self.now(), with_notices=True
        )
        quiet = getattr(getattr(self.controller, "config", None), "quiet_hours", None)
        if quiet is not None and (night := quiet.warning()) is not None:
            self.view.add_log(self.wall_hms(), "warning", night)  # while night use is on
        await self.push_screen(SessionScreen())
        if self.live and self.connect_on_start:
            self.run_worker(self._connect(), name="connect")
        if self.live:
            # Time moves during a steady hold although nothing else changes (the controller
            # emits no StateChanged then): once a second, re-read the session's clock.
            self.set_interval(TICK_S, self._tick, name="session-clock")
        if self.show_devices:
            self.open_devices()
        if self.store is not None:
            self.run_worker(self._first_run(), name="first-run")
        schedules = getattr(getattr(self.controller, "config", None), "schedules", ())
        if self.live and schedules:
            # the config's schedules run here too, through the controller (Source.SCHEDULER):
            # every limit applies, and a refused start shows in the event log
            from tens.schedule import run_schedules

            self.run_worker(
                run_schedules(self.controller, schedules, self.clock, None, quiet),
                name="schedules",
                exclusive=False,
            )

    async def _pump_events(self) -> None:
        async with self.controller.events() as stream:
            async for event in stream:
                self.post_message(ControllerEventArrived(event))

    async def _connect(self) -> None:
        try:
            await self.controller.connect()
        except Exception as exc:  # DeviceError, or anything else: said, never a crash
            self.view.add_log(self.wall_hms(), "error", f"Could not connect: {exc}")
            if self.devices is not None:
                self.open_devices()  # choose another device, or the simulator
        self.refresh_view(soon=False)

    async def _first_run(self) -> None:
        from tens.store.sessions import latest_checklist
        from tui.screens.checklist import ChecklistScreen

        record = await self.store.run(latest_checklist)  # type: ignore[union-attr]
        if record is None or record.expired(self.clock.wall()):  # expired: asked again
            await self.push_screen(ChecklistScreen())

    # ---- controller events ------------------------------------------------------------

    def on_controller_event_arrived(self, message: ControllerEventArrived) -> None:
        self.apply_event(message.event)

    def apply_event(self, event: ControllerEvent) -> None:
        """Fold an event into the view and redraw soon (tests call this to inject state)."""
        self.view.apply(event, at=self.wall_hms(), now=self.now())
        if isinstance(event, SessionEnded):
            self.refresh_view(soon=False)
            if self.ask_after and self.store is not None and event.session_id is not None:
                self.open_pain("after", session_id=event.session_id)
            return
        self.refresh_view()

    def refresh_view(self, soon: bool = True) -> None:
        """Redraw the screens from the view; coalesced to one redraw per ``refresh_s``."""
        if soon and self.refresh_s > 0:
            if self._flush_timer is None:
                self._flush_timer = self.set_timer(self.refresh_s, self._redraw)
            return
        self._redraw()

    def _redraw(self) -> None:
        self._flush_timer = None
        now = self.now()
        for screen in self.screen_stack:
            show = getattr(screen, "show_view", None)
            if show is None or not screen.is_mounted:
                continue
            try:
                show(self.view, self.plan, now)
            except NoMatches:  # still composing, or being torn down: its on_mount draws it
                continue

    def _tick(self) -> None:
        """Elapsed, time left, the progress bar and the chart move on, once a second.

        Only while a session is active or paused (otherwise nothing here moves), and only the
        session's clock is taken from the controller: states still come from the event stream.
        """
        state = self.view.snapshot.session
        if not (state.active or state is SessionState.PAUSED):
            return
        self.view.take_time(self.controller.snapshot())
        self.refresh_view(soon=False)

    def _pull(self) -> None:
        """Without the event stream (``live=False``), read the controller's state directly.

        Live, the stream is the only source: a pulled snapshot could be newer than events
        still queued, and applying those afterwards would show an older state again.
        """
        if not self.live:
            self.view.apply_snapshot(self.controller.snapshot(), at=self.wall_hms(), now=self.now())

    # ---- output: every change goes to the controller -----------------------------------

    def output_may_be_on(self) -> bool:
        snap = self.controller.snapshot()
        return (
            self.view.output_may_be_on
            or snap.session.active
            or snap.session is SessionState.PAUSED
            or snap.delivered_max > 0
        )

    async def stop_now(self) -> None:
        """Stop at once: the controller writes STOP to the device before anything else."""
        was_on = self.output_may_be_on()
        try:
            await self.controller.stop(Source.TUI)
        except Exception as exc:  # a failed stop must be seen, never hidden
            if was_on:
                self.view.add_log(self.wall_hms(), "error", f"STOP could not be written: {exc}")
        else:
            if was_on:
                self.view.add_log(self.wall_hms(), "warning", "STOP pressed: output to zero")
        self._pull()
        self.refresh_view(soon=False)

    async def action_stop_key(self) -> None:
        # With nothing to stop, `s` typed into a text field is just a letter.
        if isinstance(self.focused, Input | TextArea) and not self.output_may_be_on():
            raise SkipAction()
        await self.stop_now()

    async def action_stop_escape(self) -> None:
        was_on = self.output_may_be_on()
        await self.stop_now()
        # With nothing running, Escape also closes the screen or dialog on top (not the
        # checklist: it is answered, not dismissed).
        from tui.screens.checklist import ChecklistScreen

        screen = self.screen
        if was_on or len(self.screen_stack) <= 2 or isinstance(screen, ChecklistScreen):
            return
        if isinstance(screen, ModalScreen):
            screen.dismiss(None)
        elif isinstance(screen, Screen):
            self.pop_screen()

    async def start_or_pause(self) -> None:
        snap = self.controller.snapshot()
        if snap.session.active:
            await self._decide(self.controller.pause(Source.TUI))
        elif snap.session is SessionState.PAUSED:
            await self._decide(self.controller.resume(Source.TUI))
        elif self.ask_before and self.store is not None:
            # The governor first: a start it will refuse asks no pain score (and so leaves no
            # journal entry); start() below refuses it again, which records and shows why.
            check = await self.controller.check_start(self.start_request(), Source.TUI)
            if check.refused:
                await self.start_session()
            else:
                self.open_pain("before", then_start=True)
        else:
            await self.start_session()

    def start_request(self) -> Any:
        """The plan as the controller's StartRequest."""
        from tens.controller import StartRequest

        plan = self.plan
        return StartRequest(
            program=plan.program,
            minutes=plan.minutes,
            intensity=plan.intensity,
            placement=plan.placement,
        )

    async def start_session(self) -> int | None:
        """Ask the controller to start the plan; the new session's id, if it started."""
        self.view.last_refusal = None
        decision = await self._decide(self.controller.start(self.start_request(), Source.TUI))
        if decision is not None and decision.code == CHECKLIST_UNANSWERED:
            await self._first_run()  # not answered yet (or expired): ask now
        if decision is not None and decision.code == PLACEMENT_REQUIRED:
            # where the electrodes are is asked here: the setup dialog, placement first
            self.notify("Choose where the electrodes are, then start again.", severity="warning")
            self.open_setup(focus="placement")
        if decision is None or decision.refused:
            return None
        return self.controller.snapshot().session_id

    async def step(self, delta: int) -> None:
        snap = self.controller.snapshot()
        if not (snap.session.active or snap.session is SessionState.PAUSED):
            # No session: up/down change where the next session will ramp to.
            self.set_plan_intensity(self.plan.intensity + delta)
            return
        await self._decide(self.controller.step_intensity(delta, Source.TUI))

    def set_plan_intensity(self, value: float) -> None:
        from dataclasses import replace

        self.plan = replace(self.plan, intensity=max(0.0, value))
        self.refresh_view(soon=False)

    async def _decide(self, call: Awaitable[Decision]) -> Decision | None:
        """Await a controller request; show a refusal's reason at once. None: it failed."""
        decision: Decision | None = None
        try:
            decision = await call
        except DeviceError as exc:
            self.view.last_refusal = str(exc)
            self.view.add_log(self.wall_hms(), "error", str(exc))
        else:
            refused = decision.refused
            self.view.last_refusal = f"{decision.action}: {decision.reason}" if refused else None
        self._pull()
        self.refresh_view(soon=False)
        return decision

    # ---- screens ----------------------------------------------------------------------

    def open_pain(
        self, when: str, *, session_id: int | None = None, then_start: bool = False
    ) -> None:
        """Ask for pain now. ``then_start``: the "before" score, then start the session."""
        from tui.screens.pain import PainScreen

        if self.store is None:
            self.notify("No journal is open: pain cannot be logged.", severity="warning")
            return
        top = self.screen
        if isinstance(top, PainScreen) and not then_start:
            # Already asking (e.g. stopped from inside the dialog): it becomes the "after" score.
            top.retarget(when, session_id)
            return
        screen = PainScreen(when=when, session_id=session_id)

        async def done(result: PainAnswer | str | None) -> None:
            if result is None:  # closed: nothing saved, nothing started
                return
            answer = result if isinstance(result, PainAnswer) else None
            if then_start:
                started = await self.start_session()
                if answer is not None:
                    # A "before" score belongs to the session it was taken for.
                    if started is not None:
                        await self.save_pain(answer, "before", started)
                    else:
                        await self.save_pain(answer, "other", None)
            elif answer is not None:
                sid = screen.session_id
                await self.save_pain(answer, screen.when if sid else "other", sid)

        self.push_screen(screen, done)

    async def save_pain(self, answer: PainAnswer, context: str, session_id: int | None) -> None:
        from tui.journal_bridge import save_entry

        try:
            advice = await save_entry(
                self.store, answer, context=context, session_id=session_id, clock=self.clock
            )
        except Exception as exc:
            self.view.add_log(self.wall_hms(), "error", f"Pain entry not saved: {exc}")
        else:
            self.view.add_log(self.wall_hms(), "info", f"Pain {answer.nrs}/10 logged ({context})")
            for text in advice:
                self.view.add_log(self.wall_hms(), "warning", text)
                self.notify(text, severity="warning", timeout=20)
        self.refresh_view(soon=False)

    async def save_checklist(self, answers: dict[str, bool]) -> None:
        from tens.checklist import validate_answers
        from tens.store.sessions import record_checklist

        if self.store is None:
            return
        clean = validate_answers(answers)
        await self.store.run(record_checklist, clean, any(clean.values()), at=self.clock.wall())
        self.view.add_log(
            self.wall_hms(),
            "warning" if any(clean.values()) else "info",
            "Checklist saved" + (": TENS is not advised for you" if any(clean.values()) else ""),
        )
        self.refresh_view(soon=False)

    def open_setup(self, focus: str | None = None) -> None:
        """The session setup dialog; ``focus``: the id of the field to start on."""
        from tui.screens.setup import SetupScreen

        def done(plan: SessionPlan | None) -> None:
            if plan is not None:
                self.plan = plan
                self.refresh_view(soon=False)

        limits = getattr(self.controller, "limits", None)
        programs = getattr(self.controller, "programs", None)
        table = {p.name: p for p, _ in programs()} if programs is not None else {}
        screen = SetupScreen(
            self.plan,
            self.program_names(),
            limits() if limits is not None else None,
            table,
            focus=focus,
        )
        self.push_screen(screen, done)

    def program_names(self) -> list[tuple[str, str | None]]:
        """(program name, why the connected device cannot render it or None)."""
        programs = getattr(self.controller, "programs", None)
        if programs is None:
            return [(self.plan.program, None)]
        return [(p.name, why) for p, why in programs()] or [(self.plan.program, None)]

    def open_history(self) -> None:
        from tui.screens.history import HistoryScreen

        self.push_screen(HistoryScreen())

    def open_devices(self) -> None:
        from tui.screens.devices import DevicesScreen

        self.push_screen(DevicesScreen())

    async def switch_device(self, address: str | None) -> str | None:
        """Connect to ``address`` (None: the simulator). Returns an error to show, or None."""
        if self.devices is None:
            return "Device choice is not available here."
        if self.output_may_be_on():
            return "Stop the session first (s)."
        try:
            if address is None:
                await self.devices.use_simulator()
            else:
                self.devices.choose(address)
            await self.controller.disconnect()
            await self.controller.connect()
        except DeviceError as exc:
            return f"Could not connect: {exc}"
        finally:
            self._pull()
            self.refresh_view(soon=False)
        return None

    def open_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_help(self) -> None:
        self.open_help()

    async def action_quit(self) -> None:
        await self.stop_now()
        self.exit(0)


def make_app(controller: ControllerPort, **options: Any) -> TensApp:
    """Build the TUI over a controller.

    Options (see :class:`TensApp`): ``store`` (the tens.store.AsyncDB for the checklist,
    the journal and history), ``clock``, ``live`` (False: no event stream and no timers, for
    deterministic snapshots), ``connect``, ``refresh_s``, ``ask_pain``, ``plan``,
    ``tz``, ``devices`` (a :class:`tui.device_choice.DeviceChoice`), ``show_devices``.
    """
    return TensApp(controller, **options)
