"""Safety limits: defaults, hard caps, and the configured values (a pydantic edge model).

Figures from ../shared/design/safety.md. Hard caps cannot be configured away: a config value
above its cap is refused with the key named, and the governor applies the caps again anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True, slots=True)
class HardCaps:
    peak_ma: float = 100.0
    ramp_ma_per_s: float = 5.0
    step_ma: float = 2.0
    session_minutes: float = 120.0
    daily_minutes: float = 720.0
    current_density_ma_cm2: float = 2.0


HARD_CAPS = HardCaps()


class LevelLimits(BaseModel):
    """Limits for a device whose intensity is in abstract levels (e.g. DG-LAB Coyote).

    There is no default: a level device without configured level limits is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    peak: float = Field(gt=0, description="highest level the governor allows")
    ramp_per_s: float = Field(gt=0, le=50, description="largest increase per second, levels")
    step: float = Field(gt=0, le=20, description="largest manual step, levels")


class Limits(BaseModel):
    """The configured limits ([limits] in config.toml). Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    peak_ma: float = Field(40.0, gt=0, le=HARD_CAPS.peak_ma)
    ramp_ma_per_s: float = Field(2.0, gt=0, le=HARD_CAPS.ramp_ma_per_s)
    step_ma: float = Field(1.0, gt=0, le=HARD_CAPS.step_ma)
    session_minutes: float = Field(30.0, gt=0, le=HARD_CAPS.session_minutes)
    daily_minutes: float = Field(180.0, gt=0, le=HARD_CAPS.daily_minutes)
    rest_minutes: float = Field(15.0, ge=0, le=24 * 60)
    current_density_ma_cm2: float = Field(2.0, gt=0, le=HARD_CAPS.current_density_ma_cm2)
    electrode_area_cm2: float = Field(25.0, gt=0, le=400)
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
        return self


# Where each limit's value came from, for `tens limits`.
LIMIT_DOCS: dict[str, str] = {
    "peak_ma": "peak intensity",
    "ramp_ma_per_s": "increase rate, any source",
    "step_ma": "manual step",
    "session_minutes": "session length",
    "daily_minutes": "stimulation per day",
    "rest_minutes": "rest between sessions",
    "current_density_ma_cm2": "r.m.s. current density",
    "electrode_area_cm2": "electrode area",
    "frequency_hz": "frequency range",
    "pulse_width_us": "pulse width range",
}
