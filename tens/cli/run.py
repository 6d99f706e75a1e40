"""`tens run`: one headless session with a progress bar; Ctrl-C stops output at once.

Exit codes (one table for every verb, docs/cli.md): 0 finished on time · 2 bad usage ·
3 configuration refused · 4 database error · 5 refused by the safety governor · 6 device not
found or could not connect · 7 device lost mid-session · 8 aborted (fault, peel-off, low
battery, unreadable data) · 9 stopped (Ctrl-C, SIGTERM or another stop) · 10 a stop was not
confirmed by the device (the link was dropped so that it zeroes: check the device)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from tens.cli.common import add_config, add_json, channel_arg
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

EXIT_FINISHED = ExitCode.OK
EXIT_CONFIG = ExitCode.CONFIG
EXIT_STORE = ExitCode.STORE
EXIT_REFUSED = ExitCode.REFUSED
EXIT_NO_DEVICE = ExitCode.NO_DEVICE
EXIT_LOST = ExitCode.LOST
EXIT_ABORTED = ExitCode.ABORTED
EXIT_STOPPED = ExitCode.STOPPED
EXIT_STOP_UNCONFIRMED = ExitCode.STOP_UNCONFIRMED


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run one stimulation session headless",
        description="Run one session: connect, ramp from zero within the limits, hold, ramp "
        "down, stop. Ctrl-C stops output at once. " + (__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from tens.cli.target import add_target_arguments

    add_target_arguments(p)
    p.add_argument("--program", metavar="NAME", help="program (see `tens programs`)")
    p.add_argument("--minutes", type=float, metavar="M", help="session length in minutes")
    p.add_argument("--intensity", type=float, metavar="MA", help="target intensity (mA, or levels)")
    p.add_argument("--placement", metavar="REGION", help="where the electrodes are")
    p.add_argument(
        "--channel",
        type=channel_arg,
        action="append",
        dest="channels",
        metavar="N",
        help="output channel, numbered from 1 (repeat for several; default: the config's "
        "session.channels)",
    )
    p.add_argument("--pain-before", type=int, metavar="NRS", help="pain now, 0-10 (journal)")
    p.add_argument("--pain-after", type=int, metavar="NRS", help="pain after, 0-10 (journal)")
    p.add_argument(
        "--no-prompt", action="store_true", help="never ask for pain scores interactively"
    )
    add_json(p)
    add_config(p)
    p.set_defaults(handler=run)


def _bar(fraction: float, width: int = 24) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "#" * filled + "-" * (width - filled)


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = round(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


STOP_REASONS = {
    "Ctrl-C": "Ctrl-C from the terminal",
    "SIGTERM": "SIGTERM: asked to end by the system or another program",
}
"""What a stop by signal says in the session's record and events."""


class Progress:
    """One line redrawn in place (or one JSON object per event with --json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stdout.isatty()
        self._last = ""
        self.gone = False
        """The reader of stdout went away (a closed pipe): nothing more is written."""
        self.on_gone: Any = None
        """Called once when the reader goes away (``tens run`` stops the session then)."""

    def event(self, ev: Any) -> None:
        if self.gone:
            return
        try:
            self._event(ev)
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        """As a process killed by SIGPIPE would: stop, quietly. Further writes go nowhere
        (stdout onto /dev/null, so even the interpreter's last flush cannot fail)."""
        import os

        self.gone = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        if self.on_gone is not None:
            self.on_gone()

    def _event(self, ev: Any) -> None:
        from tens.events import (
            Narrowed,
            Notice,
            OutputDelivered,
            Refused,
            SessionEnded,
            StateChanged,
        )

        if self.as_json:
            emit_json(_event_json(ev))
            return
        if isinstance(ev, StateChanged):
            self.draw(ev.snapshot)
        elif isinstance(ev, Refused | Narrowed):
            self.line(f"{ev.decision.outcome}: {ev.decision.reason}")
        elif isinstance(ev, Notice):
            self.line(f"{ev.level}: {ev.text}")
        elif isinstance(ev, SessionEnded | OutputDelivered):
            pass  # the end is announced by its Notice; delivered output shows in the bar

    def draw(self, snap: Any) -> None:
        total = snap.elapsed_s + (snap.remaining_s or 0.0)
        frac = snap.elapsed_s / total if total else 0.0
        delivered = snap.delivered_max
        battery = f"{snap.battery_percent}%" if snap.battery_percent is not None else "?"
        text = (
            f"[{_bar(frac)}] {_mmss(snap.remaining_s)} left  "
            f"{delivered:5.1f}/{snap.target:.1f} {snap.unit}  battery {battery}  "
            f"{snap.session.value}"
        )
        if text == self._last:
            return
        self._last = text
        if self.tty:
            sys.stdout.write("\r\x1b[2K" + text)
            sys.stdout.flush()

    def line(self, text: str) -> None:
        if self.tty:
            sys.stdout.write("\r\x1b[2K")
        print(text, flush=True)
        self._last = ""

    def clear(self) -> None:
        """Clear the bar's line so a question can be asked on it."""
        if self.tty and not self.as_json:
            sys.stdout.write("\r\x1b[2K")
            sys.stdout.flush()
            self._last = ""

    def finish(self) -> None:
        if self.tty and not self.as_json:
            sys.stdout.write("\n")
            sys.stdout.flush()


def _event_json(ev: Any) -> dict[str, Any]:
    import dataclasses

    from tens.events import (
        Narrowed,
        Notice,
        OutputDelivered,
        Refused,
        SessionEnded,
        StateChanged,
    )

    if isinstance(ev, StateChanged):
        snap = dataclasses.asdict(ev.snapshot)
        return {"event": "state", **snap}
    if isinstance(ev, OutputDelivered):
        return {"event": "delivered", "t": ev.t, "delivered": list(ev.delivered)}
    if isinstance(ev, Refused | Narrowed):
        d = ev.decision
        return {
            "event": d.outcome,
            "source": d.source.value,
            "action": d.action,
            "requested": d.requested,
            "allowed": d.allowed,
            "reason": d.reason,
            "code": d.code,
        }
    if isinstance(ev, SessionEnded):
        return {
            "event": "ended",
            "session_id": ev.session_id,
            "state": ev.state.value,
            "reason": ev.reason,
        }
    if isinstance(ev, Notice):
        return {"event": "notice", "level": ev.level, "text": ev.text}
    return {"event": type(ev).__name__}


def _ask_pain(prompt: str) -> int | None:
    """Ask until a valid score or a skip, at most the journal's MAX_TRIES times (as
    docs/journal.md says), then skip: a session never waits on a prompt for ever."""
    from tens.journal.prompts import MAX_TRIES, parse_answer
    from tens.journal.validate import JournalInputError

    for _ in range(MAX_TRIES):
        sys.stdout.write(f"{prompt} (0 = none, 10 = worst; Enter to skip): ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return None
        try:
            return parse_answer(line)
        except JournalInputError:
            print("Please type a whole number from 0 to 10, or press Enter to skip.")
    print("No score recorded.")
    return None


async def _log_pain(db: Any, score: int, context: str, session_id: int | None) -> str | None:
    """Journal entry linked to the session; returns an error text or None."""
    try:
        from tens.journal.prompts import record_session_pain
    except ImportError:
        return "the journal is not available"
    try:
        await record_session_pain(db, score, context, session_id)
    except Exception as exc:
        return str(exc)
    return None


async def _checklist_answered(db: Any) -> bool:
    from tens.store.sessions import latest_checklist
    from tens.store.timestamps import utc_now

    record = await db.run(latest_checklist)
    return record is not None and not record.expired(utc_now())  # expired: asked again


async def _first_run_checklist(db: Any) -> int:
    """First session on this machine: ask the contraindication checklist here and now."""
    import asyncio

    from tens.checklist import ADVICE, QUESTIONS, validate_answers
    from tens.cli.checklist import _ask
    from tens.store.sessions import record_checklist

    print("Before the first session, please answer these questions (y/n).")
    try:
        # asked in a thread: the event loop (and the link) keeps running meanwhile
        raw = {}
        for q in QUESTIONS:
            raw[q.key] = await asyncio.to_thread(_ask, q.text)
        answers = validate_answers(raw)
    except (EOFError, KeyboardInterrupt):
        print("\nChecklist not completed: nothing recorded, no session started.")
        return EXIT_REFUSED
    any_yes = any(answers.values())
    await db.run(record_checklist, answers, any_yes)
    if any_yes:
        print(ADVICE)
        return EXIT_REFUSED
    return 0


async def _ask_missing_pads(ctrl: Any, db: Any, channels: tuple[int, ...]) -> bool:
    """Before a session on an mA device: ask the pad size for each channel that has none
    stated, and store it (``tens electrodes set``). False when one was not given."""
    import asyncio

    from tens.cli.electrodes import ask_size
    from tens.controller import StorageUnavailable
    from tens.store.electrodes import state_electrode

    lim = ctrl.limits()
    if lim is None or lim.density_limit is None:
        return True  # refused anyway, or a level device: no density check to feed
    try:
        known = await ctrl.electrodes()
    except StorageUnavailable:
        return True  # the start is refused with the storage error
    for ch in channels:
        if ch in known:
            continue
        size = await asyncio.to_thread(ask_size, ch)
        if size is None:
            return False
        await db.run(state_electrode, ch, size)
    return True


async def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal

    from tens.cli.common import load_or_fail
    from tens.cli.target import exit_code_for, open_target
    from tens.controller import LINK_LOST, STORE_FAILED, Controller
    from tens.device import DeviceError
    from tens.events import SessionState, Source
    from tens.safety import StartRequest
    from tens.store import AsyncDB, StoreError

    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    for flag in ("pain_before", "pain_after"):
        v = getattr(args, flag)
        if v is not None and not 0 <= v <= 10:
            return fail(
                f"--{flag.replace('_', '-')} must be 0-10, not {v}",
                ExitCode.USAGE,
                as_json=args.json,
            )
    try:
        db = await AsyncDB.open()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=args.json)
    interactive = sys.stdin.isatty() and not args.json and not args.no_prompt
    cfg = loaded.config.session
    progress = Progress(args.json)
    try:
        async with open_target(args, settings=loaded.config.device) as target:
            ctrl = Controller(
                loaded, target.open_device, db, declared_electrodes=target.declared_electrodes
            )
            ctrl.add_listener(progress.event)
            try:
                await ctrl.connect()
            except DeviceError as exc:
                return fail(f"no device: {exc}", exit_code_for(exc), as_json=args.json)
            if interactive and not await _checklist_answered(db):
                progress.clear()
                code = await _first_run_checklist(db)
                if code:
                    await ctrl.close()
                    return code
            channels = tuple(args.channels) if args.channels else cfg.channel_indexes
            if interactive and not await _ask_missing_pads(ctrl, db, channels):
                progress.line("No electrode size stated: no session started.")
                await ctrl.close()
                return EXIT_REFUSED
            request = StartRequest(
                program=args.program,
                minutes=args.minutes,
                intensity=args.intensity,
                placement=args.placement,
                channels=tuple(dict.fromkeys(args.channels)) if args.channels else None,
            )
            before = args.pain_before
            # the governor first: a start it refuses asks no pain score and logs no entry
            ask = before is None and interactive and cfg.ask_pain_before
            if ask and not (await ctrl.check_start(request, Source.CLI)).refused:
                progress.clear()
                before = await asyncio.to_thread(_ask_pain, "Pain now, before the session")
            decision = await ctrl.start(request, Source.CLI)
            if decision.refused:
                await ctrl.close()  # the refusal was printed by the event listener
                return EXIT_STORE if decision.code == STORE_FAILED else EXIT_REFUSED
            session_id = ctrl.snapshot().session_id
            if before is not None:
                err = await _log_pain(db, before, "before", session_id)
                if err:
                    progress.line(f"warning: pain score not saved: {err}")
            loop = asyncio.get_running_loop()
            stop_reason: list[str] = []
            stopping: set[asyncio.Task[Any]] = set()

            def on_signal(name: str, reason: str | None = None) -> None:
                stop_reason.append(name)
                # stop() cancels the output task and writes STOP before anything else runs
                why = reason or STOP_REASONS.get(name, name)
                task = asyncio.ensure_future(ctrl.stop(Source.CLI, why))
                stopping.add(task)
                task.add_done_callback(stopping.discard)

            progress.on_gone = lambda: on_signal(
                "closed output", "the output was closed (nothing reads this session any more)"
            )
            if progress.gone:  # closed while the session started
                progress.on_gone()
            for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, on_signal, name)
            try:
                snap = await ctrl.wait_ended()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.remove_signal_handler(sig)
                await ctrl.close()
            progress.finish()
            after = args.pain_after
            if after is None and interactive and cfg.ask_pain_after and not stop_reason:
                after = _ask_pain("Pain now, after the session")
            if after is not None:
                err = await _log_pain(db, after, "after", session_id)
                if err:
                    progress.line(f"warning: pain score not saved: {err}")
            state = snap.session
            if ctrl.unconfirmed_stops:
                return EXIT_STOP_UNCONFIRMED
            if state is SessionState.FINISHED:
                return EXIT_FINISHED
            if state is SessionState.STOPPED:
                return EXIT_STOPPED
            if snap.end_code == LINK_LOST:
                return EXIT_LOST
            if snap.end_code == STORE_FAILED:
                return EXIT_STORE
            return EXIT_ABORTED
    except DeviceError as exc:
        return fail(str(exc), exit_code_for(exc), as_json=args.json)
    finally:
        await db.close()
