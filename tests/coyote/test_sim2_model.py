"""The simulated Coyote 2.0 behaves as the vendor documents."""

from __future__ import annotations

import asyncio

import pytest

from simulators.coyote import wire2
from simulators.coyote.model2 import FRAME_S, Coyote2Model

pytestmark = pytest.mark.looptime

WAVE = bytes([0x02, 0x01, 0x0F])  # X 2, Y 8, Z 30


async def test_strength_layout_and_notification() -> None:
    m = Coyote2Model()
    sent: list[bytes] = []
    m.notify_strength = sent.append
    m.write_strength(bytes([0x07, 0x38, 0x00]))  # A 7, B 7
    assert m.strength == [7, 7]
    assert sent == [bytes([0x07, 0x38, 0x00])]
    m.write_strength(bytes([0x07, 0x38, 0x00]))
    assert len(sent) == 1  # no change, no notification


async def test_malformed_writes_are_ignored() -> None:
    m = Coyote2Model()
    m.write_strength(b"\x00\x00\xc0")
    m.write_strength(b"\x01")
    m.write_wave(0, b"\x00\x00\x10")
    assert m.strength == [0, 0] and m.wave(0) is None
    assert [r.accepted for r in m.received] == [False, False, False]


async def test_waveform_plays_for_100_ms_then_output_stops_but_strength_stays() -> None:
    m = Coyote2Model()
    m.write_strength(wire2.write_strength(100, 0))
    assert m.delivered(0) == 0  # strength alone delivers nothing
    t0 = m.now()
    m.write_wave(0, WAVE)
    assert m.delivered(0) == 100 and m.delivered(1) == 0
    await asyncio.sleep(0.5)
    assert m.delivered(0) == 0 and m.strength == [100, 0]
    end = m.record.for_channel(0)[-1]
    assert end.t - t0 == pytest.approx(FRAME_S)  # README_V2: each value is 0.1 s


async def test_silent_waveform_delivers_nothing() -> None:
    m = Coyote2Model()
    m.write_strength(wire2.write_strength(100, 100))
    m.write_wave(0, bytes(3))  # X = 0: no pulses
    m.write_wave(1, bytes([0x02, 0x01, 0x00]))  # Z = 0: zero width
    assert m.delivered(0) == 0 and m.delivered(1) == 0


async def test_power_off_zeroes_strength() -> None:
    m = Coyote2Model()
    m.write_strength(wire2.write_strength(100, 50))
    m.write_wave(0, WAVE)
    m.power_off()
    assert m.strength == [0, 0] and m.delivered(0) == 0
    m.write_strength(wire2.write_strength(5, 5))
    assert m.strength == [0, 0]
