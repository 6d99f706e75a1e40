"""Deterministic scenes for the TUI: fixed clock, no live timers, state injected as events.

The controller is the real one (never connected here); what the screens show comes from the
events fed to the app, exactly as the live event stream would deliver them.
"""

from __future__ import annotations

import datetime as dt

from tens.clock import ManualClock
from tens.config import TensConfig
from tens.controller import Controller
from tens.device import Device, DeviceNotFound
from tens.events import (
    Decision,
    LinkState,
    OutputDelivered,
    Refused,
    SessionEnded,
    SessionState,
    Snapshot,
    Source,
    StateChanged,
)
from tens.safety import EffectiveLimits, effective_limits
from tui.app import TensApp, make_app
from tui.widgets.session.plan import SessionPlan

T0 = 1000.0
WALL0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


async def _no_device() -> Device:
    raise DeviceNotFound("no device in this scene")


def fixed_clock(wall: dt.datetime = WALL0) -> ManualClock:
    return ManualClock(T0, wall)


def idle_controller(clock: ManualClock) -> Controller:
    return Controller(TensConfig(), _no_device, None, clock)


def scene_app(store: object | None = None, wall: dt.datetime = WALL0, **options: object) -> TensApp:
    clock = fixed_clock(wall)
    return make_app(
        idle_controller(clock),
        clock=clock,
        live=False,
        refresh_s=0,
        tz=dt.UTC,
        store=store,
        plan=SessionPlan(placement="lower-back"),
        **options,
    )


CONNECTED = Snapshot(
    link=LinkState.CONNECTED,
    session=SessionState.READY,
    device_name="OpenTENS-Sim",
    device_address="C0:FF:EE:00:00:01",
    driver="opentens",
    limit=40.0,
    battery_percent=87,
    electrodes_ok=(True,),
    delivered=(0.0,),
)


def running(delivered: float = 12.0, elapsed: float = 133.0) -> Snapshot:
    from dataclasses import replace

    return replace(
        CONNECTED,
        session=SessionState.RUNNING,
        program="conventional",
        target=15.0,
        setpoint=delivered,
        delivered=(delivered,),
        elapsed_s=elapsed,
        remaining_s=1800.0 - elapsed,
        session_id=1,
    )


def opentens_limits() -> EffectiveLimits:
    """The limits in force for a simulated OpenTENS wearable with the default config."""
    from tens.device import Capabilities, IntensityUnit, Waveform

    caps = Capabilities(
        channels=2,
        intensity_unit=IntensityUnit.MILLIAMP,
        intensity_max=60.0,
        intensity_step=0.1,
        frequency_hz=(1.0, 200.0),
        pulse_width_us=(50, 500),
        waveforms=frozenset(Waveform),
        keepalive_interval_s=0.5,
        watchdog_timeout_s=1.0,
    )
    return effective_limits(TensConfig().limits, caps, "opentens")


def play_running(app: TensApp) -> None:
    """Connected, a session ramped to 12 mA over the last minute, one step refused."""
    app.apply_event(StateChanged(CONNECTED))
    for i in range(61):
        app.apply_event(OutputDelivered(t=T0 - 60 + i, delivered=(min(12.0, i * 0.25),)))
    app.apply_event(StateChanged(running()))
    app.apply_event(
        Refused(
            Decision(
                Source.TUI,
                "step",
                16.0,
                None,
                "refused",
                ("increase rate: at most one manual step per second",),
            )
        )
    )


def play_link_lost(app: TensApp) -> None:
    from dataclasses import replace

    play_running(app)
    lost = replace(
        running(0.0, 140.0),
        link=LinkState.LOST,
        session=SessionState.ABORTED,
        end_reason="link lost: supervision timeout",
        remaining_s=None,
    )
    app.apply_event(SessionEnded(1, SessionState.ABORTED, "link lost: supervision timeout"))
    app.apply_event(StateChanged(lost))


def fill_history(conn: object) -> None:
    """Fourteen days of a made-up person: pain before/after daily sessions, easing over time."""
    from tens.journal.repository import add_entry
    from tens.journal.validate import new_entry
    from tens.store.sessions import create_session

    for day in range(1, 15):
        start = dt.datetime(2026, 1, day, 9, tzinfo=dt.UTC)
        before = 7 if day <= 7 else 4
        sid = create_session(
            conn,  # type: ignore[arg-type]
            started_at=start,
            ended_at=start + dt.timedelta(minutes=30),
            device="C0:FF:EE:00:00:01",
            program="conventional",
            placement="lower-back",
            target_intensity=14.0,
            unit="mA",
            state="finished",
            end_reason="finished on time",
            stimulation_seconds=1800.0,
            max_delivered=14.0,
        )
        now = start + dt.timedelta(hours=1)
        for context, score, when in (("before", before, start), ("after", before - 2, now)):
            entry = new_entry(
                score, at=when, now=now, context=context, session_id=sid, region="lower-back"
            )
            add_entry(conn, entry, now=now)  # type: ignore[arg-type]
        evening = start + dt.timedelta(hours=10)
        entry = new_entry(
            before - 1,
            at=evening,
            now=evening,
            region="lower-back",
            red_flags=("numbness",) if day == 12 else (),
            note="after a walk" if day == 13 else None,
        )
        add_entry(conn, entry, now=evening)  # type: ignore[arg-type]
