"""bumble's virtual link-layer controller, with the one fix the radio needs.

bumble 0.0.236's ``Controller`` answers LE Create Connection Cancel with success but never
ends the pending connection, so a connect to an address nobody advertises hangs and every
later connect fails with COMMAND_DISALLOWED. :class:`RadioController` ends it the way the
Bluetooth spec says (Vol 4, Part E, 7.8.13): clear the pending connection and report an
LE Connection Complete with status Unknown Connection Identifier.
"""

from __future__ import annotations

import asyncio

from bumble import hci
from bumble.controller import Controller


class RadioController(Controller):
    """A ``bumble.controller.Controller`` whose connection cancel completes."""

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
