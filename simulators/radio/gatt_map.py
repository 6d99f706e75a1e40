"""bumble's discovered GATT database as bleak's ``BleakGATTServiceCollection``.

Handles are bumble's: a service by its declaration handle, a characteristic by its value
handle (what reads and writes address), a descriptor by its own handle. The bumble proxy
object is kept in each bleak object's ``obj``.
"""

from __future__ import annotations

from collections.abc import Callable

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bumble.core import UUID
from bumble.device import Peer
from bumble.gatt import Characteristic

from simulators.radio.advert import uuid128_from_le

_PROPERTY_NAMES: tuple[tuple[Characteristic.Properties, CharacteristicPropertyName], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


def bleak_uuid(value: UUID) -> str:
    """A bumble UUID as bleak's normalized lower-case 128-bit string."""
    return uuid128_from_le(value.to_bytes(force_128=True))


def property_names(properties: Characteristic.Properties) -> list[CharacteristicPropertyName]:
    return [name for flag, name in _PROPERTY_NAMES if properties & flag]


async def discover(
    peer: Peer, max_write_without_response: Callable[[], int]
) -> BleakGATTServiceCollection:
    """Discover every service, characteristic and descriptor of ``peer``."""
    collection = BleakGATTServiceCollection()
    for service in await peer.discover_services():
        bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
        collection.add_service(bleak_service)
        for characteristic in await peer.discover_characteristics(service=service):
            bleak_char = BleakGATTCharacteristic(
                characteristic,
                characteristic.handle,
                bleak_uuid(characteristic.uuid),
                property_names(characteristic.properties),
                max_write_without_response,
                bleak_service,
            )
            collection.add_characteristic(bleak_char)
            for descriptor in await peer.discover_descriptors(characteristic):
                collection.add_descriptor(
                    BleakGATTDescriptor(
                        descriptor, descriptor.handle, bleak_uuid(descriptor.type), bleak_char
                    )
                )
    return collection
