"""Scan results: name, driver, signal strength, address."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable

COLUMNS = ("name", "driver", "signal", "address")


def signal_text(rssi: int | None) -> str:
    """RSSI in dBm with a bar of up to four blocks (readable without colour)."""
    if rssi is None:
        return "?"
    blocks = 4 if rssi >= -55 else 3 if rssi >= -67 else 2 if rssi >= -78 else 1
    return f"{'▮' * blocks}{'▯' * (4 - blocks)} {rssi} dBm"


class FoundTable(DataTable[str]):
    def show(self, found: Sequence[Any]) -> None:
        self.clear(columns=True)
        self.add_columns(*COLUMNS)
        for f in found:
            self.add_row(
                f.name or "?", f.driver or "-", signal_text(f.rssi), f.address, key=f.address
            )
