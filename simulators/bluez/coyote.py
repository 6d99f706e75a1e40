"""The simulated Coyote 3.0 and 2.0 behind the fake BlueZ, on the same device models.

The GATT tables are those of :mod:`simulators.coyote.simulator` (the bumble tier): the 3.0's
control 0x150A is WRITE as the vendor document lists it (a write command to it is dropped;
``write_without_response=True`` lists it as write-without-response only and answers a write
request "write not permitted"), B1 replies notify on 0x150B, the battery on 0x1500 in a
0x180A service; the 2.0's strength 0x1504 (read, write, notify) and waveforms 0x1505/0x1506
in 0x180B. The fault API (``drop_link``, ``power_cycle``/``reboot``, ``set_battery``,
``turn_wheel``, ...) is the same, and so is the link timing (writes take effect at a
connection event, :mod:`simulators.coyote.link`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulators.bluez.errors import ATT_WRITE_NOT_PERMITTED, AttError
from simulators.bluez.opentens import address_for
from simulators.bluez.peripheral import Advertisement, Characteristic, Peripheral, Service, uuid16
from simulators.bluez.service import FakeBlueZ
from simulators.coyote import wire2
from simulators.coyote.link import DEFAULT_INTERVAL_MS, LinkTiming
from simulators.coyote.model2 import Coyote2Model
from simulators.coyote.model3 import Coyote3Model
from simulators.opentens.record import DeliveredRecord

V3_NAME = "47L121000"
V2_NAME = "D-LAB ESTIM01"
"""The names the real devices advertise (as simulators.coyote.simulator, without bumble)."""


def _v2(short: int) -> str:
    return wire2.BASE.format(short).lower()


class _CoyoteBlueZ:
    def __init__(
        self,
        fake: FakeBlueZ,
        peripheral: Peripheral,
        record: DeliveredRecord,
        link: LinkTiming,
    ) -> None:
        self.link = link
        """Writes take effect at its connection events, as on the bumble tier."""
        self.fake = fake
        self.peripheral = peripheral
        self.record = record
        self.link_events: list[tuple[float, str]] = []
        self._link_listeners: list[Callable[[str], None]] = []
        self._link_up = asyncio.Event()

    @property
    def name(self) -> str:
        return self.peripheral.advertisement.name or self.peripheral.address

    @property
    def address(self) -> str:
        return self.peripheral.address

    @property
    def connected(self) -> bool:
        return self.peripheral.connected

    def _on_connect(self) -> None:
        self.link.link_up()
        self._link_up.set()
        self._tell("connected")

    def _link_lost(self) -> None:
        self.link.link_down()
        self._link_up.clear()
        self._tell("disconnected")

    def _tell(self, what: str) -> None:
        self.link_events.append((asyncio.get_running_loop().time(), what))
        for listener in list(self._link_listeners):
            listener(what)

    def add_link_listener(self, listener: Callable[[str], None]) -> None:
        self._link_listeners.append(listener)

    async def wait_connected(self) -> None:
        await self._link_up.wait()

    async def drop_link(self) -> None:
        await self.peripheral.drop_link()

    async def stop_advertising(self) -> None:
        self.peripheral.advertising = False

    async def advertise(self) -> None:
        self.peripheral.advertising = True

    async def reboot(self) -> None:
        await self.power_cycle()

    async def power_cycle(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        self.peripheral.advertising = False
        await self.peripheral.drop_link()


class Coyote3BlueZ(_CoyoteBlueZ):
    """A Coyote 3.0 served by the fake BlueZ. ``model`` is the device."""

    def __init__(
        self,
        fake: FakeBlueZ,
        *,
        name: str = V3_NAME,
        address: str | None = None,
        battery: int = 100,
        record: DeliveredRecord | None = None,
        write_without_response: bool = False,
        interval_ms: float = DEFAULT_INTERVAL_MS,
    ) -> None:
        self.model = Coyote3Model(record, battery=battery)
        link = LinkTiming(interval_ms)

        async def write(value: bytes, with_response: bool) -> None:
            if with_response and write_without_response:
                raise AttError(ATT_WRITE_NOT_PERMITTED)
            if not with_response and not write_without_response:
                return  # a write command to a WRITE-only characteristic: dropped unseen
            data = bytes(value)
            await link.apply(lambda: self.model.write(data))

        flags = ("write-without-response",) if write_without_response else ("write",)
        self.control = Characteristic(uuid16(0x150A), flags, write=write)
        self.replies = Characteristic(uuid16(0x150B), ("notify",))
        self.battery = Characteristic(
            uuid16(0x1500), ("read", "notify"), read=lambda: bytes([self.model.battery])
        )
        peripheral = Peripheral(
            address or address_for(name + "/coyote3"),
            Advertisement(name, (uuid16(0x180C),)),
            [
                Service(uuid16(0x180C), [self.control, self.replies]),
                Service(uuid16(0x180A), [self.battery]),
            ],
        )
        super().__init__(fake, peripheral, self.model.record, link)
        peripheral.on_connect = self._on_connect
        peripheral.on_disconnect = self._on_disconnect
        self.model.notify_b1 = lambda data: peripheral.notify(self.replies, data)
        self.model.notify_battery = lambda data: peripheral.notify(self.battery, data)

    def _on_disconnect(self) -> None:
        self.model.link_lost()
        self._link_lost()

    def send_raw_reply(self, data: bytes) -> None:
        """Fault: notify these bytes on 0x150B as if they were a B1."""
        self.peripheral.notify(self.replies, data)

    def turn_wheel(self, channel: int, delta: int) -> int:
        return self.model.turn_wheel(channel, delta)

    def set_battery(self, percent: int) -> None:
        self.model.set_battery(percent)

    async def power_cycle(self) -> None:
        self.model.power_off()
        await self.peripheral.drop_link()
        self.model.power_on()


class Coyote2BlueZ(_CoyoteBlueZ):
    """A Coyote 2.0 served by the fake BlueZ. ``model`` is the device."""

    def __init__(
        self,
        fake: FakeBlueZ,
        *,
        name: str = V2_NAME,
        address: str | None = None,
        battery: int = 100,
        record: DeliveredRecord | None = None,
        interval_ms: float = DEFAULT_INTERVAL_MS,
    ) -> None:
        self.model = Coyote2Model(record, battery=battery)
        model = self.model
        link = LinkTiming(interval_ms)

        async def write_strength(value: bytes, with_response: bool) -> None:
            if with_response:  # listed as WRITE only: a write command is dropped unseen
                data = bytes(value)
                await link.apply(lambda: model.write_strength(data))

        self.strength = Characteristic(
            _v2(0x1504),
            ("read", "write", "notify"),
            read=model.strength_bytes,
            write=write_strength,
        )

        def wave(short: int, channel: int) -> Characteristic:
            async def write_wave(value: bytes, with_response: bool) -> None:
                if with_response:
                    data = bytes(value)
                    await link.apply(lambda: model.write_wave(channel, data))

            return Characteristic(
                _v2(short), ("read", "write"), read=lambda: bytes(3), write=write_wave
            )

        self.battery = Characteristic(
            _v2(0x1500), ("read", "notify"), read=lambda: bytes([model.battery])
        )
        peripheral = Peripheral(
            address or address_for(name + "/coyote2"),
            Advertisement(name, (_v2(0x180B),)),
            [
                # the device reads 0x1506 as channel A and 0x1505 as channel B
                Service(_v2(0x180B), [self.strength, wave(0x1505, 1), wave(0x1506, 0)]),
                Service(_v2(0x180A), [self.battery]),
            ],
        )
        super().__init__(fake, peripheral, model.record, link)
        peripheral.on_connect = self._on_connect
        peripheral.on_disconnect = self._on_disconnect
        model.notify_strength = lambda data: peripheral.notify(self.strength, data)
        model.notify_battery = lambda data: peripheral.notify(self.battery, data)

    def _on_disconnect(self) -> None:
        self.model.link_lost()
        self._link_lost()

    def change_strength_on_device(self, a: int, b: int) -> None:
        self.model.change_strength_on_device(a, b)

    def set_battery(self, percent: int) -> None:
        self.model.set_battery(percent)

    async def power_cycle(self) -> None:
        self.model.power_off()
        await self.peripheral.drop_link()
        self.model.power_on()


COYOTE_MODELS = ("coyote3", "coyote2")


async def start_bluez_coyote(
    fake: FakeBlueZ, model: str, *, name: str | None = None, address: str | None = None
) -> Coyote3BlueZ | Coyote2BlueZ:
    """Serve a simulated ``coyote3`` or ``coyote2`` on ``fake``; it advertises at once."""
    sim: Coyote3BlueZ | Coyote2BlueZ
    if model == "coyote3":
        sim = Coyote3BlueZ(fake, name=name or V3_NAME, address=address)
    elif model == "coyote2":
        sim = Coyote2BlueZ(fake, name=name or V2_NAME, address=address)
    else:
        raise ValueError(
            f"unknown Coyote model {model!r}; choose one of {', '.join(COYOTE_MODELS)}"
        )
    fake.add(sim.peripheral)
    return sim
