"""Waveform rendering from our programs' settings, per 100 ms frame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.coyote import render, v2codec, v3codec
from tens.device import ChannelOutput, Waveform


def out(hz: float, waveform: Waveform = Waveform.CONTINUOUS, pw: int = 150) -> ChannelOutput:
    return ChannelOutput(intensity=10, pulse_width_us=pw, frequency_hz=hz, waveform=waveform)


def test_v3_continuous_100_hz_is_a_10_ms_period_at_full_intensity() -> None:
    wave = render.v3_wave(out(100), 0)
    assert wave == v3codec.WaveSlots((10, 10, 10, 10), (100, 100, 100, 100))


def test_v3_2_hz_is_a_500_ms_period() -> None:
    assert render.v3_wave(out(2), 0).frequency == (180, 180, 180, 180)


def test_v3_zero_intensity_drops_the_channel() -> None:
    silent = ChannelOutput(0, 150, 100)
    assert render.v3_wave(silent, 0) == v3codec.DROPPED
    assert render.v2_pulse(silent, 0) == render.V2_SILENT


def test_v3_burst_is_75_ms_on_twice_a_second() -> None:
    frames = [render.v3_wave(out(100, Waveform.BURST), k) for k in range(10)]
    slots = [i for f in frames for i in f.intensity]
    assert len(slots) == 40
    on = [i for i, level in enumerate(slots) if level]
    assert on == [0, 1, 2, 20, 21, 22]


def test_v3_modulated_sweeps_intensity_over_12_s() -> None:
    levels = [render.v3_wave(out(100, Waveform.MODULATED), k).intensity[0] for k in range(121)]
    assert levels[0] == 100 and levels[60] == 50 and levels[120] == 100
    assert min(levels) == 50


@pytest.mark.parametrize("hz", [0.5, 101, 150])
def test_frequencies_outside_1_to_100_hz_are_refused(hz: float) -> None:
    with pytest.raises(render.RenderError):
        render.v3_wave(out(hz), 0)
    with pytest.raises(render.RenderError):
        render.v2_pulse(out(hz), 0)


def test_v2_continuous_uses_the_vendor_xy_and_z_from_pulse_width() -> None:
    assert render.v2_pulse(out(100, pw=150), 0) == v2codec.Pulse(2, 8, 30)
    assert render.v2_pulse(out(1, pw=5), 0) == v2codec.Pulse(15, 985, 1)


@pytest.mark.parametrize("pw", [0, 4, 160, 225])
def test_v2_pulse_width_outside_5_to_155_us_is_refused(pw: int) -> None:
    with pytest.raises(render.RenderError):
        render.v2_pulse(out(100, pw=pw), 0)


def test_v2_burst_is_one_frame_in_five() -> None:
    pulses = [render.v2_pulse(out(100, Waveform.BURST), k) for k in range(10)]
    assert [p.x > 0 for p in pulses] == [k % 5 == 0 for k in range(10)]


def test_v2_modulated_sweeps_pulse_width() -> None:
    zs = [render.v2_pulse(out(100, Waveform.MODULATED, pw=100), k).z for k in range(121)]
    assert zs[0] == 20 and zs[60] == 10 and zs[120] == 20


@given(
    st.floats(min_value=1, max_value=100),
    st.sampled_from(list(Waveform)),
    st.integers(min_value=0, max_value=10_000),
)
def test_rendered_values_always_fit_and_play(hz: float, waveform: Waveform, frame: int) -> None:
    wave = render.v3_wave(out(hz, waveform), frame)
    assert wave.plays()
    v3codec.encode_b0(
        v3codec.B0Frame(
            0, v3codec.StrengthMode.KEEP, v3codec.StrengthMode.KEEP, 0, 0, wave, v3codec.DROPPED
        )
    )
    pulse = render.v2_pulse(out(hz, waveform, pw=155), frame)
    v2codec.encode_pulse(pulse)
    if pulse.x:
        assert pulse.frequency_hz == pytest.approx(1000 / round(1000 / hz))
