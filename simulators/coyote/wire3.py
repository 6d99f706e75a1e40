"""The Coyote 3.0's side of the wire: what the device reads from B0/BF and writes as B1.

Written from the protocol document, independently of ``devices.coyote``. Parsing is lenient
where the device is (a strength byte above 200 is *read* and later treated as 0, a waveform
value out of range is *read* and the channel's 100 ms is then dropped) and strict on framing
(a write of the wrong length or with an unknown header is ignored by the device).
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_B0 = 0xB0
HEAD_BF = 0xBF
HEAD_B1 = 0xB1
LEN_B0 = 20
LEN_BF = 7

MAX_STRENGTH = 200
FREQ_MIN, FREQ_MAX = 10, 240
INTENSITY_MAX = 100

# strength modes, two bits per channel
KEEP, ADD, SUBTRACT, SET = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class ChannelPart:
    """One channel's share of a B0 frame, as the device reads it."""

    mode: int
    value: int
    frequencies: tuple[int, ...]
    intensities: tuple[int, ...]

    @property
    def wave_valid(self) -> bool:
        """All four pairs in range: the device plays these 100 ms; otherwise it drops them."""
        return all(FREQ_MIN <= f <= FREQ_MAX for f in self.frequencies) and all(
            i <= INTENSITY_MAX for i in self.intensities
        )

    @property
    def value_valid(self) -> bool:
        return self.value <= MAX_STRENGTH


@dataclass(frozen=True, slots=True)
class StrengthFrame:
    """A B0 write."""

    seq: int
    a: ChannelPart
    b: ChannelPart

    @property
    def channels(self) -> tuple[ChannelPart, ChannelPart]:
        return (self.a, self.b)


@dataclass(frozen=True, slots=True)
class LimitFrame:
    """A BF write. A soft limit above 200 leaves that channel's limit unchanged."""

    soft_limits: tuple[int, int]
    frequency_balance: tuple[int, int]
    intensity_balance: tuple[int, int]


class NotAFrame(ValueError):
    """A write the device does not understand (it ignores it)."""


def parse(data: bytes) -> StrengthFrame | LimitFrame:
    """Read one write to 0x150A."""
    if not data:
        raise NotAFrame("empty write")
    head = data[0]
    if head == HEAD_B0:
        if len(data) != LEN_B0:
            raise NotAFrame(f"B0 of {len(data)} bytes")
        modes = data[1] & 0x0F
        a = ChannelPart(modes >> 2, data[2], tuple(data[4:8]), tuple(data[8:12]))
        b = ChannelPart(modes & 0x03, data[3], tuple(data[12:16]), tuple(data[16:20]))
        return StrengthFrame(seq=data[1] >> 4, a=a, b=b)
    if head == HEAD_BF:
        if len(data) != LEN_BF:
            raise NotAFrame(f"BF of {len(data)} bytes")
        # a soft limit above 200 is *read*: the device then leaves that limit as it was
        return LimitFrame((data[1], data[2]), (data[3], data[4]), (data[5], data[6]))
    raise NotAFrame(f"unknown header 0x{head:02X}")


def reply(seq: int, a: int, b: int) -> bytes:
    """The B1 notification on 0x150B."""
    return bytes((HEAD_B1, seq & 0x0F, a, b))


def period_of_frequency_byte(byte: int) -> float:
    """The pulse period in ms a frequency byte stands for (the inverse of the vendor mapping)."""
    if byte <= 100:
        return float(byte)
    if byte <= 200:
        return (byte - 100) * 5.0 + 100.0
    return (byte - 200) * 10.0 + 600.0
