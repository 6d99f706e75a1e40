"""The central's side of pairing on the virtual radio: bumble's SMP with a person's answers.

A bleak client pairs only when asked (``BleakClient.pair(passkey=..., compare_numbers=...)``):
the central's pairing configuration for a link is the one :meth:`BumbleClient.pair` put in
place for it, and on every other link (a device sending a Security Request, say) it is a
delegate that refuses, so the central never pairs on its own.

Pairing is LE Secure Connections with MITM protection and bonding; the central has a keyboard
and a display (``KEYBOARD_DISPLAY``), so a device with a printed passkey gets passkey entry
and a device with a display and a button gets numeric comparison.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from bumble.pairing import PairingConfig, PairingDelegate

PasskeySource = int | Callable[[], int | Awaitable[int | None] | None]
"""The passkey the person read off the device: a number, or a callback asking for it."""
CompareNumbers = Callable[[int], bool | Awaitable[bool]]
"""Numeric comparison: shown the six digits, says whether the device shows the same."""


async def _answer(value: object) -> object:
    return await value if inspect.isawaitable(value) else value


class CentralDelegate(PairingDelegate):
    """A person at the controller: types the device's passkey, or compares two numbers."""

    def __init__(
        self, passkey: PasskeySource | None = None, compare: CompareNumbers | None = None
    ) -> None:
        super().__init__(
            io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT
        )
        self._passkey = passkey
        self._compare = compare

    async def get_number(self) -> int | None:
        source = self._passkey
        if source is None:
            return None  # nobody to ask: a negative reply fails the pairing
        value = source if isinstance(source, int) else await _answer(source())
        if value is None:
            return None
        if not isinstance(value, int) or not 1 <= value <= 999_999:
            return None  # 000000 is never a device's passkey (and bumble cannot use it)
        return value

    async def compare_numbers(self, number: int, digits: int) -> bool:
        if self._compare is None:
            return False
        return bool(await _answer(self._compare(number)))

    async def confirm(self, auto: bool = False) -> bool:
        return False  # Just Works is never confirmed: it has no MITM protection


class RefusingDelegate(CentralDelegate):
    """No pairing was asked for on this link: refuse whatever the device proposes."""

    async def accept(self) -> bool:
        return False


def central_pairing_config(delegate: PairingDelegate | None) -> PairingConfig:
    """LE Secure Connections, MITM, bonding; ``None``: a config that refuses."""
    return PairingConfig(
        sc=True,
        mitm=True,
        bonding=True,
        delegate=delegate or RefusingDelegate(),
        identity_address_type=PairingConfig.AddressType.RANDOM,
    )
