"""Simulated Coyote 3.0 and 2.0 on a :class:`simulators.radio.VirtualRadio`.

``sim = await Coyote3Simulator.start(radio)`` puts a device model behind a bumble GATT server
that advertises like the real device (``47L121000`` / ``D-LAB ESTIM01``). ``sim.record`` is
the delivered-output record (a :class:`simulators.opentens.record.DeliveredRecord`, so tests
and benchmarks treat every simulator alike; for the Coyotes its values are **levels**, not
mA). The fault API is on the simulator: :meth:`drop_link`, :meth:`power_cycle` (or ``reboot``),
:meth:`set_battery`, and per model ``turn_wheel`` (3.0), ``ignore_soft_limits``/``ignore_bf``
/``silent`` (3.0), ``change_strength_on_device`` and ``hung`` (2.0).

Writes take effect at a connection event (``interval_ms``, default 30 ms; see
:mod:`.link`), never at once. The 3.0's 0x150A is WRITE as the vendor document lists it;
``write_without_response=True`` makes it write-without-response only, as the vendor's
maintainers say real units take it (dungeonlab-open/dglab-bluetooth-protocol issue 27).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bumble import att, gatt
from bumble.core import AdvertisingData
from bumble.device import Connection, Device

from simulators.coyote import wire2
from simulators.coyote.link import DEFAULT_INTERVAL_MS, LinkTiming
from simulators.coyote.model2 import Coyote2Model
from simulators.coyote.model3 import Coyote3Model
from simulators.coyote.peripheral import Peripheral, uuid16_list, uuid128_list
from simulators.opentens.record import DeliveredRecord
from simulators.radio.radio import VirtualRadio

_P = gatt.Characteristic.Properties
_PERM = gatt.Characteristic.Permissions

V3_NAME = "47L121000"
V2_NAME = "D-LAB ESTIM01"


def _sig(short: int) -> str:
    return f"0000{short:04X}-0000-1000-8000-00805F9B34FB"


def _v2(short: int) -> str:
    return wire2.BASE.format(short).upper()


def _adv(name: str, *services: tuple[int, bytes]) -> tuple[bytes, bytes]:
    adv = AdvertisingData(
        [
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
        ]
    )
    return bytes(adv), bytes(AdvertisingData(list(services)))


def _drop_write_commands(device: Device, characteristics: list[gatt.Characteristic[bytes]]) -> None:
    """A write *command* (without response) to a characteristic that lists WRITE only is
    dropped unseen, as by a real GATT server (bumble itself does not check)."""
    server = device.gatt_server
    original = server.on_att_write_command
    handles = {c.handle for c in characteristics}

    def on_att_write_command(bearer: Any, request: Any) -> Any:
        if request.attribute_handle in handles:
            return None
        return original(bearer, request)

    server.on_att_write_command = on_att_write_command


def _refuse_write_requests(device: Device, characteristic: gatt.Characteristic[bytes]) -> None:
    """A write *request* (with response) to a write-without-response characteristic gets
    Write Not Permitted, as from a real GATT server (bumble itself does not check)."""
    server = device.gatt_server
    original = server.on_att_write_request

    def on_att_write_request(bearer: Any, request: Any) -> Any:
        if request.attribute_handle == characteristic.handle:
            raise att.ATT_Error(att.ErrorCode.WRITE_NOT_PERMITTED, request.attribute_handle)
        return original(bearer, request)

    server.on_att_write_request = on_att_write_request


def _battery_characteristic(
    uuid: str, model: Coyote2Model | Coyote3Model
) -> gatt.Characteristic[bytes]:
    """The battery level, one byte 0-100, read and notified (both families)."""

    def read_battery(_connection: Connection) -> bytes:
        return bytes([model.battery])

    return gatt.Characteristic(
        uuid, _P.READ | _P.NOTIFY, _PERM.READABLE, gatt.CharacteristicValue(read=read_battery)
    )


def _follow_link(peripheral: Peripheral, link: LinkTiming, lost: Callable[[], None]) -> None:
    def link_lost() -> None:
        link.link_down()
        lost()

    peripheral.on_link_up = link.link_up
    peripheral.on_link_lost = link_lost


class _SimulatorBase:
    model: Coyote2Model | Coyote3Model
    DEFAULT_INTERVAL_MS = DEFAULT_INTERVAL_MS

    def __init__(self, peripheral: Peripheral, record: DeliveredRecord, link: LinkTiming) -> None:
        self.peripheral = peripheral
        self.record = record
        self.link = link
        """The link's connection events (writes are applied at them)."""

    @property
    def address(self) -> str:
        return self.peripheral.address

    @property
    def name(self) -> str:
        return str(self.peripheral.device.name)

    @property
    def connected(self) -> bool:
        return self.peripheral.connected

    def set_battery(self, percent: int) -> None:
        self.model.set_battery(percent)

    async def drop_link(self) -> None:
        """The link goes down (out of range): the central sees a disconnection."""
        await self.peripheral.drop_links()

    def add_link_listener(self, listener: Callable[[str], None]) -> None:
        """``listener("connected" | "disconnected")`` on every link change."""
        self.peripheral.link_listeners.append(listener)

    async def wait_connected(self) -> None:
        """Return once a central is connected."""
        await self.peripheral.link_up.wait()

    async def reboot(self) -> None:
        """Switch the device off and on (the same as :meth:`power_cycle`)."""
        await self.power_cycle()

    async def power_cycle(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        await self.peripheral.close()


class Coyote3Simulator(_SimulatorBase):
    """A Coyote 3.0 on the radio. ``model`` is the device (see :mod:`.model3`)."""

    model: Coyote3Model

    def __init__(self, peripheral: Peripheral, model: Coyote3Model, link: LinkTiming) -> None:
        super().__init__(peripheral, model.record, link)
        self.model = model

    @classmethod
    async def start(
        cls,
        radio: VirtualRadio,
        *,
        name: str = V3_NAME,
        address: str | None = None,
        battery: int = 100,
        record: DeliveredRecord | None = None,
        write_without_response: bool = False,
        interval_ms: float = DEFAULT_INTERVAL_MS,
    ) -> Coyote3Simulator:
        """``write_without_response``: list 0x150A as write-without-response only and refuse
        write requests (the vendor's maintainers say real units take writes without
        response; the document lists WRITE, the default). ``interval_ms``: the connection
        interval; writes take effect at its events."""
        model = Coyote3Model(record, battery=battery)
        link = LinkTiming(interval_ms)
        device = await radio.add_peripheral(name, address)
        peripheral = Peripheral(device)

        async def write(_connection: Connection, value: bytes) -> None:
            data = bytes(value)
            await link.apply(lambda: model.write(data))

        control: gatt.Characteristic[bytes] = gatt.Characteristic(
            _sig(0x150A),
            _P.WRITE_WITHOUT_RESPONSE if write_without_response else _P.WRITE,
            _PERM.WRITEABLE,
            gatt.CharacteristicValue(write=write),
        )
        replies: gatt.Characteristic[bytes] = gatt.Characteristic(
            _sig(0x150B), _P.NOTIFY, _PERM.READABLE, b""
        )
        battery_char = _battery_characteristic(_sig(0x1500), model)
        device.add_services(
            [
                gatt.Service(_sig(0x180C), [control, replies]),
                gatt.Service(_sig(0x180A), [battery_char]),
            ]
        )
        model.notify_b1 = lambda data: peripheral.notify(replies, data)
        model.notify_battery = lambda data: peripheral.notify(battery_char, data)
        _follow_link(peripheral, link, model.link_lost)
        adv, scan_response = _adv(name, uuid16_list([0x180C]))
        await peripheral.advertise(adv, scan_response)
        if write_without_response:
            _refuse_write_requests(device, control)
        else:
            _drop_write_commands(device, [control])
        sim = cls(peripheral, model, link)
        sim._replies = replies
        return sim

    _replies: gatt.Characteristic[bytes] | None = None

    def send_raw_reply(self, data: bytes) -> None:
        """Fault: notify these bytes on 0x150B as if they were a B1 (e.g. a corrupt one)."""
        if self._replies is not None:
            self.peripheral.notify(self._replies, data)

    def turn_wheel(self, channel: int, delta: int) -> int:
        return self.model.turn_wheel(channel, delta)

    def hang(self, hung: bool = True) -> None:
        """Fault: the firmware hangs, output latched until a disconnect (see
        :meth:`Coyote3Model.hang`)."""
        self.model.hang(hung)

    async def power_cycle(self) -> None:
        """Switch off (the link drops, strength goes to 0, BF stays) and on again."""
        self.model.power_off()
        await self.peripheral.drop_links()
        self.model.power_on()


class Coyote2Simulator(_SimulatorBase):
    """A Coyote 2.0 on the radio. ``model`` is the device (see :mod:`.model2`)."""

    model: Coyote2Model

    def __init__(self, peripheral: Peripheral, model: Coyote2Model, link: LinkTiming) -> None:
        super().__init__(peripheral, model.record, link)
        self.model = model

    @classmethod
    async def start(
        cls,
        radio: VirtualRadio,
        *,
        name: str = V2_NAME,
        address: str | None = None,
        battery: int = 100,
        record: DeliveredRecord | None = None,
        interval_ms: float = DEFAULT_INTERVAL_MS,
    ) -> Coyote2Simulator:
        """``interval_ms``: the connection interval; writes take effect at its events."""
        model = Coyote2Model(record, battery=battery)
        link = LinkTiming(interval_ms)
        device = await radio.add_peripheral(name, address)
        peripheral = Peripheral(device)

        async def write_strength(_connection: Connection, value: bytes) -> None:
            data = bytes(value)
            await link.apply(lambda: model.write_strength(data))

        def read_strength(_connection: Connection) -> bytes:
            return model.strength_bytes()

        def wave_char(short: int, channel: int) -> gatt.Characteristic[bytes]:
            async def write(_connection: Connection, value: bytes) -> None:
                data = bytes(value)
                await link.apply(lambda: model.write_wave(channel, data))

            def read(_connection: Connection) -> bytes:
                return bytes(3)

            return gatt.Characteristic(
                _v2(short),
                _P.READ | _P.WRITE,
                _PERM.READABLE | _PERM.WRITEABLE,
                gatt.CharacteristicValue(read=read, write=write),
            )

        strength: gatt.Characteristic[bytes] = gatt.Characteristic(
            _v2(0x1504),
            _P.READ | _P.WRITE | _P.NOTIFY,
            _PERM.READABLE | _PERM.WRITEABLE,
            gatt.CharacteristicValue(read=read_strength, write=write_strength),
        )

        waves = [wave_char(0x1505, 1), wave_char(0x1506, 0)]
        battery_char = _battery_characteristic(_v2(0x1500), model)
        device.add_services(
            [
                # the device reads 0x1506 as channel A and 0x1505 as channel B
                gatt.Service(_v2(0x180B), [strength, *waves]),
                gatt.Service(_v2(0x180A), [battery_char]),
            ]
        )
        model.notify_strength = lambda data: peripheral.notify(strength, data)
        model.notify_battery = lambda data: peripheral.notify(battery_char, data)
        _follow_link(peripheral, link, model.link_lost)
        adv, scan_response = _adv(name, uuid128_list([_v2(0x180B)]))
        await peripheral.advertise(adv, scan_response)
        _drop_write_commands(device, [strength, *waves])
        return cls(peripheral, model, link)

    async def power_cycle(self) -> None:
        self.model.power_off()
        await self.peripheral.drop_links()
        self.model.power_on()


COYOTE_MODELS = ("coyote3", "coyote2")


async def start_coyote(
    radio: VirtualRadio, model: str, *, name: str | None = None, address: str | None = None
) -> Coyote3Simulator | Coyote2Simulator:
    """Start the simulated ``coyote3`` or ``coyote2`` on ``radio`` (for the CLI's
    ``--sim-model`` and ``tens simulate --model``)."""
    if model == "coyote3":
        return await Coyote3Simulator.start(radio, name=name or V3_NAME, address=address)
    if model == "coyote2":
        return await Coyote2Simulator.start(radio, name=name or V2_NAME, address=address)
    raise ValueError(f"unknown Coyote model {model!r}; choose one of {', '.join(COYOTE_MODELS)}")
