"""A controller on a simulated OpenTENS wearable over the virtual radio, with a real SQLite
store. Tests judge by the simulator's delivered-output record, never by the controller."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tens.checklist import none_apply
from tens.config import TensConfig
from tens.controller import Controller
from tens.events import ControllerEvent
from tests.stated import placed_config, state_pads

_names = itertools.count(1)


@dataclass
class Rig:
    ctrl: Controller
    sim: Any
    radio: Any
    db: Any
    events: list[ControllerEvent] = field(default_factory=list)
    commands: list[tuple[float, int, float]] = field(default_factory=list)
    """What the device was asked: (loop time, channel, mA) of every SET_OUTPUT it received,
    decoded by the simulator's own codec; a STOP is (t, channel, 0) for every channel."""

    def asked(self, channel: int = 0) -> list[tuple[float, float]]:
        return [(t, ma) for t, ch, ma in self.commands if ch == channel]

    def delivered(self, channel: int = 0) -> list[tuple[float, float]]:
        return [(s.t, s.intensity_ma) for s in self.record if s.channel == channel]

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
    device_ramp: bool = True,
    stated: bool = True,
) -> Rig:
    """``device_ramp=False``: the wearable's own ramp is off (it takes every SET_LIMITS with
    its factory ramp, 6000 mA/s), so only the governor bounds the rise on the record.
    ``stated=False``: no pads stated and the config as given (no default placement added)."""
    from devices import registry
    from simulators.opentens import start_simulated_wearable
    from simulators.radio import VirtualRadio
    from tens.store import AsyncDB
    from tens.store.sessions import record_checklist

    radio = await VirtualRadio.local()
    name = f"OpenTENS-T{next(_names)}"
    if not device_ramp:
        from simulators.opentens import SimConfig

        sim_config = replace(sim_config or SimConfig(), ramp_max_ma_per_s=6000.0)
    sim = await start_simulated_wearable(radio, name=name, config=sim_config)
    transport = radio.transport()
    db = await AsyncDB.open(tmp_path / f"{name}.db")
    if checklist:
        await db.run(record_checklist, none_apply(), False)
    if stated:
        await db.run(state_pads)

    async def opener() -> Any:
        return await registry.open_device(transport, name, 5.0)

    ctrl = Controller(placed_config(config) if stated else config or TensConfig(), opener, db)
    rig = Rig(ctrl, sim, radio, db)
    ctrl.add_listener(rig.events.append)
    _tap_commands(rig, device_ramp)
    return rig


def _tap_commands(rig: Rig, device_ramp: bool) -> None:
    """Record what the device is asked; without a device ramp, SET_LIMITS keeps the factory
    ramp (firmware that does not smooth anything)."""
    from simulators.opentens.codec import (
        MalformedMessage,
        SetLimits,
        SetOutput,
        Stop,
        decode_command,
        encode_command,
    )

    model = rig.sim.model
    write = model.write
    loop_time = asyncio.get_running_loop().time

    async def tapped(data: bytes) -> None:
        try:
            cmd = decode_command(data)
        except MalformedMessage:
            cmd = None
        if isinstance(cmd, SetOutput):
            rig.commands.append((loop_time(), cmd.channel, cmd.intensity / 10))
        elif isinstance(cmd, Stop):
            for ch in range(model.config.channels):
                if cmd.mask & (1 << ch):
                    rig.commands.append((loop_time(), ch, 0.0))
        elif isinstance(cmd, SetLimits) and not device_ramp:
            data = encode_command(replace(cmd, max_ramp=model.config.ramp_max_units))
        await write(data)

    model.write = tapped


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


@dataclass
class CoyoteRig:
    ctrl: Controller
    sim: Any
    events: list[ControllerEvent] = field(default_factory=list)

    def delivered(self, channel: int = 0) -> list[tuple[float, float]]:
        """The record, less the waveform gaps: frames that came late over the link play
        nothing for a moment and the strength is kept, so the output after a gap returns to
        the level before it; that is not a rise (tests/coyote's ``assert_ramp_within`` reads
        gaps the same way). The faithful Coyote 2.0 on a 30 ms link shows such gaps."""
        return [
            (s.t, s.intensity_ma)
            for s in self.sim.record
            if s.channel == channel and s.cause not in ("frames stopped", "waves stopped")
        ]

    def asked(self, channel: int = 0) -> list[tuple[float, float]]:
        """Strength (levels) the device was asked to put on the skin, decoded from the frames
        it received: Coyote 3.0 B0 frames (absolute or relative strength; a frame whose
        waveform is dropped plays nothing, so it asks 0 whatever its strength, as the
        driver's strength-only soft-limit probe does), Coyote 2.0 strength writes."""
        from simulators.coyote import wire2, wire3
        from simulators.coyote.model2 import Received2
        from simulators.coyote.model3 import Received

        out: list[tuple[float, float]] = []
        strength = 0
        for r in self.sim.model.received:
            if isinstance(r, Received) and isinstance(r.frame, wire3.StrengthFrame):
                part = r.frame.channels[channel]
                if part.mode == wire3.SET:
                    strength = part.value if part.value_valid else 0
                elif part.mode == wire3.ADD:
                    strength = min(wire3.MAX_STRENGTH, strength + part.value)
                elif part.mode == wire3.SUBTRACT:
                    strength = max(0, strength - part.value)
                if (
                    part.mode != wire3.KEEP
                    or not out
                    or out[-1][1] != (strength if part.wave_valid else 0)
                ):
                    out.append((r.t, float(strength if part.wave_valid else 0)))
            elif isinstance(r, Received2) and r.what == "strength" and r.accepted:
                out.append((r.t, float(wire2.read_strength(r.data)[channel])))
        return out


@contextlib.asynccontextmanager
async def coyote_rig(model: str, tmp_path: Path, config: TensConfig) -> AsyncIterator[CoyoteRig]:
    """A controller on a simulated Coyote (no device-side ramp: the governor alone ramps).
    Create it inside the test: under looptime a fixture's timers run on the real clock."""
    from devices import registry
    from simulators.coyote.simulator import start_coyote
    from simulators.radio import VirtualRadio
    from tens.store import AsyncDB
    from tens.store.sessions import record_checklist

    radio = await VirtualRadio.local()
    sim = await start_coyote(radio, model)
    db = await AsyncDB.open(tmp_path / f"{model}-{next(_names)}.db")
    await db.run(record_checklist, none_apply(), False)
    await db.run(state_pads)
    transport = radio.transport()

    async def opener() -> Any:
        return await registry.open_device(transport, sim.address, 5.0)

    ctrl = Controller(placed_config(config), opener, db)
    rig = CoyoteRig(ctrl, sim)
    ctrl.add_listener(rig.events.append)
    try:
        yield rig
    finally:
        await ctrl.close()
        await sim.close()
        await radio.close()
        await db.close()
