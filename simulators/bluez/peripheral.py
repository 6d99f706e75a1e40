"""What a simulated device shows the fake BlueZ: its advertisement, its GATT table, its link.

A device front-end (e.g. :mod:`simulators.bluez.opentens`) builds a :class:`Peripheral` from
its device model: :class:`Characteristic` handlers read and write the model (raising
:class:`~simulators.bluez.errors.AttError` to refuse), ``peripheral.notify(char, value)``
sends a notification, ``advertising`` says whether it can be seen and connected to, and
``await peripheral.drop_link()`` ends the link from the device's side. The fake BlueZ
(:class:`simulators.bluez.service.FakeBlueZ`) turns all of this into D-Bus objects. Nothing
here imports dbus-fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

ReadHandler = Callable[[], bytes | Awaitable[bytes]]
WriteHandler = Callable[[bytes, bool], Awaitable[None] | None]
"""``write(value, with_response)``."""

BLUETOOTH_BASE = "-0000-1000-8000-00805f9b34fb"


def uuid16(short: int) -> str:
    """The 128-bit form of a 16-bit SIG UUID, lower case as bluetoothd shows it."""
    return f"{short:08x}{BLUETOOTH_BASE}"


@dataclass(eq=False)
class Characteristic:
    """One characteristic. ``flags`` are BlueZ's names: read, write, write-without-response,
    notify, indicate."""

    uuid: str
    flags: tuple[str, ...]
    read: ReadHandler | None = None
    write: WriteHandler | None = None
    value: bytes = b""
    """The cached value bluetoothd shows as ``Value`` (last read or notified)."""
    security: str | None = None
    """What the device's ATT layer requires: ``"encryption"`` (reads, notifications) or
    ``"authentication"`` (writes: an authenticated bond); None: open."""

    def __post_init__(self) -> None:
        self.uuid = self.uuid.lower()

    @property
    def notifies(self) -> bool:
        return "notify" in self.flags or "indicate" in self.flags

    async def do_read(self) -> bytes:
        if self.read is None:
            return self.value
        result = self.read()
        if inspect.isawaitable(result):
            result = await result
        return bytes(result)

    async def do_write(self, value: bytes, with_response: bool) -> None:
        if self.write is None:
            return
        result = self.write(value, with_response)
        if inspect.isawaitable(result):
            await result


@dataclass(eq=False)
class Service:
    uuid: str
    characteristics: list[Characteristic]
    primary: bool = True
    claimed_by: str | None = None
    """The bluetoothd plugin that takes this service for itself ("battery" for the Battery
    Service): such a service is not exported as GattService1."""

    def __post_init__(self) -> None:
        self.uuid = self.uuid.lower()


@dataclass(frozen=True)
class Advertisement:
    name: str | None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    tx_power: int | None = None
    rssi: int = -55


class Host(Protocol):
    """The fake BlueZ side of a peripheral (set when it is added)."""

    def peripheral_notify(
        self, peripheral: Peripheral, char: Characteristic, value: bytes
    ) -> None: ...
    async def peripheral_drop(self, peripheral: Peripheral) -> None: ...
    def peripheral_changed(self, peripheral: Peripheral) -> None: ...


LinkHook = Callable[[], None]


class Peripheral:
    """A simulated BLE peripheral as the fake BlueZ serves it."""

    def __init__(
        self,
        address: str,
        advertisement: Advertisement,
        services: list[Service],
        *,
        address_type: str = "random",
        on_connect: LinkHook | None = None,
        on_disconnect: LinkHook | None = None,
    ) -> None:
        self.address = address.upper()
        self.address_type = address_type
        self.advertisement = advertisement
        self.services = services
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._advertising = True
        self.connected = False
        self.battery_percent: int | None = None
        """Battery level for ``org.bluez.Battery1`` when the Battery Service is claimed."""
        self.host: Host | None = None
        self.passkey: int | None = None
        """The passkey printed on the device (passkey entry); None: it pairs with Just Works."""
        self.bonds: set[str] = set()
        """The device's half of its bonds: the adapter addresses it holds a key for."""

    @property
    def advertising(self) -> bool:
        return self._advertising

    @advertising.setter
    def advertising(self, value: bool) -> None:
        self._advertising = value
        if self.host is not None:
            self.host.peripheral_changed(self)

    def set_advertisement(self, advertisement: Advertisement) -> None:
        self.advertisement = advertisement
        if self.host is not None:
            self.host.peripheral_changed(self)

    def set_battery(self, percent: int) -> None:
        self.battery_percent = percent
        if self.host is not None:
            self.host.peripheral_changed(self)

    def characteristic(self, uuid: str) -> Characteristic:
        wanted = uuid.lower()
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == wanted:
                    return char
        raise KeyError(uuid)

    def notify(self, char: Characteristic, value: bytes) -> None:
        """Send a notification (dropped unless a central is connected and subscribed)."""
        char.value = bytes(value)
        if self.host is not None and self.connected:
            self.host.peripheral_notify(self, char, bytes(value))

    async def drop_link(self) -> None:
        """The link drops from the device's side (supervision timeout, out of range)."""
        if self.host is not None and self.connected:
            await self.host.peripheral_drop(self)
