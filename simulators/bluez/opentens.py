"""The simulated OpenTENS wearable behind the fake BlueZ (tier 2), on the same device model.

``OpenTensBlueZ(fake, config)`` maps :class:`simulators.opentens.model.OpenTensModel` onto a
:class:`~simulators.bluez.peripheral.Peripheral` exactly as the bumble GATT server
(:class:`simulators.opentens.server.OpenTensSimulator`) maps it onto bumble: the OpenTENS
service (device info read, control point write with response, status read + notify), the
Battery Service (claimed by bluetoothd's battery plugin, so it shows as ``Battery1``) and the
Device Information Service. A refused command answers with the profile's ATT code, which
bluetoothd turns into ``org.bluez.Error.Failed: Operation failed with ATT error: 0x83`` and
bleak back into ``BleakGATTProtocolError``. The fault API (``drop_link``, ``peel_off``,
``stick``, ``reboot``, ...) and ``run_scenario`` are the bumble simulator's, so the named
scenarios run unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging

from simulators.bluez.errors import ATT_UNLIKELY_ERROR, AttError
from simulators.bluez.peripheral import Advertisement, Characteristic, Peripheral, Service, uuid16
from simulators.bluez.service import FakeBlueZ
from simulators.opentens.config import SimConfig
from simulators.opentens.front import WearableFront
from simulators.opentens.model import CommandRefused, LinkDown, OpenTensModel
from simulators.opentens.profile import (
    CONTROL_POINT_UUID,
    DEVICE_INFO_UUID,
    SERVICE_UUID,
    STATUS_UUID,
)
from simulators.opentens.record import DeliveredRecord

log = logging.getLogger(__name__)

BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)
DEVICE_INFORMATION = uuid16(0x180A)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)
FIRMWARE_REVISION = uuid16(0x2A26)


def address_for(name: str) -> str:
    """A stable random static address for a simulated device name (top bits 11)."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in digest)


class OpenTensBlueZ(WearableFront):
    """A simulated OpenTENS wearable served by a :class:`FakeBlueZ`. ``await start()``."""

    def __init__(
        self,
        fake: FakeBlueZ,
        config: SimConfig | None = None,
        *,
        address: str | None = None,
        record: DeliveredRecord | None = None,
    ) -> None:
        self.fake = fake
        self.config = config or SimConfig()
        self.model = OpenTensModel(self.config, record)
        self.record = self.model.record
        self._init_front()
        """(loop time, "connected" / "disconnected") for tests and the CLI."""
        self._started = False

        self.info_characteristic = Characteristic(
            DEVICE_INFO_UUID, ("read",), read=self.model.device_info_bytes
        )
        self.control_characteristic = Characteristic(
            CONTROL_POINT_UUID, ("write",), write=self._on_control_write
        )
        self.status_characteristic = Characteristic(
            STATUS_UUID, ("read", "notify"), read=self.model.status_bytes
        )
        self.battery_characteristic = Characteristic(
            BATTERY_LEVEL, ("read", "notify"), read=lambda: bytes([self.model.battery_percent])
        )
        services = [
            Service(
                SERVICE_UUID,
                [self.info_characteristic, self.control_characteristic, self.status_characteristic],
            ),
            Service(BATTERY_SERVICE, [self.battery_characteristic], claimed_by="battery"),
            Service(
                DEVICE_INFORMATION,
                [
                    Characteristic(
                        MANUFACTURER_NAME, ("read",), value=self.config.manufacturer.encode()
                    ),
                    Characteristic(
                        MODEL_NUMBER, ("read",), value=self.config.model_number.encode()
                    ),
                    Characteristic(
                        FIRMWARE_REVISION, ("read",), value=self.config.firmware.encode()
                    ),
                ],
            ),
        ]
        self.peripheral = Peripheral(
            address or address_for(self.config.name),
            Advertisement(self.config.name, (SERVICE_UUID,)),
            services,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
        )
        self.peripheral.advertising = False
        self.peripheral.battery_percent = self.model.battery_percent
        if self.config.security is not None:
            # as the bumble server: the control point needs an authenticated bond, the status
            # (read and subscription) an encrypted link; pairing is passkey entry
            self.control_characteristic.security = "authentication"
            self.status_characteristic.security = "encryption"
            self.peripheral.passkey = self.config.security.passkey

    # --- identity --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def address(self) -> str:
        return self.peripheral.address

    @property
    def connected(self) -> bool:
        return self.peripheral.connected

    @property
    def device_path(self) -> str:
        return self.fake.device_path(self.peripheral)

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Put the device on the fake BlueZ, start the firmware, and advertise."""
        if self._started:
            return
        self._started = True
        self.fake.add(self.peripheral)
        self.model.add_status_sink(self._notify_status)
        self.model.add_battery_sink(self._notify_battery)
        await self.model.start()
        await self.advertise()

    async def advertise(self) -> None:
        self.peripheral.advertising = True

    async def stop_advertising(self) -> None:
        self.peripheral.advertising = False

    async def close(self) -> None:
        """Stop advertising, drop the link (output 0) and stop the firmware."""
        await self._cancel_scenario()
        await self.stop_advertising()
        await self.peripheral.drop_link()
        await self.model.close()

    aclose = close

    # --- GATT handlers ---------------------------------------------------------------

    async def _on_control_write(self, value: bytes, with_response: bool) -> None:
        if not with_response:
            # no response, so no way to refuse it: dropped unseen (as on the bumble tier)
            log.warning("write without response to the control point dropped")
            return
        try:
            await self.model.write(bytes(value))
        except CommandRefused as exc:
            raise AttError(exc.code, exc.detail) from exc
        except LinkDown as exc:
            raise AttError(ATT_UNLIKELY_ERROR, str(exc)) from exc

    async def _notify_status(self, data: bytes) -> None:
        self.peripheral.notify(self.status_characteristic, data)

    async def _notify_battery(self, percent: int) -> None:
        self.peripheral.battery_percent = percent
        self.peripheral.notify(self.battery_characteristic, bytes([percent]))

    def _on_connect(self) -> None:
        self.peripheral.battery_percent = self.model.battery_percent
        self.model.connect()
        self._link_event("connected")

    def _on_disconnect(self) -> None:
        self.model.disconnect("disconnect")
        self._link_event("disconnected")

    # --- fault injection (same API as OpenTensSimulator) ------------------------------

    async def bonds(self) -> list[str]:
        """The adapters this device holds a bond with."""
        return sorted(self.peripheral.bonds)

    async def forget_bonds(self) -> None:
        """Fault "bond lost on the device": every bond cleared, the link dropped."""
        if self.config.security is None:
            raise RuntimeError("this simulated wearable has no link security")
        self.peripheral.bonds.clear()
        await self.drop_link()

    def set_passkey(self, passkey: int) -> None:
        """Fault "wrong passkey": the device checks ``passkey``, not its label."""
        if self.config.security is None:
            raise RuntimeError("this simulated wearable has no link security")
        self.peripheral.passkey = passkey

    async def drop_link(self) -> None:
        """The link drops from the device's side: output 0 at once."""
        await self.peripheral.drop_link()

    async def reboot(self) -> None:
        """Reset: output 0, link dropped, factory state; advertises again after reboot_s."""
        self.model.reset_to_factory("reboot")
        await self.stop_advertising()
        await self.peripheral.drop_link()
        await asyncio.sleep(self.config.reboot_s)
        if self._started:
            await self.advertise()


async def start_bluez_wearable(
    fake: FakeBlueZ,
    *,
    name: str = "OpenTENS-Sim",
    config: SimConfig | None = None,
    scenario: str | None = None,
    address: str | None = None,
    after_s: float | None = None,
    for_s: float | None = None,
) -> OpenTensBlueZ:
    """Serve a simulated OpenTENS wearable called ``name`` on ``fake``; it advertises at once.

    ``scenario`` names a fault scenario that starts counting at the first connection.
    """
    from simulators.opentens.scenarios import SCENARIOS

    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    cfg = dataclasses.replace(config or SimConfig(), name=name)
    sim = OpenTensBlueZ(fake, cfg, address=address)
    await sim.start()
    if scenario is not None:
        sim.run_scenario(scenario, after_s=after_s, for_s=for_s)
    return sim
