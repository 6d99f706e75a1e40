"""Numbers of the OpenTENS GATT profile v2 (docs/opentens-profile.md), as the device sees them."""

from __future__ import annotations

import enum

PROFILE_VERSION = 2

SERVICE_UUID = "0e7e5000-1c8a-4b1f-9d3e-6a5d2c7b9f10"
DEVICE_INFO_UUID = "0e7e5001-1c8a-4b1f-9d3e-6a5d2c7b9f10"
CONTROL_POINT_UUID = "0e7e5002-1c8a-4b1f-9d3e-6a5d2c7b9f10"
STATUS_UUID = "0e7e5003-1c8a-4b1f-9d3e-6a5d2c7b9f10"

STATUS_TYPE = 0x53
OPEN_CIRCUIT_OHM = 0xFFFF
ALL_CHANNELS_MASK = 0xFF
MAX_CHANNELS = 4
MAX_FIRMWARE_LEN = 32

LOW_BATTERY_WARN_PERCENT = 10
LOW_BATTERY_CUTOFF_PERCENT = 5


class Opcode(enum.IntEnum):
    SET_OUTPUT = 0x01
    STOP = 0x02
    KEEPALIVE = 0x03
    SET_LIMITS = 0x04
    START = 0x05


# Exact length of each command on the air.
COMMAND_LENGTH: dict[Opcode, int] = {
    Opcode.SET_OUTPUT: 10,
    Opcode.STOP: 3,
    Opcode.KEEPALIVE: 2,
    Opcode.SET_LIMITS: 8,
    Opcode.START: 3,
}


class AttCode(enum.IntEnum):
    """Application ATT error codes a control-point write may be refused with."""

    UNKNOWN_OPCODE = 0x80
    BAD_LENGTH = 0x81
    OUT_OF_RANGE = 0x82
    OVER_LIMIT = 0x83
    NOT_ARMED = 0x84
    ELECTRODE_OFF = 0x85
    BAD_CHANNEL = 0x86
    BUSY = 0x87
    LOW_BATTERY = 0x88


class FaultBit(enum.IntFlag):
    WATCHDOG = 0x01
    ELECTRODE_OFF = 0x02
    LIMIT_REFUSED = 0x04
    LOW_BATTERY = 0x08
    INTERNAL = 0x10


FAULT_RESERVED_MASK = 0xE0


class ChannelFlag(enum.IntFlag):
    ARMED = 0x01
    CONTACT = 0x02
    RAMPING = 0x04


class WaveformCode(enum.IntEnum):
    CONTINUOUS = 0
    BURST = 1
    MODULATED = 2
