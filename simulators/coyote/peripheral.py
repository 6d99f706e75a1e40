"""What both simulated Coyotes share on the radio: advertising, ordered notifications, links.

Imports bumble: load it only when a simulator starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 20.0
"""Fast advertising, so a scan or connect on the virtual radio does not wait a second."""


def uuid16_list(uuids: list[int]) -> tuple[int, bytes]:
    return (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        b"".join(u.to_bytes(2, "little") for u in uuids),
    )


def uuid128_list(uuids: list[str]) -> tuple[int, bytes]:
    return (
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        b"".join(bytes(UUID(u)) for u in uuids),
    )


class Peripheral:
    """A bumble device that advertises, notifies in order and tells when links come and go."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self._queue: asyncio.Queue[tuple[gatt.Characteristic[bytes], bytes]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self.on_link_lost: Callable[[], None] | None = None
        self.on_link_up: Callable[[], None] | None = None
        self.advertising_data = b""
        self.scan_response = b""
        self.link_listeners: list[Callable[[str], None]] = []
        self.link_up = asyncio.Event()
        device.on(device.EVENT_CONNECTION, self._on_connection)

    @property
    def address(self) -> str:
        return self.device.random_address.to_string(with_type_qualifier=False)

    @property
    def connected(self) -> bool:
        return bool(self.device.connections)

    def _on_connection(self, connection: Connection) -> None:
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection())
        self.link_up.set()
        if self.on_link_up is not None:
            self.on_link_up()
        self._tell("connected")

    def _on_disconnection(self) -> None:
        if not self.device.connections:
            self.link_up.clear()
        if self.on_link_lost is not None:
            self.on_link_lost()
        self._tell("disconnected")

    def _tell(self, what: str) -> None:
        for listener in list(self.link_listeners):
            try:
                listener(what)
            except Exception:  # a broken listener must not break the device
                log.exception("link listener %r failed", listener)

    async def advertise(self, advertising_data: bytes, scan_response: bytes = b"") -> None:
        self.advertising_data = advertising_data
        self.scan_response = scan_response
        await self.device.start_advertising(
            advertising_data=advertising_data,
            scan_response_data=scan_response,
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
            auto_restart=True,
        )
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_notifications())

    def notify(self, characteristic: gatt.Characteristic[bytes], value: bytes) -> None:
        """Queue a notification; they go out in order."""
        self._queue.put_nowait((characteristic, value))

    async def _send_notifications(self) -> None:
        while True:
            characteristic, value = await self._queue.get()
            if not self.device.connections:
                continue
            try:
                await self.device.notify_subscribers(characteristic, value)
            except Exception as exc:  # the link went down meanwhile
                log.debug("notification not sent: %s", exc)

    async def drop_links(self) -> None:
        """End every link from the device's side (as if it went out of range)."""
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), 2.0)

    async def stop_advertising(self) -> None:
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()

    async def close(self) -> None:
        await self.stop_advertising()
        await self.drop_links()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
