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
    rms_density,
)

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


def start(req: StartRequest, usage: Usage = FRESH, limits: Limits | None = None, caps=CAPS):
    lim = effective_limits(limits or Limits(), caps, "opentens")
    return check_start(
        lim,
        caps,
        PROGRAMS,
        req,
        usage,
        NOW,
        Source.CLI,
        default_program="conventional",
        default_minutes=30,
        default_channels=(0,),
        contraindicated=CONTRA,
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
    lim = effective_limits(Limits(), caps, "opentens")
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
    d, _ = start(StartRequest(intensity=5), Usage(0, None, True, True))
    assert d.refused and "talk to a healthcare provider" in d.reason


def test_contraindicated_placement_refused() -> None:
    d, _ = start(StartRequest(intensity=5, placement="chest"))
    assert d.refused and "never be placed on the chest" in d.reason


def test_missing_placement_warns_but_allows() -> None:
    d, _ = start(StartRequest(intensity=5))
    assert d.outcome == "allowed" and "no placement given" in d.reason


def test_current_density_on_small_electrodes() -> None:
    # safety.md: 40 mA, 200 µs, 100 Hz biphasic = 8 mA r.m.s.; on 25 cm² 0.32 mA/cm²
    p = Program(name="x", frequency_hz=100, pulse_width_us=200)
    assert math.isclose(rms_density(40, p, 25), 0.32)
    assert math.isclose(rms_density(40, p, 2), 4.0)
    small = Limits(electrode_area_cm2=2)
    d, _ = start(StartRequest(program="conventional", intensity=30), limits=small)
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
    lim = effective_limits(Limits(), CAPS, "opentens")
    d = check_target(lim, CONVENTIONAL, 10, 15, Source.TUI, manual=True)
    assert d.outcome == "narrowed" and d.allowed == 11
    assert "manual step limit 1 mA" in d.reason
    d = check_target(lim, CONVENTIONAL, 10, 0, Source.TUI, manual=True)
    assert d.outcome == "allowed" and d.allowed == 0
    d = check_target(lim, CONVENTIONAL, 10, 15, Source.SCHEDULER, manual=False)
    assert d.outcome == "allowed" and d.allowed == 15
    d = check_target(lim, CONVENTIONAL, 10, float("nan"), Source.MQTT, manual=True)
    assert d.refused


def test_ramp_rises_at_rate_and_falls_at_once() -> None:
    lim = effective_limits(Limits(), CAPS, "opentens")
    assert next_setpoint(lim, 0, 10, 0.1) == pytest.approx(0.2)
    assert next_setpoint(lim, 9.9, 10, 0.1) == 10
    assert next_setpoint(lim, 10, 0, 0.1) == 0


def test_gate_refuses_fast_rise_over_peak_and_overtime() -> None:
    lim = effective_limits(Limits(), CAPS, "opentens")
    ok = gate(lim, CONVENTIONAL, 0, 0.2, 0.1, 1, 60)
    assert ok.outcome == "allowed"
    fast = gate(lim, CONVENTIONAL, 0, 5, 0.1, 1, 60)
    assert fast.refused and "faster than 2 mA/s" in fast.reason
    over = gate(lim, CONVENTIONAL, 40, 40.1, 1, 1, 60)
    assert over.refused and "peak intensity" in over.reason
    late = gate(lim, CONVENTIONAL, 1, 1, 1, 61, 60)
    assert late.refused and "time is up" in late.reason
    assert gate(lim, CONVENTIONAL, 30, 0, 0, 999, 60).outcome == "allowed"  # zero always


@given(
    prev=st.floats(0, 100),
    new=st.floats(0, 200),
    dt_s=st.floats(0, 5),
    program=st.sampled_from(BUILTIN_PROGRAMS),
)
def test_gate_never_allows_beyond_limits(prev: float, new: float, dt_s: float, program) -> None:
    lim = effective_limits(Limits(), CAPS, "opentens")
    d = gate(lim, program, prev, new, dt_s, 10, 60)
    if not d.refused and new > 0:
        assert new <= lim.peak + 1e-6
        assert new - prev <= lim.ramp_per_s * dt_s + 1e-3
        assert rms_density(new, program, 25) <= 2 + 1e-6


def test_builtin_programs_fit_the_default_envelope() -> None:
    lim = effective_limits(Limits(), CAPS, "opentens")
    for p in BUILTIN_PROGRAMS:
        d, plan = start(StartRequest(program=p.name, intensity=10))
        assert d.outcome == "allowed", (p.name, d.reason)
        assert plan is not None and plan.program is p
    assert lim.frequency_hz == (1.0, 150.0)
