"""BlueZ's D-Bus error names, and how bluetoothd turns an ATT error into one.

bluetoothd (src/gatt-client.c, ``create_gatt_dbus_error``) maps a few ATT codes to their
own error names and every other code to ``org.bluez.Error.Failed`` with the text
``Operation failed with ATT error: 0x%02x``; bleak's BlueZ backend parses that text back
into ``BleakGATTProtocolError``. This module reproduces that mapping.
"""

from __future__ import annotations

from dbus_fast.errors import DBusError

PREFIX = "org.bluez.Error."
FAILED = PREFIX + "Failed"
IN_PROGRESS = PREFIX + "InProgress"
NOT_PERMITTED = PREFIX + "NotPermitted"
NOT_SUPPORTED = PREFIX + "NotSupported"
NOT_AUTHORIZED = PREFIX + "NotAuthorized"
NOT_READY = PREFIX + "NotReady"
NOT_CONNECTED = PREFIX + "NotConnected"
INVALID_ARGUMENTS = PREFIX + "InvalidArguments"
DOES_NOT_EXIST = PREFIX + "DoesNotExist"
ALREADY_EXISTS = PREFIX + "AlreadyExists"

# ATT error codes with a name of their own in bluetoothd
ATT_READ_NOT_PERMITTED = 0x02
ATT_WRITE_NOT_PERMITTED = 0x03
ATT_AUTHENTICATION = 0x05
ATT_REQUEST_NOT_SUPPORTED = 0x06
ATT_INVALID_OFFSET = 0x07
ATT_AUTHORIZATION = 0x08
ATT_INSUFFICIENT_ENCRYPTION_KEY_SIZE = 0x0C
ATT_INVALID_ATTRIBUTE_VALUE_LEN = 0x0D
ATT_UNLIKELY_ERROR = 0x0E
ATT_INSUFFICIENT_ENCRYPTION = 0x0F

LE_ABORT_BY_LOCAL = "le-connection-abort-by-local"


class AttError(Exception):
    """Raised by a simulated characteristic's handler: the device answers with this ATT
    error code (0x01-0xFF)."""

    def __init__(self, code: int, detail: str = "") -> None:
        if not 0 < code <= 0xFF:
            raise ValueError("an ATT error code is 0x01-0xFF")
        super().__init__(f"ATT error 0x{code:02X}" + (f": {detail}" if detail else ""))
        self.code = code
        self.detail = detail


def att_dbus_error(code: int) -> DBusError:
    """The error bluetoothd replies with when the device answered ATT error ``code``."""
    if code == ATT_READ_NOT_PERMITTED:
        return DBusError(NOT_PERMITTED, "Read not permitted")
    if code == ATT_WRITE_NOT_PERMITTED:
        return DBusError(NOT_PERMITTED, "Write not permitted")
    if code in (
        ATT_AUTHENTICATION,
        ATT_INSUFFICIENT_ENCRYPTION,
        ATT_INSUFFICIENT_ENCRYPTION_KEY_SIZE,
    ):
        return DBusError(NOT_PERMITTED, "Not paired")
    if code == ATT_INVALID_OFFSET:
        return DBusError(INVALID_ARGUMENTS, "Invalid offset")
    if code == ATT_INVALID_ATTRIBUTE_VALUE_LEN:
        return DBusError(INVALID_ARGUMENTS, "Invalid Length")
    if code == ATT_AUTHORIZATION:
        return DBusError(NOT_AUTHORIZED, "Operation Not Authorized")
    if code == ATT_REQUEST_NOT_SUPPORTED:
        return DBusError(NOT_SUPPORTED, "Operation is not supported")
    return DBusError(FAILED, f"Operation failed with ATT error: 0x{code:02x}")
