"""A controller on a simulated OpenTENS wearable over the virtual radio, with a real SQLite
store. Tests judge by the simulator's delivered-output record, never by the controller."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tens.checklist import none_apply
from tens.config import TensConfig
from tens.controller import Controller
from tens.events import ControllerEvent

_names = itertools.count(1)


@dataclass
class Rig:
    ctrl: Controller
    sim: Any
    radio: Any
    db: Any
    events: list[ControllerEvent] = field(default_factory=list)

    @property
    def record(self) -> Any:
        return self.sim.record

    def delivered_max(self, channel: int = 0) -> float:
        return max((s.intensity_ma for s in self.record if s.channel == channel), default=0.0)

    def last(self, channel: int = 0) -> float:
        vals = [s.intensity_ma for s in self.record if s.channel == channel]
        return vals[-1] if vals else 0.0


async def make_rig(
    tmp_path: Path,
    config: TensConfig | None = None,
    *,
    checklist: bool = True,
    sim_config: Any = None,
) -> Rig:
    from devices import registry
    from simulators.opentens import start_simulated_wearable
    from simulators.radio import VirtualRadio
    from tens.store import AsyncDB
    from tens.store.sessions import record_checklist

    radio = await VirtualRadio.local()
    name = f"OpenTENS-T{next(_names)}"
    sim = await start_simulated_wearable(radio, name=name, config=sim_config)
    transport = radio.transport()
    db = await AsyncDB.open(tmp_path / f"{name}.db")
    if checklist:
        await db.run(record_checklist, none_apply(), False)

    async def opener() -> Any:
        return await registry.open_device(transport, name, 5.0)

    ctrl = Controller(config or TensConfig(), opener, db)
    rig = Rig(ctrl, sim, radio, db)
    ctrl.add_listener(rig.events.append)
    return rig


async def close_rig(rig: Rig) -> None:
    await rig.ctrl.close()
    close = getattr(rig.sim, "close", None) or getattr(rig.sim, "stop", None)
    if close is not None:
        await close()
    await rig.radio.close()
    await rig.db.close()


@pytest.fixture
async def rig_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Rig] = []

    async def factory(config: TensConfig | None = None, **kw: Any) -> Rig:
        r = await make_rig(tmp_path, config, **kw)
        made.append(r)
        return r

    yield factory
    for r in made:
        await close_rig(r)
