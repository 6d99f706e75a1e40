"""The OpenTENS codec against every test vector of docs/opentens-profile.md, both ways."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.opentens.codec import (
    ChannelReport,
    Command,
    Keepalive,
    ProfileInfo,
    ProtocolError,
    SetLimits,
    SetOutput,
    Start,
    StatusReport,
    Stop,
    crc8,
    decode_battery_level,
    decode_command,
    decode_info,
    decode_status,
    encode_command,
    encode_info,
    encode_status,
    status_length,
)
from devices.opentens.profile import (
    ChannelFlags,
    FaultBits,
    WaveformCode,
    WaveformSet,
    describe_att_error,
)

CONTACT = ChannelFlags.CONTACT
ARMED = ChannelFlags.ARMED
RAMPING = ChannelFlags.RAMPING

COMMAND_VECTORS: list[tuple[Command, str]] = [
    (SetOutput(1, 0, 125, 200, 1000, WaveformCode.CONTINUOUS), "0101007D00C800E80300"),
    (SetOutput(42, 1, 400, 250, 20, WaveformCode.CONTINUOUS), "012A019001FA00140000"),
    (SetOutput(255, 0, 0, 100, 800, WaveformCode.BURST), "01FF0000006400200301"),
    (Stop(7, 0xFF), "0207FF"),
    (Stop(8, 0x02), "020802"),
    (Keepalive(9), "0309"),
    (SetLimits(3, 400, 20, 1000), "040390011400E803"),
    (Start(2, 0x03), "050203"),
]

STATUS_VECTORS: list[tuple[StatusReport, str]] = [
    (
        StatusReport(
            0,
            100,
            FaultBits(0),
            (ChannelReport(0, 1200, CONTACT), ChannelReport(0, 1250, CONTACT)),
        ),
        "53006400020000B004020000E20402DC",
    ),
    (
        StatusReport(
            1,
            87,
            FaultBits(0),
            (
                ChannelReport(125, 1180, ARMED | CONTACT | RAMPING),
                ChannelReport(0, 1250, ARMED | CONTACT),
            ),
        ),
        "53015700027D009C04070000E2040342",
    ),
    (
        StatusReport(
            4,
            86,
            FaultBits.ELECTRODE_OFF,
            (ChannelReport(0, 0xFFFF, ChannelFlags(0)), ChannelReport(0, 1250, ARMED | CONTACT)),
        ),
        "53045602020000FFFF000000E204030C",
    ),
    (
        StatusReport(
            9,
            9,
            FaultBits.WATCHDOG | FaultBits.LOW_BATTERY,
            (ChannelReport(0, 900, CONTACT),),
        ),
        "53090909010000840302D2",
    ),
]

INFO_VECTOR = (
    ProfileInfo(
        version=2,
        channels=2,
        intensity_max=800,
        intensity_step=1,
        pulse_width_min=50,
        pulse_width_max=400,
        frequency_min=10,
        frequency_max=1500,
        waveforms=WaveformSet.CONTINUOUS | WaveformSet.BURST | WaveformSet.MODULATED,
        ramp_max=50,
        watchdog_ms=1000,
        firmware="sim-1.0",
    ),
    "020220030100320090010A00DC05073200E8030773696D2D312E30",
)


def test_crc8_check_value() -> None:
    assert crc8(b"123456789") == 0xF4


@pytest.mark.parametrize(("command", "hex_bytes"), COMMAND_VECTORS)
def test_command_vectors(command: Command, hex_bytes: str) -> None:
    assert encode_command(command).hex().upper() == hex_bytes
    assert decode_command(bytes.fromhex(hex_bytes)) == command


@pytest.mark.parametrize(("status", "hex_bytes"), STATUS_VECTORS)
def test_status_vectors(status: StatusReport, hex_bytes: str) -> None:
    assert decode_status(bytes.fromhex(hex_bytes)) == status
    assert encode_status(status).hex().upper() == hex_bytes


def test_status_vector_details() -> None:
    report = decode_status(bytes.fromhex("53045602020000FFFF000000E204030C"))
    assert report.channels[0].open_circuit and not report.channels[0].contact
    assert report.channels[1].armed and report.channels[1].contact
    assert not report.channels[1].ramping


def test_info_vector() -> None:
    info, hex_bytes = INFO_VECTOR
    assert decode_info(bytes.fromhex(hex_bytes)) == info
    assert encode_info(info).hex().upper() == hex_bytes


@pytest.mark.parametrize(
    ("decoder", "hex_bytes", "why"),
    [
        (decode_status, "53006400020000B004020000E20402DD", "CRC"),
        (decode_status, "530064000200", "bytes"),
        (decode_command, "0901", "unknown opcode"),
        (decode_command, "0101007D00C800E803", "must be 10 bytes"),
    ],
)
def test_malformed_vectors(decoder: Callable[[bytes], object], hex_bytes: str, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decoder(bytes.fromhex(hex_bytes))


@pytest.mark.parametrize("crc", range(256))
def test_reserved_fault_bit_refused_with_any_crc(crc: int) -> None:
    body = bytes.fromhex("5300642002") + bytes.fromhex("0000B0040200") + bytes([crc])
    # also the same body with a correct CRC over a 1-channel and a 2-channel layout
    with pytest.raises(ProtocolError):
        decode_status(body)
    good_len = bytes.fromhex("5300642001") + bytes.fromhex("0000B00402")
    with pytest.raises(ProtocolError, match="reserved fault bits"):
        decode_status(good_len + bytes([crc8(good_len)]))


def _status_with_crc(body_hex: str) -> bytes:
    body = bytes.fromhex(body_hex)
    return body + bytes([crc8(body)])


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_status_with_crc("54006400010000B00402"), "type"),
        (_status_with_crc("53006500010000B00402"), "battery"),
        (_status_with_crc("53006400000000B00402"), "channels"),
        (_status_with_crc("53006400050000B00402"), "channels"),
        (_status_with_crc("53006400020000B00402"), "expected 16"),
        (b"", "too short"),
    ],
)
def test_malformed_status(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_status(data)


def _info_hex_with(offset: int, value: bytes) -> bytes:
    raw = bytearray(bytes.fromhex(INFO_VECTOR[1]))
    raw[offset : offset + len(value)] = value
    return bytes(raw)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_info_hex_with(0, b"\x01"), "version 1 is not supported"),
        (_info_hex_with(0, b"\x03"), "version 3 is not supported"),
        (_info_hex_with(0, b"\x00"), "version 0"),
        (_info_hex_with(1, b"\x00"), "channels"),
        (_info_hex_with(1, b"\x05"), "channels"),
        (_info_hex_with(6, (500).to_bytes(2, "little")), "pulse width min"),
        (_info_hex_with(10, (2000).to_bytes(2, "little")), "frequency min"),
        (_info_hex_with(14, b"\x00"), "no waveform"),
        (_info_hex_with(14, b"\x0f"), "unknown waveform bits"),
        (_info_hex_with(4, b"\x00\x00"), "intensity step"),
        (_info_hex_with(17, b"\x00\x00"), "watchdog"),
        (bytes.fromhex(INFO_VECTOR[1])[:-1], "expected 27"),
        (bytes.fromhex(INFO_VECTOR[1]) + b"x", "expected 27"),
        (bytes.fromhex(INFO_VECTOR[1])[:19], "at least 20"),
        (_info_hex_with(19, b"\x21") + b"x" * 26, "above 32"),
        (_info_hex_with(20, b"\xff"), "UTF-8"),
    ],
)
def test_malformed_info(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_info(data)


@pytest.mark.parametrize(
    "command",
    [
        Keepalive(0),
        Keepalive(256),
        SetOutput(1, 0, 0x10000, 100, 100),
        SetOutput(1, 0, -1, 100, 100),
        Stop(1, 0x100),
        SetLimits(1, 1, 1, 0x10000),
    ],
)
def test_unencodable_commands(command: Command) -> None:
    with pytest.raises(ProtocolError):
        encode_command(command)


def test_unknown_waveform_code_refused() -> None:
    with pytest.raises(ProtocolError, match="waveform"):
        decode_command(bytes.fromhex("0101007D00C800E80303"))
    with pytest.raises(ProtocolError, match="waveform"):
        encode_command(SetOutput(1, 0, 1, 1, 1, 7))  # type: ignore[arg-type]


def test_sequence_zero_never_decoded() -> None:
    with pytest.raises(ProtocolError, match="sequence"):
        decode_command(bytes.fromhex("0300"))


def test_battery_level() -> None:
    assert decode_battery_level(b"\x57") == 87
    for bad in (b"", b"\x65", b"\x01\x02"):
        with pytest.raises(ProtocolError):
            decode_battery_level(bad)


def test_att_error_names() -> None:
    assert describe_att_error(0x83).startswith("OVER_LIMIT (0x83)")
    assert "not an OpenTENS code" in describe_att_error(0x0E)


# --- properties -----------------------------------------------------------------------------

seqs = st.integers(1, 255)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)

commands = st.one_of(
    st.builds(SetOutput, seqs, u8, u16, u16, u16, st.sampled_from(list(WaveformCode))),
    st.builds(Stop, seqs, u8),
    st.builds(Keepalive, seqs),
    st.builds(SetLimits, seqs, u16, u16, u16),
    st.builds(Start, seqs, u8),
)

channel_reports = st.builds(ChannelReport, u16, u16, st.integers(0, 7).map(ChannelFlags))
statuses = st.builds(
    StatusReport,
    u8,
    st.integers(0, 100),
    st.integers(0, 0x1F).map(FaultBits),
    st.lists(channel_reports, min_size=1, max_size=4).map(tuple),
)


@st.composite
def infos(draw: st.DrawFn) -> ProfileInfo:
    imax = draw(st.integers(1, 0xFFFF))
    pw_max = draw(st.integers(1, 0xFFFF))
    f_max = draw(st.integers(1, 0xFFFF))
    return ProfileInfo(
        version=2,
        channels=draw(st.integers(1, 4)),
        intensity_max=imax,
        intensity_step=draw(st.integers(1, imax)),
        pulse_width_min=draw(st.integers(0, pw_max)),
        pulse_width_max=pw_max,
        frequency_min=draw(st.integers(0, f_max)),
        frequency_max=f_max,
        waveforms=WaveformSet(draw(st.integers(1, 7))),
        ramp_max=draw(st.integers(1, 0xFFFF)),
        watchdog_ms=draw(st.integers(1, 0xFFFF)),
        firmware=draw(st.text(max_size=32).filter(lambda s: len(s.encode("utf-8")) <= 32)),
    )


@given(commands)
def test_every_command_round_trips(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


@given(statuses)
def test_every_status_round_trips(status: StatusReport) -> None:
    data = encode_status(status)
    assert len(data) == status_length(len(status.channels))
    assert decode_status(data) == status


@given(infos())
def test_every_info_round_trips(info: ProfileInfo) -> None:
    assert decode_info(encode_info(info)) == info


@given(statuses, st.integers(0, 100), st.integers(0, 7))
def test_any_single_bit_flip_in_a_status_is_caught(
    status: StatusReport, where: int, bit: int
) -> None:
    data = bytearray(encode_status(status))
    data[where % len(data)] ^= 1 << bit
    try:
        decoded = decode_status(bytes(data))
    except ProtocolError:
        return
    # CRC-8 catches every single-bit error, so nothing may decode to a different state
    raise AssertionError(f"bit flip decoded as {decoded}")


@given(st.binary(max_size=64))
def test_random_bytes_never_crash_the_decoders(data: bytes) -> None:
    for decoder in (decode_status, decode_info, decode_command, decode_battery_level):
        try:
            decoder(data)
        except ProtocolError:
            pass


@given(st.integers(0, 4), st.binary(min_size=4, max_size=4), st.binary(max_size=25))
def test_random_status_with_a_valid_crc_decodes_or_is_refused(
    channels: int, head: bytes, body: bytes
) -> None:
    data = bytes([0x53]) + head[:3] + bytes([channels]) + body
    data += bytes([crc8(data)])
    try:
        report = decode_status(data)
    except ProtocolError:
        return
    assert len(report.channels) == channels
    assert report.battery_percent <= 100


@given(st.binary(min_size=19, max_size=19), st.binary(max_size=40))
def test_random_info_decodes_or_is_refused(head: bytes, tail: bytes) -> None:
    data = b"\x01" + head + tail
    try:
        info = decode_info(data)
    except ProtocolError:
        return
    assert 1 <= info.channels <= 4
    assert info.pulse_width_min <= info.pulse_width_max
