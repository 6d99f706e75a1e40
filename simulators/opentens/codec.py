"""The simulator's own OpenTENS codec, written from docs/opentens-profile.md.

Pure functions between bytes and frozen dataclasses, in wire units (0.1 mA, 0.1 Hz, µs, ms).
Anything that is not exactly what the profile describes raises :class:`MalformedMessage`
(for a command, with the ATT error code the device answers with). Nothing from ``devices/``
is imported: the driver's codec is written separately and the test vectors judge both.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from simulators.opentens.profile import (
    COMMAND_LENGTH,
    FAULT_RESERVED_MASK,
    MAX_CHANNELS,
    MAX_FIRMWARE_LEN,
    PROFILE_VERSION,
    STATUS_TYPE,
    AttCode,
    ChannelFlag,
    Opcode,
)
from tens import channels as channel_numbers


class MalformedMessage(ValueError):
    """Bytes that are not a valid OpenTENS message; ``att_code`` is set for commands."""

    def __init__(self, message: str, att_code: AttCode | None = None) -> None:
        super().__init__(message)
        self.att_code = att_code


# --- CRC-8/SMBUS -------------------------------------------------------------------------


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: polynomial 0x07, init 0, not reflected, no final xor."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetOutput:
    seq: int
    channel: int
    intensity: int  # 0.1 mA
    pulse_width_us: int
    frequency: int  # 0.1 Hz
    waveform: int


@dataclass(frozen=True, slots=True)
class Stop:
    seq: int
    mask: int


@dataclass(frozen=True, slots=True)
class Keepalive:
    seq: int


@dataclass(frozen=True, slots=True)
class SetLimits:
    seq: int
    max_intensity: int  # 0.1 mA
    max_ramp: int  # 0.1 mA/s
    watchdog_ms: int


@dataclass(frozen=True, slots=True)
class Start:
    seq: int
    mask: int


Command = SetOutput | Stop | Keepalive | SetLimits | Start


def decode_command(data: bytes) -> Command:
    """Decode one control-point write; raise MalformedMessage with the ATT code to answer."""
    data = bytes(data)
    if not data:
        raise MalformedMessage("empty write", AttCode.BAD_LENGTH)
    try:
        op = Opcode(data[0])
    except ValueError:
        raise MalformedMessage(f"unknown opcode 0x{data[0]:02X}", AttCode.UNKNOWN_OPCODE) from None
    want = COMMAND_LENGTH[op]
    if len(data) != want:
        raise MalformedMessage(
            f"{op.name} must be {want} bytes, got {len(data)}", AttCode.BAD_LENGTH
        )
    seq = data[1]
    if op is Opcode.SET_OUTPUT:
        channel, intensity, pw, freq, wave = struct.unpack_from("<BHHHB", data, 2)
        return SetOutput(seq, channel, intensity, pw, freq, wave)
    if op is Opcode.STOP:
        return Stop(seq, data[2])
    if op is Opcode.KEEPALIVE:
        return Keepalive(seq)
    if op is Opcode.SET_LIMITS:
        max_i, ramp, wd = struct.unpack_from("<HHH", data, 2)
        return SetLimits(seq, max_i, ramp, wd)
    return Start(seq, data[2])


def encode_command(cmd: Command) -> bytes:
    """Encode a command as the central writes it (for tests and scenarios)."""
    if isinstance(cmd, SetOutput):
        return struct.pack(
            "<BBBHHHB",
            Opcode.SET_OUTPUT,
            cmd.seq,
            cmd.channel,
            cmd.intensity,
            cmd.pulse_width_us,
            cmd.frequency,
            cmd.waveform,
        )
    if isinstance(cmd, Stop):
        return struct.pack("<BBB", Opcode.STOP, cmd.seq, cmd.mask)
    if isinstance(cmd, Keepalive):
        return struct.pack("<BB", Opcode.KEEPALIVE, cmd.seq)
    if isinstance(cmd, SetLimits):
        return struct.pack(
            "<BBHHH", Opcode.SET_LIMITS, cmd.seq, cmd.max_intensity, cmd.max_ramp, cmd.watchdog_ms
        )
    return struct.pack("<BBB", Opcode.START, cmd.seq, cmd.mask)


# --- status ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelReport:
    delivered: int  # 0.1 mA
    impedance_ohm: int  # OPEN_CIRCUIT_OHM: no contact
    flags: ChannelFlag

    @property
    def armed(self) -> bool:
        return bool(self.flags & ChannelFlag.ARMED)

    @property
    def contact(self) -> bool:
        return bool(self.flags & ChannelFlag.CONTACT)

    @property
    def ramping(self) -> bool:
        return bool(self.flags & ChannelFlag.RAMPING)


@dataclass(frozen=True, slots=True)
class StatusReport:
    acked_seq: int
    battery_percent: int
    faults: int
    channels: tuple[ChannelReport, ...]


def status_length(channels: int) -> int:
    return 6 + 5 * channels


def encode_status(status: StatusReport) -> bytes:
    n = len(status.channels)
    if not 1 <= n <= MAX_CHANNELS:
        raise ValueError(f"a status carries 1-{MAX_CHANNELS} channels, not {n}")
    if not 0 <= status.battery_percent <= 100:
        raise ValueError("battery must be 0-100")
    if status.faults & FAULT_RESERVED_MASK or not 0 <= status.faults <= 0xFF:
        raise ValueError("reserved fault bits set")
    body = bytearray(
        struct.pack(
            "<BBBBB", STATUS_TYPE, status.acked_seq, status.battery_percent, status.faults, n
        )
    )
    for ch in status.channels:
        body += struct.pack("<HHB", ch.delivered, ch.impedance_ohm, int(ch.flags))
    body.append(crc8(bytes(body)))
    return bytes(body)


_KNOWN_CHANNEL_FLAGS = int(ChannelFlag.ARMED | ChannelFlag.CONTACT | ChannelFlag.RAMPING)


def decode_status(data: bytes) -> StatusReport:
    """Decode a status notification; anything off per the profile is MalformedMessage."""
    data = bytes(data)
    if len(data) < 6:
        raise MalformedMessage(f"status too short ({len(data)} bytes)")
    if data[0] != STATUS_TYPE:
        raise MalformedMessage(f"status type 0x{data[0]:02X}, expected 0x{STATUS_TYPE:02X}")
    n = data[4]
    if not 1 <= n <= MAX_CHANNELS:
        raise MalformedMessage(f"status names {n} channels")
    if len(data) != status_length(n):
        raise MalformedMessage(
            f"status for {n} channels must be {status_length(n)} bytes, got {len(data)}"
        )
    if crc8(data[:-1]) != data[-1]:
        raise MalformedMessage("status CRC mismatch")
    acked, battery, faults = data[1], data[2], data[3]
    if battery > 100:
        raise MalformedMessage(f"battery {battery} % above 100")
    if faults & FAULT_RESERVED_MASK:
        raise MalformedMessage(f"reserved fault bits set (0x{faults:02X})")
    channels = []
    for k in range(n):
        delivered, impedance, flags = struct.unpack_from("<HHB", data, 5 + 5 * k)
        if flags & ~_KNOWN_CHANNEL_FLAGS:
            # Not named malformed by the profile; refused here because unsure means stop.
            raise MalformedMessage(
                f"{channel_numbers.named((k,))} has unknown flag bits (0x{flags:02X})"
            )
        channels.append(ChannelReport(delivered, impedance, ChannelFlag(flags)))
    return StatusReport(acked, battery, faults, tuple(channels))


# --- device info -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceInfoRecord:
    channels: int
    intensity_max: int  # 0.1 mA
    intensity_step: int  # 0.1 mA
    pulse_width_min: int
    pulse_width_max: int
    frequency_min: int  # 0.1 Hz
    frequency_max: int  # 0.1 Hz
    waveforms: int  # bit set
    ramp_max: int  # 0.1 mA/s
    watchdog_ms: int
    firmware: str
    version: int = PROFILE_VERSION


_INFO_HEAD = struct.Struct("<BBHHHHHHBHHB")


def encode_device_info(info: DeviceInfoRecord) -> bytes:
    fw = info.firmware.encode("utf-8")
    if len(fw) > MAX_FIRMWARE_LEN:
        raise ValueError(f"firmware string longer than {MAX_FIRMWARE_LEN} bytes")
    return (
        _INFO_HEAD.pack(
            info.version,
            info.channels,
            info.intensity_max,
            info.intensity_step,
            info.pulse_width_min,
            info.pulse_width_max,
            info.frequency_min,
            info.frequency_max,
            info.waveforms,
            info.ramp_max,
            info.watchdog_ms,
            len(fw),
        )
        + fw
    )


def decode_device_info(data: bytes) -> DeviceInfoRecord:
    data = bytes(data)
    if len(data) < _INFO_HEAD.size:
        raise MalformedMessage(f"device info too short ({len(data)} bytes)")
    fields = _INFO_HEAD.unpack_from(data)
    (ver, chans, imax, istep, pwmin, pwmax, fmin, fmax, waves, ramp, wd, n) = fields
    if ver != PROFILE_VERSION:
        raise MalformedMessage(f"profile version {ver} is not {PROFILE_VERSION}")
    if not 1 <= chans <= MAX_CHANNELS:
        raise MalformedMessage(f"{chans} channels")
    if n > MAX_FIRMWARE_LEN or len(data) < _INFO_HEAD.size + n:
        raise MalformedMessage("firmware string truncated or too long")
    if pwmin > pwmax or fmin > fmax:
        raise MalformedMessage("a range has min > max")
    if waves & 0x07 == 0:
        raise MalformedMessage("no waveform supported")
    try:
        fw = data[_INFO_HEAD.size : _INFO_HEAD.size + n].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("firmware string is not UTF-8") from None
    return DeviceInfoRecord(chans, imax, istep, pwmin, pwmax, fmin, fmax, waves, ramp, wd, fw, ver)


__all__ = [
    "ChannelReport",
    "Command",
    "DeviceInfoRecord",
    "Keepalive",
    "MalformedMessage",
    "SetLimits",
    "SetOutput",
    "Start",
    "StatusReport",
    "Stop",
    "crc8",
    "decode_command",
    "decode_device_info",
    "decode_status",
    "encode_command",
    "encode_device_info",
    "encode_status",
    "status_length",
]
