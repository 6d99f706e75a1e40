"""Helpers for the simulator tests: a minimal central that speaks to the model directly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

from simulators.opentens.codec import (
    Command,
    Keepalive,
    MalformedMessage,
    SetLimits,
    SetOutput,
    Start,
    StatusReport,
    Stop,
    decode_status,
    encode_command,
)
from simulators.opentens.config import SimConfig
from simulators.opentens.model import CommandRefused, OpenTensModel


@dataclass
class Central:
    """Numbers commands 1..255 like a driver and decodes every status notification."""

    model: OpenTensModel
    seq: int = 0
    statuses: list[tuple[float, StatusReport]] = field(default_factory=list)
    garbage: list[tuple[float, bytes]] = field(default_factory=list)
    new_status: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.model.add_status_sink(self._on_status)

    async def _on_status(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        try:
            self.statuses.append((now, decode_status(data)))
        except MalformedMessage:
            self.garbage.append((now, data))
        self.new_status.set()

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq

    async def send(self, command: Command) -> None:
        await self.model.write(encode_command(command))

    async def start(self, mask: int = 0xFF) -> None:
        await self.send(Start(self.next_seq(), mask))

    async def set_output(
        self, channel: int, ma: float, *, pw: int = 200, hz: float = 100.0, wave: int = 0
    ) -> None:
        await self.send(
            SetOutput(self.next_seq(), channel, round(ma * 10), pw, round(hz * 10), wave)
        )

    async def stop(self, mask: int = 0xFF) -> None:
        await self.send(Stop(self.next_seq(), mask))

    async def keepalive(self) -> None:
        await self.send(Keepalive(self.next_seq()))

    async def set_limits(self, max_ma: float, ramp_ma_s: float, watchdog_ms: int) -> None:
        await self.send(
            SetLimits(self.next_seq(), round(max_ma * 10), round(ramp_ma_s * 10), watchdog_ms)
        )

    async def refused(self, coro: Awaitable[None]) -> int:
        """Await a write that must be refused; return the ATT code."""
        try:
            await coro
        except CommandRefused as exc:
            return exc.code
        raise AssertionError("the write was accepted")

    async def keep_alive_for(self, seconds: float, every: float = 0.5) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            await self.keepalive()
            await asyncio.sleep(every)

    @contextlib.asynccontextmanager
    async def feeding_watchdog(self, every: float = 0.5) -> AsyncIterator[None]:
        """Send KEEPALIVE every ``every`` s in the background while the block runs."""

        async def feed() -> None:
            while True:
                await asyncio.sleep(every)
                with contextlib.suppress(CommandRefused):
                    await self.keepalive()

        task = asyncio.get_running_loop().create_task(feed())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def last_status(self) -> StatusReport:
        assert self.statuses, "no status received"
        return self.statuses[-1][1]

    async def next_status(self, within: float = 2.0) -> StatusReport:
        self.new_status.clear()
        await asyncio.wait_for(self.new_status.wait(), within)
        return self.last_status()


@contextlib.asynccontextmanager
async def connected_model(config: SimConfig | None = None) -> AsyncIterator[Central]:
    """A started model with a central connected to it."""
    model = OpenTensModel(config or SimConfig())
    await model.start()
    central = Central(model)
    model.connect()
    try:
        yield central
    finally:
        await model.close()


BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


@dataclass
class BleakCentral:
    """A bleak client on the virtual radio, numbering commands and decoding notifications."""

    client: Any
    sim: Any
    seq: int = 0
    statuses: list[tuple[float, StatusReport]] = field(default_factory=list)
    garbage: list[tuple[float, bytes]] = field(default_factory=list)
    battery: list[int] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    new_status: asyncio.Event = field(default_factory=asyncio.Event)

    def on_status(self, _char: Any, data: bytearray) -> None:
        now = asyncio.get_running_loop().time()
        try:
            self.statuses.append((now, decode_status(bytes(data))))
        except MalformedMessage:
            self.garbage.append((now, bytes(data)))
        self.new_status.set()

    def on_battery(self, _char: Any, data: bytearray) -> None:
        self.battery.append(data[0])

    async def send(self, command: Command) -> None:
        from simulators.opentens.profile import CONTROL_POINT_UUID

        await self.client.write_gatt_char(
            CONTROL_POINT_UUID, encode_command(command), response=True
        )

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq

    async def start(self, mask: int = 0xFF) -> None:
        await self.send(Start(self.next_seq(), mask))

    async def set_output(self, channel: int, ma: float) -> None:
        await self.send(SetOutput(self.next_seq(), channel, round(ma * 10), 200, 1000, 0))

    async def keepalive(self) -> None:
        await self.send(Keepalive(self.next_seq()))

    async def stop(self, mask: int = 0xFF) -> None:
        await self.send(Stop(self.next_seq(), mask))

    async def refused(self, coro: Awaitable[None]) -> int:
        from bleak.exc import BleakGATTProtocolError

        try:
            await coro
        except BleakGATTProtocolError as exc:
            return int(exc.code)
        raise AssertionError("the write was accepted")

    async def next_status(self, within: float = 2.0) -> StatusReport:
        self.new_status.clear()
        await asyncio.wait_for(self.new_status.wait(), within)
        assert self.statuses
        return self.statuses[-1][1]

    @contextlib.asynccontextmanager
    async def feeding_watchdog(self, every: float = 0.4) -> AsyncIterator[None]:
        async def feed() -> None:
            from bleak.exc import BleakGATTProtocolError

            while self.client.is_connected:
                await asyncio.sleep(every)
                try:
                    await self.keepalive()
                except BleakGATTProtocolError as exc:
                    self.refusals.append(int(exc.code))
                except Exception:  # the link went down: the session ends
                    return

        task = asyncio.get_running_loop().create_task(feed())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def radio_with_wearable(
    config: SimConfig | None = None, *, central_keys: Any = None, **kwargs: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """A VirtualRadio in this process with a simulated wearable on it: (radio, simulator).
    ``central_keys``: the central's bond key-store file (link-security tests)."""
    from simulators.opentens import start_simulated_wearable
    from simulators.radio import VirtualRadio

    radio = await VirtualRadio.local(keystore=central_keys)
    try:
        sim = await start_simulated_wearable(radio, config=config, **kwargs)
        try:
            yield radio, sim
        finally:
            await sim.close()
    finally:
        await radio.close()


@contextlib.asynccontextmanager
async def bleak_session(radio: Any, sim: Any) -> AsyncIterator[BleakCentral]:
    """Scan for the simulator, connect with bleak, subscribe to status and battery."""
    from bleak import BleakClient, BleakScanner

    from simulators.opentens.profile import STATUS_UUID

    device = await BleakScanner.find_device_by_address(
        sim.address, timeout=5.0, **radio.transport().scanner_options()
    )
    assert device is not None, "the simulator is not advertising"
    holder: list[BleakCentral] = []
    client = BleakClient(
        device,
        disconnected_callback=lambda _c: holder[0].lost.set() if holder else None,
        **radio.transport().client_options(),
    )
    central = BleakCentral(client, sim)
    holder.append(central)
    await client.connect()
    try:
        await client.start_notify(STATUS_UUID, central.on_status)
        await client.start_notify(BATTERY_LEVEL_UUID, central.on_battery)
        yield central
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
