"""Constants of the OpenTENS GATT profile, version 2 (docs/opentens-profile.md).

Only numbers and names live here: UUIDs, opcodes, ATT error codes, bit meanings and units.
The codec (``codec.py``) turns bytes into typed messages with them; the driver uses the UUIDs.
"""

from __future__ import annotations

import enum

PROFILE_VERSION = 2

SERVICE_UUID = "0e7e5000-1c8a-4b1f-9d3e-6a5d2c7b9f10"
DEVICE_INFO_UUID = "0e7e5001-1c8a-4b1f-9d3e-6a5d2c7b9f10"
CONTROL_POINT_UUID = "0e7e5002-1c8a-4b1f-9d3e-6a5d2c7b9f10"
STATUS_UUID = "0e7e5003-1c8a-4b1f-9d3e-6a5d2c7b9f10"

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

MAX_CHANNELS = 4
MAX_FIRMWARE_LENGTH = 32
ALL_CHANNELS_MASK = 0xFF
STATUS_TYPE = 0x53  # "S"
LOW_BATTERY_CUTOFF_PERCENT = 5

INTENSITY_UNIT_MA = 0.1
"""One intensity unit on the air, in mA (also the ramp unit, in mA/s)."""
FREQUENCY_UNIT_HZ = 0.1
"""One frequency unit on the air, in Hz."""
OPEN_CIRCUIT_OHM = 0xFFFF
"""The impedance value that means "no contact"."""


class Opcode(enum.IntEnum):
    SET_OUTPUT = 0x01
    STOP = 0x02
    KEEPALIVE = 0x03
    SET_LIMITS = 0x04
    START = 0x05


COMMAND_LENGTH: dict[Opcode, int] = {
    Opcode.SET_OUTPUT: 10,
    Opcode.STOP: 3,
    Opcode.KEEPALIVE: 2,
    Opcode.SET_LIMITS: 8,
    Opcode.START: 3,
}


class WaveformCode(enum.IntEnum):
    CONTINUOUS = 0
    BURST = 1
    MODULATED = 2


class WaveformSet(enum.IntFlag):
    """The device info's waveform bits."""

    CONTINUOUS = 0x01
    BURST = 0x02
    MODULATED = 0x04


WAVEFORM_BITS = 0x07


class FaultBits(enum.IntFlag):
    WATCHDOG = 0x01
    ELECTRODE_OFF = 0x02
    LIMIT_REFUSED = 0x04
    LOW_BATTERY = 0x08
    INTERNAL = 0x10


FAULT_BITS = 0x1F


class ChannelFlags(enum.IntFlag):
    ARMED = 0x01
    CONTACT = 0x02
    RAMPING = 0x04


CHANNEL_FLAG_BITS = 0x07


class AttErrorCode(enum.IntEnum):
    """The profile's application ATT error codes (write responses of the control point)."""

    UNKNOWN_OPCODE = 0x80
    BAD_LENGTH = 0x81
    OUT_OF_RANGE = 0x82
    OVER_LIMIT = 0x83
    NOT_ARMED = 0x84
    ELECTRODE_OFF = 0x85
    BAD_CHANNEL = 0x86
    BUSY = 0x87
    LOW_BATTERY = 0x88


ATT_ERROR_MEANING: dict[AttErrorCode, str] = {
    AttErrorCode.UNKNOWN_OPCODE: "the device does not know this command",
    AttErrorCode.BAD_LENGTH: "the command had the wrong length",
    AttErrorCode.OUT_OF_RANGE: "a value is outside the device's ranges or factory limits",
    AttErrorCode.OVER_LIMIT: "the intensity is above the device's current maximum",
    AttErrorCode.NOT_ARMED: "the channel has not been started since connect, a watchdog trip "
    "or an electrode coming off",
    AttErrorCode.ELECTRODE_OFF: "the electrode on this channel has no skin contact",
    AttErrorCode.BAD_CHANNEL: "the device has no such channel",
    AttErrorCode.BUSY: "the device cannot take the command now",
    AttErrorCode.LOW_BATTERY: "the battery is too low to stimulate",
}


def describe_att_error(code: int) -> str:
    """``"OVER_LIMIT (0x83): the intensity is above ..."``, or a generic text for other codes."""
    try:
        known = AttErrorCode(code)
    except ValueError:
        return f"ATT error 0x{code:02X} (not an OpenTENS code)"
    return f"{known.name} (0x{code:02X}): {ATT_ERROR_MEANING[known]}"
