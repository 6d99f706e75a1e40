"""Bytes <-> typed messages for the OpenTENS profile v2. Pure functions, no BLE library.

Written from docs/opentens-profile.md only; the test vectors there decide. Every value here is
in the profile's own integer units (0.1 mA, 0.1 Hz, µs, ms): converting to mA and Hz is the
driver's job, so a round trip through this module is exact.

Every decoder either returns a fully checked message or raises :class:`ProtocolError`; it never
returns a partial or guessed state. Encoders refuse values that do not fit the wire format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from devices.opentens.profile import (
    ALL_CHANNELS_MASK,
    CHANNEL_FLAG_BITS,
    COMMAND_LENGTH,
    FAULT_BITS,
    MAX_CHANNELS,
    MAX_FIRMWARE_LENGTH,
    OPEN_CIRCUIT_OHM,
    PROFILE_VERSION,
    STATUS_TYPE,
    WAVEFORM_BITS,
    ChannelFlags,
    FaultBits,
    Opcode,
    WaveformCode,
    WaveformSet,
)

U8_MAX = 0xFF
U16_MAX = 0xFFFF


class ProtocolError(ValueError):
    """Bytes that are not a valid OpenTENS message (or a value that cannot be encoded)."""


# --- CRC ------------------------------------------------------------------------------------


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8_TABLE = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: polynomial 0x07, init 0x00, not reflected, no final xor."""
    crc = 0
    for byte in data:
        crc = _CRC8_TABLE[crc ^ byte]
    return crc


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetOutput:
    seq: int
    channel: int
    intensity: int
    """0.1 mA"""
    pulse_width_us: int
    frequency: int
    """0.1 Hz"""
    waveform: WaveformCode = WaveformCode.CONTINUOUS


@dataclass(frozen=True, slots=True)
class Stop:
    seq: int
    channel_mask: int = ALL_CHANNELS_MASK


@dataclass(frozen=True, slots=True)
class Keepalive:
    seq: int


@dataclass(frozen=True, slots=True)
class SetLimits:
    seq: int
    max_intensity: int
    """0.1 mA"""
    max_ramp: int
    """0.1 mA/s"""
    watchdog_ms: int


@dataclass(frozen=True, slots=True)
class Start:
    seq: int
    channel_mask: int


Command = SetOutput | Stop | Keepalive | SetLimits | Start


def _check(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ProtocolError(f"{name} {value} is outside {low}..{high}")
    return value


def _check_seq(seq: int) -> int:
    return _check("sequence number", seq, 1, U8_MAX)


def encode_command(command: Command) -> bytes:
    """The control-point write for ``command``; raises ProtocolError for unencodable values."""
    match command:
        case SetOutput():
            waveform = _waveform_code(command.waveform)
            return struct.pack(
                "<BBBHHHB",
                Opcode.SET_OUTPUT,
                _check_seq(command.seq),
                _check("channel", command.channel, 0, U8_MAX),
                _check("intensity", command.intensity, 0, U16_MAX),
                _check("pulse width", command.pulse_width_us, 0, U16_MAX),
                _check("frequency", command.frequency, 0, U16_MAX),
                waveform,
            )
        case Stop():
            return struct.pack(
                "<BBB",
                Opcode.STOP,
                _check_seq(command.seq),
                _check("channel mask", command.channel_mask, 0, U8_MAX),
            )
        case Keepalive():
            return struct.pack("<BB", Opcode.KEEPALIVE, _check_seq(command.seq))
        case SetLimits():
            return struct.pack(
                "<BBHHH",
                Opcode.SET_LIMITS,
                _check_seq(command.seq),
                _check("max intensity", command.max_intensity, 0, U16_MAX),
                _check("max ramp", command.max_ramp, 0, U16_MAX),
                _check("watchdog", command.watchdog_ms, 0, U16_MAX),
            )
        case Start():
            return struct.pack(
                "<BBB",
                Opcode.START,
                _check_seq(command.seq),
                _check("channel mask", command.channel_mask, 0, U8_MAX),
            )
    raise ProtocolError(f"not an OpenTENS command: {command!r}")


def _waveform_code(value: int) -> WaveformCode:
    try:
        return WaveformCode(value)
    except ValueError:
        raise ProtocolError(f"unknown waveform code {value!r}") from None


def decode_command(data: bytes) -> Command:
    """Parse a control-point write (as a device would); the inverse of :func:`encode_command`."""
    data = bytes(data)
    if not data:
        raise ProtocolError("empty command")
    try:
        opcode = Opcode(data[0])
    except ValueError:
        raise ProtocolError(f"unknown opcode 0x{data[0]:02X}") from None
    expected = COMMAND_LENGTH[opcode]
    if len(data) != expected:
        raise ProtocolError(f"{opcode.name} must be {expected} bytes, got {len(data)}")
    seq = data[1]
    if seq == 0:
        raise ProtocolError("sequence number 0 is never sent")
    match opcode:
        case Opcode.SET_OUTPUT:
            _, _, channel, intensity, pulse, freq, waveform = struct.unpack("<BBBHHHB", data)
            return SetOutput(seq, channel, intensity, pulse, freq, _waveform_code(waveform))
        case Opcode.STOP:
            return Stop(seq, data[2])
        case Opcode.KEEPALIVE:
            return Keepalive(seq)
        case Opcode.SET_LIMITS:
            _, _, max_intensity, max_ramp, watchdog = struct.unpack("<BBHHH", data)
            return SetLimits(seq, max_intensity, max_ramp, watchdog)
        case Opcode.START:
            return Start(seq, data[2])
    raise ProtocolError(f"unhandled opcode {opcode!r}")  # pragma: no cover


# --- device info ----------------------------------------------------------------------------

_INFO_HEAD = struct.Struct("<BBHHHHHHBHHB")  # 20 bytes, up to the firmware length


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """The OpenTENS device-info characteristic, in wire units."""

    version: int
    channels: int
    intensity_max: int
    """0.1 mA"""
    intensity_step: int
    """0.1 mA"""
    pulse_width_min: int
    pulse_width_max: int
    frequency_min: int
    """0.1 Hz"""
    frequency_max: int
    """0.1 Hz"""
    waveforms: WaveformSet
    ramp_max: int
    """0.1 mA/s"""
    watchdog_ms: int
    firmware: str = ""


def _validate_info(info: ProfileInfo) -> None:
    if info.version != PROFILE_VERSION:
        raise ProtocolError(
            f"profile version {info.version} is not supported (this driver speaks "
            f"version {PROFILE_VERSION})"
        )
    _check("channels", info.channels, 1, MAX_CHANNELS)
    _check("intensity max", info.intensity_max, 1, U16_MAX)
    _check("intensity step", info.intensity_step, 1, U16_MAX)
    if info.intensity_step > info.intensity_max:
        raise ProtocolError("intensity step is larger than the intensity max")
    _check("pulse width min", info.pulse_width_min, 0, U16_MAX)
    _check("pulse width max", info.pulse_width_max, 1, U16_MAX)
    if info.pulse_width_min > info.pulse_width_max:
        raise ProtocolError("pulse width min is above pulse width max")
    _check("frequency min", info.frequency_min, 0, U16_MAX)
    _check("frequency max", info.frequency_max, 1, U16_MAX)
    if info.frequency_min > info.frequency_max:
        raise ProtocolError("frequency min is above frequency max")
    waveforms = int(info.waveforms)
    if waveforms == 0:
        raise ProtocolError("the device declares no waveform")
    if waveforms & ~WAVEFORM_BITS:
        raise ProtocolError(f"unknown waveform bits 0x{waveforms:02X}")
    _check("ramp max", info.ramp_max, 1, U16_MAX)
    _check("watchdog timeout", info.watchdog_ms, 1, U16_MAX)


def encode_info(info: ProfileInfo) -> bytes:
    _validate_info(info)
    firmware = info.firmware.encode("utf-8")
    if len(firmware) > MAX_FIRMWARE_LENGTH:
        raise ProtocolError(f"firmware string is {len(firmware)} bytes, at most 32 fit")
    head = _INFO_HEAD.pack(
        info.version,
        info.channels,
        info.intensity_max,
        info.intensity_step,
        info.pulse_width_min,
        info.pulse_width_max,
        info.frequency_min,
        info.frequency_max,
        int(info.waveforms),
        info.ramp_max,
        info.watchdog_ms,
        len(firmware),
    )
    return head + firmware


def decode_info(data: bytes) -> ProfileInfo:
    """Parse and check a device info. Anything a central must not drive raises ProtocolError.

    Beyond the document's list (short, version, zero channels, min > max, no waveform) this
    also refuses what would leave the driver unsure: more than 4 channels, a zero max, step,
    ramp or watchdog, unknown waveform bits, bytes after the firmware string, bad UTF-8.
    """
    data = bytes(data)
    if len(data) < _INFO_HEAD.size:
        raise ProtocolError(f"device info is {len(data)} bytes, at least 20 are needed")
    (
        version,
        channels,
        intensity_max,
        intensity_step,
        pulse_min,
        pulse_max,
        freq_min,
        freq_max,
        waveforms,
        ramp_max,
        watchdog_ms,
        fw_len,
    ) = _INFO_HEAD.unpack_from(data)
    if version != PROFILE_VERSION:
        raise ProtocolError(
            f"profile version {version} is not supported (this driver speaks "
            f"version {PROFILE_VERSION})"
        )
    if fw_len > MAX_FIRMWARE_LENGTH:
        raise ProtocolError(f"firmware length {fw_len} is above 32")
    if len(data) != _INFO_HEAD.size + fw_len:
        raise ProtocolError(
            f"device info is {len(data)} bytes, expected {_INFO_HEAD.size + fw_len} "
            f"(20 + firmware length {fw_len})"
        )
    try:
        firmware = data[_INFO_HEAD.size :].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("firmware string is not UTF-8") from None
    info = ProfileInfo(
        version=version,
        channels=channels,
        intensity_max=intensity_max,
        intensity_step=intensity_step,
        pulse_width_min=pulse_min,
        pulse_width_max=pulse_max,
        frequency_min=freq_min,
        frequency_max=freq_max,
        waveforms=WaveformSet(waveforms),
        ramp_max=ramp_max,
        watchdog_ms=watchdog_ms,
        firmware=firmware,
    )
    _validate_info(info)
    return info


# --- status ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelReport:
    delivered: int
    """0.1 mA, what the electrodes carry now"""
    impedance_ohm: int
    """0xFFFF: open circuit"""
    flags: ChannelFlags

    @property
    def armed(self) -> bool:
        return bool(self.flags & ChannelFlags.ARMED)

    @property
    def contact(self) -> bool:
        return bool(self.flags & ChannelFlags.CONTACT)

    @property
    def ramping(self) -> bool:
        return bool(self.flags & ChannelFlags.RAMPING)

    @property
    def open_circuit(self) -> bool:
        return self.impedance_ohm == OPEN_CIRCUIT_OHM


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The OpenTENS status characteristic, in wire units."""

    acked_seq: int
    battery_percent: int
    faults: FaultBits
    channels: tuple[ChannelReport, ...]


_STATUS_HEAD = struct.Struct("<BBBBB")
_STATUS_CHANNEL = struct.Struct("<HHB")


def status_length(channels: int) -> int:
    return _STATUS_HEAD.size + _STATUS_CHANNEL.size * channels + 1


def encode_status(status: StatusReport) -> bytes:
    _check("acked sequence", status.acked_seq, 0, U8_MAX)
    _check("battery", status.battery_percent, 0, 100)
    faults = int(status.faults)
    if faults & ~FAULT_BITS:
        raise ProtocolError(f"reserved fault bits set: 0x{faults:02X}")
    _check("channels", len(status.channels), 1, MAX_CHANNELS)
    out = bytearray(
        _STATUS_HEAD.pack(
            STATUS_TYPE, status.acked_seq, status.battery_percent, faults, len(status.channels)
        )
    )
    for channel in status.channels:
        flags = int(channel.flags)
        if flags & ~CHANNEL_FLAG_BITS:
            raise ProtocolError(f"unknown channel flag bits 0x{flags:02X}")
        out += _STATUS_CHANNEL.pack(
            _check("delivered intensity", channel.delivered, 0, U16_MAX),
            _check("impedance", channel.impedance_ohm, 0, U16_MAX),
            flags,
        )
    out.append(crc8(bytes(out)))
    return bytes(out)


def decode_status(data: bytes) -> StatusReport:
    """Parse and check a status. Wrong type, length, battery, fault bits or CRC: ProtocolError.

    Unknown channel flag bits (3–7), which the document does not reserve, are ignored.
    """
    data = bytes(data)
    if len(data) < _STATUS_HEAD.size + 1:
        raise ProtocolError(f"status is {len(data)} bytes, too short")
    kind, acked, battery, faults, channels = _STATUS_HEAD.unpack_from(data)
    if kind != STATUS_TYPE:
        raise ProtocolError(f"status type is 0x{kind:02X}, expected 0x53")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ProtocolError(f"status names {channels} channels, expected 1..4")
    expected = status_length(channels)
    if len(data) != expected:
        raise ProtocolError(
            f"status is {len(data)} bytes, expected {expected} for {channels} channels"
        )
    if crc8(data[:-1]) != data[-1]:
        raise ProtocolError(f"status CRC is 0x{data[-1]:02X}, computed 0x{crc8(data[:-1]):02X}")
    if battery > 100:
        raise ProtocolError(f"battery {battery} % is above 100")
    if faults & ~FAULT_BITS:
        raise ProtocolError(f"reserved fault bits set: 0x{faults:02X}")
    reports = []
    for k in range(channels):
        delivered, impedance, flags = _STATUS_CHANNEL.unpack_from(
            data, _STATUS_HEAD.size + _STATUS_CHANNEL.size * k
        )
        reports.append(ChannelReport(delivered, impedance, ChannelFlags(flags & CHANNEL_FLAG_BITS)))
    return StatusReport(acked, battery, FaultBits(faults), tuple(reports))


# --- battery service ------------------------------------------------------------------------


def decode_battery_level(data: bytes) -> int:
    """The standard Battery Level characteristic (0x2A19): one byte, 0–100 %."""
    data = bytes(data)
    if len(data) != 1:
        raise ProtocolError(f"battery level is {len(data)} bytes, expected 1")
    if data[0] > 100:
        raise ProtocolError(f"battery level {data[0]} % is above 100")
    return data[0]
