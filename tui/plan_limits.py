"""The program dialog's values against the limits in force, as the person types them.

Each problem names the limit and its value (``tens limits`` says where each came from).

A face-side preview only, so a person sees at once that 200 min or 200 mA will not do, with
the limit named: the governor checks every start again, and only its answer counts.
"""

from __future__ import annotations

from tens.programs import Program
from tens.safety import EffectiveLimits
from tens.safety.governor import max_intensity_for_density
from tui import format as fmt

EPS = 1e-9


def limits_hint(lim: EffectiveLimits | None) -> str:
    """One line naming the limits a plan must keep."""
    if lim is None:
        return "Limits: known once a device is connected (every start is checked)."
    unit = lim.unit.value
    return (
        f"Limits: at most {lim.session_s / 60:g} min a session and "
        f"{fmt.amount(lim.peak, unit)}; {lim.rest_s / 60:g} min rest between sessions"
    )


def plan_problems(
    minutes_text: str,
    intensity_text: str,
    lim: EffectiveLimits | None,
    program: Program | None = None,
) -> list[str]:
    """What is wrong with the typed values (empty: nothing the limits in force refuse)."""
    problems: list[str] = []
    unit = lim.unit.value if lim is not None else "mA"
    minutes = _number(minutes_text)
    if minutes is None:
        problems.append("minutes: type a number")
    elif minutes <= 0:
        problems.append("minutes: more than 0, please")
    elif lim is not None and minutes * 60 > lim.session_s + EPS:
        problems.append(
            f"{minutes:g} min is above the session length limit {lim.session_s / 60:g} min"
        )
    intensity = _number(intensity_text)
    if intensity is None:
        problems.append("start at: type a number")
    elif intensity < 0:
        problems.append("start at: 0 or more, please")
    elif lim is not None and intensity > lim.peak + EPS:
        problems.append(
            f"{fmt.amount(intensity, unit)} is above the peak intensity limit "
            f"{fmt.amount(lim.peak, unit)}"
        )
    elif lim is not None and program is not None:
        cap = max_intensity_for_density(lim, program)
        if cap is not None and intensity > cap + EPS:
            problems.append(
                f"{fmt.amount(intensity, unit)} with {program.name} is above the current "
                f"density limit {lim.density_limit:g} mA/cm² on {lim.electrode_area_cm2:g} cm² "
                f"electrodes (at most {cap:.1f} mA)"
            )
    return problems


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None
