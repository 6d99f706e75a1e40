"""Issue 13 items 1 and 6 through the controller, on the simulated wearable: a start with no
electrode size known for a channel, or with no placement, is refused with a code, and the
device is asked for nothing (judged on the simulator's record and on what it was asked)."""

from __future__ import annotations

import pytest

from tens.config import TensConfig
from tens.electrodes import ElectrodeSize
from tens.events import Source
from tens.limits import Limits
from tens.safety import StartRequest
from tens.store.electrodes import clear_electrode, state_electrode
from tens.store.sessions import list_sessions
from tests.stated import PLACEMENT, placed_config, state_pads

pytestmark = [pytest.mark.looptime]


def _asked_for_output(rig) -> bool:  # type: ignore[no-untyped-def]
    return any(ma > 0 for _, _, ma in rig.commands) or rig.delivered_max() > 0


async def test_no_pad_size_known_refuses_and_asks_the_device_nothing(rig_factory) -> None:
    rig = await rig_factory(placed_config(), stated=False)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.refused and d.code == "electrode_size_unknown"
    assert "tens electrodes set --channel 1" in d.reason
    assert rig.ctrl.snapshot().session_id is None
    # stated for channel 1 only (index 0): a session on channels 1 and 2 is refused for 2
    await rig.db.run(state_pads, [0])
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1, channels=(0, 1)), Source.MQTT)
    assert d.code == "electrode_size_unknown" and "channel 2" in d.reason
    assert not _asked_for_output(rig)


async def test_changed_pads_ask_again_and_the_new_area_binds(rig_factory) -> None:
    """New (smaller) pads: the stated size is replaced and the session's density limit
    follows it; cleared, the next start is refused until it is stated again."""
    rig = await rig_factory(placed_config(TensConfig(limits=Limits(rest_minutes=0))), stated=False)
    await rig.db.run(state_pads, [0])
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.stop(Source.CLI)
    await rig.db.run(state_electrode, 0, ElectrodeSize("custom 1.5 cm²", 1.5))
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=1), Source.CLI)
    assert d.refused and "on 1.5 cm² electrodes" in d.reason
    assert "above the current density limit 2 mA/cm²" in d.reason
    await rig.db.run(clear_electrode, 0)
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.code == "electrode_size_unknown"


async def test_no_placement_refuses_from_every_source(rig_factory) -> None:
    rig = await rig_factory(TensConfig(), stated=False)
    await rig.db.run(state_pads)
    await rig.ctrl.connect()
    for source in (Source.CLI, Source.TUI, Source.MQTT, Source.SCHEDULER):
        d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), source)
        assert d.refused and d.code == "placement_required", (source, d)
    assert not _asked_for_output(rig)
    # the configured default names it for a start that does not
    rig.ctrl.config = placed_config(rig.ctrl.config)
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.MQTT)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.stop(Source.CLI)
    records = await rig.db.run(list_sessions)
    assert records[-1].placement == PLACEMENT
