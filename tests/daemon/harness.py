"""Run a real daemon (controller, bridge, schedules) in the test's loop against a broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tens.clock import LoopClock
from tens.config import TensConfig
from tens.controller import Controller
from tens.daemon.sdnotify import SdNotifier
from tens.daemon.service import Daemon
from tens.daemon.settings import MqttSettings
from tens.daemon.topics import Topics
from tens.device import Device, DeviceNotFound
from tests.stated import pads, placed_config


async def no_device() -> Device:
    raise DeviceNotFound("no device in this test")


def settings_for(port: int, **over: Any) -> MqttSettings:
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "controller_id": "bedside",
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        "keepalive_s": 5,
    }
    fields.update(over)
    return MqttSettings.model_validate(fields)


@dataclass
class Running:
    daemon: Daemon
    controller: Controller
    topics: Topics
    task: asyncio.Task[int]

    async def connected(self, within: float = 5.0) -> None:
        assert self.daemon.bridge is not None
        async with asyncio.timeout(within):
            await self.daemon.bridge.connected.wait()
            if self.daemon.bridge.settings.stop_link:
                await self.daemon.bridge.stop_link_connected.wait()


@contextlib.asynccontextmanager
async def running_daemon(
    settings: MqttSettings,
    *,
    open_device: Callable[[], Awaitable[Device]] = no_device,
    config: TensConfig | None = None,
    store: Any = None,
    connect_within: float = 5.0,
) -> AsyncIterator[Running]:
    clock = LoopClock()
    controller = Controller(
        placed_config(config), open_device, store, clock, declared_electrodes=pads()
    )
    daemon = Daemon(
        controller,
        settings,
        clock=clock,
        default_program=(config or TensConfig()).session.program,
        notifier=SdNotifier(environ={}),
    )
    task = asyncio.create_task(daemon.run())
    run = Running(daemon, controller, Topics(settings.prefix, settings.controller_id), task)
    try:
        await run.connected(connect_within)
        yield run
    finally:
        if not task.done():
            daemon.request_stop()
            async with asyncio.timeout(15):
                await task
