"""Issue 13 item 6 in the TUI: a start without a placement is refused with its code, nothing
reaches the device, and the start flow asks where the electrodes are (the setup dialog, on
its placement field); with one chosen, the next start runs there."""

from __future__ import annotations

from typing import Any

import pytest

from tens.config import TensConfig
from tens.events import SessionState
from tui.screens.setup import SetupScreen
from tui.widgets.session.plan import SessionPlan

from .test_pilot_simulator import SIZE, app_for, connected, wait_for

pytestmark = [pytest.mark.timeout(60)]


async def test_a_start_without_placement_asks_it(sim_rig_factory: Any) -> None:
    from textual.widgets import Select

    rig = await sim_rig_factory()
    rig.ctrl.config = TensConfig()  # no [session] placement (the rig's default): none named
    bare = SessionPlan(program="conventional", minutes=5, intensity=3.0, placement=None)
    app = app_for(rig, plan=bare)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, rig)
        await pilot.press("space")
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
        assert app.screen.focused is app.screen.query_one("#placement", Select)
        assert rig.ctrl.snapshot().session is SessionState.READY
        assert rig.last() == 0.0 and not any(s.intensity_ma > 0 for s in rig.sim.record)
        app.screen.query_one("#placement", Select).value = "lower-back"
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: not isinstance(app.screen, SetupScreen))
        assert app.plan.placement == "lower-back"
        await pilot.press("space")
        await wait_for(pilot, lambda: rig.ctrl.snapshot().session.active)
        assert rig.ctrl.snapshot().program == "conventional"
        await pilot.press("s")
        await wait_for(pilot, lambda: rig.last() == 0.0, within=1.0)
