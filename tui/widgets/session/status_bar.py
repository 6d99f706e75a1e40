"""The top line of the session screen: device, link, battery, electrode contact."""

from __future__ import annotations

from textual.widgets import Static

from tens.events import LinkState, Snapshot
from tui import format as fmt


def status_text(snap: Snapshot) -> str:
    device = snap.device_name or "no device"
    if snap.driver:
        device += f" ({snap.driver})"
    return " · ".join(
        (
            device,
            "LINK LOST" if snap.link is LinkState.LOST else f"link {fmt.link_word(snap.link)}",
            fmt.battery_text(snap.battery_percent),
            fmt.contact_text(snap.electrodes_ok),
        )
    )


class StatusBar(Static):
    def show(self, snap: Snapshot) -> None:
        self.set_class(snap.link is LinkState.LOST, "-lost")
        self.update(status_text(snap))
