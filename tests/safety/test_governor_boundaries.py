"""Boundary values and exact refusals of the governor's pure functions (H1-H3, H5, H6, H8, H9).

The unit tests in test_governor.py check that each rule exists; these check where each rule
cuts: a value exactly at a limit passes, the next one does not, and the refusal names the limit
and where it came from, word for word. Each test names the kind of mutant of
tens/safety/governor.py it kills (tests/mutation/run.sh): `<` for `<=`, a dropped `EPS`, an
index 0 for 1, `and` for `or`, a dropped term, a changed literal or message.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import pytest

from tens.device import Capabilities, IntensityUnit, Waveform
from tens.events import Source
from tens.limits import LevelLimits, Limits
from tens.programs import Program, all_programs
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
from tens.safety.governor import (
    EffectiveLimits,
    _intensity_problem,
    _narrow,
    max_intensity_for_density,
    program_problem,
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
LEVELS = Limits(levels={"coyote3": LevelLimits(peak=40, ramp_per_s=10, step=5)})
FRESH = Usage(0.0, None, True, False)
PROGRAMS = all_programs()
CONV = PROGRAMS["conventional"]  # 100 Hz, 150 µs
CONTRA = {"chest": "current across the chest", "front-of-neck": "carotid sinus"}
DEFAULT_ORIGINS = {
    "frequency": "config limits.frequency_hz, the device's range and the hard cap",
    "pulse width": "config limits.pulse_width_us, the device's range and the hard cap",
    "session length": "config limits.session_minutes (default)",
    "stimulation per day": "config limits.daily_minutes (default)",
    "rest between sessions": "config limits.rest_minutes (default)",
    "peak intensity": "config limits.peak_ma (default)",
    "increase rate": "config limits.ramp_ma_per_s (default)",
    "manual step": "config limits.step_ma (default)",
    "r.m.s. current density": "config limits.current_density_ma_cm2 (default)",
    "electrode area": "not stated yet (tens electrodes set)",
}


def lim_of(limits: Limits | None = None, caps: Capabilities = CAPS) -> EffectiveLimits:
    return with_area(effective_limits(limits or Limits(), caps, "opentens"))


def start(
    req: StartRequest,
    usage: Usage = FRESH,
    limits: Limits | None = None,
    caps: Capabilities = CAPS,
    *,
    now: dt.datetime = NOW,
    default_channels: tuple[int, ...] = (0,),
    area: float | None = None,
):
    return check_start(
        lim_of(limits, caps),
        caps,
        PROGRAMS,
        placed(req),
        usage,
        now,
        Source.MQTT,
        default_program="conventional",
        default_minutes=30,
        default_channels=default_channels,
        contraindicated=CONTRA,
        electrodes=pads(area),
    )


# ------------------------------------------------------------------ effective_limits


def test_effective_limits_figures_and_origins_exactly() -> None:
    """Every figure and every origin of the defaults on a mA device (kills the literal, `*60`
    and origin-string mutants of effective_limits and its cfg())."""
    lim = lim_of()
    assert (lim.unit, lim.peak, lim.ramp_per_s, lim.step) == (IntensityUnit.MILLIAMP, 40, 2, 1)
    assert (lim.session_s, lim.daily_s, lim.rest_s) == (30 * 60, 180 * 60, 15 * 60)
    assert (lim.density_limit, lim.electrode_area_cm2) == (2.0, 25.0)
    assert lim.frequency_hz == (1.0, 150.0) and lim.pulse_width_us == (50, 400)
    assert lim.origins == DEFAULT_ORIGINS
    assert lim.notices == ()


def test_effective_limits_name_the_config_file_of_each_key() -> None:
    """cfg() looks the key up as `limits.<key>` in the config's origins (kills the key and
    'default' mutants)."""
    lim = effective_limits(
        Limits(peak_ma=30), CAPS, "opentens", {"limits.peak_ma": "/etc/tens.toml"}
    )
    assert lim.origins["peak intensity"] == "config limits.peak_ma (/etc/tens.toml)"
    assert lim.origins["manual step"] == "config limits.step_ma (default)"


def test_session_daily_and_rest_come_from_the_config() -> None:
    lim = lim_of(Limits(session_minutes=20, daily_minutes=60, rest_minutes=5))
    assert (lim.session_s, lim.daily_s, lim.rest_s) == (20 * 60, 60 * 60, 5 * 60)


def test_device_ramp_limit_narrows_the_rate_when_lower() -> None:
    """The device's own ramp limit is used when it is the lowest (kills the dropped
    `rate_c.append` and the `if caps.max_ramp_per_s` mutants), and ignored when higher."""
    lim = lim_of(caps=replace(CAPS, max_ramp_per_s=1.5))
    assert lim.ramp_per_s == 1.5 and lim.origins["increase rate"] == "device ramp limit"
    lim = lim_of(caps=replace(CAPS, max_ramp_per_s=4.0))
    assert lim.ramp_per_s == 2.0
    lv = effective_limits(LEVELS, replace(LEVEL_CAPS, max_ramp_per_s=4.0), "coyote3")
    assert lv.ramp_per_s == 4.0 and lv.origins["increase rate"] == "device ramp limit"


def test_device_maximum_narrows_the_peak_and_is_named() -> None:
    lim = lim_of(caps=replace(CAPS, intensity_max=25.0))
    assert lim.peak == 25 and lim.origins["peak intensity"] == "device maximum"
    lv = effective_limits(LEVELS, replace(LEVEL_CAPS, intensity_max=30), "coyote3")
    assert lv.peak == 30 and lv.origins["peak intensity"] == "device maximum"


def test_narrow_takes_the_lowest_value_not_the_first_name() -> None:
    """_narrow picks by value (kills `key=c[1]`, which would pick by the origin's name)."""
    origins: dict[str, str] = {}
    assert _narrow("x", [(5.0, "a config"), (3.0, "z device")], origins) == 3.0
    assert origins == {"x": "z device"}


def test_level_device_limits_exactly() -> None:
    lv = effective_limits(LEVELS, LEVEL_CAPS, "coyote3")
    assert (lv.unit, lv.peak, lv.ramp_per_s, lv.step) == (IntensityUnit.LEVEL, 40, 10, 5)
    assert lv.density_limit is None and lv.electrode_area_cm2 is None
    assert lv.frequency_hz == (10.0, 150.0) and lv.pulse_width_us == (50, 155)
    key = "config limits.levels.coyote3"
    assert {k: lv.origins[k] for k in ("peak intensity", "increase rate", "manual step")} == {
        "peak intensity": key,
        "increase rate": key,
        "manual step": key,
    }
    assert "r.m.s. current density" not in lv.origins
    assert lv.notices == (
        "coyote3 reports intensity in abstract levels, not mA: r.m.s. current density "
        "cannot be checked for this device; level limits apply instead",
    )


def test_level_device_without_its_limits_is_refused_by_name() -> None:
    other = Limits(levels={"coyote2": LevelLimits(peak=40, ramp_per_s=10, step=5)})
    with pytest.raises(GovernorRefusal) as exc:
        effective_limits(other, LEVEL_CAPS, "coyote3")
    assert str(exc.value) == (
        "no level limits are configured for coyote3 devices, which use abstract levels, not "
        "mA: set [limits.levels.coyote3] peak, ramp_per_s and step in config.toml; refusing "
        "to drive it without them"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channels": 0}, "the device reports no output channels: refusing to drive it"),
        ({"intensity_max": 0.0}, "the device reports no usable intensity range: refusing"),
        ({"intensity_step": 0.0}, "the device reports no usable intensity range: refusing"),
        ({"waveforms": frozenset()}, "the device reports no waveforms it can render: refusing"),
        (
            {"frequency_hz": (200.0, 300.0)},
            "the device's frequency or pulse-width range does not overlap the configured one",
        ),
        (
            {"pulse_width_us": (500, 600)},
            "the device's frequency or pulse-width range does not overlap the configured one",
        ),
    ],
)
def test_unusable_capabilities_refused(change: dict, message: str) -> None:
    """Each capability check on its own (kills `or`->`and` and the messages)."""
    with pytest.raises(GovernorRefusal) as exc:
        lim_of(caps=replace(CAPS, **change))
    assert str(exc.value) == message


def test_smallest_usable_capabilities_accepted() -> None:
    """One channel, ranges that touch the configured ones at a single value (kills `< 1` ->
    `<= 1` and `flo > fhi` -> `flo >= fhi`)."""
    caps = replace(CAPS, channels=1, frequency_hz=(150.0, 200.0), pulse_width_us=(400, 500))
    lim = lim_of(caps=caps)
    assert lim.frequency_hz == (150.0, 150.0) and lim.pulse_width_us == (400, 400)


def test_configured_ranges_narrower_than_the_device_are_in_force() -> None:
    """max of the lower ends, min of the upper ends (kills the index and min/max-term
    mutants): config narrower on one side, the device on the other. Configured ranges must lie
    within the hard caps (1–200 Hz, 50–400 µs), so the device is the wider one here."""
    caps = replace(CAPS, frequency_hz=(1.0, 150.0), pulse_width_us=(60, 400))
    lim = lim_of(Limits(frequency_hz=(5.0, 200.0), pulse_width_us=(50, 250)), caps)
    assert lim.frequency_hz == (5.0, 150.0) and lim.pulse_width_us == (60, 250)
    caps = replace(CAPS, frequency_hz=(2.0, 150.0), pulse_width_us=(50, 350))
    lim = lim_of(Limits(frequency_hz=(1.0, 100.0), pulse_width_us=(100, 400)), caps)
    assert lim.frequency_hz == (2.0, 100.0) and lim.pulse_width_us == (100, 350)


# ------------------------------------------------------------------ programs and ranges


@pytest.mark.parametrize(
    ("program", "refusal"),
    [
        (Program(name="lo", frequency_hz=5, pulse_width_us=150), None),
        (Program(name="hi", frequency_hz=100, pulse_width_us=150), None),
        (
            Program(name="under", frequency_hz=4.9, pulse_width_us=150),
            "program under uses 4.9–4.9 Hz, outside the allowed 5–100 Hz",
        ),
        (
            Program(name="over", frequency_hz=100.1, pulse_width_us=150),
            "program over uses 100.1–100.1 Hz, outside the allowed 5–100 Hz",
        ),
        (Program(name="wlo", frequency_hz=50, pulse_width_us=100), None),
        (Program(name="whi", frequency_hz=50, pulse_width_us=200), None),
        (
            Program(name="narrow", frequency_hz=50, pulse_width_us=99),
            "program narrow uses 99–99 µs pulses, outside the allowed 100–200 µs",
        ),
        (
            Program(name="wide", frequency_hz=50, pulse_width_us=201),
            "program wide uses 201–201 µs pulses, outside the allowed 100–200 µs",
        ),
    ],
)
def test_configured_ranges_narrower_than_the_device_refuse_programs(
    program: Program, refusal: str | None
) -> None:
    """Configured 5-100 Hz and 100-200 µs on a 1-150 Hz, 50-400 µs device: programs at the
    configured ends pass, just outside them are refused although the device could render them
    (kills the `<`/`>` boundary, `- EPS`/`+ EPS`, index and `or`->`and` mutants of
    program_problem)."""
    lim = lim_of(Limits(frequency_hz=(5.0, 100.0), pulse_width_us=(100, 200)))
    assert program.unrenderable_reason(CAPS) is None
    assert program_problem(lim, CAPS, program) == refusal


def test_program_problem_reports_the_device_reason_first() -> None:
    caps = replace(CAPS, waveforms=frozenset({Waveform.CONTINUOUS}))
    lim = lim_of(caps=caps)
    assert program_problem(lim, caps, PROGRAMS["burst"]) == (
        "program burst needs the burst waveform; the device has continuous"
    )


# ------------------------------------------------------------------ intensity and density


def test_density_figures() -> None:
    """rms_density and its inverse on the conventional program: 100 Hz x 150 µs x 2 phases."""
    duty = 100 * 150e-6 * 2
    assert rms_density(10, CONV, 25) == pytest.approx(10 * math.sqrt(duty) / 25)
    lim = lim_of()
    assert max_intensity_for_density(lim, CONV) == pytest.approx(2 * 25 / math.sqrt(duty))
    assert max_intensity_for_density(replace(lim, density_limit=None), CONV) is None
    assert max_intensity_for_density(replace(lim, electrode_area_cm2=None), CONV) is None


def test_intensity_at_the_peak_passes_just_above_is_refused() -> None:
    lim = lim_of()
    assert _intensity_problem(lim, CONV, 40.0, "intensity") is None
    assert _intensity_problem(lim, CONV, 40.01, "intensity") == (
        "intensity 40.01 mA is above the peak intensity limit 40 mA "
        "(config limits.peak_ma (default))"
    )
    # no origin recorded: the refusal still names the limit
    bare = replace(lim, origins={})
    assert _intensity_problem(bare, CONV, 41, "output") == (
        "output 41 mA is above the peak intensity limit 40 mA (limit)"
    )


@pytest.mark.parametrize("value", [-0.01, -1.0, math.inf, -math.inf, math.nan])
def test_invalid_intensities_refused(value: float) -> None:
    lim = lim_of()
    assert _intensity_problem(lim, CONV, value, "intensity") == (
        f"intensity {value} mA is not a valid intensity"
    )


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_small_intensities_pass(value: float) -> None:
    """Zero and fractions of a unit are valid (kills `< 0` -> `<= 0` / `< 1`)."""
    assert _intensity_problem(lim_of(), CONV, value, "intensity") is None


def test_density_at_the_limit_passes_just_above_is_refused() -> None:
    """On 2 cm² electrodes the conventional program may have 2·2/√0.03 = 23.09 mA (below the
    40 mA peak, so the density rule binds)."""
    lim = with_area(lim_of(), 2)
    cap = 2 * 2 / math.sqrt(0.03)
    assert _intensity_problem(lim, CONV, cap, "intensity") is None
    assert _intensity_problem(lim, CONV, cap + 0.01, "intensity") == (
        f"intensity {cap + 0.01:g} mA with program conventional on 2 cm² electrodes is "
        f"{rms_density(cap + 0.01, CONV, 2):.2f} mA/cm² r.m.s., above the current density "
        "limit 2 mA/cm² (highest allowed: 23.1 mA)"
    )


# ------------------------------------------------------------------ check_start


def test_start_without_an_intensity_plans_zero_not_the_peak() -> None:
    """No intensity given: the target is 0 (the person raises it), never the peak or 1 (kills
    `0.0 if ... is None` -> `1.0` and `is None` -> `is not None`)."""
    d, plan = start(StartRequest())
    assert d.outcome == "allowed" and plan is not None
    assert plan.target == 0.0 and d.allowed == 0.0 and d.requested is None


def test_allowed_start_decision_exactly() -> None:
    d, plan = start(StartRequest(intensity=12, minutes=20, channels=(1,)))
    assert (d.source, d.action, d.requested, d.allowed, d.outcome) == (
        Source.MQTT,
        "start",
        12,
        12,
        "allowed",
    )
    assert d.reasons == ("starts at 0 and ramps at 2 mA/s",)
    assert plan is not None
    assert (plan.program, plan.duration_s, plan.target, plan.channels, plan.placement) == (
        CONV,
        20 * 60,
        12,
        (1,),
        PLACEMENT,
    )


def test_allowed_start_on_a_level_device_carries_its_notice() -> None:
    caps = LEVEL_CAPS
    lim = effective_limits(LEVELS, caps, "coyote3")
    p = Program(name="lv", frequency_hz=100, pulse_width_us=100)
    d, plan = check_start(
        lim,
        caps,
        {"lv": p},
        StartRequest(intensity=5, placement="lower-back"),
        FRESH,
        NOW,
        Source.CLI,
        default_program="lv",
        default_minutes=10,
        default_channels=(0, 1),
        contraindicated=CONTRA,
    )
    assert d.reasons == ("starts at 0 and ramps at 10 level/s", *lim.notices)
    assert plan is not None and plan.channels == (0, 1) and plan.placement == "lower-back"


def test_refusal_decision_exactly() -> None:
    d, plan = start(StartRequest(intensity=5, placement="front-of-neck"))
    assert plan is None
    assert (d.source, d.action, d.requested, d.allowed, d.outcome) == (
        Source.MQTT,
        "start",
        5,
        None,
        "refused",
    )
    assert d.reasons == ("electrodes must never be placed on the front of neck: carotid sinus",)


def test_checklist_refusals_exactly() -> None:
    d, _ = start(StartRequest(intensity=5), Usage(0, None, False, False))
    assert d.reasons == (
        "the contraindication checklist has not been answered, or its answers are more than "
        "6 months old: run `tens checklist` first",
    )
    d, _ = start(StartRequest(intensity=5), Usage(0, None, True, True))
    assert d.reasons == (
        "the contraindication checklist has a 'yes': TENS may not be safe for you. Please "
        "talk to a healthcare provider before using it",
    )


def test_unknown_program_lists_the_known_ones() -> None:
    d, _ = start(StartRequest(program="nope"))
    assert d.reasons == (
        "unknown program 'nope'; known: acupuncture, burst, conventional, modulated",
    )


@pytest.mark.parametrize("minutes", [0.0, -1.0, math.nan, math.inf])
def test_invalid_session_length_refused(minutes: float) -> None:
    d, _ = start(StartRequest(intensity=5, minutes=minutes))
    assert d.reasons == (f"session length {minutes} min is not valid",)


def test_session_exactly_at_the_limit_passes_just_over_is_refused() -> None:
    assert start(StartRequest(intensity=5, minutes=30))[0].outcome == "allowed"
    assert start(StartRequest(intensity=5, minutes=0.5))[0].outcome == "allowed"
    d, _ = start(StartRequest(intensity=5, minutes=30.01))
    assert d.reasons == (
        "session length 30.01 min is above the limit 30 min "
        "(config limits.session_minutes (default))",
    )


def test_daily_exactly_at_the_limit_passes_just_over_is_refused() -> None:
    used = Usage(160 * 60, None, True, False)
    assert start(StartRequest(intensity=5, minutes=20), used)[0].outcome == "allowed"
    d, _ = start(StartRequest(intensity=5, minutes=20.01), used)
    assert d.reasons == (
        "a 20.01 min session would exceed the daily limit of 180 min: 160 min used today, "
        "20 min left",
    )
    over = Usage(200 * 60, None, True, False)  # more than the cap on the record: 0 left
    d, _ = start(StartRequest(intensity=5, minutes=1), over)
    assert d.reasons == (
        "a 1 min session would exceed the daily limit of 180 min: 200 min used today, 0 min left",
    )


def test_rest_just_under_the_limit_refused_exactly_at_it_allowed() -> None:
    just = Usage(0, NOW - dt.timedelta(minutes=15) + dt.timedelta(seconds=1), True, False)
    d, _ = start(StartRequest(intensity=5), just)
    assert d.reasons == (
        "rest between sessions is 15 min: the last session ended 15 min ago; start again in 1 min",
    )
    exact = Usage(0, NOW - dt.timedelta(minutes=15), True, False)
    assert start(StartRequest(intensity=5), exact)[0].outcome == "allowed"


def test_rest_counts_a_last_end_in_the_future_as_no_rest() -> None:
    """A wall clock set back after a session: the rest has not started (max(0, rested))."""
    future = Usage(0, NOW + dt.timedelta(minutes=5), True, False)
    d, _ = start(StartRequest(intensity=5), future)
    assert d.reasons == (
        "rest between sessions is 15 min: the last session ended 0 min ago; start again in 20 min",
    )


def test_a_rest_of_one_second_is_still_enforced() -> None:
    """Kills `lim.rest_s > 0` -> `> 1`: a 1 s rest right after a session refuses."""
    d, _ = start(
        StartRequest(intensity=5),
        Usage(0, NOW, True, False),
        Limits(rest_minutes=1 / 60),
    )
    assert d.refused and d.reason.startswith("rest between sessions is")
    assert (
        start(StartRequest(intensity=5), Usage(0, NOW, True, False), Limits(rest_minutes=0))[
            0
        ].outcome
        == "allowed"
    )


@pytest.mark.parametrize(
    ("channels", "default", "reason"),
    [
        # people count channels from 1 (tens.channels): index 2 is "channel 3"
        ((2,), (0,), "channel 3 is not on this device: it has channels 1–2"),
        ((2, 3), (0,), "channels 3 and 4 are not on this device: it has channels 1–2"),
        ((-1, 0), (0,), "channel 0 is not on this device: it has channels 1–2"),
        (None, (), "no channel named: the device has channels 1–2"),
    ],
)
def test_channels_off_the_device_refused(channels, default, reason) -> None:
    d, _ = start(StartRequest(intensity=5, channels=channels), default_channels=default)
    assert d.reasons == (reason,)
    assert d.code == "no_such_channel"


def test_a_one_channel_device_names_its_one_channel() -> None:
    d, _ = start(StartRequest(intensity=5, channels=(1,)), caps=replace(CAPS, channels=1))
    assert d.reasons == ("channel 2 is not on this device: it has channel 1",)


def test_last_channel_of_the_device_allowed() -> None:
    d, plan = start(StartRequest(intensity=5, channels=(0, 1)))
    assert d.outcome == "allowed" and plan is not None and plan.channels == (0, 1)


# ------------------------------------------------------------------ check_target


def test_a_step_between_one_and_two_steps_is_narrowed_to_one() -> None:
    lim = lim_of()
    d = check_target(lim, CONV, 10, 11.5, Source.TUI, manual=True)
    assert (d.action, d.requested, d.allowed, d.outcome) == ("intensity", 11.5, 11, "narrowed")
    assert d.reasons == (
        "manual step limit 1 mA (config limits.step_ma (default)): raised to 11; ask again "
        "to go higher",
    )
    exact = check_target(lim, CONV, 10, 11, Source.TUI, manual=True, action="step")
    assert (exact.action, exact.allowed, exact.outcome) == ("step", 11, "allowed")


def test_narrowing_names_the_limit_without_an_origin() -> None:
    lim = replace(lim_of(), origins={})
    d = check_target(lim, CONV, 0, 3, Source.CLI, manual=True)
    assert d.reason == "manual step limit 1 mA (limit): raised to 1; ask again to go higher"


def test_equal_and_lower_targets_always_allowed_even_above_the_peak() -> None:
    """Keeping or lowering the target is never refused (kills `<=` -> `<`: an equal request
    would go through the peak check)."""
    lim = lim_of()
    d = check_target(lim, CONV, 45, 45, Source.MQTT, manual=True)
    assert (d.allowed, d.outcome, d.reasons) == (45, "allowed", ())
    d = check_target(lim, CONV, 10, 0, Source.MQTT, manual=True)
    assert (d.allowed, d.outcome) == (0, "allowed")


@pytest.mark.parametrize("value", [-0.5, math.nan, math.inf])
def test_invalid_target_refused_exactly(value: float) -> None:
    d = check_target(lim_of(), CONV, 10, value, Source.MQTT, manual=False, action="step")
    assert (d.source, d.action, d.allowed, d.outcome) == (Source.MQTT, "step", None, "refused")
    assert d.reasons == (f"{value} is not a valid intensity",)


def test_target_above_the_peak_refused_exactly() -> None:
    d = check_target(lim_of(), CONV, 39.5, 40.5, Source.MQTT, manual=True)
    assert (d.allowed, d.outcome) == (None, "refused")
    assert d.reasons == (
        "intensity 40.5 mA is above the peak intensity limit 40 mA (config limits.peak_ma "
        "(default))",
    )


# ------------------------------------------------------------------ next_setpoint and gate


def test_next_setpoint_never_rises_on_a_negative_interval() -> None:
    """A window whose end lies after `now` (the clock behind the history) gives no ramp
    credit (kills `max(0.0, now - end)` -> `abs(...)`/`max(1.0, ...)`); a hold allows only the
    slack above it (kills a ramp credit for the hold); the target caps the rise (kills
    `min(target, ...)` -> `max`); a fall is at once."""
    lim = lim_of()  # 2 mA/s
    assert next_setpoint(lim, [(0.0, 1.0)], 10.0, -1.0, 0.0) == 1.0
    assert next_setpoint(lim, [(0.0, 0.0), (1.0, 1.0)], 10.0, 0.5, 1.0) == 1.0
    assert next_setpoint(lim, [(0.0, 1.0)], 10.0, 0.5, 0.2) == pytest.approx(1.2, abs=1e-12)
    assert next_setpoint(lim, [(0.0, 0.0), (0.1, 1.0)], 1.5, 10.0, 1.0) == 1.5
    assert next_setpoint(lim, [(0.0, 1.0)], 0.5, 10.0, 0.2) == 0.5


def test_gate_zero_always_allowed_as_zero() -> None:
    lim = lim_of()
    d = gate(lim, CONV, [(0.0, 30.0)], 0, 0.0, 99_999, 60, Source.CLI, slack=0.0)
    assert (d.source, d.action, d.requested, d.allowed, d.outcome, d.code) == (
        Source.CLI,
        "output",
        0,
        0.0,
        "allowed",
        None,
    )


def test_gate_rise_exactly_at_the_rate_passes_just_faster_is_refused() -> None:
    """The window from 1.0 (held until 1.0 s) to now (1.1 s) allows 1.0 + 2 mA/s x 0.1 s +
    0.2 slack = 1.4: exactly that passes, 1.41 is refused, by name and code."""
    lim = lim_of()
    hist = [(0.0, 1.0), (1.0, 1.3)]
    ok = gate(lim, CONV, hist, 1.4, 1.1, 1, 60, slack=0.2)
    assert (ok.source, ok.allowed, ok.outcome) == (Source.SYSTEM, 1.4, "allowed")
    fast = gate(lim, CONV, hist, 1.41, 1.1, 1, 60, slack=0.2)
    assert fast.reasons == (
        "output would rise from 1.3 to 1.41 mA, above the 1.4 mA that 2 mA/s allows over the "
        "output so far",
    )
    assert (fast.allowed, fast.outcome, fast.code) == (None, "refused", "too_fast")
    # a hold gives no ramp credit: one step in one tick above a held value is refused
    assert gate(lim, CONV, [(0.0, 1.0)], 2.0, 10.0, 1, 60, slack=0.2).refused
    assert gate(lim, CONV, [(0.0, 1.0)], 1.2, 10.0, 1, 60, slack=0.2).outcome == "allowed"
    # a window ending after `now` (negative interval) gives no credit (kills `abs`/`max(1.0,`)
    assert gate(lim, CONV, [(0.0, 0.0), (1.0, 1.0)], 1.01, 0.5, 1, 60, slack=0.5).refused


def test_gate_time_is_up_at_the_plan_or_the_session_limit() -> None:
    """Elapsed exactly at the plan passes; over the plan, or over the session limit whatever
    the plan says, is refused (kills `or` -> `and` and the boundary mutants)."""
    lim = lim_of()
    h = [(0.0, 1.0)]
    assert gate(lim, CONV, h, 1, 1, 60, 60, slack=0.0).outcome == "allowed"
    late = gate(lim, CONV, h, 1, 1, 60.01, 60, slack=0.0)
    assert (late.reasons, late.code) == (("the session's time is up",), "time_up")
    over_limit = gate(lim, CONV, h, 1, 1, 30 * 60 + 1, 10**6, slack=0.0)
    assert over_limit.refused and over_limit.code == "time_up"
    assert gate(lim, CONV, h, 1, 1, 30 * 60, 10**6, slack=0.0).outcome == "allowed"


def test_gate_refuses_above_the_peak_by_name() -> None:
    d = gate(lim_of(), CONV, [(0.0, 40.0)], 40.5, 10, 1, 60, slack=1.0)
    assert d.code == "over_limit"
    assert d.reasons == (
        "output 40.5 mA is above the peak intensity limit 40 mA (config limits.peak_ma (default))",
    )


# ------------------------------------------------------------------ whole decisions
# The audit trail records every field of a Decision: source, action, requested, allowed,
# outcome and reasons. These compare whole decisions, so a field dropped or replaced by None
# on any return path fails (kills the `Decision(None, ...)`, `action` -> None, `requested`
# -> None and `reasons` -> None mutants of check_target and gate).


def test_check_target_decisions_whole() -> None:
    from tens.events import Decision

    lim = lim_of()
    src = Source.SCHEDULER
    assert check_target(lim, CONV, 10, -0.5, src, manual=True, action="step") == Decision(
        src,
        "step",
        -0.5,
        None,
        "refused",
        ("-0.5 is not a valid intensity",),
        code="invalid_intensity",
    )
    assert check_target(lim, CONV, 10, 4, src, manual=True, action="step") == Decision(
        src, "step", 4, 4, "allowed", ()
    )
    assert check_target(lim, CONV, 10, 41, src, manual=False, action="step") == Decision(
        src,
        "step",
        41,
        None,
        "refused",
        (
            "intensity 41 mA is above the peak intensity limit 40 mA (config limits.peak_ma "
            "(default))",
        ),
        code="over_limit",
    )
    assert check_target(lim, CONV, 10, 12, src, manual=True, action="step") == Decision(
        src,
        "step",
        12,
        11,
        "narrowed",
        (
            "manual step limit 1 mA (config limits.step_ma (default)): raised to 11; ask "
            "again to go higher",
        ),
        code="manual_step",
    )
    assert check_target(lim, CONV, 10, 12, src, manual=False, action="step") == Decision(
        src, "step", 12, 12, "allowed", ()
    )


def test_gate_decisions_whole() -> None:
    from tens.events import Decision

    lim = lim_of()
    src = Source.TUI
    h = [(0.0, 1.0)]
    assert gate(lim, CONV, h, 1.1, 0.1, 1, 60, src, slack=0.1) == Decision(
        src, "output", 1.1, 1.1, "allowed", ()
    )
    assert gate(lim, CONV, h, 0, 0.1, 1, 60, src, slack=0.1) == Decision(
        src, "output", 0, 0.0, "allowed", ()
    )
    assert gate(lim, CONV, h, 1, 0.1, 61, 60, src, slack=0.1) == Decision(
        src, "output", 1, None, "refused", ("the session's time is up",), code="time_up"
    )
    assert gate(lim, CONV, h, 1.2, 0.1, 1, 60, src, slack=0.1) == Decision(
        src,
        "output",
        1.2,
        None,
        "refused",
        (
            "output would rise from 1 to 1.2 mA, above the 1.1 mA that 2 mA/s allows over the "
            "output so far",
        ),
        code="too_fast",
    )


def test_check_start_decisions_whole() -> None:
    from tens.events import Decision

    d, _ = start(StartRequest(intensity=7, program="nope"))
    assert d == Decision(
        Source.MQTT,
        "start",
        7,
        None,
        "refused",
        ("unknown program 'nope'; known: acupuncture, burst, conventional, modulated",),
    )
    d, _ = start(StartRequest(intensity=7, placement="lower-back"))
    assert d == Decision(
        Source.MQTT, "start", 7, 7, "allowed", ("starts at 0 and ramps at 2 mA/s",)
    )


def test_session_length_refusal_names_the_limit_without_an_origin() -> None:
    """Kills `origins.get('session length', 'limit')` -> `None`."""
    lim = replace(lim_of(), origins={})
    d, _ = check_start(
        lim,
        CAPS,
        PROGRAMS,
        StartRequest(intensity=5, minutes=45, placement=PLACEMENT),
        FRESH,
        NOW,
        Source.CLI,
        default_program="conventional",
        default_minutes=30,
        default_channels=(0,),
        contraindicated=CONTRA,
    )
    assert d.reasons == ("session length 45 min is above the limit 30 min (limit)",)


def test_a_device_with_a_range_below_one_unit_is_usable() -> None:
    """Kills `intensity_max > 0` -> `> 1`: a 0.5 mA device is small, not unusable."""
    lim = lim_of(caps=replace(CAPS, intensity_max=0.5))
    assert lim.peak == 0.5 and lim.origins["peak intensity"] == "device maximum"


def test_start_refusal_above_the_peak_names_the_intensity() -> None:
    """Kills the `"intensity"` label mutants of check_start's intensity check."""
    d, _ = start(StartRequest(intensity=50))
    assert d.reasons == (
        "intensity 50 mA is above the peak intensity limit 40 mA (config limits.peak_ma (default))",
    )


def test_minutes_in_refusals_are_whole_minutes_of_sixty_seconds() -> None:
    """The figures in the daily and rest refusals divide seconds by 60 (kills `/ 61`, which
    shows 119 for 121, 58 for 59 and 118 for 120). Sessions are capped at 60 min."""
    long = Limits(session_minutes=60, daily_minutes=180, rest_minutes=180)
    d, _ = start(StartRequest(intensity=5, minutes=60), Usage(121 * 60, None, True, False), long)
    assert d.reasons == (
        "a 60 min session would exceed the daily limit of 180 min: 121 min used today, 59 min left",
    )
    d, _ = start(
        StartRequest(intensity=5), Usage(0, NOW - dt.timedelta(minutes=60), True, False), long
    )
    assert d.reasons == (
        "rest between sessions is 180 min: the last session ended 60 min ago; start again in "
        "120 min",
    )


def test_no_rest_configured_means_no_rest_even_after_a_clock_jump_back() -> None:
    """rest_minutes = 0: a last session that ended "in the future" (the wall clock set back)
    does not refuse (kills `lim.rest_s > 0` -> `>= 0`)."""
    future = Usage(0, NOW + dt.timedelta(minutes=5), True, False)
    d, _ = start(StartRequest(intensity=5), future, Limits(rest_minutes=0))
    assert d.outcome == "allowed", d.reason
