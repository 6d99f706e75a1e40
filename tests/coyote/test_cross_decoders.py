"""The driver's encoders and the simulators' own decoders agree on every frame (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.coyote import v2codec, v3codec
from devices.coyote.v3codec import B0Frame, BFFrame, StrengthMode, WaveSlots
from simulators.coyote import wire2, wire3

byte = st.integers(min_value=0, max_value=255)
quad = st.tuples(byte, byte, byte, byte)
waves = st.builds(WaveSlots, quad, quad)
modes = st.sampled_from(list(StrengthMode))
b0_frames = st.builds(
    B0Frame, st.integers(min_value=0, max_value=15), modes, modes, byte, byte, waves, waves
)


@given(b0_frames)
def test_b0_as_the_simulated_device_reads_it(frame: B0Frame) -> None:
    parsed = wire3.parse(v3codec.encode_b0(frame))
    assert isinstance(parsed, wire3.StrengthFrame)
    assert parsed.seq == frame.seq
    for part, mode, value, wave in (
        (parsed.a, frame.mode_a, frame.strength_a, frame.wave_a),
        (parsed.b, frame.mode_b, frame.strength_b, frame.wave_b),
    ):
        assert part.mode == int(mode) and part.value == value
        assert part.frequencies == wave.frequency and part.intensities == wave.intensity
        assert part.wave_valid == wave.plays()


levels = st.integers(min_value=0, max_value=200)


@given(st.builds(BFFrame, levels, levels, byte, byte, byte, byte))
def test_bf_as_the_simulated_device_reads_it(frame: BFFrame) -> None:
    parsed = wire3.parse(v3codec.encode_bf(frame))
    assert isinstance(parsed, wire3.LimitFrame)
    assert parsed.soft_limits == (frame.limit_a, frame.limit_b)
    assert parsed.frequency_balance == (frame.frequency_balance_a, frame.frequency_balance_b)
    assert parsed.intensity_balance == (frame.intensity_balance_a, frame.intensity_balance_b)


@given(st.integers(0, 15), levels, levels)
def test_b1_from_the_simulated_device_decodes(seq: int, a: int, b: int) -> None:
    assert v3codec.decode_b1(wire3.reply(seq, a, b)) == v3codec.B1Reply(seq, a, b)


@given(st.integers(min_value=10, max_value=240))
def test_frequency_byte_periods_agree(byte_value: int) -> None:
    assert wire3.period_of_frequency_byte(byte_value) == v3codec.byte_to_period_ms(byte_value)


v2_levels = st.integers(min_value=0, max_value=2047)


@given(v2_levels, v2_levels)
def test_v2_strength_both_ways(a: int, b: int) -> None:
    assert wire2.read_strength(v2codec.encode_strength(v2codec.Strength(a, b))) == (a, b)
    assert v2codec.decode_strength(wire2.write_strength(a, b)) == v2codec.Strength(a, b)


@given(st.integers(0, 31), st.integers(0, 1023), st.integers(0, 31))
def test_v2_waveform_as_the_simulated_device_reads_it(x: int, y: int, z: int) -> None:
    wave = wire2.read_wave(v2codec.encode_pulse(v2codec.Pulse(x, y, z)))
    assert (wave.x, wave.y, wave.z) == (x, y, z)
