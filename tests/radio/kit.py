"""A small GATT peripheral for radio tests (also run in a subprocess by the TCP test)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bumble import att, gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from simulators.radio.radio import VirtualRadio

SERVICE_UUID = "7e57a000-1c2d-4f5e-8a9b-0c1d2e3f4a5b"
VALUE_UUID = "7e57a001-1c2d-4f5e-8a9b-0c1d2e3f4a5b"
EVENTS_UUID = "7e57a002-1c2d-4f5e-8a9b-0c1d2e3f4a5b"
COMPANY_ID = 0xFFFF  # reserved for tests by the Bluetooth SIG
MANUFACTURER_DATA = b"\x01\x02"

REJECT_VALUE = b"\xff"
"""Writing this is refused with ATT error 0x13 (Value Not Allowed)."""
REJECT_APP = b"\xfe"
"""Writing this is refused with application ATT error 0x80."""

_RW = gatt.Characteristic.Properties
_PERM = gatt.Characteristic.Permissions


@dataclass
class KitPeripheral:
    device: Device
    events: gatt.Characteristic[bytes]
    value: bytes = b"hello"
    writes: list[bytes] = field(default_factory=list)
    wrote: asyncio.Event = field(default_factory=asyncio.Event)
    echo: bool = False
    """Send each accepted write back as a notification on the events characteristic."""
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def address(self) -> str:
        return self.device.random_address.to_string(with_type_qualifier=False)

    slow_read: Callable[[], Awaitable[bytes]] | None = None
    """When set, reads are answered by awaiting this (to hold a request in flight)."""

    async def read(self, _connection: Connection) -> bytes:
        if self.slow_read is not None:
            return await self.slow_read()
        return self.value

    def write(self, _connection: Connection, value: bytes) -> None:
        if value == REJECT_VALUE:
            raise att.ATT_Error(att.ErrorCode.VALUE_NOT_ALLOWED)
        if value == REJECT_APP:
            raise att.ATT_Error(0x80)
        self.writes.append(bytes(value))
        self.value = bytes(value)
        self.wrote.set()
        if self.echo:
            self.later(self.notify(bytes(value)))

    def later(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for_writes(self, count: int) -> None:
        while len(self.writes) < count:
            self.wrote.clear()
            await self.wrote.wait()

    async def notify(self, data: bytes) -> None:
        await self.device.notify_subscribers(self.events, data)

    async def drop_links(self) -> None:
        """Disconnect every central, from the peripheral's side."""
        for connection in list(self.device.connections.values()):
            await connection.disconnect()

    async def advertise(self, interval_ms: float = 20.0) -> None:
        await self.device.start_advertising(
            advertising_data=advertising_data(self.device.name),
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )


def advertising_data(name: str) -> bytes:
    return bytes(
        AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    bytes(UUID(SERVICE_UUID)),
                ),
                (
                    AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                    COMPANY_ID.to_bytes(2, "little") + MANUFACTURER_DATA,
                ),
                (AdvertisingData.SERVICE_DATA_16_BIT_UUID, bytes([0x0F, 0x18, 0x55])),
            ]
        )
    )


async def make_peripheral(
    radio: VirtualRadio, name: str = "TestTENS", address: str | None = None
) -> KitPeripheral:
    """A peripheral on ``radio`` with one test service, advertising every 20 ms."""
    device = await radio.add_peripheral(name, address)
    events: gatt.Characteristic[bytes] = gatt.Characteristic(
        EVENTS_UUID, _RW.NOTIFY | _RW.READ, _PERM.READABLE, b"\x00"
    )
    peripheral = KitPeripheral(device=device, events=events)
    value: gatt.Characteristic[bytes] = gatt.Characteristic(
        VALUE_UUID,
        _RW.READ | _RW.WRITE | _RW.WRITE_WITHOUT_RESPONSE,
        _PERM.READABLE | _PERM.WRITEABLE,
        gatt.CharacteristicValue(read=peripheral.read, write=peripheral.write),
    )
    device.add_service(gatt.Service(SERVICE_UUID, [value, events]))
    await peripheral.advertise()
    return peripheral
