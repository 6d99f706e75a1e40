"""Coyote 3.0 codec: the vendor's published example frames, exact layouts, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.coyote import v3codec as c
from devices.coyote.v3codec import B0Frame, B1Reply, BFFrame, StrengthMode, WaveSlots

# The example frames published with the protocol (../shared/design/protocols.md).
EX_A_ONLY = "B00000000A0A0A0A000A141E0000000000000065"
EX_A_PLUS_5 = "B00405000A0A0A0A000A141E0000000000000065"
EX_SEQ1_A_PLUS_10 = "B0140A00283C5064645A5A5A0000000000000065"
EX_BOTH = "B00000000A0A0A0A000A141E0A0A0A0A00000000"

A_WAVE = WaveSlots((10, 10, 10, 10), (0, 10, 20, 30))

PUBLISHED = [
    (EX_A_ONLY, B0Frame(0, StrengthMode.KEEP, StrengthMode.KEEP, 0, 0, A_WAVE, c.DROPPED)),
    (EX_A_PLUS_5, B0Frame(0, StrengthMode.ADD, StrengthMode.KEEP, 5, 0, A_WAVE, c.DROPPED)),
    (
        EX_SEQ1_A_PLUS_10,
        B0Frame(
            1,
            StrengthMode.ADD,
            StrengthMode.KEEP,
            10,
            0,
            WaveSlots((40, 60, 80, 100), (100, 90, 90, 90)),
            c.DROPPED,
        ),
    ),
    (
        EX_BOTH,
        B0Frame(
            0,
            StrengthMode.KEEP,
            StrengthMode.KEEP,
            0,
            0,
            A_WAVE,
            WaveSlots((10, 10, 10, 10), (0, 0, 0, 0)),
        ),
    ),
]


@pytest.mark.parametrize(("hexframe", "frame"), PUBLISHED)
def test_published_frames_encode_exactly(hexframe: str, frame: B0Frame) -> None:
    assert c.encode_b0(frame) == bytes.fromhex(hexframe)


@pytest.mark.parametrize(("hexframe", "frame"), PUBLISHED)
def test_published_frames_decode_exactly(hexframe: str, frame: B0Frame) -> None:
    assert c.decode_b0(bytes.fromhex(hexframe)) == frame


def test_published_dropped_channel_is_out_of_range_and_both_channel_frame_plays() -> None:
    a_only = c.decode_b0(bytes.fromhex(EX_A_ONLY))
    assert a_only.wave_a.plays() and not a_only.wave_b.plays()
    both = c.decode_b0(bytes.fromhex(EX_BOTH))
    assert both.wave_a.plays() and both.wave_b.plays()


def test_strength_mode_nibble_puts_a_in_the_high_bits() -> None:
    frame = B0Frame(0xA, StrengthMode.SET, StrengthMode.SUBTRACT, 7, 9, c.DROPPED, c.DROPPED)
    data = c.encode_b0(frame)
    assert data[1] == 0xA0 | 0b1110
    assert data[2:4] == bytes([7, 9])


def test_bf_layout_and_header() -> None:
    data = c.encode_bf(BFFrame(20, 30, 160, 161, 0, 255))
    assert data == bytes([0xBF, 20, 30, 160, 161, 0, 255])
    assert c.decode_bf(data) == BFFrame(20, 30, 160, 161, 0, 255)


def test_bf_refuses_the_deprecated_be_header_and_limits_above_200() -> None:
    with pytest.raises(c.CoyoteProtocolError):
        c.decode_bf(bytes([0xBE, 20, 30, 160, 160, 0, 0]))
    with pytest.raises(c.CoyoteProtocolError):
        c.encode_bf(BFFrame(201, 0, 0, 0, 0, 0))


def test_b1_layout() -> None:
    assert c.decode_b1(bytes.fromhex("B1030A14")) == B1Reply(3, 10, 20)
    assert c.decode_b1(bytes.fromhex("B1002000")).from_wheel


@pytest.mark.parametrize(
    "raw",
    ["B1030A", "B1030A1400", "B2030A14", "B1100A14", "B103C914", "B1030AC9", ""],
)
def test_b1_malformed_is_refused(raw: str) -> None:
    with pytest.raises(c.CoyoteProtocolError):
        c.decode_b1(bytes.fromhex(raw))


@pytest.mark.parametrize("raw", ["", "B0" + "00" * 18, "B1" + "00" * 19, "B0" + "00" * 20])
def test_b0_malformed_is_refused(raw: str) -> None:
    with pytest.raises(c.CoyoteProtocolError):
        c.decode_b0(bytes.fromhex(raw))


def test_encoder_refuses_values_that_do_not_fit_a_byte() -> None:
    with pytest.raises(c.CoyoteProtocolError):
        c.encode_b0(B0Frame(16, StrengthMode.KEEP, StrengthMode.KEEP, 0, 0, c.DROPPED, c.DROPPED))
    with pytest.raises(c.CoyoteProtocolError):
        c.encode_b0(B0Frame(0, StrengthMode.SET, StrengthMode.KEEP, 256, 0, c.DROPPED, c.DROPPED))
    bad = WaveSlots((10, 10, 10, -1), (0, 0, 0, 0))
    with pytest.raises(c.CoyoteProtocolError):
        c.encode_b0(B0Frame(0, StrengthMode.KEEP, StrengthMode.KEEP, 0, 0, bad, c.DROPPED))


@pytest.mark.parametrize(
    ("period", "byte"),
    [
        (10, 10),
        (100, 100),
        (101, 100),
        (105, 101),
        (600, 200),
        (601, 200),
        (610, 201),
        (1000, 240),
        (9, 10),
        (1001, 10),
        (0, 10),
    ],
)
def test_frequency_mapping_table(period: int, byte: int) -> None:
    assert c.period_to_byte(period) == byte


@given(st.integers(min_value=10, max_value=1000))
def test_frequency_mapping_is_monotonic_in_range(period: int) -> None:
    byte = c.period_to_byte(period)
    assert 10 <= byte <= 240
    assert c.byte_to_period_ms(byte) <= period
    if period < 1000:
        assert c.period_to_byte(period + 1) >= byte


@given(st.integers(min_value=10, max_value=240))
def test_byte_to_period_inverts_period_to_byte(byte: int) -> None:
    assert c.period_to_byte(c.byte_to_period_ms(byte)) == byte


bytes_ = st.integers(min_value=0, max_value=255)
quad = st.tuples(bytes_, bytes_, bytes_, bytes_)
waves = st.builds(WaveSlots, quad, quad)
modes = st.sampled_from(list(StrengthMode))
b0_frames = st.builds(
    B0Frame, st.integers(min_value=0, max_value=15), modes, modes, bytes_, bytes_, waves, waves
)


@given(b0_frames)
def test_b0_round_trip(frame: B0Frame) -> None:
    data = c.encode_b0(frame)
    assert len(data) == 20 and data[0] == 0xB0
    assert c.decode_b0(data) == frame


@given(st.binary(min_size=20, max_size=20).map(lambda b: b"\xb0" + b[1:]))
def test_any_b0_bytes_round_trip(data: bytes) -> None:
    assert c.encode_b0(c.decode_b0(data)) == data


levels = st.integers(min_value=0, max_value=200)


@given(st.builds(BFFrame, levels, levels, bytes_, bytes_, bytes_, bytes_))
def test_bf_round_trip(frame: BFFrame) -> None:
    assert c.decode_bf(c.encode_bf(frame)) == frame


@given(st.builds(B1Reply, st.integers(min_value=0, max_value=15), levels, levels))
def test_b1_round_trip(reply: B1Reply) -> None:
    assert c.decode_b1(c.encode_b1(reply)) == reply


def test_battery() -> None:
    assert c.decode_battery(b"\x64") == 100
    for bad in (b"", b"\x65", b"\x10\x10"):
        with pytest.raises(c.CoyoteProtocolError):
            c.decode_battery(bad)


def test_uuids_are_on_the_bluetooth_base() -> None:
    assert c.SERVICE_UUID == "0000180c-0000-1000-8000-00805f9b34fb"
    assert c.WRITE_UUID == "0000150a-0000-1000-8000-00805f9b34fb"
    assert c.NOTIFY_UUID == "0000150b-0000-1000-8000-00805f9b34fb"
    assert c.BATTERY_UUID == "00001500-0000-1000-8000-00805f9b34fb"
