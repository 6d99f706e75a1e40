"""Bytes <-> values for the DG-LAB Coyote 2.0 ("V2"). Pure functions, no BLE library.

Written from the vendor-published protocol as restated in ../shared/design/protocols.md.
Every value is three bytes, little-endian:

- strength (0x1504, read/write/notify): bits 21-11 channel A, bits 10-0 channel B, each
  0-2047 (bits 23-22 unused, sent as 0);
- waveform (0x1505 and 0x1506, write, valid for 0.1 s): bits 19-15 Z, 14-5 Y, 4-0 X
  (bits 23-20 unused): X pulses (0-31) in X consecutive ms, then a Y ms gap (0-1023), each
  pulse Z x 5 µs wide (Z 0-31).

Channel labelling (ambiguous in the vendor document: its table calls 0x1505 "B channel
waveform" and 0x1506 "A channel", its text suggests the opposite): **we follow the table,
0x1506 drives channel A and 0x1505 drives channel B**, as most public drivers do. A test in
tests/coyote/ pins it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BASE_UUID = "955a{:04x}-0fe2-f5aa-a094-84b8d4f3e8ad"


def uuid(short: int) -> str:
    """A 16-bit number on the Coyote 2.0 vendor base UUID (955Axxxx-0FE2-F5AA-A094-84B8D4F3E8AD)."""
    return BASE_UUID.format(short)


BATTERY_SERVICE_UUID = uuid(0x180A)
BATTERY_UUID = uuid(0x1500)
SERVICE_UUID = uuid(0x180B)
STRENGTH_UUID = uuid(0x1504)
WAVE_B_UUID = uuid(0x1505)
"""The table's "B channel waveform" (our choice; see the module docstring)."""
WAVE_A_UUID = uuid(0x1506)
"""The table's "A channel waveform" (our choice; see the module docstring)."""
WAVE_UUIDS = (WAVE_A_UUID, WAVE_B_UUID)
"""Waveform characteristic by channel index: 0 = A, 1 = B."""

ADVERTISED_NAME = "D-LAB ESTIM01"

VALUE_LENGTH = 3
STRENGTH_MAX = 2047
VENDOR_STEP = 7
X_MAX = 31
Y_MAX = 1023
Z_MAX = 31
PULSE_WIDTH_UNIT_US = 5
FRAME_S = 0.1
FREQUENCY_VALUE_RANGE = (10, 1000)
"""The vendor's "frequency value" F (ms per pulse period) for which it suggests X and Y."""


class CoyoteV2ProtocolError(ValueError):
    """Bytes that are not a valid Coyote 2.0 value, or a value that cannot be encoded."""


@dataclass(frozen=True, slots=True)
class Strength:
    a: int
    b: int


@dataclass(frozen=True, slots=True)
class Pulse:
    """One 100 ms waveform value."""

    x: int
    """pulses, emitted in x consecutive ms (0-31)"""
    y: int
    """gap after them, ms (0-1023)"""
    z: int
    """pulse width in units of 5 µs (0-31)"""

    @property
    def pulse_width_us(self) -> int:
        return self.z * PULSE_WIDTH_UNIT_US

    @property
    def frequency_hz(self) -> float:
        """Pulse frequency, about 1000/(X+Y); 0 when X+Y is 0."""
        period = self.x + self.y
        return 1000.0 / period if period else 0.0


def _field(name: str, value: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
        raise CoyoteV2ProtocolError(f"{name} must be an integer 0-{hi}, got {value!r}")
    return value


def _u24(data: bytes, what: str) -> int:
    if len(data) != VALUE_LENGTH:
        raise CoyoteV2ProtocolError(f"{what} must be {VALUE_LENGTH} bytes, got {len(data)}")
    return int.from_bytes(data, "little")


def encode_strength(value: Strength) -> bytes:
    a = _field("A strength", value.a, STRENGTH_MAX)
    b = _field("B strength", value.b, STRENGTH_MAX)
    return ((a << 11) | b).to_bytes(VALUE_LENGTH, "little")


def decode_strength(data: bytes) -> Strength:
    raw = _u24(data, "strength")
    if raw >> 22:
        raise CoyoteV2ProtocolError(f"strength has unused bits 23-22 set: {data.hex()}")
    return Strength(a=(raw >> 11) & STRENGTH_MAX, b=raw & STRENGTH_MAX)


def encode_pulse(value: Pulse) -> bytes:
    x = _field("X", value.x, X_MAX)
    y = _field("Y", value.y, Y_MAX)
    z = _field("Z", value.z, Z_MAX)
    return ((z << 15) | (y << 5) | x).to_bytes(VALUE_LENGTH, "little")


def decode_pulse(data: bytes) -> Pulse:
    raw = _u24(data, "waveform")
    if raw >> 20:
        raise CoyoteV2ProtocolError(f"waveform has unused bits 23-20 set: {data.hex()}")
    return Pulse(x=raw & X_MAX, y=(raw >> 5) & Y_MAX, z=(raw >> 15) & Z_MAX)


def decode_battery(data: bytes) -> int:
    if len(data) != 1 or data[0] > 100:
        raise CoyoteV2ProtocolError(f"battery must be one byte 0-100, got {data.hex()}")
    return data[0]


def vendor_xy(frequency_value: int) -> tuple[int, int]:
    """The vendor's suggestion for a frequency value F (10-1000): X = 15·√(F/1000), Y = F − X.

    X is rounded to the nearest integer, so X + Y == F exactly.
    """
    lo, hi = FREQUENCY_VALUE_RANGE
    if not lo <= frequency_value <= hi:
        raise CoyoteV2ProtocolError(f"frequency value must be {lo}-{hi}, got {frequency_value}")
    x = round(15 * math.sqrt(frequency_value / 1000))
    return x, frequency_value - x
