"""The simulated Coyote 3.0 behaves as the vendor documents; its own decoder reads the
published example frames the same way the driver's encoder writes them."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.coyote import wire3
from simulators.coyote.model3 import FRAME_S, Coyote3Model
from tests.coyote.test_v3_codec import EX_A_ONLY, EX_A_PLUS_5, EX_BOTH, EX_SEQ1_A_PLUS_10

pytestmark = pytest.mark.looptime


def b0(seq: int, mode_a: int, mode_b: int, a: int, b: int, wave_a: str, wave_b: str) -> bytes:
    return bytes([0xB0, (seq << 4) | (mode_a << 2) | mode_b, a, b]) + bytes.fromhex(wave_a + wave_b)


PLAY = "0A0A0A0A" + "64646464"  # 10 ms period, 100 %
DROP = "00000000" + "00000065"
SILENT = "0A0A0A0A" + "00000000"


def bf(a: int, b: int) -> bytes:
    return bytes([0xBF, a, b, 160, 160, 0, 0])


def test_simulator_decoder_reads_the_published_frames() -> None:
    a_only = wire3.parse(bytes.fromhex(EX_A_ONLY))
    assert isinstance(a_only, wire3.StrengthFrame)
    assert a_only.seq == 0 and a_only.a.mode == wire3.KEEP and a_only.b.mode == wire3.KEEP
    assert a_only.a.frequencies == (10, 10, 10, 10) and a_only.a.intensities == (0, 10, 20, 30)
    assert a_only.a.wave_valid and not a_only.b.wave_valid

    plus5 = wire3.parse(bytes.fromhex(EX_A_PLUS_5))
    assert isinstance(plus5, wire3.StrengthFrame)
    assert (plus5.seq, plus5.a.mode, plus5.a.value, plus5.b.mode) == (0, wire3.ADD, 5, wire3.KEEP)

    seq1 = wire3.parse(bytes.fromhex(EX_SEQ1_A_PLUS_10))
    assert isinstance(seq1, wire3.StrengthFrame)
    assert (seq1.seq, seq1.a.mode, seq1.a.value) == (1, wire3.ADD, 10)
    assert seq1.a.frequencies == (40, 60, 80, 100) and seq1.a.intensities == (100, 90, 90, 90)

    both = wire3.parse(bytes.fromhex(EX_BOTH))
    assert isinstance(both, wire3.StrengthFrame)
    assert both.a.wave_valid and both.b.wave_valid


async def test_published_frames_drive_the_model() -> None:
    m = Coyote3Model()
    m.write(bytes.fromhex(EX_A_PLUS_5))
    assert m.strength == [5, 0]
    assert m.replies == []  # a change with sequence 0 is not answered (README_V3 No. 2)
    m.write(bytes.fromhex(EX_SEQ1_A_PLUS_10))
    assert m.strength == [15, 0]
    assert [r for _, r in m.replies] == [bytes([0xB1, 1, 15, 0])]
    assert m.delivered(0) == 15 and m.delivered(1) == 0  # B was dropped (intensity 101)
    m.write(bytes.fromhex(EX_A_ONLY))
    assert m.strength == [15, 0] and len(m.replies) == 1  # no change, no sequence: no B1


async def test_absolute_set_and_out_of_range_values() -> None:
    m = Coyote3Model()
    m.write(b0(1, wire3.SET, wire3.SET, 30, 40, PLAY, PLAY))
    assert m.strength == [30, 40]
    m.write(b0(2, wire3.ADD, wire3.SET, 201, 201, PLAY, PLAY))
    assert m.strength == [30, 0]  # add 201 changes nothing, set 201 gives 0
    m.write(b0(3, wire3.SUBTRACT, wire3.KEEP, 50, 0, PLAY, PLAY))
    assert m.strength == [0, 0]


async def test_soft_limit_is_never_exceeded_by_b0_or_wheel() -> None:
    m = Coyote3Model()
    m.write(bf(20, 35))
    m.write(b0(1, wire3.SET, wire3.SET, 150, 150, PLAY, PLAY))
    assert m.strength == [20, 35]
    m.write(b0(2, wire3.ADD, wire3.ADD, 100, 100, PLAY, PLAY))
    assert m.strength == [20, 35]
    assert m.turn_wheel(0, +50) == 20
    m.write(bf(10, 35))  # a lowered limit cuts the strength at once, with a B1
    assert m.strength == [10, 35]
    assert m.replies[-1][1] == bytes([0xB1, 0, 10, 35])
    assert m.record.max(0) <= 20 and m.record.max(1) <= 35


async def test_wheel_reports_b1_with_sequence_zero() -> None:
    m = Coyote3Model()
    sent: list[bytes] = []
    m.notify_b1 = sent.append
    m.turn_wheel(1, 7)
    assert sent == [bytes([0xB1, 0, 0, 7])]


async def test_out_of_range_wave_value_drops_only_that_channel() -> None:
    m = Coyote3Model()
    m.write(b0(1, wire3.SET, wire3.SET, 10, 10, PLAY, PLAY))
    assert (m.delivered(0), m.delivered(1)) == (10, 10)
    bad_freq = "0A0A0AF1" + "64646464"  # 241 is above 240
    m.write(b0(0, wire3.KEEP, wire3.KEEP, 0, 0, PLAY, bad_freq))  # the next 100 ms
    assert (m.delivered(0), m.delivered(1)) == (10, 10)
    await asyncio.sleep(FRAME_S)
    assert (m.delivered(0), m.delivered(1)) == (10, 0)
    m.write(b0(0, wire3.KEEP, wire3.KEEP, 0, 0, SILENT, PLAY))
    await asyncio.sleep(FRAME_S)
    assert (m.delivered(0), m.delivered(1)) == (0, 10)  # intensity 0 everywhere: silent


async def test_output_stops_when_frames_stop_but_strength_stays() -> None:
    m = Coyote3Model()
    t0 = m.now()
    for _ in range(5):  # a sender a little faster than 10 Hz: each frame waits its turn
        m.write(b0(0, wire3.SET, wire3.SET, 12, 0, PLAY, DROP))
        await asyncio.sleep(FRAME_S - 0.001)
    assert m.delivered(0) == 12  # continuous while frames keep coming
    assert [s.intensity_ma for s in m.record.for_channel(0)] == [12]
    last = t0 + 4 * FRAME_S  # the fifth frame's turn
    await asyncio.sleep(0.2)
    assert m.delivered(0) == 0 and m.strength == [12, 0]
    stop = m.record.for_channel(0)[-1]
    assert stop.intensity_ma == 0 and stop.cause == "frames stopped"
    assert stop.t - last == pytest.approx(FRAME_S)  # 4 x 25 ms


async def test_bf_is_kept_across_power_off_but_strength_is_not() -> None:
    m = Coyote3Model()
    m.write(bf(25, 30))
    m.write(b0(1, wire3.SET, wire3.SET, 20, 20, PLAY, PLAY))
    m.power_off()
    assert m.delivered(0) == 0 and m.strength == [0, 0]
    m.write(b0(2, wire3.SET, wire3.SET, 5, 5, PLAY, PLAY))
    assert m.strength == [0, 0]  # ignored while off
    m.power_on()
    assert m.soft_limits == [25, 30]
    m.write(b0(3, wire3.SET, wire3.SET, 100, 100, PLAY, PLAY))
    assert m.strength == [25, 30]


async def test_battery_is_notified() -> None:
    m = Coyote3Model()
    got: list[bytes] = []
    m.notify_battery = got.append
    m.set_battery(42)
    assert got == [b"\x2a"]


async def test_writes_it_does_not_understand_are_ignored() -> None:
    m = Coyote3Model()
    for junk in (b"", b"\xb0\x00", bytes([0xBE, 1, 1, 1, 1, 1, 1]), bf(20, 20)[:6]):
        m.write(junk)
    assert [r.kind for r in m.received] == ["ignored"] * 4
    assert m.soft_limits == [200, 200]


levels = st.integers(min_value=0, max_value=255)
writes = st.one_of(
    st.tuples(
        st.just("b0"),
        st.integers(0, 15),
        st.integers(0, 3),
        st.integers(0, 3),
        levels,
        levels,
    ),
    st.tuples(st.just("bf"), st.integers(0, 200), st.integers(0, 200)),
    st.tuples(st.just("wheel"), st.integers(0, 1), st.integers(-300, 300)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(writes, max_size=30))
def test_strength_never_exceeds_soft_limit_whatever_is_asked(ops: list[tuple]) -> None:
    async def run() -> None:
        m = Coyote3Model()
        for op in ops:
            if op[0] == "b0":
                _, seq, ma, mb, a, b = op
                m.write(b0(seq, ma, mb, a, b, PLAY, PLAY))
            elif op[0] == "bf":
                m.write(bf(op[1], op[2]))
            else:
                m.turn_wheel(op[1], op[2])
            for ch in (0, 1):
                assert 0 <= m.strength[ch] <= m.soft_limits[ch]
                assert m.delivered(ch) <= m.soft_limits[ch]

    asyncio.run(run())
