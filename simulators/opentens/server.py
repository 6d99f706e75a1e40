"""The simulated OpenTENS wearable as a bumble GATT server, with fault injection.

``OpenTensSimulator(device, config)`` puts the OpenTENS service, the Battery Service and the
Device Information Service on a powered-on ``bumble.device.Device`` (for example one from
``VirtualRadio.add_peripheral``), advertises at ~20 ms, and runs the device model
(:mod:`simulators.opentens.model`). Control-point writes are refused with the profile's ATT
error codes; status notifications go out with ``device.notify_subscribers``. Imports bumble.

With ``config.security`` (profile version 2, "Link security") the characteristics carry
bumble's own permissions: the control point ``WRITE_REQUIRES_AUTHENTICATION``, the status
value ``READ_REQUIRES_ENCRYPTION`` and its CCCD ``WRITE_REQUIRES_ENCRYPTION``, so bumble's
ATT layer answers a plaintext request with Insufficient Authentication (0x05) or Insufficient
Encryption (0x0F) and the firmware never sees it; pairing is :mod:`simulators.opentens.security`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bumble import att, gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from simulators.opentens.config import SimConfig
from simulators.opentens.front import WearableFront
from simulators.opentens.model import CommandRefused, LinkDown, OpenTensModel
from simulators.opentens.profile import (
    CONTROL_POINT_UUID,
    DEVICE_INFO_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    AttCode,
)
from simulators.opentens.record import DeliveredRecord
from simulators.opentens.security import SecuredDevice, secure_device

log = logging.getLogger(__name__)

LEGACY_ADV_MAX = 31
_FLAGS = bytes(
    [AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG]
)


def advertising_payloads(name: str) -> tuple[bytes, bytes]:
    """(advertising data, scan response) for a legacy advertisement.

    The flags and the complete list of 128-bit service UUIDs take 21 of the 31 bytes, so
    the advertisement carries a shortened name (up to 8 bytes) and the scan response the
    complete local name.
    """
    fields: list[tuple[int, bytes]] = [
        (AdvertisingData.FLAGS, _FLAGS),
        (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, bytes(UUID(SERVICE_UUID))),
    ]
    used = sum(2 + len(v) for _, v in fields)
    encoded = name.encode("utf-8")
    room = LEGACY_ADV_MAX - used - 2
    if len(encoded) <= room:
        fields.append((AdvertisingData.COMPLETE_LOCAL_NAME, encoded))
    elif room > 0:
        fields.append((AdvertisingData.SHORTENED_LOCAL_NAME, _cut_utf8(encoded, room)))
    adv = bytes(AdvertisingData(fields))
    scan = bytes(
        AdvertisingData(
            [(AdvertisingData.COMPLETE_LOCAL_NAME, _cut_utf8(encoded, LEGACY_ADV_MAX - 2))]
        )
    )
    assert len(adv) <= LEGACY_ADV_MAX and len(scan) <= LEGACY_ADV_MAX
    return adv, scan


def _cut_utf8(data: bytes, limit: int) -> bytes:
    return data[:limit].decode("utf-8", errors="ignore").encode("utf-8")


class OpenTensSimulator(WearableFront):
    """A simulated OpenTENS wearable on a bumble device. ``await start()`` to go live."""

    def __init__(
        self,
        device: Device,
        config: SimConfig | None = None,
        *,
        record: DeliveredRecord | None = None,
    ) -> None:
        self.device = device
        self.config = config or SimConfig()
        self.model = OpenTensModel(self.config, record)
        self.record = self.model.record
        self._connection: Connection | None = None
        self._started = False
        self._advertising = False
        self._init_front()
        """(loop time, "connected" / "disconnected") for tests and the CLI."""
        self.security: SecuredDevice | None = None
        self._link_free = asyncio.Event()
        self._link_free.set()
        self.radio: Any = None
        """The VirtualRadio it is on, when known (for the "someone else's controller" fault)."""
        secure = self.config.security is not None
        control_permissions = (
            gatt.Characteristic.WRITE_REQUIRES_AUTHENTICATION
            if secure
            else gatt.Characteristic.WRITEABLE
        )
        status_permissions = (
            gatt.Characteristic.READ_REQUIRES_ENCRYPTION if secure else gatt.Characteristic.READABLE
        )

        self.info_characteristic = gatt.Characteristic(
            DEVICE_INFO_UUID,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            self.model.device_info_bytes(),
        )
        self.control_characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
            CONTROL_POINT_UUID,
            gatt.Characteristic.Properties.WRITE,
            control_permissions,
            gatt.CharacteristicValue(write=self._on_control_write),
        )
        self.status_characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
            STATUS_UUID,
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            status_permissions,
            gatt.CharacteristicValue(read=lambda _connection: self.model.status_bytes()),
        )
        self.service = gatt.Service(
            SERVICE_UUID,
            [self.info_characteristic, self.control_characteristic, self.status_characteristic],
        )
        self.battery_service = BatteryService(lambda _connection: self.model.battery_percent)
        self.device_information_service = DeviceInformationService(
            manufacturer_name=self.config.manufacturer,
            model_number=self.config.model_number,
            firmware_revision=self.config.firmware,
        )

    # --- identity --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def address(self) -> str:
        """The device's random static address, as bleak shows it."""
        return str(self.device.random_address.to_string(with_type_qualifier=False))

    @property
    def connected(self) -> bool:
        return self._connection is not None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Add the services, start the firmware, and advertise."""
        if self._started:
            return
        self._started = True
        if self.config.security is not None:
            self.security = secure_device(self.device, self.config.security)
        self.device.add_services(
            [self.service, self.battery_service, self.device_information_service]
        )
        if self.config.security is not None:
            self._status_cccd_requires_encryption()
        self._guard_write_commands()
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        self.model.add_status_sink(self._notify_status)
        self.model.add_battery_sink(self._notify_battery)
        await self.model.start()
        await self.advertise()

    async def advertise(self) -> None:
        adv, scan = advertising_payloads(self.config.name)
        await self.device.start_advertising(
            advertising_data=adv,
            scan_response_data=scan,
            advertising_interval_min=self.config.advertising_interval_ms,
            advertising_interval_max=self.config.advertising_interval_ms,
            auto_restart=True,
        )
        self._advertising = True

    async def stop_advertising(self) -> None:
        self._advertising = False
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()

    async def close(self) -> None:
        """Stop advertising, drop the link (output 0) and stop the firmware."""
        await self._cancel_scenario()
        await self.stop_advertising()
        await self._disconnect_link()
        await self.model.close()

    aclose = close

    # --- GATT handlers ---------------------------------------------------------------

    def _status_cccd_requires_encryption(self) -> None:
        """Subscribing to the status (its CCCD, added by bumble) needs an encrypted link."""
        status = self.status_characteristic
        for attribute in self.device.gatt_server.attributes:
            if (
                attribute.type == gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
                and status.handle < attribute.handle <= status.end_group_handle
            ):
                attribute.permissions = (
                    att.Attribute.READ_REQUIRES_ENCRYPTION | att.Attribute.WRITE_REQUIRES_ENCRYPTION
                )
                return
        raise RuntimeError("the status characteristic has no CCCD")

    def _guard_write_commands(self) -> None:
        """The control point takes writes with response only: a write command (no
        response, so no way to refuse it) to it is dropped unseen."""
        server = self.device.gatt_server
        original = server.on_att_write_command

        def on_att_write_command(bearer: Any, request: Any) -> Any:
            if request.attribute_handle == self.control_characteristic.handle:
                log.warning("write without response to the control point dropped")
                return None
            return original(bearer, request)

        server.on_att_write_command = on_att_write_command

    async def _on_control_write(self, connection: Connection, value: bytes) -> None:
        if self._connection is None or connection is not self._connection:
            raise att.ATT_Error(AttCode.BUSY, message="not the connected central")
        try:
            await self.model.write(bytes(value))
        except CommandRefused as exc:
            raise att.ATT_Error(exc.code, message=exc.detail) from exc
        except LinkDown as exc:
            raise att.ATT_Error(att.ErrorCode.UNLIKELY_ERROR, message=str(exc)) from exc

    async def _notify_status(self, data: bytes) -> None:
        if self._connection is not None:
            await self.device.notify_subscribers(self.status_characteristic, data)

    async def _notify_battery(self, percent: int) -> None:
        if self._connection is not None:
            await self.device.notify_subscribers(
                self.battery_service.battery_level_characteristic, percent
            )

    def _on_connection(self, connection: Connection) -> None:
        if self._connection is not None:
            log.warning("a second central connected; the simulator serves the first only")
            return
        self._connection = connection
        self._link_free.clear()
        self._link_event("connected")
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )
        self.model.connect()

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._link_free.set()
        self.model.disconnect("disconnect")
        self._link_event("disconnected")

    async def _disconnect_link(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._on_disconnection(connection, 0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.disconnect(), 2.0)

    # --- link security ---------------------------------------------------------------

    @property
    def link_encrypted(self) -> bool:
        """Whether the current link is encrypted (False with no link)."""
        connection = self._connection
        return connection is not None and bool(connection.is_encrypted)

    async def bonds(self) -> list[str]:
        """The controllers this device holds a bond with (addresses), sorted."""
        return await self.security.bonds() if self.security is not None else []

    async def forget_bonds(self) -> None:
        """Fault "bond lost on the device": every bond cleared (as by a long press on the
        button), and the link dropped (output 0). A controller that comes back with its old
        key is refused; it has to pair again."""
        if self.security is None:
            raise RuntimeError("this simulated wearable has no link security")
        await self.security.forget_all()
        await self._disconnect_link()

    def set_passkey(self, passkey: int) -> None:
        """Fault "wrong passkey": the device checks ``passkey``, not the one printed on it, so
        a person who types the label's passkey fails to pair (and so does a wrong guess)."""
        if self.security is None:
            raise RuntimeError("this simulated wearable has no link security")
        if not 1 <= passkey <= 999_999:
            raise ValueError("the passkey must be 000001-999999")
        self.security.passkey = passkey

    async def intrude(self) -> Any:
        """Fault "someone else's controller tries to write": an unbonded stranger's central on
        the same radio connects and writes START and SET_OUTPUT; returns the
        :class:`~simulators.opentens.intruder.Intrusion` (what it got)."""
        from simulators.opentens.intruder import intrude

        if self.radio is None:
            raise RuntimeError("the simulator does not know its radio")
        return await intrude(self.radio, self.address)

    async def wait_disconnected(self) -> None:
        """Return once no central is connected."""
        await self._link_free.wait()

    # --- fault injection -------------------------------------------------------------

    async def drop_link(self) -> None:
        """The link drops from the device's side (out of range): output 0 at once."""
        await self._disconnect_link()

    async def reboot(self) -> None:
        """Reset: output 0, link dropped, factory state; advertises again after reboot_s."""
        self.model.reset_to_factory("reboot")
        await self.stop_advertising()
        await self._disconnect_link()
        await self.stop_advertising()  # a link drop may have restarted it
        await asyncio.sleep(self.config.reboot_s)
        if self._started:
            await self.advertise()
