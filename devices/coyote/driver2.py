"""The DG-LAB Coyote 2.0 driver: :class:`tens.device.Device` on bleak (see :mod:`.base`).

* **channels** — the vendor document labels 0x1505 "B channel waveform" and 0x1506 "A
  channel" in its table while its text suggests the opposite; **this driver writes channel
  A's waveform to 0x1506 and channel B's to 0x1505** (the table), and a test pins it.
* **connect** — checks the characteristics, subscribes to the strength (0x1504) and the
  battery, writes strength 0 for both channels and reads it back (anything else: the connect
  fails). The Coyote 2.0 has no device-side limit: the driver enforces the configured level
  limit itself.
* **stream** — every 100 ms: a strength write (3 bytes, A in bits 21-11, B in bits 10-0)
  when a channel's level differs from the device's, then one waveform value (X, Y, Z) per
  streaming channel; each waveform write is valid for 0.1 s, so output ends by itself when
  the stream stops.
* **stop** — a strength write with the stopped channels at 0, at once, confirmed by reading
  the strength back as 0 there (else the link is dropped: :class:`StopUnconfirmed`).
* **device-side changes** — a strength notification we did not cause is reported as a
  :class:`DeviceStatus`; above the level limit it is :attr:`Fault.WHEEL_OVER_LIMIT` and both
  channels are zeroed at once.
* **capabilities** — 2 channels, levels 0-2047 (the vendor app steps by 7), 1-100 Hz, pulse
  width 5-155 µs in 5 µs steps, every waveform (see :mod:`devices.coyote.render`).
"""

from __future__ import annotations

import logging
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from devices.bleak_link import characteristic_present, map_bleak_error
from devices.coyote import render, v2codec
from devices.coyote.base import CHANNELS, CoyoteDriverBase
from devices.coyote.v2codec import CoyoteV2ProtocolError, Strength
from tens import channels as channel_numbers
from tens.device import (
    Capabilities,
    ChannelOutput,
    DeviceError,
    Fault,
    IntensityUnit,
    Waveform,
)

log = logging.getLogger(__name__)

DRIVER_NAME = "coyote2"

CAPABILITIES = Capabilities(
    channels=CHANNELS,
    intensity_unit=IntensityUnit.LEVEL,
    intensity_max=float(v2codec.STRENGTH_MAX),
    intensity_step=1.0,
    frequency_hz=render.FREQUENCY_HZ,
    pulse_width_us=render.V2_PULSE_WIDTH_US,
    waveforms=frozenset(Waveform),
    keepalive_interval_s=0.1,
    watchdog_timeout_s=1.0,
    reports_battery=True,
    reports_electrodes=False,
    max_ramp_per_s=None,
)


class Coyote2Driver(CoyoteDriverBase):
    driver_name = DRIVER_NAME
    model_name = "Coyote 2.0"
    capabilities_value = CAPABILITIES
    level_max = v2codec.STRENGTH_MAX
    battery_uuid = v2codec.BATTERY_UUID
    decode_battery = staticmethod(v2codec.decode_battery)
    protocol_error = CoyoteV2ProtocolError
    required_uuids = (
        (v2codec.STRENGTH_UUID, "strength (0x1504)"),
        (v2codec.WAVE_A_UUID, "channel A waveform (0x1506)"),
        (v2codec.WAVE_B_UUID, "channel B waveform (0x1505)"),
    )

    def _init_protocol(self) -> None:
        self._device_levels: list[int] = [0] * CHANNELS
        self._written: list[int] | None = None
        """The strength we last wrote (a notification of it is ours, not the device's)."""

    @property
    def device_levels(self) -> tuple[int, ...]:
        return tuple(self._device_levels)

    async def _setup(self, client: BleakClient) -> None:
        try:
            await client.start_notify(v2codec.STRENGTH_UUID, self._on_strength)
        except BleakError as exc:
            raise map_bleak_error(exc, "subscribing to the strength") from exc
        if characteristic_present(client, v2codec.BATTERY_UUID):
            await self._setup_battery(client)
        await self._write_strength(client, [0, 0], "setting strength 0 at connect")
        raw = await self._read(client, v2codec.STRENGTH_UUID, "the strength")
        try:
            now = v2codec.decode_strength(raw)
        except CoyoteV2ProtocolError as exc:
            raise DeviceError(f"{self._info.name} sent a malformed strength: {exc}") from exc
        if (now.a, now.b) != (0, 0):
            raise DeviceError(
                f"{self._info.name} reports strength {now.a}/{now.b} after being set to 0; "
                "refusing to drive it"
            )
        self._device_levels = [0, 0]

    def _link_down(self) -> None:
        self._written = None

    def _check_renderable(self, output: ChannelOutput) -> None:
        render.check_renderable_v2(output)

    async def _write_strength(self, client: BleakClient, levels: list[int], doing: str) -> None:
        data = v2codec.encode_strength(Strength(levels[0], levels[1]))
        self._written = list(levels)
        await self._write(client, v2codec.STRENGTH_UUID, data, doing)
        self._device_levels = list(levels)

    async def _write_frame(self, client: BleakClient, frame: int) -> None:
        if self._levels != self._device_levels:
            await self._write_strength(client, list(self._levels), "writing the strength")
        for ch in range(CHANNELS):
            output = self._outputs[ch]
            if output is None or self._levels[ch] <= 0:
                continue  # nothing written: the device's last waveform ends within 0.1 s
            pulse = render.v2_pulse(output, frame - self._pattern_start[ch])
            await self._write(
                client,
                v2codec.WAVE_UUIDS[ch],
                v2codec.encode_pulse(pulse),
                f"writing the waveform of channel {channel_numbers.label(ch)} ({'AB'[ch]})",
            )

    async def _write_stop(self, client: BleakClient, channels: tuple[int, ...]) -> None:
        levels = list(self._device_levels)
        for ch in channels:
            levels[ch] = 0
        await self._write_strength(client, levels, "writing stop")

    async def _confirm_stop(
        self, client: BleakClient, channels: tuple[int, ...], token: Any
    ) -> None:
        """Confirmed: the strength read back after the write shows 0 there (the 2.0 answers
        a strength write at the GATT level only; the read is what it really holds)."""
        raw = await self._read(client, v2codec.STRENGTH_UUID, "the strength after a stop")
        try:
            now = v2codec.decode_strength(raw)
        except CoyoteV2ProtocolError as exc:
            raise DeviceError(f"{self._info.name} sent a malformed strength: {exc}") from exc
        levels = (now.a, now.b)
        if any(levels[ch] for ch in channels):
            raise DeviceError(
                f"{self._info.name} reports strength {levels[0]}/{levels[1]} after the stop"
            )

    def _on_strength(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            value = v2codec.decode_strength(bytes(data))
        except CoyoteV2ProtocolError as exc:
            self._violation(f"malformed strength from {self._info.name}: {exc}")
            return
        levels = [value.a, value.b]
        ours = levels == self._written
        self._device_levels = levels
        if not ours:
            over = any(lv > self._level_limit for lv in levels)
            self._levels = [min(lv, self._level_limit) for lv in levels]
            if over:
                log.error(
                    "%s: strength %s set on the device is above the level limit %d",
                    self._info.name,
                    levels,
                    self._level_limit,
                )
                self._emit_status(levels, faults=frozenset({Fault.WHEEL_OVER_LIMIT}))
                self._stop_in_background()
                return
        self._emit_status(levels)
