"""Bytes <-> typed messages for the DG-LAB Coyote 3.0 ("V3"). Pure functions, no BLE library.

Written from the vendor-published protocol as restated in ../shared/design/protocols.md; the
published example frames are test vectors in tests/coyote/. Every decoder returns a fully
checked message or raises :class:`CoyoteProtocolError`; encoders refuse values that do not fit
the wire format (they do not refuse values the *device* would ignore, such as a strength byte
of 201, because the device's treatment of those is part of the protocol).

Frames:

- **B0** (20 bytes, central -> device, every 100 ms): header, sequence (high nibble) and
  strength mode (low nibble: A in bits 3-2, B in bits 1-0), A and B strength values, then four
  frequency bytes and four intensity bytes for A, the same for B. Each frequency/intensity
  pair covers 25 ms.
- **BF** (7 bytes, central -> device): soft limits A, B (0-200), frequency balance A, B and
  intensity balance A, B (0-255). No reply.
- **B1** (4 bytes, device -> central on 0x150B): sequence, A strength, B strength. Sequence 0
  means the wheel on the device changed the strength.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# --- GATT ------------------------------------------------------------------------------------


def uuid16(short: int) -> str:
    """A 16-bit UUID on the Bluetooth base UUID, as bleak prints it."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


SERVICE_UUID = uuid16(0x180C)
WRITE_UUID = uuid16(0x150A)
NOTIFY_UUID = uuid16(0x150B)
BATTERY_SERVICE_UUID = uuid16(0x180A)
BATTERY_UUID = uuid16(0x1500)

ADVERTISED_NAME = "47L121000"
SENSOR_NAME = "47L120100"
"""The wireless sensor of the same family; not a stimulator, never driven."""

# --- numbers ---------------------------------------------------------------------------------

B0_HEADER = 0xB0
B1_HEADER = 0xB1
BF_HEADER = 0xBF
DEPRECATED_REPLY_HEADER = 0xBE
"""One public driver writes 0xBE where BF belongs; that header is the deprecated reply."""

B0_LENGTH = 20
BF_LENGTH = 7
B1_LENGTH = 4

STRENGTH_MAX = 200
SEQ_MAX = 15
FREQUENCY_BYTE_RANGE = (10, 240)
WAVE_INTENSITY_MAX = 100
FREQUENCY_INPUT_RANGE = (10, 1000)
"""The vendor's "frequency" input: a pulse period in milliseconds (see :func:`period_to_byte`)."""

SLOTS = 4
SLOT_S = 0.025
FRAME_S = 0.1


class CoyoteProtocolError(ValueError):
    """Bytes that are not a valid Coyote message, or a value that cannot be encoded."""


class StrengthMode(enum.IntEnum):
    """How a B0 frame's strength value applies to a channel."""

    KEEP = 0b00
    ADD = 0b01
    SUBTRACT = 0b10
    SET = 0b11


@dataclass(frozen=True, slots=True)
class WaveSlots:
    """One channel's 100 ms of waveform: four (frequency byte, intensity) pairs of 25 ms."""

    frequency: tuple[int, int, int, int]
    intensity: tuple[int, int, int, int]

    def plays(self) -> bool:
        """True when the device would play these 100 ms (every value in its range)."""
        flo, fhi = FREQUENCY_BYTE_RANGE
        return all(flo <= f <= fhi for f in self.frequency) and all(
            0 <= i <= WAVE_INTENSITY_MAX for i in self.intensity
        )


DROPPED = WaveSlots((0, 0, 0, 0), (0, 0, 0, WAVE_INTENSITY_MAX + 1))
"""Out-of-range on purpose (as in the published examples): the device drops this channel's
100 ms. The documented way to drive one channel only, and our "no waveform"."""


@dataclass(frozen=True, slots=True)
class B0Frame:
    seq: int
    mode_a: StrengthMode
    mode_b: StrengthMode
    strength_a: int
    """A raw byte: 0-200 is a strength, anything else the device treats as 0."""
    strength_b: int
    wave_a: WaveSlots
    wave_b: WaveSlots


@dataclass(frozen=True, slots=True)
class BFFrame:
    limit_a: int
    limit_b: int
    frequency_balance_a: int
    frequency_balance_b: int
    intensity_balance_a: int
    intensity_balance_b: int


@dataclass(frozen=True, slots=True)
class B1Reply:
    seq: int
    """0: the wheel on the device changed the strength; else the B0 sequence answered."""
    strength_a: int
    strength_b: int

    @property
    def from_wheel(self) -> bool:
        return self.seq == 0


def _byte(name: str, value: int, hi: int = 0xFF) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
        raise CoyoteProtocolError(f"{name} must be an integer 0-{hi}, got {value!r}")
    return value


# --- B0 --------------------------------------------------------------------------------------


def encode_b0(frame: B0Frame) -> bytes:
    seq = _byte("sequence", frame.seq, SEQ_MAX)
    mode = (StrengthMode(frame.mode_a) << 2) | StrengthMode(frame.mode_b)
    out = bytearray([B0_HEADER, (seq << 4) | mode])
    out.append(_byte("A strength", frame.strength_a))
    out.append(_byte("B strength", frame.strength_b))
    for label, wave in (("A", frame.wave_a), ("B", frame.wave_b)):
        if len(wave.frequency) != SLOTS or len(wave.intensity) != SLOTS:
            raise CoyoteProtocolError(f"{label} waveform needs exactly {SLOTS} pairs")
        out.extend(_byte(f"{label} frequency", f) for f in wave.frequency)
        out.extend(_byte(f"{label} intensity", i) for i in wave.intensity)
    return bytes(out)


def _slots(data: bytes) -> tuple[int, int, int, int]:
    return (data[0], data[1], data[2], data[3])


def decode_b0(data: bytes) -> B0Frame:
    if len(data) != B0_LENGTH:
        raise CoyoteProtocolError(f"B0 frame must be {B0_LENGTH} bytes, got {len(data)}")
    if data[0] != B0_HEADER:
        raise CoyoteProtocolError(f"not a B0 frame (header 0x{data[0]:02X})")
    return B0Frame(
        seq=data[1] >> 4,
        mode_a=StrengthMode((data[1] >> 2) & 0b11),
        mode_b=StrengthMode(data[1] & 0b11),
        strength_a=data[2],
        strength_b=data[3],
        wave_a=WaveSlots(_slots(data[4:8]), _slots(data[8:12])),
        wave_b=WaveSlots(_slots(data[12:16]), _slots(data[16:20])),
    )


# --- BF --------------------------------------------------------------------------------------


def encode_bf(frame: BFFrame) -> bytes:
    return bytes(
        [
            BF_HEADER,
            _byte("A soft limit", frame.limit_a, STRENGTH_MAX),
            _byte("B soft limit", frame.limit_b, STRENGTH_MAX),
            _byte("A frequency balance", frame.frequency_balance_a),
            _byte("B frequency balance", frame.frequency_balance_b),
            _byte("A intensity balance", frame.intensity_balance_a),
            _byte("B intensity balance", frame.intensity_balance_b),
        ]
    )


def decode_bf(data: bytes) -> BFFrame:
    if len(data) != BF_LENGTH:
        raise CoyoteProtocolError(f"BF frame must be {BF_LENGTH} bytes, got {len(data)}")
    if data[0] != BF_HEADER:
        raise CoyoteProtocolError(f"not a BF frame (header 0x{data[0]:02X})")
    for label, value in (("A", data[1]), ("B", data[2])):
        if value > STRENGTH_MAX:
            raise CoyoteProtocolError(f"{label} soft limit {value} is above {STRENGTH_MAX}")
    return BFFrame(data[1], data[2], data[3], data[4], data[5], data[6])


# --- B1 --------------------------------------------------------------------------------------


def encode_b1(reply: B1Reply) -> bytes:
    return bytes(
        [
            B1_HEADER,
            _byte("sequence", reply.seq, SEQ_MAX),
            _byte("A strength", reply.strength_a, STRENGTH_MAX),
            _byte("B strength", reply.strength_b, STRENGTH_MAX),
        ]
    )


def decode_b1(data: bytes) -> B1Reply:
    """A B1 notification, checked: exact length, header, sequence 0-15, strengths 0-200."""
    if len(data) != B1_LENGTH:
        raise CoyoteProtocolError(f"B1 reply must be {B1_LENGTH} bytes, got {len(data)}")
    if data[0] != B1_HEADER:
        raise CoyoteProtocolError(f"not a B1 reply (header 0x{data[0]:02X})")
    if data[1] > SEQ_MAX:
        raise CoyoteProtocolError(f"B1 sequence {data[1]} is above {SEQ_MAX}")
    for label, value in (("A", data[2]), ("B", data[3])):
        if value > STRENGTH_MAX:
            raise CoyoteProtocolError(f"B1 {label} strength {value} is above {STRENGTH_MAX}")
    return B1Reply(data[1], data[2], data[3])


def decode_battery(data: bytes) -> int:
    """The battery characteristic: one byte, percent 0-100."""
    if len(data) != 1 or data[0] > 100:
        raise CoyoteProtocolError(f"battery must be one byte 0-100, got {data.hex()}")
    return data[0]


# --- frequency -------------------------------------------------------------------------------


def period_to_byte(value: int) -> int:
    """The vendor's frequency input (10-1000, a pulse period in ms) -> the B0 frequency byte.

    10-100 unchanged; 101-600 -> (x-100)/5+100; 601-1000 -> (x-600)/10+200; anything else 10.
    The divisions truncate (the vendor's integer arithmetic).
    """
    if 10 <= value <= 100:
        return value
    if 101 <= value <= 600:
        return (value - 100) // 5 + 100
    if 601 <= value <= 1000:
        return (value - 600) // 10 + 200
    return 10


def byte_to_period_ms(byte: int) -> int:
    """The smallest input period that :func:`period_to_byte` maps to ``byte`` (10-240)."""
    flo, fhi = FREQUENCY_BYTE_RANGE
    if not flo <= byte <= fhi:
        raise CoyoteProtocolError(f"frequency byte {byte} is outside {flo}-{fhi}")
    if byte <= 100:
        return byte
    if byte <= 200:
        return (byte - 100) * 5 + 100
    return (byte - 200) * 10 + 600
