"""Devices: scan, connect to one, or use the simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Static

from tui.widgets.common.stop_hint import StopHint
from tui.widgets.devices.found_table import FoundTable

if TYPE_CHECKING:
    from tui.app import TensApp


class DevicesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "scan", "Scan"),
        Binding("m", "simulator", "Use the simulator"),
        Binding("q", "close", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Devices", classes="screen-title")
        yield Static("", id="devices-status")
        yield FoundTable(id="devices-table", cursor_type="row")
        with Horizontal(classes="buttons"):
            yield Button("Scan", id="scan")
            yield Button("Connect", id="connect", variant="primary")
            yield Button("Use the simulator", id="simulator")
        yield StopHint()
        yield Footer()

    @property
    def tens(self) -> TensApp:
        from tui.app import TensApp

        assert isinstance(self.app, TensApp)
        return self.app

    def on_mount(self) -> None:
        if self.tens.devices is None:
            self.status("Device choice is not available here.")
            return
        self.action_scan()

    def status(self, text: str) -> None:
        self.query_one("#devices-status", Static).update(text)

    def action_scan(self) -> None:
        if self.tens.devices is None:
            return
        self.status("Scanning…")
        self.run_worker(self._scan(), name="scan", exclusive=True, group="scan")

    async def _scan(self) -> None:
        from tens.device import DeviceError

        choice = self.tens.devices
        assert choice is not None
        try:
            found = await choice.scan()
        except DeviceError as exc:
            self.status(f"Scan failed: {exc}")
            return
        self.query_one(FoundTable).show(found)
        if found:
            self.status(f"{len(found)} device(s). Enter connects to the highlighted one.")
            self.query_one(FoundTable).focus()
        else:
            self.status("No device found. Is it on and in range? Or press m: use the simulator.")

    async def connect_highlighted(self) -> None:
        table = self.query_one(FoundTable)
        if table.row_count == 0:
            self.status("Nothing to connect to: scan first (r).")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is not None:
            await self.connect(str(key))

    async def connect(self, address: str | None) -> None:
        self.status("Connecting…")
        error = await self.tens.switch_device(address)
        if error:
            self.status(error)
        else:
            self.dismiss(None)

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            await self.connect(str(event.row_key.value))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "scan":
            self.action_scan()
        elif event.button.id == "connect":
            await self.connect_highlighted()
        elif event.button.id == "simulator":
            await self.action_simulator()

    async def action_simulator(self) -> None:
        await self.connect(None)

    def action_close(self) -> None:
        self.dismiss(None)
