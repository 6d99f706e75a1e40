"""``BumbleScanner``: bleak's scanner backend over a virtual bumble radio.

Use it through bleak: ``BleakScanner(..., **radio.transport().scanner_options())``. Each
address is one ``BLEDevice`` (de-duplicated, latest RSSI kept) whose ``details`` is bumble's
typed ``hci.Address``, so a later connect uses the right address type.
"""

from __future__ import annotations

from typing import Any, Literal

from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakError
from bumble.device import Advertisement

from simulators.radio.advert import SeenAdvert, parse_ad_structures


class BumbleScanner(BaseBleakScanner):
    """A bleak scanner backend fed by a :class:`VirtualRadio`'s central."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        radio = kwargs.get("radio")
        if radio is None:
            raise BleakError(
                "the bumble backend needs radio=<VirtualRadio>; "
                "pass **VirtualRadio.transport().scanner_options() to BleakScanner"
            )
        self._radio = radio
        self._token: object | None = None
        self._adverts: dict[str, SeenAdvert] = {}

    async def start(self) -> None:
        if self._token is not None:
            return
        if self._radio.down is not None:
            raise BleakError(self._radio.down)
        self.seen_devices = {}
        self._adverts = {}
        self._token = await self._radio.central.add_listener(self._on_advertisement)

    async def stop(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            await self._radio.central.remove_listener(token)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        address = advertisement.address
        key = address.to_string(with_type_qualifier=False)
        seen = self._adverts.setdefault(key, SeenAdvert())
        seen.update(parse_ad_structures(advertisement.data_bytes), advertisement.rssi)
        if not self.is_allowed_uuid(seen.service_uuids):
            return
        adv = seen.to_bleak((advertisement,))
        device = self.create_or_update_device(key, key, seen.local_name, address, adv)
        self.call_detection_callbacks(device, adv)
