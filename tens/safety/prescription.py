"""The prescription as one more governor constraint: pure, no I/O, no clock of its own.

:func:`prescribed_limits` takes the limits in force (config narrowed by hard caps and the
device) and returns them narrowed further by an accepted prescription for one session's
program and placement, or a refusal that names the prescription. It only ever narrows:
peak = min, session length = min, rest = max. An expired (or not yet valid) prescription does
not apply and says so; it never widens anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from tens.electrodes import ElectrodeSize
from tens.safety.governor import EffectiveLimits


@dataclass(frozen=True, slots=True)
class ProgramRange:
    low: float
    high: float
    unit: str


@dataclass(frozen=True, slots=True)
class Rules:
    prescriber: str
    prescribed_on: dt.date
    valid_from: dt.date
    valid_until: dt.date
    programs: dict[str, ProgramRange]
    placements: frozenset[str]
    session_minutes: float
    sessions_per_day: int
    rest_minutes: float
    electrode: ElectrodeSize | None = None
    """The pads prescribed (``electrode_size``): the size on every channel that has none
    stated by the person."""

    @property
    def name(self) -> str:
        return f"your prescription from {self.prescriber} ({self.prescribed_on.isoformat()})"


@dataclass(frozen=True, slots=True)
class Outcome:
    limits: EffectiveLimits
    refusal: str | None = None
    code: str | None = None
    """Machine-readable: rx-program, rx-placement, rx-unit, rx-sessions-per-day, rx-rest; None when
    allowed."""
    notice: str | None = None
    """E.g. that the prescription has expired and no longer applies."""
    electrode: ElectrodeSize | None = None
    """The prescribed pad size, when the prescription applies and names one."""


def prescribed_limits(
    lim: EffectiveLimits,
    rules: Rules | None,
    *,
    program: str,
    placement: str | None,
    today: dt.date,
    sessions_today: int,
    rested_s: float | None = None,
) -> Outcome:
    """``rested_s``: seconds since the last session ended (None: no session yet)."""
    if rules is None:
        return Outcome(lim)
    if today > rules.valid_until:
        return Outcome(
            lim,
            notice=f"{rules.name} expired on {rules.valid_until.isoformat()} and no longer "
            "applies; your own limits apply. Ask your clinician for a new one",
        )
    if today < rules.valid_from:
        return Outcome(
            lim,
            notice=f"{rules.name} applies from {rules.valid_from.isoformat()}; "
            "until then your own limits apply",
        )

    def refuse(code: str, why: str) -> Outcome:
        return Outcome(lim, refusal=f"{rules.name} {why}", code=code)

    rng = rules.programs.get(program)
    if rng is None:
        return refuse(
            "rx-program",
            f"allows program(s) {', '.join(sorted(rules.programs))}, not {program}",
        )
    if rng.unit != lim.unit.value:
        return refuse(
            "rx-unit",
            f"gives intensity in {rng.unit}, but this device uses {lim.unit.value}: "
            "refusing rather than guessing",
        )
    if placement is None or placement not in rules.placements:
        where = ", ".join(p.replace("-", " ") for p in sorted(rules.placements))
        given = "no placement was given" if placement is None else placement.replace("-", " ")
        return refuse("rx-placement", f"allows electrodes on {where} only ({given})")
    if sessions_today >= rules.sessions_per_day:
        return refuse(
            "rx-sessions-per-day",
            f"allows {rules.sessions_per_day} session(s) a day: {sessions_today} done today",
        )
    if rested_s is not None and rested_s < rules.rest_minutes * 60:
        wait = max(1, round((rules.rest_minutes * 60 - rested_s) / 60))
        return refuse(
            "rx-rest",
            f"asks for {rules.rest_minutes:g} min rest between sessions: start again in {wait} min",
        )
    origins = dict(lim.origins)
    peak, session_s, rest_s = lim.peak, lim.session_s, lim.rest_s
    where = placement.replace("-", " ")
    if rng.high < peak:
        peak = rng.high
        origins["peak intensity"] = f"{rules.name} for {program} on the {where}"
    if rules.session_minutes * 60 < session_s:
        session_s = rules.session_minutes * 60
        origins["session length"] = rules.name
    if rules.rest_minutes * 60 > rest_s:
        rest_s = rules.rest_minutes * 60
        origins["rest between sessions"] = rules.name
    return Outcome(
        replace(lim, peak=peak, session_s=session_s, rest_s=rest_s, origins=origins),
        electrode=rules.electrode,
    )
