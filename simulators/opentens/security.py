"""The simulated wearable's link security (profile version 2, "Link security"), on bumble's SMP.

:class:`LinkSecurity` configures it; :func:`secure_device` puts it on a bumble ``Device``:

- pairing is bumble's own SMP (``bumble.smp``) with a :class:`DeviceDelegate`: the device has
  no display, so it shows nothing and the person types the passkey printed on it (passkey
  entry); with ``numeric_comparison`` it has a display and a button and confirms the six
  digits (numeric comparison);
- :class:`StrictSession` refuses any pairing that would not be LE Secure Connections with MITM
  protection (legacy pairing, Just Works) with SMP Authentication Requirements (0x03). bumble
  marks every encrypted LE link as "authenticated" whatever the pairing was, so this is what
  makes bumble's ``WRITE_REQUIRES_AUTHENTICATION`` mean an authenticated bond here;
- bonds live in bumble's key store: a file (``keystore``, see
  :mod:`simulators.radio.keystore`) when given, so they survive a restart, else memory. The
  device holds at most ``max_bonds`` and refuses a new pairing when full;
- the GATT permissions themselves (what needs encryption, what an authenticated bond) are the
  server's (:mod:`simulators.opentens.server`): bumble's ATT layer refuses a plaintext request
  before the firmware sees it.
"""

from __future__ import annotations

import logging

from bumble import smp
from bumble.device import Connection, Device
from bumble.pairing import PairingConfig, PairingDelegate

from simulators.opentens.config import LinkSecurity
from simulators.radio.keystore import open_keystore

log = logging.getLogger(__name__)


class DeviceDelegate(PairingDelegate):
    """The wearable's side of pairing: a printed passkey, or a display and a button."""

    def __init__(self, device: Device, connection: Connection, security: LinkSecurity) -> None:
        io = (
            PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT
            if security.numeric_comparison
            else PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY
        )
        super().__init__(io_capability=io)
        self._device = device
        self._connection = connection
        self._security = security
        self.passkey = security.passkey

    async def accept(self) -> bool:
        keystore = self._device.keystore
        if keystore is None:
            return True
        peer = str(self._connection.peer_address)
        bonded = [name for name, _keys in await keystore.get_all()]
        if peer not in bonded and len(bonded) >= self._security.max_bonds:
            log.warning(
                "pairing from %s refused: the device holds %d bonds already (clear them)",
                peer,
                len(bonded),
            )
            return False
        return True

    async def generate_passkey(self) -> int:
        return self.passkey  # printed on the device: the same every time

    async def compare_numbers(self, number: int, digits: int) -> bool:
        log.info("the wearable shows %0*d; its button confirms", digits, number)
        return True  # the person pressed the button: the controller compared the digits

    async def confirm(self, auto: bool = False) -> bool:
        return False  # Just Works is never confirmed (StrictSession refuses it before)


class StrictSession(smp.Session):
    """An SMP session that ends any pairing without LE Secure Connections and MITM."""

    def send_pairing_response_command(self) -> None:
        if self.is_responder and (
            not self.sc or self.pairing_method == smp.PairingMethod.JUST_WORKS
        ):
            log.warning(
                "pairing refused: %s without MITM protection",
                "Just Works" if self.sc else "legacy pairing",
            )
            self.send_pairing_failed(smp.ErrorCode.AUTHENTICATION_REQUIREMENTS)
            return
        super().send_pairing_response_command()


class SecuredDevice:
    """The security state of one simulated wearable: its delegates and the passkey in use."""

    def __init__(self, device: Device, security: LinkSecurity) -> None:
        self.device = device
        self.security = security
        self.passkey = security.passkey
        """The passkey the device checks against (a fault can make it differ from the label)."""
        if security.keystore is not None:
            device.keystore = open_keystore(security.keystore, device.random_address)
        device.smp_session_proxy = StrictSession
        device.pairing_config_factory = self._pairing_config

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        delegate = DeviceDelegate(self.device, connection, self.security)
        delegate.passkey = self.passkey
        return PairingConfig(
            sc=True,
            mitm=True,
            bonding=True,
            delegate=delegate,
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )

    async def bonds(self) -> list[str]:
        """Addresses of the controllers this device is bonded with, sorted."""
        keystore = self.device.keystore
        if keystore is None:
            return []
        return sorted(name for name, _keys in await keystore.get_all())

    async def forget_all(self) -> None:
        """Clear every bond, as a long press on the device's button does."""
        keystore = self.device.keystore
        if keystore is not None:
            await keystore.delete_all()


def secure_device(device: Device, security: LinkSecurity) -> SecuredDevice:
    """Put ``security`` on ``device`` (a powered-on bumble ``Device``, before it connects)."""
    return SecuredDevice(device, security)
