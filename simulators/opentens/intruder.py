"""Fault "someone else's controller tries to write": a stranger's central on the same radio.

It connects to the wearable with bumble's own GATT client (no pairing: it has no passkey),
finds the control point and writes START and SET_OUTPUT. A wearable with link security
answers each with Insufficient Authentication (0x05) from its ATT layer; the attempt reports
what it got, and never counts as driven unless a write was accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from bumble import att
from bumble.core import UUID
from bumble.device import Peer
from bumble.hci import Address

from simulators.opentens.codec import SetOutput, Start, encode_command
from simulators.opentens.profile import CONTROL_POINT_UUID

ATTEMPTS = (encode_command(Start(1, 0xFF)), encode_command(SetOutput(2, 0, 200, 200, 1000, 0)))


@dataclass(frozen=True)
class Intrusion:
    connected: bool
    """Whether the stranger got a link at all (not while another central holds it)."""
    refusals: tuple[int, ...] = ()
    """The ATT error code of each refused write."""
    accepted: int = 0
    """Writes the device accepted: anything but 0 is a link-security failure."""

    def describe(self) -> str:
        if not self.connected:
            return "someone else's controller could not connect (the link is held)"
        if self.accepted:
            return f"someone else's controller had {self.accepted} write(s) ACCEPTED"
        codes = ", ".join(f"0x{c:02X}" for c in self.refusals)
        return f"someone else's controller was refused: {codes}"


async def intrude(radio: Any, address: str, timeout_s: float = 2.0) -> Intrusion:
    """A fresh, unbonded central on ``radio`` tries to drive the wearable at ``address``."""
    other = await radio.add_central("someone-else")
    try:
        typed = Address(address, Address.RANDOM_DEVICE_ADDRESS)
        try:
            connection = await other.central.connect(typed, timeout_s)
        except TimeoutError:
            return Intrusion(connected=False)
        try:
            peer = Peer(connection)
            async with asyncio.timeout(timeout_s * 2):
                await peer.discover_services()
                await peer.discover_characteristics()
            [control] = peer.get_characteristics_by_uuid(UUID(CONTROL_POINT_UUID))
            refusals: list[int] = []
            accepted = 0
            for data in ATTEMPTS:
                try:
                    await peer.write_value(control, data, with_response=True)
                    accepted += 1
                except att.ATT_Error as exc:
                    refusals.append(int(exc.error_code))
            return Intrusion(True, tuple(refusals), accepted)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), 2.0)
    finally:
        await other.close()
