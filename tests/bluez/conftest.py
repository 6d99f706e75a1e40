"""Fixtures of the BlueZ tier: a private dbus-daemon, the fake org.bluez, and a tier-parametrized
kit so that the same driver and session scenarios run on both tiers.

* ``private_bus`` starts ``dbus-daemon`` with our own config (``simulators.bluez.daemon``) and
  stops it by pid. Without dbus-daemon the BlueZ tier is skipped locally and fails in CI
  (``CI`` set): .ci/run installs the Debian package ``dbus-daemon``.
* ``bluez_env`` points ``DBUS_SYSTEM_BUS_ADDRESS`` at it for this test only, puts a
  ``bluetoothctl`` that reports BlueZ 5.66 on ``PATH`` (bleak runs it to check the version),
  and resets bleak's process-wide BlueZ state before and after: the version check, the
  per-loop ``BlueZManager`` (its bus is closed after the test) and bleak-retry-connector's
  "no D-Bus here" cache.
* ``fake_bluez`` serves ``org.bluez`` there. bleak then runs its default Linux backend
  (``BleTransport()``, no ``backend=``) against it.
* ``tier`` is ``"bumble"`` (the virtual radio, on looptime's virtual clock) or ``"bluez"``
  (real time: its D-Bus traffic crosses a real daemon process). Tests written against
  :class:`TierKit` run unchanged on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devices.transport import BleTransport
from simulators.bluez.daemon import PrivateBus, find_dbus_daemon
from simulators.bluez.service import BlueZConfig, FakeBlueZ
from simulators.opentens.config import SimConfig

_names = itertools.count(1)

FAST_FAKE = BlueZConfig(report_interval_s=0.05, connect_timeout_s=1.0)


def write_bluetoothctl(directory: Path, version: str) -> Path:
    """A ``bluetoothctl`` stand-in that answers ``--version`` like BlueZ's."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "bluetoothctl"
    script.write_text(f"#!/bin/sh\necho 'bluetoothctl: {version}'\n", encoding="utf-8")
    script.chmod(0o755)
    return directory


def reset_bleak_bluez_state() -> None:
    """Forget what bleak and bleak-retry-connector cached about BlueZ in this process."""
    from bleak.backends.bluezdbus.version import BlueZFeatures
    from bleak_retry_connector.bleak_manager import _reset_dbus_socket_cache

    BlueZFeatures.checked_bluez_version = False
    BlueZFeatures.supported_version = True
    BlueZFeatures._check_bluez_event = None
    _reset_dbus_socket_cache()


async def drop_bleak_manager() -> None:
    """Close the BlueZ manager bleak made for the running loop (it holds a bus socket)."""
    from bleak.backends.bluezdbus import manager as bluez_manager

    mgr = bluez_manager._global_instances.pop(asyncio.get_running_loop(), None)
    if mgr is None:
        return
    bus = mgr._bus
    watcher = mgr._bus_watcher_task
    if bus is not None:
        bus.disconnect()
    if watcher is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(watcher, 2.0)


@pytest.fixture
def private_bus() -> Iterator[PrivateBus]:
    if find_dbus_daemon() is None:
        message = "dbus-daemon is not installed (Debian package 'dbus-daemon')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    bus = PrivateBus.start()
    try:
        yield bus
    finally:
        bus.stop()
    assert not bus.running


@pytest.fixture
def bluez_env(
    private_bus: PrivateBus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[PrivateBus]:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus.address)
    monkeypatch.delenv("BLEAK_DBUS_AUTH_UID", raising=False)
    tools = write_bluetoothctl(tmp_path / "bin", "5.66")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    reset_bleak_bluez_state()
    yield private_bus
    reset_bleak_bluez_state()


@pytest.fixture
async def fake_bluez(bluez_env: PrivateBus) -> AsyncIterator[FakeBlueZ]:
    fake = await FakeBlueZ(bluez_env.address, FAST_FAKE).start()
    try:
        yield fake
    finally:
        await drop_bleak_manager()
        await fake.close()


# --- the tier-parametrized kit -----------------------------------------------------------


@dataclass
class TierKit:
    """One tier: a transport for the drivers and a way to add simulated wearables."""

    name: str
    transport: BleTransport
    add_wearable: Callable[..., Any]
    add_coyote: Callable[[str], Any]
    closers: list[Callable[[], Any]] = field(default_factory=list)

    async def wearable(self, config: SimConfig | None = None, **kw: Any) -> Any:
        name = kw.pop("name", None) or f"OpenTENS-{self.name[:2].upper()}{next(_names)}"
        sim = await self.add_wearable(name=name, config=config, **kw)
        self.closers.insert(0, sim.close)
        return sim

    async def coyote(self, model: str) -> Any:
        """A simulated ``coyote3`` or ``coyote2`` with its real advertised name."""
        sim = await self.add_coyote(model)
        self.closers.insert(0, sim.close)
        return sim

    async def close(self) -> None:
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()


TIERS = [
    pytest.param("bumble", marks=pytest.mark.looptime, id="bumble"),
    pytest.param("bluez", id="bluez"),
]


@pytest.fixture(params=TIERS)
async def tier(request: pytest.FixtureRequest) -> AsyncIterator[TierKit]:
    if request.param == "bumble":
        from simulators.opentens import start_simulated_wearable
        from simulators.radio import VirtualRadio

        radio = await VirtualRadio.local()

        async def add_bumble(**kw: Any) -> Any:
            return await start_simulated_wearable(radio, **kw)

        async def add_bumble_coyote(model: str) -> Any:
            from simulators.coyote.simulator import start_coyote

            return await start_coyote(radio, model)

        kit = TierKit("bumble", radio.transport(), add_bumble, add_bumble_coyote)
        kit.closers.append(radio.close)
    else:
        from simulators.bluez.opentens import start_bluez_wearable

        bus: PrivateBus = request.getfixturevalue("bluez_env")  # a sync fixture
        fake = await FakeBlueZ(bus.address, FAST_FAKE).start()

        async def add_bluez(**kw: Any) -> Any:
            return await start_bluez_wearable(fake, **kw)

        async def add_bluez_coyote(model: str) -> Any:
            from simulators.bluez.coyote import start_bluez_coyote

            return await start_bluez_coyote(fake, model)

        kit = TierKit("bluez", BleTransport(), add_bluez, add_bluez_coyote)
        kit.closers.extend([drop_bleak_manager, fake.close])
    try:
        yield kit
    finally:
        await kit.close()
