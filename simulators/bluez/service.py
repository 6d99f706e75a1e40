"""A fake ``org.bluez`` on a (private) D-Bus: adapter, devices, GATT objects, as bluetoothd.

``FakeBlueZ(bus_address)`` connects to the bus, owns ``org.bluez`` and serves, the way
bluetoothd 5.66 does for bleak's BlueZ backend:

* ``/org/bluez/hci0`` with ``org.bluez.Adapter1``: StartDiscovery / StopDiscovery (one
  session per client, as bluetoothd keeps them), SetDiscoveryFilter, GetDiscoveryFilters,
  RemoveDevice; Powered, Discovering, Roles, ... properties.
* a device object per :class:`~simulators.bluez.peripheral.Peripheral` that advertises while
  someone discovers: ``InterfacesAdded`` with ``org.bluez.Device1`` (Address, Name, Alias,
  RSSI, UUIDs, ManufacturerData, ServiceData, ...), then ``PropertiesChanged`` for RSSI and
  advertising data. On discovery stop RSSI is invalidated, and a device nobody connects to is
  removed after ``temporary_timeout_s`` (bluetoothd's TemporaryTimeout, 30 s).
* Device1.Connect / Disconnect: Connected, then the GATT objects (GattService1,
  GattCharacteristic1, the CCC descriptors), then ServicesResolved, then the reply; a
  disconnect from either side takes them away again. A device that is not advertising makes
  Connect fail after ``connect_timeout_s`` with ``le-connection-abort-by-local``.
* GattCharacteristic1.ReadValue (the read value is re-emitted as ``Value``, as bluetoothd
  does), WriteValue with ``type`` request / command (a command on a characteristic without
  write-without-response is NotSupported; a second request while one is pending is
  InProgress), StartNotify / StopNotify per client (notifications are ``Value`` changes),
  AcquireNotify (a SOCK_SEQPACKET socket passed as a unix fd; closing it ends it).
* ATT errors from the device become bluetoothd's error names
  (:func:`simulators.bluez.errors.att_dbus_error`). The Battery Service is claimed by
  bluetoothd's battery plugin (``battery_plugin=True``, the default): it is not exported and
  the device gets ``org.bluez.Battery1`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import BusType, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from simulators.bluez import errors
from simulators.bluez.errors import AttError, att_dbus_error
from simulators.bluez.objects import Call, Method, ObjectServer, Props, Reply
from simulators.bluez.peripheral import Characteristic, Peripheral, Service, uuid16

log = logging.getLogger(__name__)

BLUEZ_NAME = "org.bluez"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
BATTERY = "org.bluez.Battery1"
AGENT_MANAGER = "org.bluez.AgentManager1"
AGENT = "org.bluez.Agent1"
GATT_SERVICE = "org.bluez.GattService1"
GATT_CHARACTERISTIC = "org.bluez.GattCharacteristic1"
GATT_DESCRIPTOR = "org.bluez.GattDescriptor1"
CCC_UUID = uuid16(0x2902)
FIRST_HANDLE = 0x0010
"""Handles below belong to the GAP and GATT services, which bluetoothd does not export."""


@dataclass(frozen=True)
class BlueZConfig:
    """How the fake bluetoothd behaves; the defaults are bluetoothd's."""

    adapter: str = "hci0"
    adapter_address: str = "00:1A:7D:DA:71:13"
    adapter_name: str = "tens-sim"
    powered: bool = True
    report_interval_s: float = 0.1
    """How often an advertising device is reported (RSSI update) while discovering."""
    resolve_s: float = 0.02
    """GATT discovery time between Connected and ServicesResolved."""
    connect_timeout_s: float = 5.0
    """How long Connect waits for a device that is not advertising before it fails."""
    temporary_timeout_s: float = 30.0
    mtu: int = 247
    battery_plugin: bool = True
    """bluetoothd's battery plugin claims the Battery Service (bluetoothd -P battery: False)."""


@dataclass(eq=False)
class _Remote:
    peripheral: Peripheral
    path: str
    exported: bool = False
    connected: bool = False
    connecting: bool = False
    report_count: int = 0
    char_paths: dict[str, Characteristic] = field(default_factory=dict)
    paths_by_char: dict[int, str] = field(default_factory=dict)
    sessions: dict[int, set[str]] = field(default_factory=dict)
    """id(characteristic) -> senders with a StartNotify session."""
    acquired: dict[int, socket.socket] = field(default_factory=dict)
    write_busy: set[int] = field(default_factory=set)
    read_busy: set[int] = field(default_factory=set)
    att: asyncio.Lock = field(default_factory=asyncio.Lock)
    expiry: asyncio.TimerHandle | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    paired: bool = False
    """BlueZ's half of the bond (``Paired`` / ``Bonded``)."""
    encrypted: bool = False
    """This link is encrypted: BlueZ holds a bond and the device still knows it."""


def _dev_path(adapter_path: str, address: str) -> str:
    return f"{adapter_path}/dev_{address.upper().replace(':', '_')}"


def _v(sig: str, value: Any) -> Variant:
    return Variant(sig, value)


class FakeBlueZ:
    """The fake bluetoothd. ``await FakeBlueZ(address).start()``; ``await close()``."""

    def __init__(self, bus_address: str | None = None, config: BlueZConfig | None = None) -> None:
        self.bus_address = bus_address
        self.config = config or BlueZConfig()
        self.adapter_path = f"/org/bluez/{self.config.adapter}"
        self._bus: MessageBus | None = None
        self._server: ObjectServer | None = None
        self._remotes: dict[str, _Remote] = {}
        self._discovery: dict[str, dict[str, Any]] = {}
        """sender -> discovery filter, for every client with a discovery session."""
        self._filters: dict[str, dict[str, Any]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.calls: list[tuple[str, str]] = []
        """(interface member, path) of every method call served, for tests."""
        self._agents: dict[tuple[str, str], str] = {}
        """(sender, agent path) -> IO capability, as ``AgentManager1.RegisterAgent`` got it."""
        self._default_agent: tuple[str, str] | None = None

    # --- lifecycle -------------------------------------------------------------------

    @property
    def server(self) -> ObjectServer:
        if self._server is None:
            raise RuntimeError("FakeBlueZ is not started")
        return self._server

    @property
    def discovering(self) -> bool:
        return bool(self._discovery)

    async def start(self, *, timeout_s: float = 10.0) -> FakeBlueZ:
        """Connect, export the adapter and own ``org.bluez``, all within ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            return await self._start()

    async def _start(self) -> FakeBlueZ:
        if self.bus_address is not None:
            bus = MessageBus(bus_address=self.bus_address, negotiate_unix_fd=True)
        else:
            bus = MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True)
        await bus.connect()
        self._bus = bus
        self._server = ObjectServer(bus)
        self._server.on_client_gone(self._client_gone)
        await self._server.watch_clients()
        self._export_adapter()
        self._export_agent_manager()
        reply = await bus.request_name(BLUEZ_NAME, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            raise RuntimeError(f"could not own {BLUEZ_NAME} on the bus ({reply.name})")
        self._ticker = self._spawn(self._tick())
        return self

    async def close(self) -> None:
        """Drop every link (the devices zero their output), leave the bus."""
        if self._bus is None:
            return
        for remote in list(self._remotes.values()):
            if remote.connected:
                self._teardown(remote)
            if remote.expiry is not None:
                remote.expiry.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        server, bus = self._server, self._bus
        self._server = None
        self._bus = None
        if server is not None:
            await server.close()
        with contextlib.suppress(Exception):
            bus.disconnect()
            await asyncio.wait_for(bus.wait_for_disconnect(), 2.0)

    aclose = close

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- peripherals -----------------------------------------------------------------

    def add(self, peripheral: Peripheral) -> str:
        """Serve ``peripheral``; returns the object path its device will have."""
        path = _dev_path(self.adapter_path, peripheral.address)
        if path in self._remotes:
            raise ValueError(f"a peripheral with address {peripheral.address} is already here")
        peripheral.host = self
        self._remotes[path] = _Remote(peripheral, path)
        return path

    async def remove(self, peripheral: Peripheral) -> None:
        remote = self._remote_of(peripheral)
        if remote.connected:
            self._teardown(remote)
        self._unexport(remote)
        del self._remotes[remote.path]
        peripheral.host = None

    def device_path(self, peripheral: Peripheral) -> str:
        return self._remote_of(peripheral).path

    def _remote_of(self, peripheral: Peripheral) -> _Remote:
        for remote in self._remotes.values():
            if remote.peripheral is peripheral:
                return remote
        raise KeyError(peripheral.address)

    # Host protocol (called by Peripheral)

    def peripheral_changed(self, peripheral: Peripheral) -> None:
        remote = self._remote_of(peripheral)
        remote.changed.set()
        remote.changed = asyncio.Event()
        if remote.exported and remote.connected and peripheral.battery_percent is not None:
            if self.server.has(remote.path, BATTERY):
                self.server.update(
                    remote.path, BATTERY, {"Percentage": _v("y", peripheral.battery_percent)}
                )
        if self.discovering and peripheral.advertising and not remote.connected:
            self._report(remote)

    def peripheral_notify(self, peripheral: Peripheral, char: Characteristic, value: bytes) -> None:
        remote = self._remote_of(peripheral)
        if not remote.connected:
            return
        if (
            char.uuid == uuid16(0x2A19)
            and self.config.battery_plugin
            and self.server.has(remote.path, BATTERY)
            and value
        ):
            self.server.update(remote.path, BATTERY, {"Percentage": _v("y", value[0])})
            return
        key = id(char)
        sock = remote.acquired.get(key)
        if sock is not None:
            try:
                sock.send(value)
            except OSError:
                self._release_acquired(remote, char)
            return
        path = remote.paths_by_char.get(key)
        if path is not None and remote.sessions.get(key):
            self.server.update(path, GATT_CHARACTERISTIC, {"Value": _v("ay", value)}, always=True)

    async def peripheral_drop(self, peripheral: Peripheral) -> None:
        remote = self._remote_of(peripheral)
        if remote.connected:
            self._teardown(remote)

    # --- adapter ---------------------------------------------------------------------

    def _export_adapter(self) -> None:
        cfg = self.config
        props: Props = {
            "Address": _v("s", cfg.adapter_address),
            "AddressType": _v("s", "public"),
            "Name": _v("s", cfg.adapter_name),
            "Alias": _v("s", cfg.adapter_name),
            "Class": _v("u", 0),
            "Powered": _v("b", cfg.powered),
            "PowerState": _v("s", "on" if cfg.powered else "off"),
            "Discoverable": _v("b", False),
            "DiscoverableTimeout": _v("u", 180),
            "Pairable": _v("b", True),
            "PairableTimeout": _v("u", 0),
            "Discovering": _v("b", False),
            "UUIDs": _v("as", [uuid16(0x1800), uuid16(0x1801)]),
            "Modalias": _v("s", "usb:v1D6Bp0246d0542"),
            "Roles": _v("as", ["central", "peripheral"]),
            "ExperimentalFeatures": _v("as", []),
        }
        methods = {
            "StartDiscovery": Method("", self._start_discovery),
            "StopDiscovery": Method("", self._stop_discovery),
            "SetDiscoveryFilter": Method("a{sv}", self._set_discovery_filter),
            "GetDiscoveryFilters": Method("", self._get_discovery_filters),
            "RemoveDevice": Method("o", self._remove_device),
        }
        self.server.add(
            self.adapter_path,
            {ADAPTER: props},
            {ADAPTER: methods},
            {ADAPTER: {"Powered": self._set_powered, "Alias": self._set_alias}},
        )

    def _export_agent_manager(self) -> None:
        self.server.add(
            "/org/bluez",
            {AGENT_MANAGER: {}},
            {
                AGENT_MANAGER: {
                    "RegisterAgent": Method("os", self._register_agent),
                    "UnregisterAgent": Method("o", self._unregister_agent),
                    "RequestDefaultAgent": Method("o", self._request_default_agent),
                }
            },
        )

    async def _register_agent(self, call: Call) -> Reply:
        key = (call.sender, str(call.args[0]))
        if key in self._agents:
            raise DBusError(errors.ALREADY_EXISTS, "Already Exists")
        self._agents[key] = str(call.args[1]) or "KeyboardDisplay"
        return Reply()

    async def _unregister_agent(self, call: Call) -> Reply:
        key = (call.sender, str(call.args[0]))
        if self._agents.pop(key, None) is None:
            raise DBusError(errors.DOES_NOT_EXIST, "Does Not Exist")
        if self._default_agent == key:
            self._default_agent = None
        return Reply()

    async def _request_default_agent(self, call: Call) -> Reply:
        key = (call.sender, str(call.args[0]))
        if key not in self._agents:
            raise DBusError(errors.DOES_NOT_EXIST, "Does Not Exist")
        self._default_agent = key
        return Reply()

    def _agent_for(self, sender: str) -> tuple[str, str] | None:
        """bluetoothd asks the caller's own agent first, else the default agent."""
        own = next((k for k in self._agents if k[0] == sender), None)
        return own or self._default_agent

    def _powered(self) -> bool:
        return bool(self.server.get(self.adapter_path, ADAPTER, "Powered"))

    def _set_powered(self, _name: str, value: Any) -> None:
        on = bool(value)
        self.server.update(
            self.adapter_path,
            ADAPTER,
            {"Powered": _v("b", on), "PowerState": _v("s", "on" if on else "off")},
        )
        if not on:
            for remote in self._remotes.values():
                if remote.connected:
                    self._teardown(remote)
            for sender in list(self._discovery):
                self._end_discovery(sender)

    def _set_alias(self, _name: str, value: Any) -> None:
        self.server.update(self.adapter_path, ADAPTER, {"Alias": _v("s", str(value))})

    async def _start_discovery(self, call: Call) -> Reply:
        self.calls.append(("StartDiscovery", call.path))
        if not self._powered():
            raise DBusError(errors.NOT_READY, "Resource Not Ready")
        if call.sender in self._discovery:
            raise DBusError(errors.IN_PROGRESS, "Operation already in progress")
        self._discovery[call.sender] = dict(self._filters.get(call.sender, {}))
        if len(self._discovery) == 1:
            self.server.update(self.adapter_path, ADAPTER, {"Discovering": _v("b", True)})
        asyncio.get_running_loop().call_soon(self._report_all)
        return Reply()

    async def _stop_discovery(self, call: Call) -> Reply:
        self.calls.append(("StopDiscovery", call.path))
        if not self._powered():
            raise DBusError(errors.NOT_READY, "Resource Not Ready")
        if call.sender not in self._discovery:
            raise DBusError(errors.FAILED, "No discovery started")
        self._end_discovery(call.sender)
        return Reply()

    def _end_discovery(self, sender: str) -> None:
        self._discovery.pop(sender, None)
        if self._discovery:
            return
        self.server.update(self.adapter_path, ADAPTER, {"Discovering": _v("b", False)})
        for remote in self._remotes.values():
            if remote.exported and not remote.connected:
                self.server.update(remote.path, DEVICE, {}, ("RSSI", "TxPower"))
                self._schedule_expiry(remote)

    async def _set_discovery_filter(self, call: Call) -> Reply:
        self.calls.append(("SetDiscoveryFilter", call.path))
        known = {
            "UUIDs": "as",
            "RSSI": "n",
            "Pathloss": "q",
            "Transport": "s",
            "DuplicateData": "b",
            "Discoverable": "b",
            "Pattern": "s",
        }
        parsed: dict[str, Any] = {}
        for key, value in call.args[0].items():
            if known.get(key) != value.signature:
                raise DBusError(errors.INVALID_ARGUMENTS, "Invalid arguments in method call")
            parsed[key] = value.value
        if parsed.get("Transport", "auto") not in ("auto", "le", "bredr"):
            raise DBusError(errors.INVALID_ARGUMENTS, "Invalid arguments in method call")
        self._filters[call.sender] = parsed
        if call.sender in self._discovery:
            self._discovery[call.sender] = dict(parsed)
        return Reply()

    async def _get_discovery_filters(self, call: Call) -> Reply:
        return Reply(
            "as",
            [
                [
                    "UUIDs",
                    "RSSI",
                    "Pathloss",
                    "Transport",
                    "DuplicateData",
                    "Discoverable",
                    "Pattern",
                ]
            ],
        )

    async def _remove_device(self, call: Call) -> Reply:
        self.calls.append(("RemoveDevice", call.args[0]))
        remote = self._remotes.get(call.args[0])
        if remote is None or not remote.exported:
            raise DBusError(errors.DOES_NOT_EXIST, "Does Not Exist")
        if remote.connected:
            self._teardown(remote)
        remote.paired = False  # RemoveDevice deletes the bond too
        self._unexport(remote)
        return Reply()

    # --- discovery -------------------------------------------------------------------

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.report_interval_s)
            if self.discovering:
                self._report_all()

    def _report_all(self) -> None:
        if self._server is None or not self.discovering:
            return
        for remote in self._remotes.values():
            if remote.peripheral.advertising and not remote.connected:
                self._report(remote)

    def _passes_filters(self, peripheral: Peripheral) -> bool:
        advertised = {u.lower() for u in peripheral.advertisement.service_uuids}
        wanted: set[str] = set()
        for flt in self._discovery.values():
            uuids = flt.get("UUIDs")
            if not uuids:
                return True  # one client without a UUID filter sees everything
            wanted.update(u.lower() for u in uuids)
        return bool(advertised & wanted)

    def _advert_props(self, peripheral: Peripheral) -> Props:
        adv = peripheral.advertisement
        props: Props = {"UUIDs": _v("as", [u.lower() for u in adv.service_uuids])}
        if adv.name:
            props["Name"] = _v("s", adv.name)
            props["Alias"] = _v("s", adv.name)
        if adv.manufacturer_data:
            props["ManufacturerData"] = _v(
                "a{qv}", {k: _v("ay", bytes(v)) for k, v in adv.manufacturer_data.items()}
            )
        if adv.service_data:
            props["ServiceData"] = _v(
                "a{sv}", {k.lower(): _v("ay", bytes(v)) for k, v in adv.service_data.items()}
            )
        if adv.tx_power is not None:
            props["TxPower"] = _v("n", adv.tx_power)
        return props

    def _report(self, remote: _Remote) -> None:
        peripheral = remote.peripheral
        if not self._passes_filters(peripheral):
            return
        if remote.expiry is not None:
            remote.expiry.cancel()
            remote.expiry = None
        remote.report_count += 1
        rssi = peripheral.advertisement.rssi - (3 if remote.report_count % 2 == 0 else 0)
        adv = self._advert_props(peripheral)
        adv["RSSI"] = _v("n", rssi)
        if not remote.exported:
            props: Props = {
                "Address": _v("s", peripheral.address),
                "AddressType": _v("s", peripheral.address_type),
                "Alias": _v("s", peripheral.address.replace(":", "-")),
                "Paired": _v("b", remote.paired),
                "Bonded": _v("b", remote.paired),
                "Trusted": _v("b", False),
                "Blocked": _v("b", False),
                "LegacyPairing": _v("b", False),
                "Connected": _v("b", False),
                "Adapter": _v("o", self.adapter_path),
                "ServicesResolved": _v("b", False),
                "AdvertisingFlags": _v("ay", bytes([0x06])),
            }
            props.update(adv)

            async def connect(call: Call) -> Reply:
                return await self._connect(remote, call)

            async def disconnect(call: Call) -> Reply:
                return await self._disconnect(remote, call)

            async def pair(call: Call) -> Reply:
                return await self._pair(remote, call)

            def set_bool(name: str, value: Any) -> None:
                self._set_device(remote, name, "b", value)

            def set_str(name: str, value: Any) -> None:
                self._set_device(remote, name, "s", value)

            self.server.add(
                remote.path,
                {DEVICE: props},
                {
                    DEVICE: {
                        "Connect": Method("", connect),
                        "Disconnect": Method("", disconnect),
                        "Pair": Method("", pair),
                        "CancelPairing": Method("", self._cancel_pairing),
                    }
                },
                {DEVICE: {"Trusted": set_bool, "Blocked": set_bool, "Alias": set_str}},
            )
            remote.exported = True
        else:
            self.server.update(remote.path, DEVICE, adv)

    def _set_device(self, remote: _Remote, name: str, sig: str, value: Any) -> None:
        self.server.update(remote.path, DEVICE, {name: _v(sig, value)})

    def _schedule_expiry(self, remote: _Remote) -> None:
        if remote.expiry is not None:
            remote.expiry.cancel()
        remote.expiry = asyncio.get_running_loop().call_later(
            self.config.temporary_timeout_s, self._expire, remote
        )

    def _expire(self, remote: _Remote) -> None:
        remote.expiry = None
        if self._server is None or remote.connected or self.discovering or remote.paired:
            return  # bluetoothd keeps a paired device
        self._unexport(remote)

    def _unexport(self, remote: _Remote) -> None:
        if remote.expiry is not None:
            remote.expiry.cancel()
            remote.expiry = None
        if remote.exported:
            self.server.remove_tree(remote.path)
            self.server.remove(remote.path)
            remote.exported = False

    def _client_gone(self, sender: str) -> None:
        if sender in self._discovery:
            self._end_discovery(sender)
        self._filters.pop(sender, None)
        for remote in self._remotes.values():
            for key, senders in list(remote.sessions.items()):
                if sender in senders:
                    senders.discard(sender)
                    if not senders:
                        path = remote.paths_by_char.get(key)
                        if path is not None and remote.connected:
                            self.server.update(
                                path, GATT_CHARACTERISTIC, {"Notifying": _v("b", False)}
                            )

    # --- connections -----------------------------------------------------------------

    async def _pair(self, remote: _Remote, call: Call) -> Reply:
        """Device1.Pair as bluetoothd: on the connected link, the agent asked for the passkey
        of a device that has one (passkey entry; else Just Works), then Paired and Bonded."""
        self.calls.append(("Pair", remote.path))
        if remote.paired:
            raise DBusError(errors.ALREADY_EXISTS, "Already Exists")
        self._check_link(remote)
        peripheral = remote.peripheral
        if peripheral.passkey is not None:
            agent = self._agent_for(call.sender)
            if agent is None:
                raise DBusError(errors.PREFIX + "AuthenticationFailed", "Authentication Failed")
            try:
                typed = await self._ask_passkey(agent, remote.path)
            except DBusError as exc:
                raise DBusError(
                    errors.PREFIX + "AuthenticationCanceled", "Authentication Canceled"
                ) from exc
            if typed != peripheral.passkey:
                raise DBusError(errors.PREFIX + "AuthenticationFailed", "Authentication Failed")
        peripheral.bonds.add(self.config.adapter_address)
        remote.paired = True
        remote.encrypted = True
        self.server.update(remote.path, DEVICE, {"Paired": _v("b", True), "Bonded": _v("b", True)})
        return Reply()

    async def _ask_passkey(self, agent: tuple[str, str], device_path: str) -> int:
        from dbus_fast import Message, MessageType

        sender, path = agent
        assert self._bus is not None
        reply = await self._bus.call(
            Message(
                destination=sender,
                path=path,
                interface=AGENT,
                member="RequestPasskey",
                signature="o",
                body=[device_path],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            name = reply.error_name if reply is not None else errors.FAILED
            raise DBusError(name or errors.FAILED, "the agent refused")
        return int(reply.body[0])

    def _check_security(self, remote: _Remote, char: Characteristic) -> None:
        """The device's ATT layer: a request its link is not secure enough for is refused
        (bluetoothd reports 0x05 / 0x0F as NotPermitted "Not paired")."""
        if char.security is None or remote.encrypted:
            return
        code = (
            errors.ATT_AUTHENTICATION
            if char.security == "authentication"
            else errors.ATT_INSUFFICIENT_ENCRYPTION
        )
        raise att_dbus_error(code)

    async def _cancel_pairing(self, call: Call) -> Reply:
        raise DBusError(errors.DOES_NOT_EXIST, "Does Not Exist")

    async def _connect(self, remote: _Remote, call: Call) -> Reply:
        self.calls.append(("Connect", remote.path))
        if not self._powered():
            raise DBusError(errors.NOT_READY, "Resource Not Ready")
        if remote.connected:
            return Reply()
        if remote.connecting:
            raise DBusError(errors.IN_PROGRESS, "In Progress")
        remote.connecting = True
        try:
            peripheral = remote.peripheral
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.config.connect_timeout_s
            while not peripheral.advertising:
                left = deadline - loop.time()
                if left <= 0:
                    # bluetoothd has set up the link object before the LE connection failed:
                    # Connected flickers true, then false, then the error (bleak expects it)
                    self.server.update(remote.path, DEVICE, {"Connected": _v("b", True)})
                    self.server.update(remote.path, DEVICE, {"Connected": _v("b", False)})
                    raise DBusError(errors.FAILED, errors.LE_ABORT_BY_LOCAL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(remote.changed.wait(), left)
            remote.connected = True
            peripheral.connected = True
            # with a bond, bluetoothd encrypts at once; a device that forgot it refuses the key
            remote.encrypted = remote.paired and self.config.adapter_address in peripheral.bonds
            if remote.expiry is not None:
                remote.expiry.cancel()
                remote.expiry = None
            self.server.update(remote.path, DEVICE, {"Connected": _v("b", True)}, ("RSSI",))
            if peripheral.on_connect is not None:
                peripheral.on_connect()
            await asyncio.sleep(self.config.resolve_s)
            if not remote.connected:
                raise DBusError(errors.FAILED, "le-connection-abort-by-remote")
            self._export_gatt(remote)
            self.server.update(
                remote.path,
                DEVICE,
                {"UUIDs": _v("as", self._all_uuids(peripheral)), "ServicesResolved": _v("b", True)},
            )
            return Reply()
        finally:
            remote.connecting = False

    def _all_uuids(self, peripheral: Peripheral) -> list[str]:
        uuids = {u.lower() for u in peripheral.advertisement.service_uuids}
        uuids.update(s.uuid for s in peripheral.services if s.primary)
        return sorted(uuids)

    async def _disconnect(self, remote: _Remote, call: Call) -> Reply:
        self.calls.append(("Disconnect", remote.path))
        if not remote.connected:
            raise DBusError(errors.NOT_CONNECTED, "Not Connected")
        self._teardown(remote)
        return Reply()

    def _teardown(self, remote: _Remote) -> None:
        """The link is gone (either side): ServicesResolved, GATT objects, Connected."""
        if not remote.connected:
            return
        remote.connected = False
        remote.encrypted = False
        peripheral = remote.peripheral
        peripheral.connected = False
        for key in list(remote.acquired):
            sock = remote.acquired.pop(key)
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        remote.sessions.clear()
        if remote.exported:
            self.server.update(remote.path, DEVICE, {"ServicesResolved": _v("b", False)})
            self.server.remove_tree(remote.path)
            self.server.remove(remote.path, [BATTERY])
            remote.char_paths.clear()
            remote.paths_by_char.clear()
            self.server.update(remote.path, DEVICE, {"Connected": _v("b", False)})
        if peripheral.on_disconnect is not None:
            try:
                peripheral.on_disconnect()
            except Exception:
                log.exception("on_disconnect of %s failed", peripheral.address)
        if not self.discovering and remote.exported:
            self._schedule_expiry(remote)

    # --- GATT ------------------------------------------------------------------------

    def _claimed(self, service: Service) -> bool:
        return service.claimed_by == "battery" and self.config.battery_plugin

    def _export_gatt(self, remote: _Remote) -> None:
        handle = FIRST_HANDLE
        peripheral = remote.peripheral
        for service in peripheral.services:
            count = 1 + sum(3 if c.notifies else 2 for c in service.characteristics)
            if self._claimed(service):
                handle += count
                continue
            svc_path = f"{remote.path}/service{handle:04x}"
            self.server.add(
                svc_path,
                {
                    GATT_SERVICE: {
                        "UUID": _v("s", service.uuid),
                        "Device": _v("o", remote.path),
                        "Primary": _v("b", service.primary),
                        "Includes": _v("ao", []),
                    }
                },
            )
            handle += 1
            for char in service.characteristics:
                decl = handle
                handle += 2
                path = f"{svc_path}/char{decl:04x}"
                remote.char_paths[path] = char
                remote.paths_by_char[id(char)] = path
                self._export_characteristic(remote, char, path, svc_path)
                if char.notifies:
                    self._export_ccc(remote, char, f"{path}/desc{handle:04x}", path)
                    handle += 1
        claimed = [s for s in peripheral.services if self._claimed(s)]
        if claimed:
            level = peripheral.battery_percent
            if level is None:
                level = 100
            self.server.add(
                remote.path,
                {
                    BATTERY: {
                        "Percentage": _v("y", level),
                        "Source": _v("s", "GATT Battery Service"),
                    }
                },
            )

    def _export_characteristic(
        self, remote: _Remote, char: Characteristic, path: str, svc_path: str
    ) -> None:
        props: Props = {
            "UUID": _v("s", char.uuid),
            "Service": _v("o", svc_path),
            "Value": _v("ay", bytes(char.value)),
            "Flags": _v("as", list(char.flags)),
            "MTU": _v("q", self.config.mtu),
        }
        if char.notifies:
            props["Notifying"] = _v("b", False)
            props["NotifyAcquired"] = _v("b", False)
        if "write-without-response" in char.flags:
            props["WriteAcquired"] = _v("b", False)

        async def read_value(call: Call) -> Reply:
            return await self._read_value(remote, char, path, call)

        async def write_value(call: Call) -> Reply:
            return await self._write_value(remote, char, call)

        async def start_notify(call: Call) -> Reply:
            return await self._start_notify(remote, char, path, call)

        async def stop_notify(call: Call) -> Reply:
            return await self._stop_notify(remote, char, path, call)

        async def acquire_notify(call: Call) -> Reply:
            return await self._acquire_notify(remote, char, path, call)

        async def acquire_write(call: Call) -> Reply:
            raise DBusError(errors.NOT_SUPPORTED, "Operation is not supported")

        self.server.add(
            path,
            {GATT_CHARACTERISTIC: props},
            {
                GATT_CHARACTERISTIC: {
                    "ReadValue": Method("a{sv}", read_value),
                    "WriteValue": Method("aya{sv}", write_value),
                    "StartNotify": Method("", start_notify),
                    "StopNotify": Method("", stop_notify),
                    "AcquireNotify": Method("a{sv}", acquire_notify),
                    "AcquireWrite": Method("a{sv}", acquire_write),
                }
            },
        )

    def _export_ccc(self, remote: _Remote, char: Characteristic, path: str, chr_path: str) -> None:
        async def read_value(call: Call) -> Reply:
            key = id(char)
            on = bool(remote.sessions.get(key)) or key in remote.acquired
            return Reply("ay", [bytes([1 if on else 0, 0])])

        async def write_value(call: Call) -> Reply:
            # bluetoothd manages the CCC itself; clients use StartNotify/AcquireNotify
            raise DBusError(errors.NOT_PERMITTED, "Write not permitted")

        self.server.add(
            path,
            {
                GATT_DESCRIPTOR: {
                    "UUID": _v("s", CCC_UUID),
                    "Characteristic": _v("o", chr_path),
                    "Value": _v("ay", b""),
                    "Flags": _v("as", []),
                }
            },
            {
                GATT_DESCRIPTOR: {
                    "ReadValue": Method("a{sv}", read_value),
                    "WriteValue": Method("aya{sv}", write_value),
                }
            },
        )

    def _check_link(self, remote: _Remote) -> None:
        if not remote.connected:
            raise DBusError(errors.NOT_CONNECTED, "Not Connected")

    async def _read_value(
        self, remote: _Remote, char: Characteristic, path: str, call: Call
    ) -> Reply:
        self.calls.append(("ReadValue", path))
        self._check_link(remote)
        key = id(char)
        if key in remote.read_busy:
            raise DBusError(errors.IN_PROGRESS, "In Progress")
        options = call.args[0]
        offset = int(options["offset"].value) if "offset" in options else 0
        remote.read_busy.add(key)
        try:
            async with remote.att:
                self._check_link(remote)
                if "read" not in char.flags:
                    raise att_dbus_error(errors.ATT_READ_NOT_PERMITTED)
                self._check_security(remote, char)
                try:
                    value = await char.do_read()
                except AttError as exc:
                    raise att_dbus_error(exc.code) from exc
                if offset > len(value):
                    raise att_dbus_error(errors.ATT_INVALID_OFFSET)
        finally:
            remote.read_busy.discard(key)
        char.value = value
        if remote.connected:
            # bluetoothd stores what it read and emits it as the new Value
            self.server.update(path, GATT_CHARACTERISTIC, {"Value": _v("ay", value)}, always=True)
        return Reply("ay", [value[offset:]])

    async def _write_value(self, remote: _Remote, char: Characteristic, call: Call) -> Reply:
        path = remote.paths_by_char.get(id(char), "")
        self.calls.append(("WriteValue", path))
        self._check_link(remote)
        value = bytes(call.args[0])
        options = call.args[1]
        kind = str(options["type"].value) if "type" in options else None
        if kind is None:
            kind = "request" if "write" in char.flags else "command"
        if kind == "command":
            if "write-without-response" not in char.flags:
                raise DBusError(errors.NOT_SUPPORTED, "Operation is not supported")
            self._spawn(self._write_command(char, value))
            return Reply()
        if kind not in ("request", "reliable"):
            raise DBusError(errors.INVALID_ARGUMENTS, "Invalid arguments in method call")
        key = id(char)
        if key in remote.write_busy:
            raise DBusError(errors.IN_PROGRESS, "In Progress")
        remote.write_busy.add(key)
        try:
            async with remote.att:
                self._check_link(remote)
                if "write" not in char.flags:
                    raise att_dbus_error(errors.ATT_WRITE_NOT_PERMITTED)
                self._check_security(remote, char)
                try:
                    await char.do_write(value, True)
                except AttError as exc:
                    raise att_dbus_error(exc.code) from exc
        finally:
            remote.write_busy.discard(key)
        return Reply()

    async def _write_command(self, char: Characteristic, value: bytes) -> None:
        try:
            await char.do_write(value, False)
        except AttError as exc:  # a write command has no answer
            log.debug("write command refused by the device (not reported): %s", exc)

    async def _start_notify(
        self, remote: _Remote, char: Characteristic, path: str, call: Call
    ) -> Reply:
        self.calls.append(("StartNotify", path))
        self._check_link(remote)
        if not char.notifies:
            raise DBusError(errors.NOT_SUPPORTED, "Operation is not supported")
        key = id(char)
        if key in remote.acquired:
            raise DBusError(errors.NOT_PERMITTED, "Notify acquired")
        senders = remote.sessions.setdefault(key, set())
        if call.sender in senders:
            return Reply()
        first = not senders
        senders.add(call.sender)
        if first:
            try:
                async with remote.att:  # the CCC write to the device
                    self._check_link(remote)
                    self._check_security(remote, char)
            except DBusError:
                senders.discard(call.sender)
                raise
            self.server.update(path, GATT_CHARACTERISTIC, {"Notifying": _v("b", True)})
        return Reply()

    async def _stop_notify(
        self, remote: _Remote, char: Characteristic, path: str, call: Call
    ) -> Reply:
        self.calls.append(("StopNotify", path))
        self._check_link(remote)
        senders = remote.sessions.get(id(char), set())
        if call.sender not in senders:
            raise DBusError(errors.FAILED, "No notify session started")
        senders.discard(call.sender)
        if not senders:
            self.server.update(path, GATT_CHARACTERISTIC, {"Notifying": _v("b", False)})
        return Reply()

    async def _acquire_notify(
        self, remote: _Remote, char: Characteristic, path: str, call: Call
    ) -> Reply:
        self.calls.append(("AcquireNotify", path))
        self._check_link(remote)
        if not char.notifies:
            raise DBusError(errors.NOT_SUPPORTED, "Operation is not supported")
        key = id(char)
        if key in remote.acquired:
            raise DBusError(errors.NOT_PERMITTED, "Notify acquired")
        if remote.sessions.get(key):
            raise DBusError(errors.NOT_PERMITTED, "Notify already started")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        remote.acquired[key] = ours
        asyncio.get_running_loop().add_reader(
            ours.fileno(), self._on_acquired_readable, remote, char
        )
        self.server.update(
            path,
            GATT_CHARACTERISTIC,
            {"NotifyAcquired": _v("b", True), "Notifying": _v("b", True)},
        )
        return Reply("hq", [0, self.config.mtu], [theirs.fileno()], after_send=theirs.close)

    def _on_acquired_readable(self, remote: _Remote, char: Characteristic) -> None:
        sock = remote.acquired.get(id(char))
        if sock is None:
            return
        try:
            data = sock.recv(1)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client closed its end
            self._release_acquired(remote, char)

    def _release_acquired(self, remote: _Remote, char: Characteristic) -> None:
        sock = remote.acquired.pop(id(char), None)
        if sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        path = remote.paths_by_char.get(id(char))
        if path is not None and remote.connected:
            self.server.update(
                path,
                GATT_CHARACTERISTIC,
                {"NotifyAcquired": _v("b", False), "Notifying": _v("b", False)},
            )
