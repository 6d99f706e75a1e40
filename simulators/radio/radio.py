"""``VirtualRadio``: a bumble ``LocalLink`` that bleak centrals and simulated peripherals share.

In one process every participant gets its own ``RadioController`` on the link; bleak clients
and scanners built from :meth:`VirtualRadio.transport` act as one central. Across processes
the owner calls :meth:`serve_tcp` and another process joins with :meth:`VirtualRadio.connect`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

from bumble import hci
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import Transport, open_transport
from bumble.transport.common import AsyncPipeSink

from devices.transport import BleTransport
from simulators.radio.central import Central
from simulators.radio.client import BumbleClient
from simulators.radio.controller import RadioController, RssiTable
from simulators.radio.keystore import open_keystore, stored_identity
from simulators.radio.quiet import quiet_bumble_debug
from simulators.radio.scanner import BumbleScanner
from simulators.radio.spec import normalize_address
from simulators.radio.tcp import CentralSession

log = logging.getLogger(__name__)

POWER_ON_TIMEOUT_S = 10.0


def _random_static_address(taken: set[str]) -> hci.Address:
    while True:
        address = hci.Address.generate_static_address()
        if address.to_string(with_type_qualifier=False) not in taken:
            return address


def _central_address(keystore: Path | None, taken: set[str]) -> hci.Address:
    """The central's address: the one its key-store file belongs to, else a fresh one."""
    if keystore is not None:
        stored = stored_identity(keystore)
        if stored is not None:
            return stored
    return _random_static_address(taken)


def _use_keystore(device: Device, keystore: Path | None) -> None:
    if keystore is not None:
        device.keystore = open_keystore(keystore, device.random_address)


def _local_device(
    link: LocalLink, name: str, address: hci.Address, rssi: RssiTable
) -> tuple[Device, RadioController]:
    controller = RadioController(name, link=link, rssi=rssi)
    host = Host(controller, AsyncPipeSink(controller))
    return Device(name=name, address=address, host=host), controller


class VirtualRadio:
    """A virtual BLE radio: simulated peripherals and one bleak-facing central."""

    def __init__(
        self,
        central: Central,
        link: LocalLink | None = None,
        hci_transport: Transport | None = None,
        description: str = "virtual radio",
        rssi: RssiTable | None = None,
    ) -> None:
        self._central = central
        self._link = link
        self._hci_transport = hci_transport
        self._description = description
        self._peripherals: list[tuple[Device, RadioController]] = []
        self._servers: list[asyncio.Server] = []
        self._sessions: set[CentralSession] = set()
        self._rssi: RssiTable = rssi if rssi is not None else {}
        self._closed = False
        self._down: str | None = None
        self._parent: VirtualRadio | None = None
        self._central_controller: RadioController | None = None
        quiet_bumble_debug()  # bumble's per-packet debug strings, unless debugging

    # -- construction -----------------------------------------------------------------------

    @classmethod
    async def local(cls, keystore: Path | None = None) -> VirtualRadio:
        """A radio in this process on a fresh ``LocalLink``.

        ``keystore``: the file where the central keeps its bonds (and, with them, its
        address: see :mod:`simulators.radio.keystore`); None keeps them in memory.
        """
        link = LocalLink()
        rssi: RssiTable = {}
        address = _central_address(keystore, set())
        device, controller = _local_device(link, "tens-central", address, rssi)
        await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT_S)
        _use_keystore(device, keystore)
        return cls(
            Central(device, controller),
            link=link,
            description="in-process virtual radio",
            rssi=rssi,
        )

    @classmethod
    async def connect(cls, host: str, port: int, keystore: Path | None = None) -> VirtualRadio:
        """Join, as a central, the radio of a process that called :meth:`serve_tcp`.

        Raises ConnectionError when nothing listens there or it does not answer as a radio.
        """
        spec = f"tcp-client:{host}:{port}"
        try:
            transport = await asyncio.wait_for(open_transport(spec), POWER_ON_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"no virtual radio at {host}:{port}: {exc}") from exc
        address = _central_address(keystore, set())
        device = Device.with_hci("tens-central", address, transport.source, transport.sink)
        try:
            await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT_S)
        except BaseException as exc:
            await transport.close()
            if isinstance(exc, TimeoutError):
                raise ConnectionError(f"{host}:{port} did not answer as a virtual radio") from exc
            raise
        _use_keystore(device, keystore)
        radio = cls(
            Central(device, None),
            hci_transport=transport,
            description=f"virtual radio at {host}:{port}",
        )
        transport.source.terminated.add_done_callback(lambda _f: radio._on_hci_lost())
        return radio

    # -- the radio's parts ------------------------------------------------------------------

    @property
    def central(self) -> Central:
        """The shared central host (used by the bleak backends)."""
        return self._central

    @property
    def down(self) -> str | None:
        """Why this radio can no longer be used (closed, radio process gone); None if usable."""
        return self._down

    @property
    def link(self) -> LocalLink | None:
        """The link, when this process owns it (None for a radio joined over TCP)."""
        return self._link

    async def add_peripheral(self, name: str, address: str | None = None) -> Device:
        """A powered-on bumble ``Device`` on this link, ready for GATT services and advertising.

        ``address`` is used as a random static address; None picks a fresh one.
        """
        if self._link is None:
            raise RuntimeError("peripherals can only be added to the radio's own process")
        taken = {
            d.random_address.to_string(with_type_qualifier=False) for d, _ in self._peripherals
        } | {self._central.device.random_address.to_string(with_type_qualifier=False)}
        if address is None:
            typed = _random_static_address(taken)
        else:
            typed = hci.Address(normalize_address(address), hci.Address.RANDOM_DEVICE_ADDRESS)
            if typed.to_string(with_type_qualifier=False) in taken:
                raise ValueError(f"address {address} is already on this radio")
        device, controller = _local_device(self._link, name, typed, self._rssi)
        await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT_S)
        self._peripherals.append((device, controller))
        return device

    async def add_central(
        self, name: str = "other-central", keystore: Path | None = None
    ) -> VirtualRadio:
        """Another controller on this link (someone else's phone or Pi in range), with its
        own address and bonds: the radio it is the central of. Closing it removes only it."""
        if self._link is None:
            raise RuntimeError("centrals can only be added in the radio's own process")
        taken = {
            d.random_address.to_string(with_type_qualifier=False) for d, _ in self._peripherals
        } | {self._central.device.random_address.to_string(with_type_qualifier=False)}
        address = _central_address(keystore, taken)
        device, controller = _local_device(self._link, name, address, self._rssi)
        await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT_S)
        _use_keystore(device, keystore)
        other = VirtualRadio(
            Central(device, controller), description=f"{name} on the {self._description}"
        )
        other._parent = self
        other._central_controller = controller
        return other

    def set_rssi(self, address: str, rssi_dbm: int | None) -> None:
        """Make centrals hear ``address`` at ``rssi_dbm`` (None: bumble's fixed -50 dBm)."""
        if self._link is None:
            raise RuntimeError("signal strength is set in the process that owns the link")
        key = normalize_address(address)
        if rssi_dbm is None:
            self._rssi.pop(key, None)
        else:
            self._rssi[key] = int(rssi_dbm)

    def transport(self) -> BleTransport:
        """bleak backend classes and options that make bleak a central on this radio."""
        return BleTransport(
            client_backend=BumbleClient,
            scanner_backend=BumbleScanner,
            client_kwargs={"radio": self},
            scanner_kwargs={"radio": self},
            description=self._description,
            bonds=self._central.bonds,
        )

    # -- across processes -------------------------------------------------------------------

    async def serve_tcp(self, host: str, port: int) -> None:
        """Let other processes join this radio as centrals (returns once listening).

        Port 0 picks a free port; :attr:`tcp_addresses` tells which.
        """
        if self._link is None:
            raise RuntimeError("only the process that owns the link can serve it")
        link = self._link
        server = await asyncio.get_running_loop().create_server(
            lambda: CentralSession(link, self._sessions, self._rssi), host, port
        )
        self._servers.append(server)
        log.info("virtual radio listening on %s", self.tcp_addresses)

    @property
    def tcp_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket opened by :meth:`serve_tcp`."""
        out: list[tuple[str, int]] = []
        for server in self._servers:
            for sock in server.sockets:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    name = sock.getsockname()
                    out.append((str(name[0]), int(name[1])))
        return out

    def _on_hci_lost(self) -> None:
        """The radio process went away: every link is lost, tell each connection."""
        if self._closed:
            return
        log.warning("%s: connection to the radio process lost", self._description)
        self._down = f"{self._description}: the radio process is gone"
        device = self._central.device
        for handle in list(device.connections):
            try:
                device.on_disconnection(handle, hci.HCI_CONNECTION_TIMEOUT_ERROR)
            except Exception as exc:
                log.debug("radio lost: disconnection of 0x%04X: %s", handle, exc)

    async def close(self) -> None:
        """Disconnect everything and stop serving; the radio is unusable afterwards."""
        if self._closed:
            return
        self._down = f"{self._description} is closed"
        for server in self._servers:
            server.close()
        for session in list(self._sessions):
            session.detach()
        await self._central.close()
        self._closed = True
        if self._parent is not None and self._central_controller is not None:
            link = self._parent.link
            if link is not None and self._central_controller in link.controllers:
                link.remove_controller(self._central_controller)
        for device, controller in self._peripherals:
            for connection in list(device.connections.values()):
                try:
                    await asyncio.wait_for(connection.disconnect(), 2.0)
                except Exception as exc:
                    log.debug("closing radio: %s", exc)
            controller.le_legacy_advertiser.stop()
            for advertising_set in controller.advertising_sets.values():
                advertising_set.stop()
        if self._link is not None:
            for linked in list(self._link.controllers):
                self._link.remove_controller(linked)
        if self._hci_transport is not None:
            await self._hci_transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
