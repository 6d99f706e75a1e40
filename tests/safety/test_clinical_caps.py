"""Limits that bind with real electrodes (issue 13 items 2, 7, 8): the burst density check uses
the worst moment inside a train; hard caps on frequency, pulse width and session length."""

from __future__ import annotations

import datetime as dt
import math

from tens.device import Capabilities, IntensityUnit, Waveform
from tens.events import Source
from tens.limits import Limits
from tens.programs import all_programs
from tens.safety import StartRequest, Usage, check_start, effective_limits, rms_density
from tens.safety.governor import max_intensity_for_density
from tests.stated import pads, placed, with_area

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
PROGRAMS = all_programs()
BURST = PROGRAMS["burst"]  # 7 pulses at 100 Hz, 200 µs, twice a second


def start(  # type: ignore[no-untyped-def]
    req: StartRequest, limits: Limits, caps: Capabilities = CAPS, area: float = 25.0
):
    lim = effective_limits(limits, caps, "opentens")
    return check_start(
        lim,
        caps,
        PROGRAMS,
        placed(req),
        Usage(0.0, None, True, False),
        NOW,
        Source.CLI,
        default_program="conventional",
        default_minutes=30,
        default_channels=(0,),
        contraindicated={},
        electrodes=pads(area),
    )


def test_burst_density_is_the_worst_moment_inside_a_train() -> None:
    # inside a train the pulses come at 100 Hz: 40 mA · √(200 µs · 100 Hz · 2) = 8 mA r.m.s.,
    # 0.32 mA/cm² on 25 cm², the same as continuous 100 Hz / 200 µs. The average over the
    # 0.5 s burst period (14 pulses/s) would say 0.12: 2.67 times lower.
    assert math.isclose(rms_density(40, BURST, 25), 0.32)
    lim = with_area(effective_limits(Limits(), CAPS, "opentens"), 25)
    assert math.isclose(max_intensity_for_density(lim, BURST) or 0, 250.0)


def test_burst_on_a_small_pad_is_refused_at_a_plausible_intensity() -> None:
    # 30 mA on a 2.5 cm² pad: 2.4 mA/cm² inside a train (refused); 0.9 averaged (allowed today)
    d, _ = start(StartRequest(program="burst", intensity=30), Limits(), area=2.5)
    assert d.refused and "current density limit 2" in d.reason


def test_session_length_hard_cap_is_omrons_sixty_minutes() -> None:
    import pytest
    from pydantic import ValidationError

    from tens.config import TensConfig
    from tens.limits import HARD_CAPS
    from tens.schedule import Schedule

    assert HARD_CAPS.session_minutes == 60
    assert HARD_CAPS.daily_minutes == 360
    Limits(session_minutes=60)
    for bad in (
        lambda: Limits(session_minutes=61),
        lambda: Limits(daily_minutes=361),
        lambda: Schedule(name="s", intensity=5, minutes=61, at=("09:00",)),
        lambda: TensConfig.model_validate({"session": {"minutes": 61}}),
    ):
        with pytest.raises(ValidationError):
            bad()


def test_frequency_and_pulse_width_have_hard_caps() -> None:
    import pytest
    from pydantic import ValidationError

    for bad in (
        {"frequency_hz": (1.0, 250.0)},
        {"frequency_hz": (0.5, 100.0)},
        {"pulse_width_us": (50, 500)},
        {"pulse_width_us": (20, 400)},
    ):
        with pytest.raises(ValidationError, match="hard cap"):
            Limits(**bad)  # type: ignore[arg-type]
    # a device wider than the caps is narrowed to them, and a program beyond them is refused
    wide = Capabilities(
        channels=1,
        intensity_unit=IntensityUnit.MILLIAMP,
        intensity_max=80.0,
        intensity_step=0.1,
        frequency_hz=(0.5, 1000.0),
        pulse_width_us=(5, 1000),
        waveforms=frozenset(Waveform),
        keepalive_interval_s=None,
        watchdog_timeout_s=1.0,
    )
    cfg = Limits.model_construct(
        **{**Limits().model_dump(), "frequency_hz": (0.5, 1000.0), "pulse_width_us": (5, 1000)}
    )
    lim = with_area(effective_limits(cfg, wide, "opentens"))
    assert lim.frequency_hz == (1.0, 200.0) and lim.pulse_width_us == (50, 400)
