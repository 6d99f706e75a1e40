"""Unit tests of every governor rule and its refusal message (hazards H1-H3, H5, H8, H9)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tens.device import Capabilities, IntensityUnit, Waveform
from tens.events import Source
from tens.limits import LevelLimits, Limits
from tens.programs import BUILTIN_PROGRAMS, Program, all_programs
from tens.safety import (
    GovernorRefusal,
    StartRequest,
    Usage,
    check_start,
    check_target,
    effective_limits,
    gate,
    next_setpoint,
    quantise_down,
    rise_ceiling,
    rise_slack,
    rms_density,
)
from tests.stated import PLACEMENT, pads, placed, with_area

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CAPS = Capabilities(
    channels=2,
    intensity_unit=IntensityUnit.MILLIAMP,
    intensity_max=80.0,
    intensity_step=0.1,
    frequency_hz=(1.0, 150.0),
    pulse_width_us=(50, 400),
    waveforms=frozenset(Waveform),
    keepalive_interval_s=None,
    watchdog_timeout_s=1.0,
)
LEVEL_CAPS = Capabilities(
    channels=2,
    intensity_unit=IntensityUnit.LEVEL,
    intensity_max=200,
    intensity_step=1,
    frequency_hz=(10.0, 1000.0),
    pulse_width_us=(5, 155),
    waveforms=frozenset({Waveform.CONTINUOUS}),
    keepalive_interval_s=0.1,
    watchdog_timeout_s=None,
)
FRESH = Usage(0.0, None, True, False)
PROGRAMS = all_programs()
CONVENTIONAL = PROGRAMS["conventional"]
CONTRA = {"chest": "current across the chest", "front-of-neck": "carotid sinus"}


def start(
    req: StartRequest,
    usage: Usage = FRESH,
    limits: Limits | None = None,
    caps=CAPS,
    *,
    area: float | None = None,
):
    lim = effective_limits(limits or Limits(), caps, "opentens")
    return check_start(
        lim,
        caps,
        PROGRAMS,
        placed(req),
        usage,
        NOW,
        Source.CLI,
        default_program="conventional",
        default_minutes=30,
        default_channels=(0,),
        contraindicated=CONTRA,
        electrodes=pads(area),
    )


def test_start_allowed_plans_from_zero_with_defaults() -> None:
    decision, plan = start(StartRequest(intensity=12, placement="lower-back"))
    assert decision.outcome == "allowed"
    assert plan is not None
    assert plan.target == 12 and plan.duration_s == 30 * 60 and plan.channels == (0,)
    assert "starts at 0" in decision.reason


def test_peak_refused_with_limit_named() -> None:
    decision, plan = start(StartRequest(intensity=50))
    assert plan is None and decision.refused
    assert "above the peak intensity limit 40 mA" in decision.reason
    assert "limits.peak_ma" in decision.reason


def test_device_max_narrows_peak() -> None:
    caps = replace(CAPS, intensity_max=20.0)
    lim = with_area(effective_limits(Limits(), caps, "opentens"))
    assert lim.peak == 20.0 and lim.origins["peak intensity"] == "device maximum"


def test_hard_caps_cannot_be_configured_away() -> None:
    with pytest.raises(ValueError, match="less than or equal to 100"):
        Limits(peak_ma=150)
    with pytest.raises(ValueError):
        Limits(ramp_ma_per_s=6)
    with pytest.raises(ValueError):
        Limits(current_density_ma_cm2=3)
    with pytest.raises(ValueError):
        Limits(session_minutes=121)
    with pytest.raises(ValueError):
        Limits(daily_minutes=721)
    with pytest.raises(ValueError):
        Limits(step_ma=2.5)


def test_session_length_refused() -> None:
    decision, _ = start(StartRequest(intensity=5, minutes=45))
    assert decision.refused and "session length 45 min is above the limit 30 min" in decision.reason


def test_daily_cap_counted_from_records() -> None:
    usage = Usage(170 * 60, None, True, False)
    decision, _ = start(StartRequest(intensity=5, minutes=20), usage)
    assert decision.refused and "daily limit of 180 min" in decision.reason
    assert "170 min used today, 10 min left" in decision.reason
    ok, plan = start(StartRequest(intensity=5, minutes=10), usage)
    assert ok.outcome == "allowed" and plan is not None


def test_rest_between_sessions() -> None:
    usage = Usage(0, NOW - dt.timedelta(minutes=4), True, False)
    decision, _ = start(StartRequest(intensity=5), usage)
    assert decision.refused and "rest between sessions is 15 min" in decision.reason
    assert "start again in 11 min" in decision.reason
    later = Usage(0, NOW - dt.timedelta(minutes=16), True, False)
    assert start(StartRequest(intensity=5), later)[0].outcome == "allowed"


def test_checklist_must_be_answered_and_all_no() -> None:
    d, _ = start(StartRequest(intensity=5), Usage(0, None, False, False))
    assert d.refused and "checklist has not been answered" in d.reason
    assert d.code == "checklist_unanswered"  # a face asks it again on this code, not the text
    d, _ = start(StartRequest(intensity=5), Usage(0, None, False, False, "it is old"))
    assert d.refused and d.code == "checklist_unanswered" and "it is old" in d.reason
    d, _ = start(StartRequest(intensity=5), Usage(0, None, True, True))
    assert d.refused and "talk to a healthcare provider" in d.reason
    assert d.code == "checklist_yes"


def test_contraindicated_placement_refused() -> None:
    d, _ = start(StartRequest(intensity=5, placement="chest"))
    assert d.refused and "never be placed on the chest" in d.reason


def test_a_start_without_a_placement_is_refused_with_a_code() -> None:
    """Issue 13 item 6: leaving the field out does not skip the contraindication check."""
    for missing in (None, "", "  "):
        d, plan = check_start(
            with_area(effective_limits(Limits(), CAPS, "opentens")),
            CAPS,
            PROGRAMS,
            StartRequest(intensity=5, placement=missing),
            FRESH,
            NOW,
            Source.CLI,
            default_program="conventional",
            default_minutes=30,
            default_channels=(0,),
            contraindicated=CONTRA,
            electrodes=pads(),
        )
        assert d.refused and plan is None and d.code == "placement_required"
        assert "no electrode placement given" in d.reason and "front of the neck" in d.reason


def _pads_start(  # type: ignore[no-untyped-def]
    electrodes, channels=(0,), intensity=30.0, program="conventional", peak=40.0
):
    return check_start(
        effective_limits(Limits(peak_ma=peak), CAPS, "opentens"),
        CAPS,
        PROGRAMS,
        StartRequest(program=program, intensity=intensity, placement=PLACEMENT, channels=channels),
        FRESH,
        NOW,
        Source.CLI,
        default_program="conventional",
        default_minutes=30,
        default_channels=(0,),
        contraindicated=CONTRA,
        electrodes=electrodes,
    )


def test_a_start_with_no_electrode_size_known_is_refused_with_a_code() -> None:
    """Issue 13 item 1: no assumed pad area; a channel without a stated size refuses."""
    d, plan = _pads_start({})
    assert d.refused and plan is None and d.code == "electrode_size_unknown"
    assert "electrode size on channel 1 is not known" in d.reason
    assert "tens electrodes set --channel 1" in d.reason
    # every channel of the session needs one: channel 1 unknown refuses a (0, 1) session
    d, _ = _pads_start(pads(channels=[0]), channels=(0, 1), intensity=5)
    assert d.code == "electrode_size_unknown" and "channel 2" in d.reason


def test_the_stated_pad_is_the_area_the_density_check_uses() -> None:
    """Issue 13 item 1: the session's limits carry the stated area and say where it came
    from. 80 mA of program modulated (up to 250 µs at 48 Hz: 0.024 duty) is 2.18 mA/cm²
    r.m.s. on a round 3.2 cm pad (8.04 cm²): refused with the limit named; 0.70 on 5x5 cm."""
    from tens.electrodes import parse_size

    d, plan = _pads_start({0: parse_size("5x5")}, intensity=80, program="modulated", peak=80)
    assert d.outcome == "allowed" and plan is not None
    assert plan.limits.electrode_area_cm2 == 25.0
    assert plan.limits.origins["electrode area"] == "stated for channel 1: 5x5 cm (25 cm²)"
    d, plan = _pads_start({0: parse_size("round-3.2")}, intensity=80, program="modulated", peak=80)
    assert d.refused and plan is None
    assert "on 8.04 cm² electrodes is 2.18 mA/cm² r.m.s." in d.reason
    assert "above the current density limit 2 mA/cm² (highest allowed: 73.4 mA)" in d.reason


def test_the_smallest_pad_of_the_session_binds() -> None:
    """Kills min -> max over the session's channels."""
    from tens.electrodes import parse_size

    mixed = {0: parse_size("5x9"), 1: parse_size("round-3.2")}
    kw = {"intensity": 80.0, "program": "modulated", "peak": 80.0}
    d, _ = _pads_start(mixed, channels=(0, 1), **kw)  # type: ignore[arg-type]
    assert d.refused and "8.04 cm²" in d.reason
    d, _ = _pads_start(mixed, channels=(0,), **kw)  # type: ignore[arg-type]
    assert d.outcome == "allowed"


def test_gate_refuses_output_when_the_area_is_unknown() -> None:
    """Defence in depth: limits without an area never let output through on an mA device."""
    lim = effective_limits(Limits(), CAPS, "opentens")
    assert lim.electrode_area_cm2 is None
    d = gate(lim, CONVENTIONAL, [(0.0, 0.0)], 0.5, 1.0, 1.0, 60.0, slack=1.0)
    assert d.refused and "electrode size is not known" in d.reason


def test_current_density_on_small_electrodes() -> None:
    # safety.md: 40 mA, 200 µs, 100 Hz biphasic = 8 mA r.m.s.; on 25 cm² 0.32 mA/cm²
    p = Program(name="x", frequency_hz=100, pulse_width_us=200)
    assert math.isclose(rms_density(40, p, 25), 0.32)
    assert math.isclose(rms_density(40, p, 2), 4.0)
    d, _ = start(StartRequest(program="conventional", intensity=30), area=2)
    assert d.refused and "mA/cm² r.m.s., above the current density limit 2" in d.reason


def test_program_outside_device_range_refused() -> None:
    caps = replace(CAPS, frequency_hz=(10.0, 150.0), waveforms=frozenset({Waveform.CONTINUOUS}))
    d, _ = start(StartRequest(program="acupuncture", intensity=5), caps=caps)
    assert d.refused and "needs 2–2 Hz; the device supports 10–150 Hz" in d.reason
    d, _ = start(StartRequest(program="burst", intensity=5), caps=caps)
    assert d.refused and "needs the burst waveform" in d.reason


def test_unknown_program_refused() -> None:
    d, _ = start(StartRequest(program="nope", intensity=5))
    assert d.refused and "unknown program 'nope'" in d.reason


def test_level_device_without_level_limits_refused() -> None:
    with pytest.raises(GovernorRefusal, match=r"\[limits.levels.coyote3\]"):
        effective_limits(Limits(), LEVEL_CAPS, "coyote3")


def test_level_device_uses_level_limits_and_says_density_unchecked() -> None:
    limits = Limits(levels={"coyote3": LevelLimits(peak=40, ramp_per_s=10, step=5)})
    lim = effective_limits(limits, LEVEL_CAPS, "coyote3")
    assert lim.peak == 40 and lim.density_limit is None
    assert any("current density" in n and "cannot be checked" in n for n in lim.notices)
    assert lim.electrode_area_cm2 is None
    p = Program(name="lv", frequency_hz=100, pulse_width_us=100)
    d = check_target(lim, p, 0, 41, Source.MQTT, manual=False)
    assert d.refused and "41 level is above the peak intensity limit 40 level" in d.reason


def test_unknown_capability_refused() -> None:
    bad = replace(CAPS, channels=0)
    with pytest.raises(GovernorRefusal, match="no output channels"):
        effective_limits(Limits(), bad, "opentens")


def test_manual_step_narrowed_and_decrease_always_allowed() -> None:
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    d = check_target(lim, CONVENTIONAL, 10, 15, Source.TUI, manual=True)
    assert d.outcome == "narrowed" and d.allowed == 11
    assert "manual step limit 1 mA" in d.reason
    d = check_target(lim, CONVENTIONAL, 10, 0, Source.TUI, manual=True)
    assert d.outcome == "allowed" and d.allowed == 0
    d = check_target(lim, CONVENTIONAL, 10, 15, Source.SCHEDULER, manual=False)
    assert d.outcome == "allowed" and d.allowed == 15
    d = check_target(lim, CONVENTIONAL, 10, float("nan"), Source.MQTT, manual=True)
    assert d.refused


def test_manual_raise_goes_one_step_above_the_output_not_the_target() -> None:
    """Quick "up"s stack to one step above what flows (issue 12 item 2)."""
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    d = check_target(lim, CONVENTIONAL, 10, 15, Source.TUI, manual=True, output=10)
    assert d.outcome == "narrowed" and d.allowed == 11 and d.code == "manual_step"
    # a second "up" before the output moved: the target stays one step above it
    d = check_target(lim, CONVENTIONAL, 11, 12, Source.MQTT, manual=True, output=10)
    assert d.outcome == "narrowed" and d.allowed == 11 and "still ramping" in d.reason
    # a target above output + step is never lowered by a raise
    d = check_target(lim, CONVENTIONAL, 10, 12, Source.TUI, manual=True, output=4)
    assert d.outcome == "narrowed" and d.allowed == 10
    # the output has moved on: one step above it
    d = check_target(lim, CONVENTIONAL, 11, 13, Source.TUI, manual=True, output=10.5)
    assert d.outcome == "narrowed" and d.allowed == pytest.approx(11.5)
    # exactly one step above the output is allowed as asked; a bit more is narrowed
    assert check_target(lim, CONVENTIONAL, 10, 11, Source.TUI, manual=True, output=10).outcome == (
        "allowed"
    )
    d = check_target(lim, CONVENTIONAL, 10, 11.01, Source.TUI, manual=True, output=10)
    assert d.outcome == "narrowed" and d.allowed == 11
    # not manual: no step, the ramp bounds it
    d = check_target(lim, CONVENTIONAL, 10, 15, Source.SCHEDULER, manual=False, output=4)
    assert d.outcome == "allowed" and d.allowed == 15
    # decreases always allowed
    d = check_target(lim, CONVENTIONAL, 10, 2, Source.TUI, manual=True, output=10)
    assert d.outcome == "allowed" and d.allowed == 2


def test_ramp_rises_at_rate_and_falls_at_once() -> None:
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    slack = rise_slack(lim, 0.1)
    assert slack == pytest.approx(0.2)
    assert next_setpoint(lim, [(0.0, 0.0)], 10, 0.1, slack) == pytest.approx(0.2)
    assert next_setpoint(lim, [(0.0, 9.9)], 10, 0.1, slack) == 10
    assert next_setpoint(lim, [(0.0, 10.0)], 0, 0.1, slack) == 0
    assert next_setpoint(lim, [], 10, 5.0, slack) == pytest.approx(0.2)  # nothing written: 0


def test_a_hold_of_any_length_gives_no_ramp_credit() -> None:
    """Held at 10 for 3 s (or 60): the next value is one tick above 10, not 10 + 2 x 3."""
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    slack = rise_slack(lim, 0.1)
    for hold in (0.1, 3.0, 60.0):
        history = [(4.9, 9.8), (5.0, 10.0)]
        now = 5.0 + hold
        assert rise_ceiling(lim, history, now, slack) == pytest.approx(10.2)
        assert next_setpoint(lim, history, 20, now, slack) == pytest.approx(10.2)
        assert gate(lim, CONVENTIONAL, history, 10.2, now, 10, 600, slack=slack).outcome == (
            "allowed"
        )
        fast = gate(lim, CONVENTIONAL, history, 10.5, now, 10, 600, slack=slack)
        assert fast.refused and fast.code == "too_fast" and "2 mA/s" in fast.reason


def test_every_window_counts_not_only_the_last_write() -> None:
    """0 held until 1.0, then 0.2 just written: the value at 1.1 may be 0.4 (two ticks from
    the 0), not 0.2 + 0.2 + credit for the earlier hold."""
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    slack = rise_slack(lim, 0.1)
    history = [(0.0, 0.0), (1.0, 0.2)]
    assert rise_ceiling(lim, history, 1.1, slack) == pytest.approx(0.4)
    # a fall, then a rise again: ramps from where it fell to, whatever it was before
    history = [(0.0, 0.0), (1.0, 20.0), (30.0, 5.0)]
    assert rise_ceiling(lim, history, 40.0, slack) == pytest.approx(5.2)
    # a coarse device grid (whole levels at 2 levels/s): a whole level may go at once
    assert rise_slack(lim, 0.1, 1.0) == 1.0


def test_quantise_never_rounds_up() -> None:
    assert quantise_down(19.9996, 0.1) == pytest.approx(19.9)
    assert quantise_down(0.30000000000000004, 0.1) == pytest.approx(0.3)
    assert quantise_down(0.3, 0.1) <= 0.3 + 1e-9
    assert quantise_down(14.99, 1.0) == 14
    assert quantise_down(15.0, 1.0) == 15


@given(value=st.floats(0, 200), step=st.sampled_from([0.1, 0.5, 1.0, 0.25, 0.3]))
def test_quantised_value_is_never_above_the_value(value: float, step: float) -> None:
    q = quantise_down(value, step)
    assert q <= value + 1e-9
    assert value - q < step + 1e-9


def test_gate_refuses_fast_rise_over_peak_and_overtime() -> None:
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    slack = rise_slack(lim, 0.1)
    ok = gate(lim, CONVENTIONAL, [(0.9, 0.0)], 0.2, 1.0, 1, 60, slack=slack)
    assert ok.outcome == "allowed"
    fast = gate(lim, CONVENTIONAL, [(0.9, 0.0)], 5, 1.0, 1, 60, slack=slack)
    assert fast.refused and "2 mA/s" in fast.reason
    over = gate(lim, CONVENTIONAL, [(0.0, 40.0)], 40.1, 1.0, 1, 60, slack=slack)
    assert over.refused and "peak intensity" in over.reason
    late = gate(lim, CONVENTIONAL, [(0.0, 1.0)], 1, 1.0, 61, 60, slack=slack)
    assert late.refused and "time is up" in late.reason
    zero = gate(lim, CONVENTIONAL, [(0.0, 30.0)], 0, 0.0, 999, 60, slack=slack)
    assert zero.outcome == "allowed"  # zero always
    # nothing written yet: the output is 0, so the first value is at most one tick
    assert gate(lim, CONVENTIONAL, [], 0.2, 5.0, 0, 60, slack=slack).outcome == "allowed"
    assert gate(lim, CONVENTIONAL, [], 10, 5.0, 0, 60, slack=slack).refused


def test_a_decrease_is_never_refused_by_the_rate() -> None:
    """Even when the rate in force is lower than the one the history was written at."""
    lim = with_area(effective_limits(Limits(ramp_ma_per_s=5), CAPS, "opentens"))
    history = [(0.0, 0.0), (2.0, 10.0), (2.1, 10.5)]
    slow = with_area(effective_limits(Limits(ramp_ma_per_s=0.5), CAPS, "opentens"))
    assert gate(slow, CONVENTIONAL, history, 10.2, 2.2, 3, 60, slack=0.05).outcome == "allowed"
    assert gate(lim, CONVENTIONAL, history, 3.0, 2.2, 3, 60, slack=0.5).outcome == "allowed"


@given(
    writes=st.lists(st.tuples(st.floats(0.001, 5), st.floats(0, 100)), max_size=8),
    new=st.floats(0, 200),
    dt_s=st.floats(0, 5),
    program=st.sampled_from(BUILTIN_PROGRAMS),
)
def test_gate_never_allows_beyond_limits(
    writes: list[tuple[float, float]], new: float, dt_s: float, program
) -> None:
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    slack = rise_slack(lim, 0.1)
    history: list[tuple[float, float]] = []
    t = 0.0
    for gap, v in writes:
        t += gap
        history.append((t, v))
    now = t + dt_s
    d = gate(lim, program, history, new, now, 10, 60, slack=slack)
    current = history[-1][1] if history else 0.0
    if not d.refused and new > current:
        assert new <= lim.peak + 1e-6
        # within rate x window + slack from every value written, held until the next write
        for i, (_, v) in enumerate(history):
            end = history[i + 1][0] if i + 1 < len(history) else now
            assert new - v <= lim.ramp_per_s * (now - end) + slack + 1e-6
        if not history:
            assert new <= slack + 1e-6
        assert rms_density(new, program, 25) <= 2 + 1e-6


def test_builtin_programs_fit_the_default_envelope() -> None:
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"))
    for p in BUILTIN_PROGRAMS:
        d, plan = start(StartRequest(program=p.name, intensity=10))
        assert d.outcome == "allowed", (p.name, d.reason)
        assert plan is not None and plan.program is p
    assert lim.frequency_hz == (1.0, 150.0)
