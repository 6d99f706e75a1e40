"""bumble's virtual link-layer controller, with the fixes the radio needs.

bumble 0.0.236's ``Controller``

- answers LE Create Connection Cancel with success but never ends the pending connection, so
  a connect to an address nobody advertises hangs and every later connect fails with
  COMMAND_DISALLOWED. :class:`RadioController` ends it the way the Bluetooth spec says
  (Vol 4, Part E, 7.8.13): clear the pending connection and report an LE Connection Complete
  with status Unknown Connection Identifier;
- reports the advertising data a second time as the scan response, ignoring the advertiser's
  scan response data. :class:`RadioController` reports the advertiser's own scan response
  data (looked up on the link), so a name put in the scan response is seen, as on air;
- reports every advertisement at -50 dBm. A shared :data:`RssiTable` sets it per address.
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

_LegacyReport = hci.HCI_LE_Advertising_Report_Event
_ExtendedReport = hci.HCI_LE_Extended_Advertising_Report_Event
_REPORT_EVENTS = (_LegacyReport, _ExtendedReport)


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
        if isinstance(packet, _REPORT_EVENTS):
            packet = self._rewrite_reports(packet)
        super().send_hci_packet(packet)

    def _rewrite_reports(self, event: Any) -> Any:
        reports = []
        for report in event.reports:
            changes: dict[str, Any] = {}
            key = report.address.to_string(with_type_qualifier=False)
            rssi = self.rssi.get(key)
            if rssi is not None:
                changes["rssi"] = rssi
            if _is_scan_response(report):
                changes["data"] = self._scan_response_of(report.address)
            reports.append(dataclasses.replace(report, **changes) if changes else report)
        return type(event)(reports)

    def _scan_response_of(self, address: hci.Address) -> bytes:
        """The scan response data the advertiser at ``address`` has set (b"" if none)."""
        advertiser = self.link.find_le_controller(address) if self.link else None
        if advertiser is None:
            return b""
        legacy = advertiser.le_legacy_advertiser
        if legacy.enabled and legacy.address == address:
            return bytes(legacy.scan_response_data)
        for advertising_set in advertiser.advertising_sets.values():
            if advertising_set.enabled and advertising_set.address == address:
                return bytes(advertising_set.scan_response_data)
        return b""

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


def _is_scan_response(report: Any) -> bool:
    if isinstance(report, _LegacyReport.Report):
        return bool(report.event_type == _LegacyReport.EventType.SCAN_RSP)
    return bool(report.event_type & _ExtendedReport.EventType.SCAN_RESPONSE)
