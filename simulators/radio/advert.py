"""Advertising data as bleak reports it, accumulated per address like BlueZ does.

A scan sees an advertisement and then its scan response; bleak's ``AdvertisementData`` is the
union of what the device said recently. :class:`SeenAdvert` keeps that union for one address
and :func:`parse_ad_structures` reads the raw AD structures (Core Spec Supplement, Part A).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from bleak.backends.scanner import AdvertisementData
from bleak.uuids import normalize_uuid_16, normalize_uuid_32

# AD types (Bluetooth Assigned Numbers, "Common Data Types")
_UUID16_LISTS = (0x02, 0x03)
_UUID32_LISTS = (0x04, 0x05)
_UUID128_LISTS = (0x06, 0x07)
_SHORT_NAME = 0x08
_COMPLETE_NAME = 0x09
_TX_POWER = 0x0A
_SERVICE_DATA_16 = 0x16
_SERVICE_DATA_32 = 0x20
_SERVICE_DATA_128 = 0x21
_MANUFACTURER = 0xFF


def uuid128_from_le(data: bytes) -> str:
    """A 128-bit UUID sent least-significant byte first, as bleak's lower-case string."""
    return str(uuid.UUID(bytes=bytes(reversed(data))))


def _uuid_from_le(data: bytes) -> str:
    if len(data) == 2:
        return normalize_uuid_16(int.from_bytes(data, "little"))
    if len(data) == 4:
        return normalize_uuid_32(int.from_bytes(data, "little"))
    return uuid128_from_le(data)


@dataclass
class AdFields:
    """What one advertising payload said."""

    local_name: str | None = None
    service_uuids: list[str] = field(default_factory=list)
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    tx_power: int | None = None


def _structures(payload: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(payload):
        length = payload[i]
        if length == 0:
            break
        if i + 1 + length > len(payload):
            break  # truncated structure: ignore the rest, as controllers do
        out.append((payload[i + 1], bytes(payload[i + 2 : i + 1 + length])))
        i += 1 + length
    return out


def parse_ad_structures(payload: bytes) -> AdFields:
    """Decode the fields bleak reports from one advertising or scan-response payload."""
    fields = AdFields()
    for ad_type, value in _structures(payload):
        if ad_type in (_SHORT_NAME, _COMPLETE_NAME):
            name = value.decode("utf-8", errors="replace")
            if ad_type == _COMPLETE_NAME or fields.local_name is None:
                fields.local_name = name
        elif ad_type in _UUID16_LISTS:
            fields.service_uuids += [
                _uuid_from_le(value[j : j + 2]) for j in range(0, len(value) - 1, 2)
            ]
        elif ad_type in _UUID32_LISTS:
            fields.service_uuids += [
                _uuid_from_le(value[j : j + 4]) for j in range(0, len(value) - 3, 4)
            ]
        elif ad_type in _UUID128_LISTS:
            fields.service_uuids += [
                uuid128_from_le(value[j : j + 16]) for j in range(0, len(value) - 15, 16)
            ]
        elif ad_type == _SERVICE_DATA_16 and len(value) >= 2:
            fields.service_data[_uuid_from_le(value[:2])] = value[2:]
        elif ad_type == _SERVICE_DATA_32 and len(value) >= 4:
            fields.service_data[_uuid_from_le(value[:4])] = value[4:]
        elif ad_type == _SERVICE_DATA_128 and len(value) >= 16:
            fields.service_data[_uuid_from_le(value[:16])] = value[16:]
        elif ad_type == _MANUFACTURER and len(value) >= 2:
            fields.manufacturer_data[int.from_bytes(value[:2], "little")] = value[2:]
        elif ad_type == _TX_POWER and len(value) == 1:
            fields.tx_power = int.from_bytes(value, "little", signed=True)
    return fields


@dataclass
class SeenAdvert:
    """The union of everything one address advertised while this scan ran."""

    local_name: str | None = None
    service_uuids: list[str] = field(default_factory=list)
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    tx_power: int | None = None
    rssi: int = -127

    def update(self, fields: AdFields, rssi: int) -> None:
        if fields.local_name is not None:
            self.local_name = fields.local_name
        for u in fields.service_uuids:
            if u not in self.service_uuids:
                self.service_uuids.append(u)
        self.manufacturer_data.update(fields.manufacturer_data)
        self.service_data.update(fields.service_data)
        if fields.tx_power is not None:
            self.tx_power = fields.tx_power
        self.rssi = rssi

    def to_bleak(self, platform_data: tuple[object, ...]) -> AdvertisementData:
        return AdvertisementData(
            local_name=self.local_name,
            manufacturer_data=dict(self.manufacturer_data),
            service_data=dict(self.service_data),
            service_uuids=list(self.service_uuids),
            tx_power=self.tx_power,
            rssi=self.rssi,
            platform_data=platform_data,
        )
