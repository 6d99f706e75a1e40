"""Safety limits: defaults, hard caps, and the configured values (a pydantic edge model).

Figures from ../shared/design/safety.md. Hard caps cannot be configured away: a config value
above its cap is refused with the key named, and the governor applies the caps again anyway.

Level devices (DG-LAB Coyote) have a hard peak too, one per known level driver, from the
vendor's range (docs/coyote.md): Coyote 3.0 strength 0–200, Coyote 2.0 0–2047. The keys of
:data:`LEVEL_PEAK_CAPS` are the level drivers this domain knows; ``[limits.levels.<name>]`` for
any other name is refused (the device registry's tests check the list against the drivers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, model_validator

LEVEL_PEAK_CAPS: Mapping[str, float] = MappingProxyType({"coyote3": 200.0, "coyote2": 2047.0})
"""Hard peak, in the driver's levels, for every known level driver (the vendor's full range)."""


@dataclass(frozen=True, slots=True)
class HardCaps:
    """Caps no configuration can lift; each cites its source in docs/safety.md ("Hard caps")."""

    peak_ma: float = 100.0
    ramp_ma_per_s: float = 5.0
    step_ma: float = 2.0
    session_minutes: float = 60.0
    """Omron's labelled maximum for one session (30-min sessions, at most 60)."""
    daily_minutes: float = 360.0
    """About Quell's observed daily average (~6 h), the most a cleared device is used for."""
    current_density_ma_cm2: float = 2.0
    frequency_hz: tuple[float, float] = (1.0, 200.0)
    """The consumer envelope, 1–200 Hz."""
    pulse_width_us: tuple[int, int] = (50, 400)
    """The consumer envelope, 50–400 µs."""
    level_peak: Mapping[str, float] = field(default_factory=lambda: LEVEL_PEAK_CAPS)
    """Per level driver; a driver not in it has no cap and is refused."""


HARD_CAPS = HardCaps()


@dataclass(frozen=True, slots=True)
class LimitProblem:
    """A configured limit that cannot be used: its key below ``limits``, a code, the reason."""

    key: str
    code: str
    message: str


class LevelLimits(BaseModel):
    """Limits for a device whose intensity is in abstract levels (e.g. DG-LAB Coyote).

    There is no default: a level device without configured level limits is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    peak: float = Field(gt=0, description="highest level the governor allows")
    ramp_per_s: float = Field(gt=0, le=50, description="largest increase per second, levels")
    step: float = Field(gt=0, le=20, description="largest manual step, levels")


class Limits(BaseModel):
    """The configured limits ([limits] in config.toml). Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    peak_ma: float = Field(40.0, gt=0, le=HARD_CAPS.peak_ma)
    ramp_ma_per_s: float = Field(2.0, gt=0, le=HARD_CAPS.ramp_ma_per_s)
    step_ma: float = Field(1.0, gt=0, le=HARD_CAPS.step_ma)
    session_minutes: float = Field(30.0, gt=0, le=HARD_CAPS.session_minutes)
    daily_minutes: float = Field(180.0, gt=0, le=HARD_CAPS.daily_minutes)
    rest_minutes: float = Field(15.0, ge=0, le=24 * 60)
    current_density_ma_cm2: float = Field(2.0, gt=0, le=HARD_CAPS.current_density_ma_cm2)
    frequency_hz: tuple[float, float] = (1.0, 150.0)
    pulse_width_us: tuple[int, int] = (50, 400)
    levels: dict[str, LevelLimits] = Field(
        default_factory=dict,
        description="per-driver level limits, e.g. [limits.levels.coyote3]",
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> Limits:
        lo, hi = self.frequency_hz
        if not 0 < lo <= hi:
            raise ValueError("limits.frequency_hz must be [min, max] with 0 < min <= max")
        plo, phi = self.pulse_width_us
        if not 0 < plo <= phi:
            raise ValueError("limits.pulse_width_us must be [min, max] with 0 < min <= max")
        flo, fhi = HARD_CAPS.frequency_hz
        if lo < flo or hi > fhi:
            raise ValueError(f"limits.frequency_hz must lie within the hard cap {flo:g}–{fhi:g} Hz")
        wlo, whi = HARD_CAPS.pulse_width_us
        if plo < wlo or phi > whi:
            raise ValueError(f"limits.pulse_width_us must lie within the hard cap {wlo}–{whi} µs")
        return self

    def level_problems(self) -> list[LimitProblem]:
        """``[limits.levels.<name>]`` sections for an unknown driver or above its hard cap."""
        out: list[LimitProblem] = []
        known = ", ".join(sorted(HARD_CAPS.level_peak))
        for name, lv in self.levels.items():
            cap = HARD_CAPS.level_peak.get(name)
            if cap is None:
                out.append(
                    LimitProblem(
                        f"levels.{name}",
                        "unknown_level_driver",
                        f"no level driver is called {name!r}; known level drivers: {known}",
                    )
                )
            elif lv.peak > cap:
                out.append(
                    LimitProblem(
                        f"levels.{name}.peak",
                        "above_hard_cap",
                        f"{lv.peak:g} levels is above the hard cap {cap:g} for {name} "
                        "(the device's full range)",
                    )
                )
        return out


# Where each limit's value came from, for `tens limits`.
LIMIT_DOCS: dict[str, str] = {
    "peak_ma": "peak intensity",
    "ramp_ma_per_s": "increase rate, any source",
    "step_ma": "manual step",
    "session_minutes": "session length",
    "daily_minutes": "stimulation per day",
    "rest_minutes": "rest between sessions",
    "current_density_ma_cm2": "r.m.s. current density",
    "frequency_hz": "frequency range",
    "pulse_width_us": "pulse width range",
}
