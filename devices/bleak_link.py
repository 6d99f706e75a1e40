"""Shared bleak helpers for every driver: scanning, bounded connects, error mapping.

Drivers (OpenTENS, Coyote, ...) never call ``BleakScanner``/``establish_connection`` on their
own: they go through here, so that every driver gets the same bounded timeouts, the same
translation of bleak's exceptions into the domain's :class:`~tens.device.DeviceError` family,
and works on any :class:`~devices.transport.BleTransport` (system Bluetooth or the virtual
radio).

Facts respected here (bleak 3.x, bleak-retry-connector 4.x): ``establish_connection`` passes
extra keyword arguments (``backend=`` …) through to the client class; ATT errors surface as
``BleakGATTProtocolError`` with ``.code``; RSSI comes from ``AdvertisementData.rssi``; connect
retries happen only here, at connect time — a command is never retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)
from bleak_retry_connector import (
    BleakAbortedError,
    BleakClientWithServiceCache,
    BleakConnectionError,
    BleakNotFoundError,
    establish_connection,
)

from devices.registry import BluetoothUnavailable
from devices.transport import BleTransport
from tens.device import (
    Advertisement,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceRejected,
    DeviceTimeout,
    LinkNotSecure,
)

__all__ = [
    "BluetoothUnavailable",
    "LinkClient",
    "Seen",
    "att_error_code",
    "characteristic_present",
    "connect_client",
    "disconnect_client",
    "discover",
    "map_bleak_error",
    "to_advertisement",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 20.0
DEFAULT_CONNECT_ATTEMPTS = 2
DEFAULT_DISCONNECT_TIMEOUT_S = 5.0


class LinkClient(BleakClientWithServiceCache):
    """The client class every driver connects with (through ``establish_connection``).

    ``establish_connection`` forwards unknown keyword arguments to this constructor, and
    :class:`bleak.BleakClient` forwards ``backend=`` and its other options, so a transport's
    ``client_options()`` reach the backend unchanged.
    """


# --- advertisements and scanning ------------------------------------------------------------


def to_advertisement(device: BLEDevice, adv: AdvertisementData) -> Advertisement:
    """bleak's scan result as the domain's library-independent :class:`Advertisement`."""
    return Advertisement(
        address=device.address,
        name=adv.local_name or device.name,
        rssi=adv.rssi,
        service_uuids=tuple(u.lower() for u in adv.service_uuids),
        manufacturer_data=dict(adv.manufacturer_data),
        service_data={k.lower(): bytes(v) for k, v in adv.service_data.items()},
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """One device a scan saw: bleak's handle (to connect with) and what it advertised."""

    ble_device: BLEDevice
    advertisement: Advertisement


async def discover(
    transport: BleTransport,
    timeout: float,  # noqa: ASYNC109 (scan length, not a deadline)
    *,
    stop_when: Callable[[Advertisement], bool] | None = None,
) -> list[Seen]:
    """Scan for ``timeout`` seconds (or until ``stop_when`` says yes); newest data per address.

    Raises :class:`BluetoothUnavailable` when there is no adapter or Bluetooth stack.
    """
    seen: dict[str, Seen] = {}
    done = asyncio.Event()

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        item = Seen(device, to_advertisement(device, adv))
        previous = seen.get(device.address)
        if previous is not None and item.advertisement.name is None:
            # keep a name learned from an earlier packet (scan responses carry it)
            item = Seen(
                device,
                Advertisement(
                    address=item.advertisement.address,
                    name=previous.advertisement.name,
                    rssi=item.advertisement.rssi,
                    service_uuids=item.advertisement.service_uuids
                    or previous.advertisement.service_uuids,
                    manufacturer_data=item.advertisement.manufacturer_data,
                    service_data=item.advertisement.service_data,
                ),
            )
        seen[device.address] = item
        if stop_when is not None and stop_when(item.advertisement):
            done.set()

    try:
        scanner = BleakScanner(on_advertisement, **transport.scanner_options())
        async with scanner:
            try:
                await asyncio.wait_for(done.wait(), timeout=max(0.0, timeout))
            except TimeoutError:
                pass
    except (BleakBluetoothNotAvailableError, BleakDBusError, OSError) as exc:
        raise BluetoothUnavailable(_unavailable_message(transport, exc)) from exc
    except BleakError as exc:
        raise BluetoothUnavailable(_unavailable_message(transport, exc)) from exc
    return list(seen.values())


def _unavailable_message(transport: BleTransport, exc: BaseException) -> str:
    detail = str(exc) or type(exc).__name__
    return (
        f"Bluetooth is not available via {transport.description} ({detail}). "
        "Check that an adapter is present and BlueZ is running, or use --simulator."
    )


# --- connecting -----------------------------------------------------------------------------


async def connect_client(
    transport: BleTransport,
    ble_device: BLEDevice,
    *,
    name: str,
    disconnected_callback: Callable[[BleakClient], None] | None = None,
    timeout: float = DEFAULT_CONNECT_TIMEOUT_S,  # noqa: ASYNC109 (bounds the retries too)
    max_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
) -> LinkClient:
    """Connect with bleak-retry-connector's retries, the whole of it bounded by ``timeout``.

    Raises :class:`DeviceNotFound`, :class:`DeviceTimeout` or :class:`DeviceError` with a
    message a person can act on; never a bleak exception.
    """
    label = name or ble_device.address
    try:
        async with asyncio.timeout(timeout):
            client = await establish_connection(
                LinkClient,
                ble_device,
                label,
                disconnected_callback=disconnected_callback,
                max_attempts=max_attempts,
                **transport.client_options(),
            )
    except TimeoutError as exc:
        raise DeviceTimeout(
            f"{label} ({ble_device.address}) did not accept a connection within {timeout:g} s; "
            "is it on, in range and free (not connected to another controller)?"
        ) from exc
    except (BleakNotFoundError, BleakDeviceNotFoundError) as exc:
        raise DeviceNotFound(
            f"{label} ({ble_device.address}) was not found: is it on, in range and not "
            f"connected to another phone or controller? ({exc})"
        ) from exc
    except (BleakAbortedError, BleakConnectionError) as exc:
        raise DeviceError(f"could not connect to {label} ({ble_device.address}): {exc}") from exc
    except (BleakBluetoothNotAvailableError, OSError) as exc:
        raise BluetoothUnavailable(_unavailable_message(transport, exc)) from exc
    except BleakError as exc:
        raise map_bleak_error(exc, f"connecting to {label}") from exc
    return client


async def disconnect_client(
    client: BleakClient, limit_s: float = DEFAULT_DISCONNECT_TIMEOUT_S
) -> None:
    """Disconnect, bounded, swallowing errors (the link may already be gone)."""
    try:
        async with asyncio.timeout(limit_s):
            await client.disconnect()
    except (TimeoutError, BleakError, OSError, EOFError) as exc:
        log.debug("disconnect of %s ended with %r", client.address, exc)


# --- errors ---------------------------------------------------------------------------------


def att_error_code(exc: BaseException) -> int | None:
    """The ATT error code of a GATT protocol error, else None."""
    if isinstance(exc, BleakGATTProtocolError):
        return int(exc.code)
    return None


ATT_INSUFFICIENT_AUTHENTICATION = 0x05
ATT_INSUFFICIENT_ENCRYPTION_KEY_SIZE = 0x0C
ATT_INSUFFICIENT_ENCRYPTION = 0x0F
PAIR_AGAIN = "run `tens pair` (after `tens pair --forget` if this controller paired with it before)"
BLUEZ_NOT_PERMITTED = "org.bluez.Error.NotPermitted"


def link_security_error(exc: BaseException, doing: str) -> LinkNotSecure | None:
    """The :class:`LinkNotSecure` for a refusal because the link is not encrypted/bonded.

    The ATT errors Insufficient Authentication (0x05), Insufficient Encryption (0x0F) and
    Insufficient Encryption Key Size (0x0C) are the Core specification's, the same for every
    profile; BlueZ reports them before asking the device as NotPermitted "Not paired" (bleak
    leaves that one a ``BleakDBusError``). None for any other error.
    """
    code = att_error_code(exc)
    if code == ATT_INSUFFICIENT_AUTHENTICATION:
        return LinkNotSecure(
            f"the device refused {doing}: Insufficient Authentication (0x05), it has no bond "
            f"with this controller (never paired, or the device forgot us); {PAIR_AGAIN}",
            "insufficient_authentication",
            code,
        )
    if code in (ATT_INSUFFICIENT_ENCRYPTION, ATT_INSUFFICIENT_ENCRYPTION_KEY_SIZE):
        return LinkNotSecure(
            f"the device refused {doing}: Insufficient Encryption (0x{code:02X}), the link "
            "is not encrypted with a key the device knows (not paired, or the device forgot "
            f"us); {PAIR_AGAIN}",
            "insufficient_encryption",
            code,
        )
    if (
        isinstance(exc, BleakDBusError)
        and exc.dbus_error == BLUEZ_NOT_PERMITTED
        and "not paired" in (exc.dbus_error_details or "").lower()
    ):
        return LinkNotSecure(
            f"BlueZ refused {doing}: the device needs a paired link and is not paired with "
            f"this controller; {PAIR_AGAIN}",
            "not_paired",
        )
    return None


def map_bleak_error(
    exc: BaseException,
    doing: str,
    *,
    describe_att: Callable[[int], str] | None = None,
) -> DeviceError:
    """Translate an exception raised by bleak while ``doing`` something into a DeviceError.

    ``describe_att`` turns a profile's ATT error code into words (e.g. ``OVER_LIMIT (0x83):
    …``); it is the driver's, since codes 0x80–0x9F are each profile's own.
    """
    if isinstance(exc, DeviceError):
        return exc
    code = att_error_code(exc)
    insecure = link_security_error(exc, doing)
    if insecure is not None:
        return insecure
    if code is not None:
        words = describe_att(code) if describe_att else f"ATT error 0x{code:02X}"
        return DeviceRejected(f"the device refused {doing}: {words}", code=code)
    if isinstance(exc, TimeoutError):
        return DeviceTimeout(f"the device did not answer {doing} in time")
    if isinstance(exc, BleakDeviceNotFoundError):
        return DeviceNotFound(f"the device went away while {doing}: {exc}")
    if isinstance(exc, EOFError | BrokenPipeError | ConnectionError):
        return DeviceDisconnected(f"the link went down while {doing}")
    text = str(exc)
    if "not connected" in text.lower() or "disconnected" in text.lower():
        return DeviceDisconnected(f"the link is down ({doing}): {text}")
    return DeviceError(f"Bluetooth error while {doing}: {text or type(exc).__name__}")


def characteristic_present(client: BleakClient, uuid: str) -> bool:
    """Whether the connected device has a characteristic with this UUID."""
    services: Any = client.services
    return services is not None and services.get_characteristic(uuid) is not None
