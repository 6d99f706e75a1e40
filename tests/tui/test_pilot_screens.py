"""More of the TUI by keys on the simulated wearable: faults, the setup dialog, devices."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from textual.widgets import Input, OptionList

from tens.config import TensConfig
from tens.controller import Controller
from tens.events import LinkState, SessionState
from tests.stated import placed_config
from tui.app import make_app
from tui.device_choice import DeviceChoice
from tui.screen_text import screen_text
from tui.screens.devices import DevicesScreen
from tui.screens.setup import SetupScreen
from tui.widgets.devices.found_table import FoundTable

from .test_pilot_simulator import SIZE, app_for, connected, wait_for
from .test_pilot_simulator import plan as plan_at

pytestmark = [pytest.mark.timeout(60)]


async def test_peel_off_shows_contact_off_and_ends_the_session(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory()
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await wait_for(pilot, lambda: "contact 1 ok" in screen_text(app))
        await pilot.press("space")
        await wait_for(pilot, lambda: rig.last() == 3.0)
        rig.sim.peel_off(0)
        await wait_for(pilot, lambda: "ABORTED" in screen_text(app))
        assert rig.ctrl.snapshot().session is SessionState.ABORTED
        assert rig.last() == 0.0
        text = screen_text(app)
        assert "contact 1 OFF" in text
        assert "electrode came off" in text


async def test_setup_dialog_sets_the_next_session(sim_rig_factory: Any) -> None:
    rig = await sim_rig_factory()
    app = app_for(rig)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        programs = setup.query_one("#programs", OptionList)
        await pilot.press("down")  # conventional -> the next program in the list
        index = programs.highlighted
        assert index is not None
        chosen = setup.programs[index]
        assert chosen != "conventional"
        setup.query_one("#minutes", Input).value = "2"
        await pilot.click("#ok")
        await wait_for(pilot, lambda: not isinstance(app.screen, SetupScreen))
        await wait_for(pilot, lambda: f"Next: {chosen} · 2 min" in screen_text(app))
        await pilot.press("space")
        await wait_for(pilot, lambda: rig.ctrl.snapshot().session.active)
        snap = rig.ctrl.snapshot()
        assert snap.program == chosen
        assert snap.elapsed_s + (snap.remaining_s or 0) == pytest.approx(120, abs=1)
        await pilot.press("s")
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)


async def test_devices_screen_scans_and_connects(sim_rig_factory: Any) -> None:
    from tens.cli.target import open_target

    rig = await sim_rig_factory()  # for its database
    args = argparse.Namespace(simulator=True, radio=None, device=None)
    async with open_target(args) as target:
        choice = DeviceChoice(target, scan_s=1.0)
        ctrl = Controller(placed_config(), choice.open, rig.db)
        app = make_app(
            ctrl, store=rig.db, devices=choice, connect=False, show_devices=True, ask_pain=False
        )
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen))
                table = app.screen.query_one(FoundTable)
                await wait_for(pilot, lambda: table.row_count >= 1)
                text = screen_text(app)
                assert "OpenTENS-Sim" in text and "opentens" in text and "dBm" in text
                await pilot.press("enter")
                await wait_for(pilot, lambda: ctrl.snapshot().link is LinkState.CONNECTED)
                await wait_for(pilot, lambda: not isinstance(app.screen, DevicesScreen))
                assert "link connected" in screen_text(app)
        finally:
            await ctrl.close()


async def test_use_the_simulator_when_nothing_is_around(sim_rig_factory: Any) -> None:
    from simulators.radio import VirtualRadio
    from tens.cli.target import Target

    rig = await sim_rig_factory()  # for its database
    radio = await VirtualRadio.local()  # an empty radio: no wearable advertises
    choice = DeviceChoice(Target(transport=radio.transport()), scan_s=0.5)
    ctrl = Controller(placed_config(), choice.open, rig.db)
    app = make_app(
        ctrl, store=rig.db, devices=choice, connect=False, show_devices=True, ask_pain=False
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "No device found" in screen_text(app))
            await pilot.press("m")
            await wait_for(pilot, lambda: ctrl.snapshot().link is LinkState.CONNECTED)
            assert choice.using_simulator
            await wait_for(pilot, lambda: not isinstance(app.screen, DevicesScreen))
    finally:
        await ctrl.close()
        await choice.aclose()
        await radio.close()


async def test_s_and_escape_stop_from_every_screen_and_dialog(sim_rig_factory: Any) -> None:
    from tens.limits import Limits
    from tui.screens.help import HelpScreen
    from tui.screens.history import HistoryScreen
    from tui.screens.pain import PainScreen

    rig = await sim_rig_factory(TensConfig(limits=Limits(rest_minutes=0)))
    app = app_for(rig, plan=plan_at(1.0))
    opened = [
        ("question_mark", HelpScreen, "s"),
        ("g", SetupScreen, "escape"),
        ("p", PainScreen, "s"),
        ("h", HistoryScreen, "escape"),
        ("d", DevicesScreen, "s"),
    ]
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        for open_key, screen_type, stop_key in opened:
            await pilot.press("space")
            await wait_for(pilot, lambda: rig.last() == 1.0)
            await pilot.press(open_key)
            await wait_for(pilot, lambda st=screen_type: isinstance(app.screen, st))  # type: ignore[misc]
            await pilot.press(stop_key)
            await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)
            assert rig.ctrl.snapshot().session is SessionState.STOPPED, screen_type
            assert isinstance(app.screen, screen_type)  # stopping does not close the screen
            await pilot.press("escape")  # nothing runs now: Esc closes it
            await wait_for(pilot, lambda: len(app.screen_stack) == 2)
