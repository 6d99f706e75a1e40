"""The governor narrows a level device's peak by its hard level cap (issue 12 item 11), even
when the limits were built without the config loader's checks."""

from __future__ import annotations

import pytest

from tens.device import Capabilities, IntensityUnit, Waveform
from tens.limits import LevelLimits, Limits
from tens.safety import GovernorRefusal, effective_limits


def level_caps(intensity_max: float) -> Capabilities:
    return Capabilities(
        channels=2,
        intensity_unit=IntensityUnit.LEVEL,
        intensity_max=intensity_max,
        intensity_step=1,
        frequency_hz=(1.0, 100.0),
        pulse_width_us=(5, 155),
        waveforms=frozenset({Waveform.CONTINUOUS}),
        keepalive_interval_s=0.1,
        watchdog_timeout_s=None,
    )


def unchecked(driver: str, peak: float) -> Limits:
    """Limits as a program might build them, past the loader (model_construct skips checks)."""
    lv = LevelLimits.model_construct(peak=peak, ramp_per_s=10, step=5)
    return Limits().model_copy(update={"levels": {driver: lv}})


@pytest.mark.parametrize(("driver", "cap"), [("coyote3", 200), ("coyote2", 2047)])
def test_level_peak_is_narrowed_by_the_hard_cap(driver: str, cap: float) -> None:
    lim = effective_limits(unchecked(driver, 5000), level_caps(9999), driver)
    assert lim.peak == cap
    assert lim.origins["peak intensity"] == "hard cap"
    # below the cap, the config (or the device) still decides
    assert effective_limits(unchecked(driver, 50), level_caps(9999), driver).peak == 50
    assert effective_limits(unchecked(driver, 5000), level_caps(100), driver).peak == 100


def test_a_level_driver_without_a_hard_cap_is_refused() -> None:
    with pytest.raises(GovernorRefusal, match="no hard level cap"):
        effective_limits(unchecked("coyote9", 10), level_caps(200), "coyote9")
