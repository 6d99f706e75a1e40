"""The safety governor: pure functions from (limits, capabilities, state, request, time) to an
allowed value or a refusal, each narrowing recorded with its reason.

No I/O, no clock of its own, no device access: the session runner calls :func:`gate` right
before every byte it sends, and the controller calls :func:`check_start` and
:func:`check_target` for every request from every source. Stop never comes here: it is
always allowed.

Rules (hazard numbers from safety.md): peak intensity (H1), increase rate and manual step
(H2), session length, daily time and rest (H3), r.m.s. current density (H9), frequency and
pulse-width ranges, start at zero (H5, H6), contraindicated placements and the checklist (H8).
A missing limit or an unknown capability means refusal.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from tens import channels as channel_numbers
from tens.device import Capabilities, IntensityUnit
from tens.electrodes import ELECTRODE_SIZE_UNKNOWN, ElectrodeSize, unknown_text
from tens.events import Decision, Source
from tens.limits import HARD_CAPS, Limits
from tens.programs import Program

EPS = 1e-6
PHASES_PER_PULSE = 2  # symmetric biphasic: the conservative assumption
PLACEMENT_REQUIRED = "placement_required"
CHECKLIST_UNANSWERED = "checklist_unanswered"
"""The checklist was never answered, is too old, or predates a prescription change."""
CHECKLIST_YES = "checklist_yes"
"""A contraindication was affirmed: talk to a healthcare provider first."""
"""Decision.code of a start that names no electrode placement."""
PLACEMENT_REQUIRED_TEXT = (
    "no electrode placement given: name where the electrodes are (e.g. --placement "
    "lower-back; `tens pain options` lists them), so that it can be checked: never "
    "on the head, eyes, mouth, front of the neck or chest"
)


class GovernorRefusal(Exception):
    """Raised where a refusal has no Decision to travel in (e.g. effective limits)."""


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The limits in force for one device: config narrowed by hard caps and the device."""

    unit: IntensityUnit
    peak: float
    ramp_per_s: float
    step: float
    session_s: float
    daily_s: float
    rest_s: float
    density_limit: float | None
    electrode_area_cm2: float | None
    """The smallest pad on the session's channels, as stated (:func:`check_start` sets it
    from the stated sizes); None: not known, and an mA device is then refused."""
    frequency_hz: tuple[float, float]
    pulse_width_us: tuple[int, int]
    origins: dict[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


def _narrow(name: str, candidates: list[tuple[float, str]], origins: dict[str, str]) -> float:
    value, origin = min(candidates, key=lambda c: c[0])
    origins[name] = origin
    return value


def effective_limits(
    limits: Limits,
    caps: Capabilities,
    driver: str,
    config_origin: dict[str, str] | None = None,
) -> EffectiveLimits:
    """Combine configured limits, hard caps and the device's own ranges. Refuse when unsure."""
    co = config_origin or {}

    def cfg(key: str) -> str:
        return f"config limits.{key} ({co.get(f'limits.{key}', 'default')})"

    if caps.channels < 1:
        raise GovernorRefusal("the device reports no output channels: refusing to drive it")
    if not caps.intensity_max > 0 or not caps.intensity_step > 0:
        raise GovernorRefusal("the device reports no usable intensity range: refusing")
    if not caps.waveforms:
        raise GovernorRefusal("the device reports no waveforms it can render: refusing")
    flo = max(limits.frequency_hz[0], caps.frequency_hz[0], HARD_CAPS.frequency_hz[0])
    fhi = min(limits.frequency_hz[1], caps.frequency_hz[1], HARD_CAPS.frequency_hz[1])
    plo = max(limits.pulse_width_us[0], caps.pulse_width_us[0], HARD_CAPS.pulse_width_us[0])
    phi = min(limits.pulse_width_us[1], caps.pulse_width_us[1], HARD_CAPS.pulse_width_us[1])
    if flo > fhi or plo > phi:
        raise GovernorRefusal(
            "the device's frequency or pulse-width range does not overlap the configured one"
        )
    origins: dict[str, str] = {
        "frequency": "config limits.frequency_hz, the device's range and the hard cap",
        "pulse width": "config limits.pulse_width_us, the device's range and the hard cap",
        "session length": cfg("session_minutes"),
        "stimulation per day": cfg("daily_minutes"),
        "rest between sessions": cfg("rest_minutes"),
    }
    notices: list[str] = []
    if caps.intensity_unit is IntensityUnit.MILLIAMP:
        peak = _narrow(
            "peak intensity",
            [
                (limits.peak_ma, cfg("peak_ma")),
                (HARD_CAPS.peak_ma, "hard cap"),
                (caps.intensity_max, "device maximum"),
            ],
            origins,
        )
        rate_c = [
            (limits.ramp_ma_per_s, cfg("ramp_ma_per_s")),
            (HARD_CAPS.ramp_ma_per_s, "hard cap"),
        ]
        if caps.max_ramp_per_s:
            rate_c.append((caps.max_ramp_per_s, "device ramp limit"))
        rate = _narrow("increase rate", rate_c, origins)
        step = _narrow(
            "manual step",
            [(limits.step_ma, cfg("step_ma")), (HARD_CAPS.step_ma, "hard cap")],
            origins,
        )
        density: float | None = min(limits.current_density_ma_cm2, HARD_CAPS.current_density_ma_cm2)
        area: float | None = None  # stated per channel at each start, never assumed
        origins["r.m.s. current density"] = cfg("current_density_ma_cm2")
        origins["electrode area"] = "not stated yet (tens electrodes set)"
    else:
        lv = limits.levels.get(driver)
        if lv is None:
            raise GovernorRefusal(
                f"no level limits are configured for {driver} devices, which use abstract "
                f"levels, not mA: set [limits.levels.{driver}] peak, ramp_per_s and step "
                "in config.toml; refusing to drive it without them"
            )
        level_cap = HARD_CAPS.level_peak.get(driver)
        if level_cap is None:
            raise GovernorRefusal(
                f"{driver} uses abstract levels but has no hard level cap here: refusing"
            )
        key = f"config limits.levels.{driver}"
        peak = _narrow(
            "peak intensity",
            [(lv.peak, key), (level_cap, "hard cap"), (caps.intensity_max, "device maximum")],
            origins,
        )
        rate_c = [(lv.ramp_per_s, key)]
        if caps.max_ramp_per_s:
            rate_c.append((caps.max_ramp_per_s, "device ramp limit"))
        rate = _narrow("increase rate", rate_c, origins)
        step = _narrow("manual step", [(lv.step, key)], origins)
        density, area = None, None
        notices.append(
            f"{driver} reports intensity in abstract levels, not mA: r.m.s. current density "
            "cannot be checked for this device; level limits apply instead"
        )
    return EffectiveLimits(
        unit=caps.intensity_unit,
        peak=peak,
        ramp_per_s=rate,
        step=step,
        session_s=min(limits.session_minutes, HARD_CAPS.session_minutes) * 60,
        daily_s=min(limits.daily_minutes, HARD_CAPS.daily_minutes) * 60,
        rest_s=limits.rest_minutes * 60,
        density_limit=density,
        electrode_area_cm2=area,
        frequency_hz=(flo, fhi),
        pulse_width_us=(plo, phi),
        origins=origins,
        notices=tuple(notices),
    )


def rms_density(intensity_ma: float, program: Program, area_cm2: float) -> float:
    """r.m.s. current density, mA/cm²: I_peak · √(phase duration × pulse rate × phases) / area,
    at the program's worst moment (``Program.duty``: for burst, inside a train; for a sweep,
    the larger extremes), never averaged over the gaps between trains."""
    return intensity_ma * math.sqrt(program.duty() * PHASES_PER_PULSE) / area_cm2


def max_intensity_for_density(lim: EffectiveLimits, program: Program) -> float | None:
    if lim.density_limit is None or lim.electrode_area_cm2 is None:
        return None
    return lim.density_limit * lim.electrode_area_cm2 / math.sqrt(program.duty() * PHASES_PER_PULSE)


@dataclass(frozen=True, slots=True)
class Usage:
    """What the person has had already, from the persisted session records."""

    stimulation_today_s: float
    last_session_end: dt.datetime | None
    checklist_answered: bool
    checklist_any_yes: bool
    checklist_expired_because: str | None = None
    """Why stored answers no longer count (too old, or the prescription changed since)."""


@dataclass(frozen=True, slots=True)
class StartRequest:
    program: str | None = None
    minutes: float | None = None
    intensity: float | None = None
    placement: str | None = None
    channels: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class StartPlan:
    program: Program
    duration_s: float
    target: float
    channels: tuple[int, ...]
    placement: str
    limits: EffectiveLimits
    """The limits for this session: those checked, with the stated electrode area."""


def _intensity_problem(
    lim: EffectiveLimits, program: Program, value: float, what: str
) -> str | None:
    u = lim.unit.value
    if not math.isfinite(value) or value < 0:
        return f"{what} {value} {u} is not a valid intensity"
    if value > lim.peak + EPS:
        return (
            f"{what} {value:g} {u} is above the peak intensity limit "
            f"{lim.peak:g} {u} ({lim.origins.get('peak intensity', 'limit')})"
        )
    if lim.density_limit is not None and lim.electrode_area_cm2 is None:
        return (
            f"{what} {value:g} {u} cannot be checked against the r.m.s. current density "
            "limit: the electrode size is not known"
        )
    cap = max_intensity_for_density(lim, program)
    if cap is not None and value > cap + EPS:
        assert lim.electrode_area_cm2 is not None and lim.density_limit is not None
        d = rms_density(value, program, lim.electrode_area_cm2)
        return (
            f"{what} {value:g} mA with program {program.name} on "
            f"{lim.electrode_area_cm2:.3g} cm² electrodes is {d:.2f} mA/cm² r.m.s., above the "
            f"current density limit {lim.density_limit:g} mA/cm² (highest allowed: {cap:.1f} mA)"
        )
    return None


def program_problem(lim: EffectiveLimits, caps: Capabilities, program: Program) -> str | None:
    reason = program.unrenderable_reason(caps)
    if reason:
        return reason
    flo, fhi = program.frequencies()
    if flo < lim.frequency_hz[0] - EPS or fhi > lim.frequency_hz[1] + EPS:
        return (
            f"program {program.name} uses {flo:g}–{fhi:g} Hz, outside the allowed "
            f"{lim.frequency_hz[0]:g}–{lim.frequency_hz[1]:g} Hz"
        )
    wlo, whi = program.pulse_widths()
    if wlo < lim.pulse_width_us[0] or whi > lim.pulse_width_us[1]:
        return (
            f"program {program.name} uses {wlo}–{whi} µs pulses, outside the allowed "
            f"{lim.pulse_width_us[0]}–{lim.pulse_width_us[1]} µs"
        )
    return None


def check_start(
    lim: EffectiveLimits,
    caps: Capabilities,
    programs: dict[str, Program],
    req: StartRequest,
    usage: Usage,
    now: dt.datetime,
    source: Source,
    *,
    default_program: str,
    default_minutes: float,
    default_channels: tuple[int, ...],
    contraindicated: dict[str, str],
    blocked_sites: Mapping[str, str] | None = None,
    electrodes: Mapping[int, ElectrodeSize] | None = None,
) -> tuple[Decision, StartPlan | None]:
    """May a session start? Returns the decision and, when allowed, the plan.

    `contraindicated` maps placement names where electrodes must never go to the reason.
    `blocked_sites` maps placements blocked for now (a red flag logged there and not yet
    cleared, numb skin) to the reason. `electrodes` maps channel -> the pad size stated for
    it; on an mA device every channel of the session needs one (the density check uses the
    smallest), else the start is refused (code ``electrode_size_unknown``). A start that
    names no placement is refused (code ``placement_required``): the contraindicated-placement
    check is never skipped by leaving the field out.
    """
    reasons: list[str] = []

    def refuse(reason: str, code: str | None = None) -> tuple[Decision, None]:
        return (
            Decision(
                source, "start", req.intensity, None, "refused", (reason, *reasons), code=code
            ),
            None,
        )

    if not usage.checklist_answered:
        if usage.checklist_expired_because:
            return refuse(
                f"the contraindication checklist must be answered again "
                f"({usage.checklist_expired_because}): run `tens checklist` first",
                CHECKLIST_UNANSWERED,
            )
        return refuse(
            "the contraindication checklist has not been answered, or its answers are more "
            "than 6 months old: run `tens checklist` first",
            CHECKLIST_UNANSWERED,
        )
    if usage.checklist_any_yes:
        return refuse(
            "the contraindication checklist has a 'yes': TENS may not be safe for you. "
            "Please talk to a healthcare provider before using it",
            CHECKLIST_YES,
        )
    if req.placement is None or not req.placement.strip():
        return refuse(PLACEMENT_REQUIRED_TEXT, PLACEMENT_REQUIRED)
    if req.placement in contraindicated:
        return refuse(
            f"electrodes must never be placed on the {req.placement.replace('-', ' ')}: "
            f"{contraindicated[req.placement]}"
        )
    if req.placement in (blocked_sites or {}):
        return refuse((blocked_sites or {})[req.placement])
    name = req.program or default_program
    program = programs.get(name)
    if program is None:
        return refuse(f"unknown program {name!r}; known: {', '.join(sorted(programs))}")
    problem = program_problem(lim, caps, program)
    if problem:
        return refuse(problem)
    minutes = default_minutes if req.minutes is None else req.minutes
    if not math.isfinite(minutes) or minutes <= 0:
        return refuse(f"session length {minutes} min is not valid")
    duration = minutes * 60
    if duration > lim.session_s + EPS:
        return refuse(
            f"session length {minutes:g} min is above the limit {lim.session_s / 60:g} min "
            f"({lim.origins.get('session length', 'limit')})"
        )
    left = lim.daily_s - usage.stimulation_today_s
    if duration > left + EPS:
        return refuse(
            f"a {minutes:g} min session would exceed the daily limit of "
            f"{lim.daily_s / 60:g} min: {usage.stimulation_today_s / 60:.0f} min used today, "
            f"{max(0.0, left) / 60:.0f} min left"
        )
    if usage.last_session_end is not None and lim.rest_s > 0:
        rested = (now - usage.last_session_end).total_seconds()
        if rested < lim.rest_s - EPS:
            wait = lim.rest_s - rested
            return refuse(
                f"rest between sessions is {lim.rest_s / 60:g} min: the last session ended "
                f"{max(0.0, rested) / 60:.0f} min ago; start again in {math.ceil(wait / 60)} min"
            )
    channels = req.channels or default_channels
    bad = [c for c in channels if c < 0 or c >= caps.channels]
    if bad or not channels:
        has = channel_numbers.span(caps.channels)
        why = (
            f"{channel_numbers.named(bad)} {'is' if len(bad) == 1 else 'are'} not on this "
            f"device: it has {has}"
            if bad
            else f"no channel named: the device has {has}"
        )
        return refuse(why, code="no_such_channel")
    if lim.density_limit is not None:
        stated = electrodes or {}
        unknown = [c for c in channels if c not in stated]
        if unknown:
            return refuse(unknown_text(unknown[0]), ELECTRODE_SIZE_UNKNOWN)
        smallest = min(channels, key=lambda c: stated[c].area_cm2)
        pad = stated[smallest]
        lim = replace(
            lim,
            electrode_area_cm2=pad.area_cm2,
            origins={
                **lim.origins,
                "electrode area": f"stated for {channel_numbers.named([smallest])}: {pad.label} "
                f"({pad.area_cm2:.3g} cm²)",
            },
        )
    target = 0.0 if req.intensity is None else req.intensity
    problem = _intensity_problem(lim, program, target, "intensity")
    if problem:
        return refuse(problem)
    reasons.append(f"starts at 0 and ramps at {lim.ramp_per_s:g} {lim.unit.value}/s")
    reasons.extend(lim.notices)
    plan = StartPlan(program, duration, target, tuple(channels), req.placement, lim)
    return Decision(source, "start", req.intensity, target, "allowed", tuple(reasons)), plan


def check_target(
    lim: EffectiveLimits,
    program: Program,
    current_target: float,
    requested: float,
    source: Source,
    *,
    manual: bool,
    action: str = "intensity",
    output: float | None = None,
) -> Decision:
    """A request to change the target intensity during a session.

    Decreases are always allowed. Increases above the peak or the density limit are refused.
    A manual increase may set the target at most one manual step above the present output
    (`output`, the setpoint being written; the current target when not given), and never
    lowers a target already above that: several quick "up"s from one or several sources
    stack to one step above what flows, and rise further only as the output ramps (one step
    plus the rate over any window).
    """
    if not math.isfinite(requested) or requested < 0:
        return Decision(
            source,
            action,
            requested,
            None,
            "refused",
            (f"{requested} is not a valid intensity",),
            code="invalid_intensity",
        )
    if requested <= current_target + EPS:
        return Decision(source, action, requested, requested, "allowed", ())
    problem = _intensity_problem(lim, program, requested, "intensity")
    if problem:
        return Decision(source, action, requested, None, "refused", (problem,), code="over_limit")
    base = current_target if output is None else max(0.0, output)
    if manual and requested - base > lim.step + EPS:
        allowed = max(current_target, base + lim.step)
        u = lim.unit.value
        why = f"manual step limit {lim.step:g} {u} ({lim.origins.get('manual step', 'limit')})"
        if output is None:
            why += f": raised to {allowed:g}; ask again to go higher"
        elif allowed <= current_target + EPS:
            why += (
                f": the output is at {base:g} {u}, still ramping to {current_target:g}; "
                "ask again when it is there"
            )
        else:
            why += f": one step above the output ({base:g} {u}), raised to {allowed:g}"
        return Decision(source, action, requested, allowed, "narrowed", (why,), code="manual_step")
    return Decision(source, action, requested, requested, "allowed", ())


History = Sequence[tuple[float, float]]
"""Setpoints written, oldest first: (time, value); each holds until the next (the last until
now). Nothing written yet means output 0."""


def rise_slack(lim: EffectiveLimits, tick_s: float, quantum: float = 0.0) -> float:
    """How far the output may rise over a window beyond rate x its length: one tick of the
    ramp, or one step of the device's intensity grid where that is coarser (a device that
    counts whole levels can only rise a whole level at a time)."""
    return max(lim.ramp_per_s * max(0.0, tick_s), max(0.0, quantum))


def rise_ceiling(lim: EffectiveLimits, history: History, now: float, slack: float) -> float:
    """The highest setpoint that may be written at `now`.

    Over every window of the output so far (from any moment a written value still held, to
    now) the rise stays within rate x window + `slack`: for each value v written, held until
    `end`, the new value is at most v + rate x (now - end) + slack. A value that holds until
    now (a hold of any length) allows only `slack` above it: no ramp credit, a rise from a
    hold begins one tick at a time.
    """
    rate = lim.ramp_per_s
    if not history:
        return slack  # nothing written: the output is 0 until now
    ceiling = math.inf
    for i, (_, value) in enumerate(history):
        end = history[i + 1][0] if i + 1 < len(history) else now
        ceiling = min(ceiling, value + rate * max(0.0, now - end) + slack)
    return ceiling


def next_setpoint(
    lim: EffectiveLimits, history: History, target: float, now: float, slack: float
) -> float:
    """One ramp tick: rise toward the target within :func:`rise_ceiling`; fall at once."""
    current = history[-1][1] if history else 0.0
    if target <= current:
        return max(0.0, target)
    return min(target, rise_ceiling(lim, history, now, slack))


def quantise_down(value: float, step: float) -> float:
    """`value` on the device's intensity grid, rounded down: what is written is never more
    than what the governor checked (beyond float dust of 1e-9)."""
    if not step > 0 or not math.isfinite(value):
        return value
    k = math.floor(value / step + 1e-9)
    q = round(k * step, 9)
    if q > value + 1e-9:
        q = round((k - 1) * step, 9)
    return max(0.0, q)


def gate(
    lim: EffectiveLimits,
    program: Program,
    history: History,
    new: float,
    now: float,
    elapsed_s: float,
    duration_s: float,
    source: Source = Source.SYSTEM,
    *,
    slack: float,
) -> Decision:
    """The last check before a setpoint is written to a device. Anything but allowed: no byte.

    `new` is the value exactly as it will be written (on the device's grid); `history` the
    setpoints written so far this session (see :data:`History`; a start, a resume and a pause
    each put a 0 there), `elapsed_s` the session's stimulation time so far. The rise is
    checked against every window of that history (:func:`rise_ceiling`), not against the
    last write alone.
    """

    def refuse(reason: str, code: str) -> Decision:
        return Decision(source, "output", new, None, "refused", (reason,), code=code)

    if new <= EPS:
        return Decision(source, "output", new, 0.0, "allowed", ())
    problem = _intensity_problem(lim, program, new, "output")
    if problem:
        return refuse(problem, "over_limit")
    if elapsed_s > duration_s + EPS or elapsed_s > lim.session_s + EPS:
        return refuse("the session's time is up", "time_up")
    current = history[-1][1] if history else 0.0
    ceiling = rise_ceiling(lim, history, now, slack)
    if new > current + EPS and new > ceiling + EPS:  # a decrease is never limited
        return refuse(
            f"output would rise from {current:g} to {new:g} {lim.unit.value}, above the "
            f"{ceiling:g} {lim.unit.value} that {lim.ramp_per_s:g} {lim.unit.value}/s allows "
            "over the output so far",
            "too_fast",
        )
    return Decision(source, "output", new, new, "allowed", ())
