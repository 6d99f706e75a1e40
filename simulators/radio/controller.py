"""bumble's virtual link-layer controller, with the one fix the radio needs.

bumble 0.0.236's ``Controller`` answers LE Create Connection Cancel with success but never
ends the pending connection, so a connect to an address nobody advertises hangs and every
later connect fails with COMMAND_DISALLOWED. :class:`RadioController` ends it the way the
Bluetooth spec says (Vol 4, Part E, 7.8.13): clear the pending connection and report an
LE Connection Complete with status Unknown Connection Identifier.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.link import LocalLink

RssiTable = dict[str, int]
"""Signal strength (dBm) a central hears from each advertiser address (``AA:BB:..``)."""

_REPORT_EVENTS = (hci.HCI_LE_Advertising_Report_Event, hci.HCI_LE_Extended_Advertising_Report_Event)


class RadioController(Controller):
    """A ``bumble.controller.Controller`` whose connection cancel completes.

    ``rssi`` is shared by every controller of a radio: advertising reports for an address in
    it carry that RSSI instead of bumble's fixed -50 dBm.
    """

    def __init__(
        self, name: str, *, link: LocalLink, rssi: RssiTable | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, link=link, **kwargs)
        self.rssi: RssiTable = rssi if rssi is not None else {}

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.rssi and isinstance(packet, _REPORT_EVENTS):
            packet = self._with_rssi(packet)
        super().send_hci_packet(packet)

    def _with_rssi(self, event: Any) -> Any:
        reports = []
        for report in event.reports:
            key = report.address.to_string(with_type_qualifier=False)
            rssi = self.rssi.get(key)
            reports.append(report if rssi is None else dataclasses.replace(report, rssi=rssi))
        return type(event)(reports)

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        event = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address.address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # After the Command Complete that the caller sends for this command.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def drop_all_links(self, reason: int = hci.HCI_CONNECTION_TIMEOUT_ERROR) -> None:
        """Tear down every LE link as if the radio went silent (peers see ``reason``)."""
        from bumble import ll

        self.pending_le_connection = None
        for peer_address, connection in list(self.le_connections.items()):
            try:
                connection.send_ll_control_pdu(ll.TerminateInd(reason))
            except Exception:  # the peer already left the link
                pass
            self.le_connections.pop(peer_address, None)
