"""A whole BlueZ-tier simulation in one object, and ``tens simulate --bluez`` on top of it.

``async with BlueZSimulation("opentens") as sim:`` starts a private dbus-daemon, the fake
bluetoothd on it and one simulated device; ``sim.bus_address`` is what
``DBUS_SYSTEM_BUS_ADDRESS`` must say for bleak (in this or another process) to find it.
Leaving the block drops the link (the device zeroes its output), stops the fake and ends the
daemon by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
from collections.abc import Callable
from typing import Any

from simulators.bluez.daemon import BusError, PrivateBus
from simulators.bluez.service import BlueZConfig, FakeBlueZ
from simulators.opentens.config import SimConfig
from simulators.opentens.record import sample_report

BUS_ENV = "DBUS_SYSTEM_BUS_ADDRESS"
MODELS = ("opentens", "coyote3", "coyote2")
EXIT_UNAVAILABLE = 6


class BlueZSimulation:
    """A private bus, a fake BlueZ and one simulated device of ``model``."""

    def __init__(
        self,
        model: str = "opentens",
        *,
        name: str | None = None,
        config: SimConfig | None = None,
        scenario: str | None = None,
        after_s: float | None = None,
        for_s: float | None = None,
        bluez: BlueZConfig | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        if scenario is not None and model != "opentens":
            raise ValueError("scenarios run on the opentens model only")
        self.model = model
        self.name = name
        self.config = config
        self.scenario = scenario
        self.after_s = after_s
        self.for_s = for_s
        self.bluez = bluez
        self.bus: PrivateBus | None = None
        self.fake: FakeBlueZ | None = None
        self.simulator: Any = None

    @property
    def bus_address(self) -> str:
        if self.bus is None:
            raise RuntimeError("the simulation is not started")
        return self.bus.address

    @property
    def env(self) -> dict[str, str]:
        """The environment a bleak process needs to use this simulation."""
        return {BUS_ENV: self.bus_address}

    async def start(self) -> BlueZSimulation:
        """Raises :class:`BusError` when dbus-daemon is missing or does not come up."""
        self.bus = await asyncio.to_thread(PrivateBus.start)
        try:
            self.fake = await FakeBlueZ(self.bus.address, self.bluez).start()
            if self.model == "opentens":
                from simulators.bluez.opentens import start_bluez_wearable

                config = self.config or SimConfig()
                self.simulator = await start_bluez_wearable(
                    self.fake,
                    name=self.name or config.name,
                    config=config,
                    scenario=self.scenario,
                    after_s=self.after_s,
                    for_s=self.for_s,
                )
            else:
                from simulators.bluez.coyote import start_bluez_coyote

                self.simulator = await start_bluez_coyote(self.fake, self.model, name=self.name)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        simulator, self.simulator = self.simulator, None
        if simulator is not None:
            with contextlib.suppress(Exception):
                await simulator.close()
        fake, self.fake = self.fake, None
        if fake is not None:
            with contextlib.suppress(Exception):
                await fake.close()
        bus, self.bus = self.bus, None
        if bus is not None:
            await asyncio.to_thread(bus.stop)

    async def __aenter__(self) -> BlueZSimulation:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


Say = Callable[..., None]
"""``say(line, **json_fields)``: one line for people, or one JSON object."""


async def serve_bluez(args: argparse.Namespace, config: SimConfig, say: Say) -> int:
    """``tens simulate --bluez``: serve until SIGINT/SIGTERM; print how to reach it."""
    from tens.cli.output import fail

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sim = BlueZSimulation(
        args.model,
        name=args.name,
        config=config,
        scenario=args.scenario,
        after_s=args.after,
        for_s=args.for_s,
    )
    try:
        await sim.start()
    except (BusError, OSError, RuntimeError) as exc:
        return fail(
            f"cannot serve BlueZ on a private D-Bus: {exc}", EXIT_UNAVAILABLE, as_json=args.json
        )
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    try:
        simulator = sim.simulator

        def on_sample(sample: Any) -> None:
            line, fields = sample_report(sample, round(sample.t - t0, 3))
            say(line, **fields)

        def on_link(what: str) -> None:
            t = round(loop.time() - t0, 3)
            say(f"{t:10.3f} s  link {what}", event="link", t=t, link=what)

        def on_scenario(text: str) -> None:
            t = round(loop.time() - t0, 3)
            say(f"{t:10.3f} s  scenario: {text}", event="scenario", t=t, text=text)

        simulator.record.add_listener(on_sample)
        simulator.add_link_listener(on_link)
        if args.scenario is not None:
            simulator.run_scenario(
                args.scenario, after_s=args.after, for_s=args.for_s, say=on_scenario
            )
        address = sim.bus_address
        assert sim.bus is not None
        say(
            f"Serving simulated {args.model} wearable {simulator.name!r} ({simulator.address}) "
            "as BlueZ (org.bluez) on a private D-Bus\n"
            f"Point tens at it from another shell:\n"
            f"  export {BUS_ENV}={shlex.quote(address)}\n"
            "  tens scan            (bleak's own BlueZ backend; no --radio, no --simulator)\n"
            + (f"Scenario: {args.scenario}\n" if args.scenario else "")
            + "Delivered output changes follow; Ctrl-C stops.",
            event="serving",
            transport="bluez",
            model=args.model,
            name=simulator.name,
            address=simulator.address,
            dbus=address,
            env={BUS_ENV: address},
            dbus_daemon_pid=sim.bus.pid,
            scenario=args.scenario,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        await sim.close()
    say("stopped", event="stopped")
    return 0
