"""Coyote 2.0 codec: the documented bit layouts, the channel labelling choice, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.coyote import v2codec as c
from devices.coyote.v2codec import Pulse, Strength


def test_strength_bit_layout_a_high_b_low_little_endian() -> None:
    # A = 1 -> bit 11; B = 1 -> bit 0
    assert c.encode_strength(Strength(a=1, b=0)) == (1 << 11).to_bytes(3, "little")
    assert c.encode_strength(Strength(a=0, b=1)) == bytes([1, 0, 0])
    assert c.encode_strength(Strength(a=2047, b=2047)) == bytes([0xFF, 0xFF, 0x3F])
    assert c.decode_strength(bytes([0x07, 0x38, 0x00])) == Strength(a=7, b=7)


def test_waveform_bit_layout() -> None:
    # Z bits 19-15, Y bits 14-5, X bits 4-0
    assert c.encode_pulse(Pulse(x=1, y=0, z=0)) == bytes([1, 0, 0])
    assert c.encode_pulse(Pulse(x=0, y=1, z=0)) == bytes([0x20, 0, 0])
    assert c.encode_pulse(Pulse(x=0, y=0, z=1)) == bytes([0, 0x80, 0])
    assert c.encode_pulse(Pulse(x=31, y=1023, z=31)) == bytes([0xFF, 0xFF, 0x0F])
    assert c.decode_pulse(bytes([0x0F, 0x7B, 0x0F])).x == 15


def test_channel_labelling_follows_the_vendor_table() -> None:
    """Pinned: 0x1506 drives channel A, 0x1505 drives channel B (the table's labels)."""
    assert c.WAVE_A_UUID == "955a1506-0fe2-f5aa-a094-84b8d4f3e8ad"
    assert c.WAVE_B_UUID == "955a1505-0fe2-f5aa-a094-84b8d4f3e8ad"
    assert c.WAVE_UUIDS == (c.WAVE_A_UUID, c.WAVE_B_UUID)


def test_uuids_on_the_vendor_base() -> None:
    assert c.SERVICE_UUID == "955a180b-0fe2-f5aa-a094-84b8d4f3e8ad"
    assert c.STRENGTH_UUID == "955a1504-0fe2-f5aa-a094-84b8d4f3e8ad"
    assert c.BATTERY_UUID == "955a1500-0fe2-f5aa-a094-84b8d4f3e8ad"


@pytest.mark.parametrize(
    "value",
    [Strength(2048, 0), Strength(0, 2048), Strength(-1, 0)],
)
def test_strength_out_of_range_is_refused(value: Strength) -> None:
    with pytest.raises(c.CoyoteV2ProtocolError):
        c.encode_strength(value)


@pytest.mark.parametrize("value", [Pulse(32, 0, 0), Pulse(0, 1024, 0), Pulse(0, 0, 32)])
def test_pulse_out_of_range_is_refused(value: Pulse) -> None:
    with pytest.raises(c.CoyoteV2ProtocolError):
        c.encode_pulse(value)


@pytest.mark.parametrize("raw", [b"", b"\x00\x00", b"\x00\x00\x00\x00", b"\x00\x00\xc0"])
def test_malformed_strength_is_refused(raw: bytes) -> None:
    with pytest.raises(c.CoyoteV2ProtocolError):
        c.decode_strength(raw)


def test_malformed_pulse_is_refused() -> None:
    with pytest.raises(c.CoyoteV2ProtocolError):
        c.decode_pulse(b"\x00\x00\x10")


@pytest.mark.parametrize(("f", "xy"), [(10, (2, 8)), (1000, (15, 985)), (100, (5, 95))])
def test_vendor_xy(f: int, xy: tuple[int, int]) -> None:
    assert c.vendor_xy(f) == xy


@given(st.integers(min_value=10, max_value=1000))
def test_vendor_xy_fits_and_sums_to_f(f: int) -> None:
    x, y = c.vendor_xy(f)
    assert 0 <= x <= 31 and 0 <= y <= 1023 and x + y == f
    assert Pulse(x, y, 1).frequency_hz == pytest.approx(1000 / f)


levels = st.integers(min_value=0, max_value=2047)


@given(st.builds(Strength, levels, levels))
def test_strength_round_trip(value: Strength) -> None:
    assert c.decode_strength(c.encode_strength(value)) == value


@given(
    st.builds(
        Pulse,
        st.integers(min_value=0, max_value=31),
        st.integers(min_value=0, max_value=1023),
        st.integers(min_value=0, max_value=31),
    )
)
def test_pulse_round_trip(value: Pulse) -> None:
    assert c.decode_pulse(c.encode_pulse(value)) == value
