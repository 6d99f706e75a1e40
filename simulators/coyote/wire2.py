"""The Coyote 2.0's side of the wire: 3-byte little-endian strength and waveform values.

Written from the protocol document, independently of ``devices.coyote``. The device reads
0x1506 as channel A's waveform and 0x1505 as channel B's (the vendor table's labels; the
driver makes the same choice and tests/coyote/ pins both).
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = "955a{:04x}-0fe2-f5aa-a094-84b8d4f3e8ad"
MAX_STRENGTH = 2047


@dataclass(frozen=True, slots=True)
class WaveValue:
    x: int
    y: int
    z: int

    @property
    def emits(self) -> bool:
        """Pulses come out: some pulses (X) of some width (Z)."""
        return self.x > 0 and self.z > 0

    @property
    def frequency_hz(self) -> float:
        return 1000.0 / (self.x + self.y) if self.x + self.y else 0.0


class NotAValue(ValueError):
    """A write the device does not accept (wrong length or reserved bits set)."""


def _word(data: bytes) -> int:
    if len(data) != 3:
        raise NotAValue(f"{len(data)} bytes, not 3")
    return data[0] | (data[1] << 8) | (data[2] << 16)


def read_strength(data: bytes) -> tuple[int, int]:
    word = _word(data)
    if word & 0xC00000:
        raise NotAValue("reserved strength bits 23-22 set")
    return (word >> 11) & 0x7FF, word & 0x7FF


def write_strength(a: int, b: int) -> bytes:
    word = ((a & 0x7FF) << 11) | (b & 0x7FF)
    return bytes((word & 0xFF, (word >> 8) & 0xFF, (word >> 16) & 0xFF))


def read_wave(data: bytes) -> WaveValue:
    word = _word(data)
    if word & 0xF00000:
        raise NotAValue("reserved waveform bits 23-20 set")
    return WaveValue(x=word & 0x1F, y=(word >> 5) & 0x3FF, z=(word >> 15) & 0x1F)
