"""A scripted OpenTENS peripheral on the virtual radio, for the cases the simulator does not
model (a device info of another profile version, a status naming the wrong channel count, a
device that answers writes but never acknowledges them). It is a real bumble GATT server; its
bytes come from the codec's encoders, which the document's vectors pin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bumble import att, gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from devices.opentens.codec import (
    ChannelReport,
    ProfileInfo,
    ProtocolError,
    StatusReport,
    decode_command,
    encode_info,
    encode_status,
)
from devices.opentens.profile import (
    CONTROL_POINT_UUID,
    DEVICE_INFO_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    AttErrorCode,
    ChannelFlags,
    FaultBits,
    WaveformSet,
)
from simulators.radio.radio import VirtualRadio

_P = gatt.Characteristic.Properties
_PERM = gatt.Characteristic.Permissions

INFO = ProfileInfo(
    version=2,
    channels=2,
    intensity_max=800,
    intensity_step=1,
    pulse_width_min=50,
    pulse_width_max=400,
    frequency_min=10,
    frequency_max=1500,
    waveforms=WaveformSet.CONTINUOUS | WaveformSet.BURST | WaveformSet.MODULATED,
    ramp_max=50,
    watchdog_ms=1000,
    firmware="scripted-1",
)


@dataclass
class Scripted:
    device: Device
    status_char: gatt.Characteristic
    info_bytes: bytes
    channels: int = 2
    ack: bool = True
    """False: accept writes but never send the acknowledging status."""
    status_channels: int | None = None
    """Notify statuses naming this many channels instead of ``channels``."""
    reject_with: int | None = None
    acked: int = 0
    delivered: list[int] = field(default_factory=lambda: [0, 0])
    writes: list[bytes] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def address(self) -> str:
        return self.device.random_address.to_string(with_type_qualifier=False)

    def status(self) -> bytes:
        n = self.status_channels or self.channels
        return encode_status(
            StatusReport(
                self.acked,
                90,
                FaultBits(0),
                tuple(
                    ChannelReport(
                        self.delivered[k] if k < len(self.delivered) else 0,
                        1200,
                        ChannelFlags.CONTACT,
                    )
                    for k in range(n)
                ),
            )
        )

    def read_status(self, _connection: Connection) -> bytes:
        return self.status()

    def write(self, _connection: Connection, value: bytes) -> None:
        self.writes.append(bytes(value))
        if self.reject_with is not None:
            raise att.ATT_Error(self.reject_with)
        try:
            command = decode_command(value)
        except ProtocolError:
            raise att.ATT_Error(AttErrorCode.BAD_LENGTH) from None
        if self.ack:
            self.acked = command.seq
            task = asyncio.get_running_loop().create_task(
                self.device.notify_subscribers(self.status_char, self.status())
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


async def until(predicate: Callable[[], bool], within_s: float = 3.0) -> None:
    """Wait (polling the loop) until ``predicate()`` holds; fail the test after ``within_s``."""
    steps = max(1, int(within_s / 0.01))
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {within_s} s")


async def start_scripted(
    radio: VirtualRadio,
    *,
    name: str = "Scripted",
    info_bytes: bytes | None = None,
    **options: object,
) -> Scripted:
    device = await radio.add_peripheral(name)
    status_char = gatt.Characteristic(STATUS_UUID, _P.READ | _P.NOTIFY, _PERM.READABLE, b"")
    scripted = Scripted(
        device=device,
        status_char=status_char,
        info_bytes=info_bytes if info_bytes is not None else encode_info(INFO),
        **options,  # type: ignore[arg-type]
    )
    status_char.value = gatt.CharacteristicValue(read=scripted.read_status)
    info_char = gatt.Characteristic(DEVICE_INFO_UUID, _P.READ, _PERM.READABLE, scripted.info_bytes)
    control: gatt.Characteristic[bytes] = gatt.Characteristic(
        CONTROL_POINT_UUID,
        _P.WRITE,
        _PERM.WRITEABLE,
        gatt.CharacteristicValue(write=scripted.write),
    )
    device.add_service(gatt.Service(SERVICE_UUID, [info_char, control, status_char]))
    await device.start_advertising(
        auto_restart=True,
        advertising_data=bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        bytes(UUID(SERVICE_UUID)),
                    ),
                ]
            )
        ),
        advertising_interval_min=20,
        advertising_interval_max=20,
    )
    return scripted
