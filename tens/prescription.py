"""A clinician's prescription as data: a TOML file (docs/prescription.md), validated here with
pydantic, turned into the plain :class:`~tens.safety.prescription.Rules` the governor reads.

Loading refuses, with every problem named: an unknown version, a placement that is unknown or
contraindicated, an intensity above the hard caps, a session longer than the hard cap,
valid_until before valid_from, and (given the program table) a program tens does not know.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tens.electrodes import parse_size
from tens.journal.regions import REGIONS, is_contraindicated, normalize_region
from tens.limits import HARD_CAPS
from tens.safety.prescription import ProgramRange, Rules

FORMAT_VERSION = 1


class PrescriptionError(ValueError):
    """The file is not a prescription tens can apply; ``problems`` lists (field, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("prescription refused: " + "; ".join(f"{k}: {why}" for k, why in problems))


class ProgramRx(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    intensity: tuple[float, float]
    """Lowest and highest intensity, in ``unit``."""
    unit: Literal["mA", "level"] = "mA"

    @field_validator("intensity", mode="before")
    @classmethod
    def _pair(cls, v: object) -> object:
        if isinstance(v, list):
            return tuple(
                float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v
            )
        return v

    @model_validator(mode="after")
    def _range(self) -> ProgramRx:
        lo, hi = self.intensity
        if not 0 <= lo <= hi:
            raise ValueError(f"intensity range {lo:g}–{hi:g} is not low ≤ high, from 0")
        if self.unit == "mA" and hi > HARD_CAPS.peak_ma:
            raise ValueError(f"{hi:g} mA is above the hard cap {HARD_CAPS.peak_ma:g} mA")
        return self


class Prescription(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: Literal[1]
    prescriber: str = Field(min_length=1, max_length=200)
    prescribed_on: dt.date
    valid_from: dt.date
    valid_until: dt.date
    programs: dict[str, ProgramRx] = Field(min_length=1)
    placements: list[str] = Field(min_length=1)
    session_minutes: float = Field(gt=0, le=HARD_CAPS.session_minutes)
    sessions_per_day: int = Field(ge=1, le=24)
    rest_minutes: float = Field(0, ge=0, le=24 * 60)
    total_weeks: int | None = Field(None, ge=1, le=520)
    electrode_size: str | None = Field(None, min_length=1, max_length=40)
    """The pads to use, as `tens electrodes set` takes them (``5x5``, ``round-3.2``, ...)."""
    notes: str = Field("", max_length=4000)

    @field_validator("electrode_size")
    @classmethod
    def _electrode_size(cls, v: str | None) -> str | None:
        if v is not None:
            parse_size(v)  # ElectrodeSizeError (a ValueError) names the sizes it reads
        return v

    @field_validator("placements")
    @classmethod
    def _placements(cls, v: list[str]) -> list[str]:
        out = []
        for text in v:
            key = normalize_region(text)  # ValueError names the known regions
            if is_contraindicated(key):
                raise ValueError(f"{REGIONS[key].label} is a place where electrodes must never go")
            out.append(key)
        return out

    @model_validator(mode="after")
    def _dates(self) -> Prescription:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def rules(self) -> Rules:
        return Rules(
            prescriber=self.prescriber,
            prescribed_on=self.prescribed_on,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            programs={
                name: ProgramRange(p.intensity[0], p.intensity[1], p.unit)
                for name, p in self.programs.items()
            },
            placements=frozenset(self.placements),
            session_minutes=self.session_minutes,
            sessions_per_day=self.sessions_per_day,
            rest_minutes=self.rest_minutes,
            electrode=None if self.electrode_size is None else parse_size(self.electrode_size),
        )

    def plain_words(self) -> str:
        """What the person is asked to accept, in plain words."""
        r = self.rules()
        lines = [
            f"Prescription from {self.prescriber}, written {self.prescribed_on.isoformat()}.",
            f"It applies from {self.valid_from.isoformat()} until "
            f"{self.valid_until.isoformat()}"
            + (f" ({self.total_weeks} weeks)." if self.total_weeks else "."),
            "While it applies, tens will only start sessions that keep to it:",
        ]
        for name, p in r.programs.items():
            unit = "levels" if p.unit == "level" else p.unit
            lines.append(f"  • program {name}: intensity {p.low:g} to at most {p.high:g} {unit}")
        lines.append("  • electrodes on: " + ", ".join(REGIONS[k].label for k in self.placements))
        if r.electrode is not None:
            lines.append(
                f"  • electrode size: {r.electrode.label} ({r.electrode.area_cm2:.3g} cm²), on "
                "every channel whose size you have not stated"
            )
        lines.append(
            f"  • at most {self.session_minutes:g} minutes a session, {self.sessions_per_day} "
            f"session(s) a day, at least {self.rest_minutes:g} minutes' rest between sessions"
        )
        lines.append(
            "Your own limits still apply where they are stricter, and you can always stop."
        )
        if self.notes:
            lines += ["Notes from your clinician:", f"  {self.notes}"]
        return "\n".join(lines)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        out.append((loc, msg))
    return out


def parse(text: str, *, programs: Iterable[str] | None = None) -> Prescription:
    """Parse and validate a prescription; ``programs``: names tens knows (built-in and
    custom), checked when given. Raises :class:`PrescriptionError`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PrescriptionError([("(file)", f"not valid TOML: {exc}")]) from exc
    raw.pop("signature", None)  # not a limit: checked by tens.prescription_signature
    try:
        rx = Prescription.model_validate(raw)
    except ValidationError as exc:
        raise PrescriptionError(_problems(exc)) from exc
    if programs is not None:
        known = set(programs)
        unknown = [name for name in rx.programs if name not in known]
        if unknown:
            raise PrescriptionError(
                [
                    (f"programs.{name}", f"tens has no program {name!r}; known: {sorted(known)}")
                    for name in unknown
                ]
            )
    return rx
