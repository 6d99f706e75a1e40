"""The campaign's judges, on hand-made traces: each invariant flags the one thing it guards
and passes its near miss (a checker that passes everything would make the campaign blind)."""

from __future__ import annotations

from tests.campaign.trace import Blackout, Bounds, Call, Point, Trace, Unresponsive, check

B = Bounds(
    peak=20.0,
    rate=5.0,
    ramp_tol_delivered=0.25,
    ramp_tol_asked=0.61,
    session_s=60.0,
    daily_s=100.0,
)


def ramp(trace: Trace, upto: float, t0: float = 0.0) -> float:
    """Rising at exactly the rate from 0 to ``upto``: asked on a 0.1 s tick, delivered at
    every 20 ms connection event (the device's own ramp)."""
    for points, dt, why in ((trace.asked, 0.1, "SET_OUTPUT"), (trace.delivered, 0.02, "ramp")):
        v, t = 0.0, t0
        while v < upto - 1e-9:
            v = min(upto, v + B.rate * dt)
            t += dt
            points.append(Point(t, 0, v, why))
    return t


def started(trace: Trace, t: float = 0.0, minutes: float = 1.0) -> None:
    trace.calls.append(Call(t, "start", "tui", t1=t, outcome="allowed", minutes=minutes))


def invariants(trace: Trace) -> set[str]:
    trace.end_t = max([trace.end_t] + [p.t for p in trace.delivered + trace.asked])
    return {v.invariant for v in check(trace, B)}


def test_a_clean_session_passes() -> None:
    tr = Trace(1)
    started(tr)
    t = ramp(tr, 10.0)
    tr.calls.append(Call(t + 5, "stop", "tui", t1=t + 5, outcome="allowed"))
    tr.blackouts.append(Blackout(t + 5, "stop", 0.3, 0.05, True, len(tr.calls)))
    tr.stops_asked.append(t + 5.01)
    tr.asked.append(Point(t + 5.01, 0, 0.0, "STOP"))
    tr.delivered.append(Point(t + 5.03, 0, 0.0, "stop"))
    assert invariants(tr) == set()


def test_above_the_peak() -> None:
    tr = Trace(1)
    started(tr)
    ramp(tr, 20.0)
    assert invariants(tr) == set()
    tr.delivered.append(Point(10.0, 0, 20.1, "set"))
    assert "peak_delivered" in invariants(tr)


def test_ramp_credit_after_a_hold_is_caught() -> None:
    tr = Trace(1)
    started(tr)
    t = ramp(tr, 10.0)
    tr.asked.append(Point(t + 3.0, 0, 10.6, "SET_OUTPUT"))  # within one tick's tolerance
    assert invariants(tr) == set()
    tr.asked.append(Point(t + 3.1, 0, 12.0, "SET_OUTPUT"))  # 1.4 in 0.1 s after a hold
    assert invariants(tr) == {"ramp_asked"}


def test_slow_steps_that_add_up_are_caught() -> None:
    """Each step within tolerance, together faster than the rate: the window catches it."""
    tr = Trace(1)
    started(tr)
    for k in range(1, 11):
        tr.delivered.append(Point(0.1 * k, 0, 0.7 * k, "ramp"))  # 7 mA/s
    assert "ramp_delivered" in invariants(tr)


def test_output_after_a_stop_until_a_later_start() -> None:
    tr = Trace(1)
    started(tr)
    t = ramp(tr, 10.0)
    tr.calls.append(Call(t, "stop", "tui", t1=t, outcome="allowed"))
    tr.blackouts.append(Blackout(t, "stop", 0.3, 0.05, True, len(tr.calls)))
    tr.delivered.append(Point(t + 0.2, 0, 0.0, "stop"))  # within the bound: fine
    assert "zero_after_stop" not in invariants(tr)
    tr.delivered.append(Point(t + 1.0, 0, 1.0, "ramp"))  # back on, no start after the stop
    assert "zero_after_stop" in invariants(tr)


def test_a_start_sent_before_the_stop_does_not_lift_it() -> None:
    tr = Trace(1)
    start = Call(0.0, "start", "mqtt", t1=None, outcome=None, minutes=1.0)
    tr.calls.append(start)
    tr.calls.append(Call(0.0, "stop", "tui", t1=0.0, outcome="allowed"))
    tr.blackouts.append(Blackout(0.0, "stop", 0.3, 0.05, True, len(tr.calls)))
    start.t1, start.outcome = 0.05, "allowed"  # the queued start was let through after it
    ramp(tr, 5.0, t0=0.1)
    assert {"zero_after_stop", "asked_after_stop"} <= invariants(tr)
    started(tr, 0.0)  # a start made after the stop lifts it
    assert not {"zero_after_stop", "asked_after_stop"} & invariants(tr)


def test_an_unconfirmed_stop_must_drop_the_link() -> None:
    tr = Trace(1)
    tr.link_up.append(0.5)
    tr.unresponsive.append(Unresponsive(1.0, 5.0, "stuck"))
    tr.calls.append(Call(2.0, "stop", "tui", t1=2.0, outcome="allowed"))
    assert "unconfirmed_stop_drops_link" in invariants(tr)
    tr.link_down.append(3.0)
    assert "unconfirmed_stop_drops_link" not in invariants(tr)


def test_session_time_and_daily_cap() -> None:
    tr = Trace(1)
    started(tr, 0.0, minutes=0.5)
    tr.delivered += [Point(0.1, 0, 0.2, "ramp"), Point(40.0, 0, 0.0, "stop")]
    assert invariants(tr) == {"session_time"}
    tr = Trace(1)
    for k in range(3):
        started(tr, 100.0 * k, minutes=1.0)
        tr.delivered += [Point(100.0 * k + 0.1, 0, 0.2, "r"), Point(100.0 * k + 50, 0, 0.0, "s")]
    assert invariants(tr) == {"daily_cap"}  # 150 s against 100 s


def test_pause_must_hold() -> None:
    tr = Trace(1)
    started(tr)
    tr.calls.append(Call(5.0, "pause", "tui", t1=5.0, outcome="allowed"))
    tr.ended.append((6.0, "aborted", "the device's watchdog tripped"))
    assert "pause_holds" in invariants(tr)
    tr.fault_times.append((5.5, "peel_off"))  # a fault ending a paused session is fine
    assert "pause_holds" not in invariants(tr)


def test_a_crash_is_a_violation() -> None:
    tr = Trace(1)
    tr.crashes.append((1.0, "start raised StoreError"))
    assert invariants(tr) == {"crash"}
