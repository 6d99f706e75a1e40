"""Across processes: a peripheral process serves its radio, this process joins as central."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from simulators.radio.radio import VirtualRadio
from tests.radio.kit import EVENTS_UUID, SERVICE_UUID, VALUE_UUID

REPO = Path(__file__).resolve().parents[2]


@dataclass
class PeripheralProcess:
    proc: asyncio.subprocess.Process
    port: int
    address: str

    async def next_line(self) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 5.0)
        return line.decode().strip()


@pytest.fixture
async def remote() -> AsyncIterator[PeripheralProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.radio.tcp_peripheral",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20.0)).decode().split()
        assert line[:1] == ["listening"], line
        yield PeripheralProcess(proc, int(line[1]), line[2])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def _read_write_notify(radio: VirtualRadio, address: str) -> None:
    device = await BleakScanner.find_device_by_filter(
        lambda _d, adv: SERVICE_UUID in adv.service_uuids,
        timeout=3.0,
        **radio.transport().scanner_options(),
    )
    assert device is not None and device.address == address
    assert device.name == "RemoteTENS"
    async with BleakClient(device, timeout=3.0, **radio.transport().client_options()) as client:
        assert await client.read_gatt_char(VALUE_UUID) in (bytearray(b"hello"), bytearray(b"\x01"))
        notes: asyncio.Queue[bytearray] = asyncio.Queue()

        def on_note(_c: BleakGATTCharacteristic, data: bytearray) -> None:
            notes.put_nowait(data)

        await client.start_notify(EVENTS_UUID, on_note)
        await client.write_gatt_char(VALUE_UUID, b"\x01", response=True)
        assert await asyncio.wait_for(notes.get(), 2.0) == bytearray(b"\x01")


@pytest.mark.timeout(30)
async def test_central_in_this_process_reaches_peripheral_process(
    remote: PeripheralProcess,
) -> None:
    radio = await VirtualRadio.connect("127.0.0.1", remote.port)
    try:
        await _read_write_notify(radio, remote.address)
        assert await remote.next_line() == "connected"
        assert await remote.next_line() == "disconnected 19"  # remote user terminated
    finally:
        await radio.close()

    # A second central (as a next process would) joins the same server afterwards.
    again = await VirtualRadio.connect("127.0.0.1", remote.port)
    try:
        await _read_write_notify(again, remote.address)
    finally:
        await again.close()


@pytest.mark.timeout(30)
async def test_central_process_crash_is_link_loss_for_the_peripheral(
    remote: PeripheralProcess,
) -> None:
    central = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.radio.tcp_central",
        str(remote.port),
        remote.address,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert central.stdout is not None
        assert (await asyncio.wait_for(central.stdout.readline(), 20.0)).strip() == b"linked"
        assert await remote.next_line() == "connected"
        central.kill()
        assert await remote.next_line() == "disconnected 8"  # connection timeout
    finally:
        if central.returncode is None:
            central.kill()
        await central.wait()
    # The server takes the next central as if nothing happened.
    radio = await VirtualRadio.connect("127.0.0.1", remote.port)
    try:
        await _read_write_notify(radio, remote.address)
    finally:
        await radio.close()


@pytest.mark.timeout(30)
async def test_radio_process_exit_is_link_loss_for_the_central(
    remote: PeripheralProcess,
) -> None:
    radio = await VirtualRadio.connect("127.0.0.1", remote.port)
    lost = asyncio.Event()
    client = BleakClient(
        remote.address, lambda _c: lost.set(), timeout=3.0, **radio.transport().client_options()
    )
    await client.connect()
    remote.proc.kill()  # the radio process dies under a live link
    await asyncio.wait_for(lost.wait(), 5.0)
    assert not client.is_connected
    assert radio.down is not None
    with pytest.raises(BleakError, match="radio process is gone"):
        await asyncio.wait_for(client.connect(), 1.0)  # refused at once, no 3 s wait
    await radio.close()


@pytest.mark.timeout(30)
async def test_two_centrals_attached_at_the_same_time(remote: PeripheralProcess) -> None:
    first, second = await asyncio.gather(
        VirtualRadio.connect("127.0.0.1", remote.port),
        VirtualRadio.connect("127.0.0.1", remote.port),
    )
    try:
        for radio in (first, second):
            seen = await BleakScanner.find_device_by_address(
                remote.address, timeout=3.0, **radio.transport().scanner_options()
            )
            assert seen is not None
        async with BleakClient(
            remote.address, timeout=3.0, **second.transport().client_options()
        ) as client:
            assert await client.read_gatt_char(VALUE_UUID) == bytearray(b"hello")
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_connect_to_nothing_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError, match="no virtual radio"):
        await VirtualRadio.connect("127.0.0.1", port)
