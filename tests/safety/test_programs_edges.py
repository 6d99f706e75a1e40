"""Edges of tens/programs.py that the r.m.s. density check and the range checks rely on.

Each test names the mutants of programs.py it kills (tests/mutation/run.sh): the pattern's
frequency and pulse-width extremes, the average pulse rate of a burst, the duty bound of a
sweep, and the device-range refusal.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from tens.device import Capabilities, IntensityUnit, Waveform
from tens.programs import BUILTIN_PROGRAMS, Program, all_programs

CAPS = Capabilities(
    channels=1,
    intensity_unit=IntensityUnit.MILLIAMP,
    intensity_max=80.0,
    intensity_step=0.1,
    frequency_hz=(1.0, 150.0),
    pulse_width_us=(50, 400),
    waveforms=frozenset(Waveform),
    keepalive_interval_s=None,
    watchdog_timeout_s=1.0,
)


def sweep(f: float, w: int, sf: float, sw: int) -> Program:
    return Program(
        name="sw",
        waveform=Waveform.MODULATED,
        frequency_hz=f,
        pulse_width_us=w,
        sweep_frequency_hz=sf,
        sweep_pulse_width_us=sw,
        sweep_s=10,
    )


def test_sweep_ranges_cover_both_ends() -> None:
    """Kills `and`->`or`, `is`->`is not` and `is not None`->`is None` in frequencies() and
    pulse_widths(): a modulated program spans both ends, any other program only its own."""
    p = sweep(120, 100, 2, 200)
    assert p.frequencies() == (2, 120)
    assert p.pulse_widths() == (100, 200)
    # sweep fields on a continuous program are ignored: it never leaves its own values
    flat = Program(
        name="flat",
        frequency_hz=80,
        pulse_width_us=150,
        sweep_frequency_hz=5,
        sweep_pulse_width_us=400,
        sweep_s=3,
    )
    assert flat.frequencies() == (80, 80)
    assert flat.pulse_widths() == (150, 150)


def test_burst_rate_is_pulses_times_trains() -> None:
    """Kills `*`->`/` and the `and`->`or` / `is not BURST` mutants of pulses_per_second()."""
    burst = next(p for p in BUILTIN_PROGRAMS if p.name == "burst")
    assert burst.pulses_per_second() == 7 * 2
    # r.m.s. density uses the in-train rate (frequency_hz), not the 14 pulses/s average
    assert burst.frequency_hz == 100
    assert burst.duty() == pytest.approx(200e-6 * 100)
    # burst fields on a continuous program do not change its rate
    flat = Program(
        name="flat", frequency_hz=80, pulse_width_us=150, burst_pulses=5, burst_rate_hz=3
    )
    assert flat.pulses_per_second() == 80
    # a burst program with only one train parameter cannot be made (the model refuses it)
    with pytest.raises(ValueError, match="burst_pulses and burst_rate_hz"):
        Program(
            name="b", waveform=Waveform.BURST, frequency_hz=80, pulse_width_us=100, burst_pulses=4
        )


@pytest.mark.parametrize(
    ("f", "w", "sf", "sw"),
    [
        (120, 100, 2, 200),  # the built-in sweep: the bound (200 µs x 120 Hz) is neither end
        (0.5, 300, 0.25, 100),  # below 1 Hz a divided product would be the larger one
        (0.5, 100, 0.25, 300),
        (100, 400, 100, 400),  # both ends equal: the bound is each end
    ],
)
def test_sweep_duty_is_the_upper_bound_of_the_pattern(f: float, w: int, sf: float, sw: int) -> None:
    """duty() of a sweep is exactly max(w) x max(f) (never under-estimated, never inflated).

    Kills the `*`->`/` mutants of a, b and the bound, `max(a, b, )` (bound dropped), `or 0`
    -> `or 1` / `and 0`, and `and`->`or` / `is None` in the branch condition (which would
    use the continuous formula, under-estimating 200 µs x 120 Hz as 100 µs x 120 Hz)."""
    p = sweep(f, w, sf, sw)
    assert p.duty() == pytest.approx(max(w, sw) * 1e-6 * max(f, sf), rel=1e-12)


def test_sweep_duty_without_a_sweep_pulse_width_uses_the_base_width() -> None:
    """A modulated program whose sweep width is unset cannot be built; the duty of a
    continuous program with a sweep frequency set ignores the sweep (kills `or` in the
    branch condition of duty())."""
    flat = Program(name="flat", frequency_hz=10, pulse_width_us=100, sweep_frequency_hz=150)
    assert flat.duty() == pytest.approx(100e-6 * 10)


def test_unrenderable_reason_names_what_the_device_has() -> None:
    """Kills `have = None`, `or`->`and` and the string mutants of the waveform list."""
    burst = next(p for p in BUILTIN_PROGRAMS if p.name == "burst")
    two = replace(CAPS, waveforms=frozenset({Waveform.MODULATED, Waveform.CONTINUOUS}))
    assert burst.unrenderable_reason(two) == (
        "program burst needs the burst waveform; the device has continuous, modulated"
    )
    none = replace(CAPS, waveforms=frozenset())
    assert burst.unrenderable_reason(none) == (
        "program burst needs the burst waveform; the device has none"
    )


@pytest.mark.parametrize(
    ("lo", "hi", "ok"),
    [
        ((2.0, 120.0), (100, 200), True),
        ((2.1, 150.0), (50, 400), False),
        ((1.0, 119.9), (50, 400), False),
        ((1.0, 150.0), (101, 400), False),
        ((1.0, 150.0), (50, 199), False),
    ],
)
def test_device_range_is_checked_at_each_end(
    lo: tuple[float, float], hi: tuple[int, int], ok: bool
) -> None:
    """The sweep 2-120 Hz / 100-200 µs fits a device of exactly that range and no narrower one
    at either end (kills `<`->`<=`, `>`->`>=` and `or`->`and` in unrenderable_reason())."""
    p = sweep(120, 100, 2, 200)
    caps = replace(CAPS, frequency_hz=lo, pulse_width_us=hi)
    reason = p.unrenderable_reason(caps)
    assert (reason is None) is ok, reason


def test_custom_programs_are_added_and_may_not_shadow_a_builtin() -> None:
    """Kills `out[p.name] = None` and the message mutant of all_programs()."""
    mine = Program(name="mine", frequency_hz=50, pulse_width_us=100)
    table = all_programs([mine])
    assert table["mine"] is mine
    assert set(table) == {p.name for p in BUILTIN_PROGRAMS} | {"mine"}
    clash = Program(name="burst", frequency_hz=50, pulse_width_us=100)
    with pytest.raises(ValueError, match="custom program 'burst' has a built-in program's name"):
        all_programs([clash])
    assert math.isfinite(mine.duty())
