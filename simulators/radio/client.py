"""``BumbleClient``: bleak's client backend over a virtual bumble radio.

Use it through bleak, never directly::

    client = BleakClient(ble_device, **radio.transport().client_options())

Behaviour follows bleak's BlueZ backend where the two could differ, because that is what runs
on the Raspberry Pi: the disconnected callback fires on every disconnection (also one this
client asked for), connect raises ``TimeoutError`` when nothing answers, ATT error responses
raise ``BleakGATTProtocolError`` carrying the ATT error code.

Pairing follows bleak's API as well: ``pair()`` bonds with LE Secure Connections (passkey
entry or numeric comparison: pass ``passkey=`` and/or ``compare_numbers=``, see
:mod:`simulators.radio.pairing`; BlueZ asks its registered agent instead and ignores them),
returns at once when a bond exists, and raises :class:`PairingFailed` otherwise; ``unpair()``
deletes the bond and disconnects. Like BlueZ, a client holding a bond for the device encrypts
the link with it right after connecting; when the device refuses the key (it forgot the bond)
the link stays unencrypted, and the device's own ATT errors tell the driver so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.device import Connection, Peer

from simulators.radio.central import AlreadyLinked
from simulators.radio.gatt_map import discover
from simulators.radio.pairing import CentralDelegate

if TYPE_CHECKING:
    from simulators.radio.radio import VirtualRadio

log = logging.getLogger(__name__)

T = TypeVar("T")

PREFERRED_MTU = 247
"""ATT MTU asked for after connecting, as BlueZ does (the peer may grant less)."""

DISCONNECT_TIMEOUT_S = 5.0
PAIRING_TIMEOUT_S = 60.0
"""How long a pairing may take: the person has to read and type a passkey."""


class PairingFailed(BleakError):
    """Pairing did not complete; ``reason`` is the SMP error code (Vol 3, Part H, 3.5.5),
    e.g. 0x04 Confirm Value Failed for a wrong passkey, or None (timeout, link lost)."""

    def __init__(self, message: str, reason: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason


def _radio_from(kwargs: dict[str, Any]) -> VirtualRadio:
    radio = kwargs.get("radio")
    if radio is None:
        raise BleakError(
            "the bumble backend needs radio=<VirtualRadio>; "
            "pass **VirtualRadio.transport().client_options() to BleakClient"
        )
    return radio


class BumbleClient(BaseBleakClient):
    """A bleak client backend that talks GATT through a :class:`VirtualRadio`'s central."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._radio = _radio_from(kwargs)
        self._central = kwargs.get("central") or self._radio.central
        self._typed_address: hci.Address | None = None
        self._device_name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._device_name = address_or_ble_device.name
            if isinstance(address_or_ble_device.details, hci.Address):
                self._typed_address = address_or_ble_device.details
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # -- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        if self._connection is None:
            return att.ATT_DEFAULT_MTU
        return int(self._connection.att_mtu)

    def _max_write_without_response(self) -> int:
        return self.mtu_size - 3

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def encrypted(self) -> bool:
        """Whether the link is encrypted now (this backend's own addition to bleak's API)."""
        return self._connection is not None and bool(self._connection.is_encrypted)

    # -- connection -------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        if self._radio.down is not None:
            raise BleakError(self._radio.down)
        timeout = float(kwargs.get("timeout", self._timeout))
        central = self._central
        try:
            address = self._typed_address or central.typed_address(self.address)
        except ValueError as exc:
            raise BleakDeviceNotFoundError(self.address, str(exc)) from exc
        try:
            connection = await central.connect(address, timeout)
        except AlreadyLinked as exc:
            raise BleakError(str(exc)) from exc
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            async with asyncio.timeout(timeout):
                await self._encrypt_if_bonded(connection)
                await self._bumble(peer.request_mtu(PREFERRED_MTU))
                self.services = await self._bumble(discover(peer, self._max_write_without_response))
            if pair:
                await self.pair(**kwargs)
        except BaseException:
            await self.disconnect()
            raise

    async def _encrypt_if_bonded(self, connection: Connection) -> None:
        """Encrypt with the stored bond, as BlueZ does on connecting to a bonded device."""
        if not await self._central.bond_for(self.address):
            return
        try:
            await self._central.device.encrypt(connection)
        except (hci.HCI_Error, core.BaseBumbleError) as exc:
            log.warning(
                "%s: the device refused this controller's bond (%s); the link stays unencrypted",
                self.address,
                exc,
            )

    def _on_disconnection(self, reason: int) -> None:
        log.debug("%s disconnected, reason 0x%02X", self.address, reason)
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await asyncio.wait_for(connection.disconnect(), DISCONNECT_TIMEOUT_S)
        except Exception as exc:  # the link is gone either way
            log.debug("disconnect from %s: %s", self.address, exc)
        if self._connection is connection:  # no disconnection event came
            self._on_disconnection(hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Bond with the device (LE Secure Connections, MITM); see the module docstring.

        Keyword arguments: ``passkey`` (an int, or a callback returning one, possibly
        async) for passkey entry, ``compare_numbers`` (a callback given the six digits,
        returning whether the device shows the same) for numeric comparison.
        """
        connection = self._connection
        if connection is None:
            raise BleakError("Not connected")
        if connection.is_encrypted and await self._central.bond_for(self.address):
            log.debug("%s is already paired", self.address)
            return
        delegate = CentralDelegate(kwargs.get("passkey"), kwargs.get("compare_numbers"))
        self._central.expect_pairing(connection, delegate)
        try:
            async with asyncio.timeout(float(kwargs.get("timeout", PAIRING_TIMEOUT_S))):
                await connection.pair()
        except core.ProtocolError as exc:
            code = int(exc.error_code) if exc.error_code is not None else None
            name = exc.error_name or (f"0x{code:02X}" if code is not None else "?")
            raise PairingFailed(f"{self.address}: pairing failed ({name})", code) from exc
        except TimeoutError as exc:
            raise PairingFailed(f"{self.address}: pairing did not complete in time") from exc
        except core.BaseBumbleError as exc:
            raise PairingFailed(f"{self.address}: pairing failed ({exc})") from exc
        finally:
            self._central.pairing_done(connection)

    async def unpair(self) -> None:
        """Delete the bond with the device (if any) and disconnect, as BlueZ's RemoveDevice."""
        await self._central.forget(self.address)
        await self.disconnect()

    # -- GATT -------------------------------------------------------------------------------

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _bumble(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Await a bumble GATT call, turning bumble's errors into bleak's.

        The call runs shielded: cancelling the caller (a session task cancelled by a stop)
        does not cancel an ATT request already on the air, which would leave bumble to answer
        a cancelled future (InvalidStateError) when the response comes. As with a real
        adapter, the request completes; only the caller stops waiting for it.
        """
        inner = asyncio.ensure_future(awaitable)
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                inner.add_done_callback(_consume)
                raise
            # bumble cancels a request in flight when the link drops; that must not look
            # like a cancellation of the caller's task.
            if self._connection is not None:
                raise
            raise BleakError(f"{self.address}: link lost during the request") from None
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(int(exc.error_code)) from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"{self.address}: {exc}") from exc

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._bumble(peer.gatt_client.read_value(characteristic.handle))
        return bytearray(value)

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._bumble(peer.gatt_client.read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._bumble(
            peer.gatt_client.write_value(characteristic.handle, bytes(data), response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._bumble(peer.gatt_client.write_value(descriptor.handle, bytes(data), True))

    def _proxy(self, characteristic: BleakGATTCharacteristic) -> Any:
        current = self.services.get_characteristic(characteristic.handle) if self.services else None
        if current is None:
            raise BleakError(f"characteristic {characteristic.uuid} is not on this connection")
        return current.obj

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        peer = self._require_peer()
        proxy = self._proxy(characteristic)

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        old = self._subscribers.pop(characteristic.handle, None)
        if old is not None:
            await self._bumble(peer.unsubscribe(proxy, old))
        self._subscribers[characteristic.handle] = subscriber
        await self._bumble(peer.subscribe(proxy, subscriber, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        proxy = self._proxy(characteristic)
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._bumble(peer.unsubscribe(proxy, subscriber))


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a request nobody waits for any more (no 'never retrieved')."""
    if not task.cancelled():
        task.exception()
