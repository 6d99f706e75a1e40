"""The simulator's own codec against every test vector of docs/opentens-profile.md."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.opentens.codec import (
    ChannelReport,
    Command,
    DeviceInfoRecord,
    Keepalive,
    MalformedMessage,
    SetLimits,
    SetOutput,
    Start,
    StatusReport,
    Stop,
    crc8,
    decode_command,
    decode_device_info,
    decode_status,
    encode_command,
    encode_device_info,
    encode_status,
)
from simulators.opentens.config import SimConfig
from simulators.opentens.profile import AttCode, ChannelFlag, FaultBit

A = ChannelFlag.ARMED
C = ChannelFlag.CONTACT
R = ChannelFlag.RAMPING

COMMAND_VECTORS = [
    (SetOutput(1, 0, 125, 200, 1000, 0), "0101007D00C800E80300"),
    (SetOutput(42, 1, 400, 250, 20, 0), "012A019001FA00140000"),
    (SetOutput(255, 0, 0, 100, 800, 1), "01FF0000006400200301"),
    (Stop(7, 0xFF), "0207FF"),
    (Stop(8, 0x02), "020802"),
    (Keepalive(9), "0309"),
    (SetLimits(3, 400, 20, 1000), "040390011400E803"),
    (Start(2, 0x03), "050203"),
]

STATUS_VECTORS = [
    (
        StatusReport(0, 100, 0, (ChannelReport(0, 1200, C), ChannelReport(0, 1250, C))),
        "53006400020000B004020000E20402DC",
    ),
    (
        StatusReport(
            1, 87, 0, (ChannelReport(125, 1180, A | C | R), ChannelReport(0, 1250, A | C))
        ),
        "53015700027D009C04070000E2040342",
    ),
    (
        StatusReport(
            4,
            86,
            FaultBit.ELECTRODE_OFF,
            (ChannelReport(0, 0xFFFF, ChannelFlag(0)), ChannelReport(0, 1250, A | C)),
        ),
        "53045602020000FFFF000000E204030C",
    ),
    (
        StatusReport(9, 9, FaultBit.WATCHDOG | FaultBit.LOW_BATTERY, (ChannelReport(0, 900, C),)),
        "53090909010000840302D2",
    ),
]

INFO_VECTOR = (
    DeviceInfoRecord(2, 800, 1, 50, 400, 10, 1500, 0b111, 50, 1000, "sim-1.0"),
    "020220030100320090010A00DC05073200E8030773696D2D312E30",
)


def test_crc8_check_value() -> None:
    assert crc8(b"123456789") == 0xF4


@pytest.mark.parametrize(("command", "hex_"), COMMAND_VECTORS)
def test_command_vectors(command: Command, hex_: str) -> None:
    assert decode_command(bytes.fromhex(hex_)) == command
    assert encode_command(command).hex().upper() == hex_


@pytest.mark.parametrize(("status", "hex_"), STATUS_VECTORS)
def test_status_vectors(status: StatusReport, hex_: str) -> None:
    assert decode_status(bytes.fromhex(hex_)) == status
    assert encode_status(status).hex().upper() == hex_


def test_device_info_vector_and_the_default_config() -> None:
    info, hex_ = INFO_VECTOR
    assert decode_device_info(bytes.fromhex(hex_)) == info
    assert encode_device_info(info).hex().upper() == hex_
    assert SimConfig().device_info() == info


@pytest.mark.parametrize(
    "hex_",
    [
        "53006400020000B004020000E20402DD",  # bad CRC
        "530064000200",  # truncated
        "5300642002",  # reserved fault bit, short
        "53006420020000B004020000E20402",  # reserved fault bit, full length (CRC fixed below)
    ],
)
def test_malformed_status_vectors_are_refused(hex_: str) -> None:
    data = bytes.fromhex(hex_)
    if len(data) == 15:
        data += bytes([crc8(data)])  # a valid CRC: only the reserved bit is wrong
    with pytest.raises(MalformedMessage):
        decode_status(data)


def test_other_malformed_statuses() -> None:
    good = bytes.fromhex("53006400020000B004020000E20402DC")
    for bad in (
        b"\x00" + good[1:-1],  # wrong type
        good[:2] + bytes([101]) + good[3:-1],  # battery above 100
        good[:4] + b"\x03" + good[5:-1],  # channel count disagrees with the length
        good[:4] + b"\x00" + good[5:-1],  # zero channels
    ):
        with pytest.raises(MalformedMessage):
            decode_status(bad + bytes([crc8(bad)]))
    with pytest.raises(MalformedMessage):
        decode_status(good + b"\x00")  # one byte long


@pytest.mark.parametrize(
    ("hex_", "code"),
    [
        ("0901", AttCode.UNKNOWN_OPCODE),
        ("0101007D00C800E803", AttCode.BAD_LENGTH),
        ("", AttCode.BAD_LENGTH),
        ("0207FF00", AttCode.BAD_LENGTH),
        ("03", AttCode.BAD_LENGTH),
    ],
)
def test_malformed_commands_carry_their_att_code(hex_: str, code: AttCode) -> None:
    with pytest.raises(MalformedMessage) as info:
        decode_command(bytes.fromhex(hex_))
    assert info.value.att_code == code


def test_malformed_device_info() -> None:
    good = bytes.fromhex(INFO_VECTOR[1])
    for bad in (
        good[:-1],  # firmware truncated
        b"\x03" + good[1:],  # unknown version
        b"\x01" + good[1:],  # version 1: no link security
        good[:1] + b"\x00" + good[2:],  # zero channels
        good[:14] + b"\x00" + good[15:],  # no waveform
        good[:6] + (500).to_bytes(2, "little") + good[8:],  # pulse width min > max
    ):
        with pytest.raises(MalformedMessage):
            decode_device_info(bad)


@given(st.binary(max_size=64))
def test_random_bytes_never_crash_the_decoders(data: bytes) -> None:
    for decode in (decode_status, decode_command, decode_device_info):
        try:
            decode(data)
        except MalformedMessage:
            pass


u16 = st.integers(0, 0xFFFF)
channel_reports = st.builds(ChannelReport, u16, u16, st.builds(ChannelFlag, st.integers(0, 7)))
statuses = st.builds(
    StatusReport,
    st.integers(0, 255),
    st.integers(0, 100),
    st.integers(0, 0x1F),
    st.lists(channel_reports, min_size=1, max_size=4).map(tuple),
)


@given(statuses)
def test_every_encodable_status_decodes_back(status: StatusReport) -> None:
    assert decode_status(encode_status(status)) == status


@given(statuses, st.integers(0, 255), st.data())
def test_any_single_byte_change_is_caught(
    status: StatusReport, flip: int, data: st.DataObject
) -> None:
    raw = bytearray(encode_status(status))
    index = data.draw(st.integers(0, len(raw) - 1))
    if flip == 0:
        flip = 1
    raw[index] ^= flip
    try:
        decoded = decode_status(bytes(raw))
    except MalformedMessage:
        return
    raise AssertionError(f"a corrupted status decoded as {decoded}")


u8 = st.integers(0, 255)
commands = st.one_of(
    st.builds(SetOutput, u8, u8, u16, u16, u16, u8),
    st.builds(Stop, u8, u8),
    st.builds(Keepalive, u8),
    st.builds(SetLimits, u8, u16, u16, u16),
    st.builds(Start, u8, u8),
)


@given(commands)
def test_every_command_round_trips(command: Command) -> None:
    assert decode_command(encode_command(command)) == command
