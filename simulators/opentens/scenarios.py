"""Fault scenarios by name: small async scripts over the simulator's fault API.

Each scenario waits for the first central to connect, then for ``after_s`` seconds, then
injects its fault (and, where it has one, undoes it ``for_s`` seconds later). ``tens simulate
--scenario NAME`` and the tests run them; ``tens simulate --list-scenarios`` lists them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from simulators.opentens.profile import AttCode
from tens import channels


class FaultTarget(Protocol):
    """What a scenario drives: the fault API of ``OpenTensSimulator``."""

    async def wait_connected(self) -> None: ...
    async def drop_link(self) -> None: ...
    def peel_off(self, channel: int = 0) -> None: ...
    def reattach(self, channel: int = 0) -> None: ...
    def drain_battery(self, to_percent: float) -> None: ...
    def stick(self, stuck: bool = True, *, watchdog: bool = True) -> None: ...
    def send_malformed(self, kind: str = "crc") -> None: ...
    def reject_next_write(self, code: int = AttCode.BUSY) -> None: ...
    async def reboot(self) -> None: ...
    async def forget_bonds(self) -> None: ...
    def set_passkey(self, passkey: int) -> None: ...
    async def intrude(self) -> Any: ...
    async def wait_disconnected(self) -> None: ...


Say = Callable[[str], None]


@dataclass(frozen=True)
class Timing:
    after_s: float = 10.0
    """From the first connection to the fault."""
    for_s: float = 5.0
    """How long a fault that ends lasts (peel-off, stuck, low battery's warning stage)."""


async def _steady(sim: FaultTarget, t: Timing, say: Say) -> None:
    say("steady: no faults")


async def _peel_off(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    sim.peel_off(0)
    say(f"electrode on channel {channels.label(0)} peeled off")
    await asyncio.sleep(t.for_s)
    sim.reattach(0)
    say(f"electrode on channel {channels.label(0)} back on (output stays 0 until START)")


async def _link_drop(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    await sim.drop_link()
    say("link dropped by the device")


async def _low_battery(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    sim.drain_battery(9)
    say("battery at 9 % (low-battery bit)")
    await asyncio.sleep(t.for_s)
    sim.drain_battery(5)
    say("battery at 5 % (cut-off: output 0, START refused)")


async def _stuck(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    sim.stick(True)
    say("firmware stuck: writes answered but dropped, no acks, no status")
    await asyncio.sleep(t.for_s)
    sim.stick(False)
    say("firmware running again")


async def _hung(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    sim.stick(True, watchdog=False)
    say("firmware hung, its watchdog too: no acks, no status, output stays on")
    await asyncio.sleep(t.for_s)
    sim.stick(False)
    say("firmware running again")


async def _malformed(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    sim.send_malformed("crc")
    say("next status notification has a bad CRC")


async def _reject(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    sim.reject_next_write(AttCode.BUSY)
    say("next control-point write refused with BUSY (0x87)")


async def _reboot(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    say("device reboots: link drops, output 0, factory state")
    await sim.reboot()
    say("device back, advertising")


async def _forget_bonds(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    await sim.forget_bonds()
    say("bond lost on the device: every bond cleared (a long press), link dropped")


async def _wrong_passkey(sim: FaultTarget, t: Timing, say: Say) -> None:
    sim.set_passkey(WRONG_PASSKEY)
    say(f"the device now checks passkey {WRONG_PASSKEY:06d}, not the printed one")


async def _intruder(sim: FaultTarget, t: Timing, say: Say) -> None:
    await asyncio.sleep(t.after_s)
    say((await sim.intrude()).describe())
    await sim.wait_disconnected()
    await asyncio.sleep(0.2)  # the device advertises again
    say((await sim.intrude()).describe())


WRONG_PASSKEY = 999_999


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    script: Callable[[FaultTarget, Timing, Say], Awaitable[None]]
    needs_security: bool = False
    """Only for a wearable with link security (``tens simulate`` without --open-link)."""
    at_once: bool = False
    """Starts when the simulator does, not at the first connection."""


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "no faults: a well-behaved wearable", _steady),
        Scenario(
            "peel-off",
            f"the electrode on channel {channels.label(0)} comes off after AFTER s, back FOR s "
            "later",
            _peel_off,
        ),
        Scenario("link-drop", "the device drops the link after AFTER s", _link_drop),
        Scenario(
            "low-battery",
            "battery to 9 % after AFTER s, to the 5 % cut-off FOR s later",
            _low_battery,
        ),
        Scenario("stuck", "firmware stops acknowledging after AFTER s, for FOR s", _stuck),
        Scenario(
            "hung",
            "firmware and its watchdog hang after AFTER s, for FOR s (only a disconnect "
            "zeroes output)",
            _hung,
        ),
        Scenario("malformed", "one status notification with a bad CRC after AFTER s", _malformed),
        Scenario("reject", "the next write after AFTER s is refused with BUSY", _reject),
        Scenario("reboot", "the device reboots after AFTER s (link drops, factory state)", _reboot),
        Scenario(
            "forget-bonds",
            "bond lost on the device: AFTER s after connecting it clears every bond and drops "
            "the link",
            _forget_bonds,
            needs_security=True,
        ),
        Scenario(
            "wrong-passkey",
            "the device checks another passkey than the one printed on it: pairing fails",
            _wrong_passkey,
            needs_security=True,
            at_once=True,
        ),
        Scenario(
            "intruder",
            "someone else's controller tries to write AFTER s after connecting, and again "
            "once the link is free",
            _intruder,
            needs_security=True,
        ),
    )
}


async def run_scenario(
    name: str,
    sim: FaultTarget,
    *,
    after_s: float = Timing.after_s,
    for_s: float = Timing.for_s,
    say: Say | None = None,
) -> None:
    """Run scenario ``name`` against ``sim``; the clock starts at the first connection."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if not scenario.at_once:
        await sim.wait_connected()
    await scenario.script(sim, Timing(after_s, for_s), say or (lambda _msg: None))
