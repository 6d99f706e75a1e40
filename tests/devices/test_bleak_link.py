"""devices.bleak_link: the client class and backend that connects use, and error mapping."""

from __future__ import annotations

import re

import pytest
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak_retry_connector import BleakClientWithServiceCache

from devices.bleak_link import LinkClient, connect_client, disconnect_client, map_bleak_error
from devices.opentens.profile import describe_att_error
from devices.registry import find
from simulators.radio.client import BumbleClient
from simulators.radio.radio import VirtualRadio
from tens.device import (
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceRejected,
    DeviceTimeout,
)
from tests.devices.scripted import start_scripted


async def test_connect_uses_the_service_cache_client_and_the_transport_backend(
    radio: VirtualRadio,
) -> None:
    scripted = await start_scripted(radio)
    found = await find(radio.transport(), scripted.address, 2.0)
    lost: list[object] = []
    client = await connect_client(
        radio.transport(), found.ble_device, name="Scripted", disconnected_callback=lost.append
    )
    try:
        assert isinstance(client, LinkClient)
        assert isinstance(client, BleakClientWithServiceCache)
        # establish_connection forwarded backend= (and radio=) from the transport
        assert client.backend_id == BumbleClient.__name__
        assert client.is_connected
    finally:
        await disconnect_client(client)
    assert lost == [client]


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (BleakGATTProtocolError(0x83), DeviceRejected, r"OVER_LIMIT \(0x83\)"),
        (BleakGATTProtocolError(0x13), DeviceRejected, "not an OpenTENS code"),
        (TimeoutError(), DeviceTimeout, "in time"),
        (BleakDeviceNotFoundError("AA:BB"), DeviceNotFound, "went away"),
        (EOFError(), DeviceDisconnected, "went down"),
        (BleakError("Not connected"), DeviceDisconnected, "link is down"),
        (BleakError("something odd"), DeviceError, "Bluetooth error while writing"),
    ],
)
def test_error_mapping(exc: BaseException, kind: type[DeviceError], words: str) -> None:
    mapped = map_bleak_error(exc, "writing", describe_att=describe_att_error)
    assert type(mapped) is kind
    assert re.search(words, str(mapped)), str(mapped)


def test_att_code_is_kept() -> None:
    mapped = map_bleak_error(BleakGATTProtocolError(0x85), "START")
    assert isinstance(mapped, DeviceRejected) and mapped.code == 0x85
    assert "ATT error 0x85" in str(mapped)
