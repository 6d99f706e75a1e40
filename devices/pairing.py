"""Pairing with a device through bleak: bond, forget, list bonds. Same code on every backend.

:func:`pair_device` connects, calls bleak's ``BleakClient.pair()`` and then proves the bond
by subscribing to a characteristic that needs an encrypted link (for OpenTENS, the status).
The passkey and numeric-comparison answers are passed as ``pair(passkey=...,
compare_numbers=...)``: the virtual radio's backend asks them; bleak's BlueZ backend ignores
them and BlueZ asks its registered agent instead (docs/raspberry-pi.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient
from bleak.exc import BleakDBusError, BleakError

from devices import registry
from devices.bleak_link import link_security_error, map_bleak_error
from devices.transport import BleTransport
from tens.device import DeviceError, PairingFailed

log = logging.getLogger(__name__)

PasskeySource = int | Callable[[], int | Awaitable[int | None] | None]
CompareNumbers = Callable[[int], bool | Awaitable[bool]]

OPENTENS_STATUS_UUID = "0e7e5003-1c8a-4b1f-9d3e-6a5d2c7b9f10"
"""What proves a bond with an OpenTENS device: its status needs an encrypted link."""
PAIR_TIMEOUT_S = 60.0

# SMP Pairing Failed reasons (Core Vol 3, Part H, 3.5.5)
_SMP_WRONG = {0x01, 0x04, 0x0C}  # passkey entry failed, confirm value failed, numeric comp.
_SMP_REFUSED = {0x03, 0x05, 0x09}  # authentication requirements, not supported, repeated
# BlueZ's D-Bus errors for Device1.Pair()
_BLUEZ_WRONG = {"org.bluez.Error.AuthenticationFailed", "org.bluez.Error.AuthenticationRejected"}
_BLUEZ_REFUSED = {
    "org.bluez.Error.AuthenticationCanceled",
    "org.bluez.Error.ConnectionAttemptFailed",
}
_BLUEZ_TIMEOUT = {"org.bluez.Error.AuthenticationTimeout"}


@dataclass(frozen=True)
class Paired:
    address: str
    name: str | None
    driver: str | None


def _failure(exc: BaseException, address: str) -> PairingFailed:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, BleakDBusError):
        name = exc.dbus_error
        code = (
            "wrong_passkey"
            if name in _BLUEZ_WRONG
            else "refused"
            if name in _BLUEZ_REFUSED
            else "timeout"
            if name in _BLUEZ_TIMEOUT
            else "failed"
        )
    elif isinstance(reason, int):
        code = (
            "wrong_passkey"
            if reason in _SMP_WRONG
            else "refused"
            if reason in _SMP_REFUSED
            else "failed"
        )
    elif isinstance(exc, TimeoutError):
        code = "timeout"
    else:
        code = "failed"
    words = {
        "wrong_passkey": "the passkey (or the number shown) did not match; nothing was stored. "
        "Check the passkey printed on the device and try again",
        "refused": "the device refused to pair (bonds full, or not in pairing mode: clear its "
        "bonds, e.g. with a long press, and try again)",
        "timeout": "pairing did not complete in time",
        "failed": f"pairing failed ({exc})",
    }[code]
    return PairingFailed(f"pairing with {address}: {words}", code)


async def pair_device(
    transport: BleTransport,
    address_or_name: str,
    *,
    passkey: PasskeySource | None = None,
    compare_numbers: CompareNumbers | None = None,
    scan_timeout: float = 5.0,
    pair_timeout_s: float = PAIR_TIMEOUT_S,
) -> Paired:
    """Bond with the device and prove the bond; returns the device's address.

    Raises DeviceNotFound, PairingFailed (code says why), LinkNotSecure (it paired but the
    device still refuses an encrypted request) or another DeviceError.
    """
    found = await registry.find(transport, address_or_name, scan_timeout)
    client = BleakClient(found.ble_device, timeout=scan_timeout * 2, **transport.client_options())
    try:
        await client.connect()
    except (BleakError, TimeoutError, OSError) as exc:
        raise map_bleak_error(exc, "connecting to pair") from exc
    try:
        try:
            async with asyncio.timeout(pair_timeout_s):
                await client.pair(passkey=passkey, compare_numbers=compare_numbers)
        except (BleakError, TimeoutError) as exc:
            raise _failure(exc, found.address) from exc
        await _prove(client)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return Paired(found.address, found.name, found.driver)


async def _prove(client: BleakClient) -> None:
    """Subscribe to the status and leave again: refused unless the link is encrypted."""
    services: Any = client.services
    if services is None or services.get_characteristic(OPENTENS_STATUS_UUID) is None:
        return  # not an OpenTENS device: bleak's pair() is all there is
    try:
        await client.start_notify(OPENTENS_STATUS_UUID, lambda _c, _d: None)
        await client.stop_notify(OPENTENS_STATUS_UUID)
    except BleakError as exc:
        insecure = link_security_error(exc, "the status after pairing")
        raise insecure or map_bleak_error(exc, "checking the new bond") from exc


async def forget_device(transport: BleTransport, address: str) -> None:
    """Delete this controller's bond with ``address`` (bleak's ``unpair()``)."""
    client = BleakClient(address, **transport.client_options())
    try:
        await client.unpair()
    except (BleakError, OSError) as exc:
        raise DeviceError(f"could not forget {address}: {exc}") from exc


async def bonded_addresses(transport: BleTransport) -> list[str] | None:
    """The devices this controller holds bonds with, or None when the backend cannot tell
    (BlueZ keeps them: ``bluetoothctl devices Paired``)."""
    if transport.bonds is None:
        return None
    return sorted(await transport.bonds())
