"""The central side of a virtual radio: one bumble ``Device`` every bleak client shares.

A BLE central can hold several links at once, so all ``BumbleClient`` instances on a radio
connect through the same bumble host; connection attempts take turns (a controller initiates
one connection at a time) and scanning is reference-counted across ``BumbleScanner``s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bumble import core, hci
from bumble.device import Advertisement, Connection, Device
from bumble.pairing import PairingConfig, PairingDelegate

from simulators.radio.controller import RadioController
from simulators.radio.pairing import central_pairing_config
from simulators.radio.spec import normalize_address

log = logging.getLogger(__name__)

AdvertListener = Callable[[Advertisement], None]


class AlreadyLinked(Exception):
    """This central already holds a link to that address."""


class Central:
    """Shared central host: scanning for many listeners, one connection attempt at a time."""

    def __init__(self, device: Device, controller: RadioController | None) -> None:
        self.device = device
        self.controller = controller
        """The controller when it lives in this process (None over TCP)."""
        self._connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._listeners: dict[object, AdvertListener] = {}
        self._scanning = False
        self._typed: dict[str, hci.Address] = {}
        self._pairing: dict[int, PairingDelegate] = {}
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        device.pairing_config_factory = self._pairing_config

    # -- pairing and bonds ------------------------------------------------------------------

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        return central_pairing_config(self._pairing.get(connection.handle))

    def expect_pairing(self, connection: Connection, delegate: PairingDelegate) -> None:
        """Pair on ``connection`` with ``delegate`` (a person's answers) until :meth:`done`."""
        self._pairing[connection.handle] = delegate

    def pairing_done(self, connection: Connection) -> None:
        self._pairing.pop(connection.handle, None)

    async def bond_for(self, address: str) -> bool:
        """Whether this central holds a long-term key for ``address`` (``AA:BB:..``)."""
        keystore = self.device.keystore
        if keystore is None:
            return False
        keys = await keystore.get(normalize_address(address))
        return keys is not None and keys.ltk is not None

    async def bonds(self) -> list[str]:
        """Addresses of the devices this central is bonded with, sorted."""
        keystore = self.device.keystore
        if keystore is None:
            return []
        return sorted(name for name, keys in await keystore.get_all() if keys.ltk is not None)

    async def forget(self, address: str) -> bool:
        """Delete the bond with ``address``; False when there was none."""
        keystore = self.device.keystore
        key = normalize_address(address)
        if keystore is None or await keystore.get(key) is None:
            return False
        await keystore.delete(key)
        return True

    # -- scanning -------------------------------------------------------------------------

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        address = advertisement.address
        self._typed[address.to_string(with_type_qualifier=False)] = address
        for listener in list(self._listeners.values()):
            listener(advertisement)

    async def add_listener(self, listener: AdvertListener) -> object:
        """Deliver every advertisement to ``listener`` until :meth:`remove_listener`."""
        token = object()
        async with self._scan_lock:
            self._listeners[token] = listener
            if not self._scanning:
                await self.device.start_scanning(active=True, filter_duplicates=False)
                self._scanning = True
        return token

    async def remove_listener(self, token: object) -> None:
        async with self._scan_lock:
            self._listeners.pop(token, None)
            if not self._listeners and self._scanning:
                self._scanning = False
                await self.device.stop_scanning()

    def typed_address(self, address: str) -> hci.Address:
        """The typed address last seen advertising as ``address``; random if never seen.

        Raises ValueError when ``address`` is not a Bluetooth address.
        """
        key = normalize_address(address)
        seen = self._typed.get(key)
        if seen is not None:
            return seen
        return hci.Address(key, hci.Address.RANDOM_DEVICE_ADDRESS)

    # -- connecting -----------------------------------------------------------------------

    async def connect(self, address: hci.Address, timeout_s: float) -> Connection:
        """Open an LE link to ``address`` or raise TimeoutError after ``timeout_s`` seconds.

        bumble's own connect timeout relies on the controller completing LE Create Connection
        Cancel; the outer ``wait_for`` bounds it even against a controller that never does,
        and the cleanup below leaves controller and host ready for the next attempt.
        """
        async with self._connect_lock:
            if any(c.peer_address == address for c in self.device.connections.values()):
                raise AlreadyLinked(f"{address} is already connected through another client")
            try:
                return await asyncio.wait_for(
                    self.device.connect(address, timeout=timeout_s), timeout=timeout_s + 1.0
                )
            except (TimeoutError, asyncio.CancelledError):
                self._clear_pending()
                raise
            except Exception as exc:
                self._clear_pending()
                if isinstance(exc, core.TimeoutError | core.ConnectionError):
                    raise TimeoutError(f"no connection to {address} within {timeout_s} s") from exc
                raise

    def _clear_pending(self) -> None:
        if self.controller is not None:
            self.controller.pending_le_connection = None
        self.device.le_connecting = False

    async def close(self) -> None:
        for connection in list(self.device.connections.values()):
            try:
                await asyncio.wait_for(connection.disconnect(), 2.0)
            except Exception as exc:
                log.debug("closing radio: disconnect of %s failed: %s", connection, exc)
        if self._scanning:
            self._scanning = False
            try:
                await self.device.stop_scanning()
            except Exception as exc:
                log.debug("closing radio: stop scanning failed: %s", exc)
