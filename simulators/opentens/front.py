"""What every front-end of the simulated OpenTENS wearable shares, whatever serves it
(bumble GATT in ``server.py``, a fake ``org.bluez`` in ``simulators.bluez``): link listeners,
named fault scenarios and the device-side fault API, all delegating to the one model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from simulators.opentens.model import OpenTensModel
from simulators.opentens.profile import AttCode


class WearableFront:
    """Mixin: call :meth:`_init_front` in ``__init__``; the subclass provides ``model``,
    ``drop_link()`` and the transport itself."""

    model: OpenTensModel

    def _init_front(self) -> None:
        self.link_events: list[tuple[float, str]] = []
        """(loop time, "connected" | "disconnected") for every link change."""
        self._link_listeners: list[Callable[[str], None]] = []
        self._link_up = asyncio.Event()
        self._scenario: asyncio.Task[None] | None = None

    # --- link ----------------------------------------------------------------------------

    def _link_event(self, what: str) -> None:
        if what == "connected":
            self._link_up.set()
        else:
            self._link_up.clear()
        self.link_events.append((asyncio.get_running_loop().time(), what))
        for listener in list(self._link_listeners):
            listener(what)

    def add_link_listener(self, listener: Callable[[str], None]) -> None:
        """``listener("connected" | "disconnected")`` on every link change."""
        self._link_listeners.append(listener)

    async def wait_connected(self) -> None:
        """Return once a central is connected."""
        await self._link_up.wait()

    # --- scenarios -----------------------------------------------------------------------

    def run_scenario(
        self,
        name: str,
        *,
        after_s: float | None = None,
        for_s: float | None = None,
        say: Callable[[str], None] | None = None,
    ) -> asyncio.Task[None]:
        """Run the named fault scenario (see ``simulators.opentens.scenarios``) in the
        background; it is cancelled on close."""
        from simulators.opentens.scenarios import Timing, run_scenario

        if self._scenario is not None and not self._scenario.done():
            self._scenario.cancel()
        self._scenario = asyncio.get_running_loop().create_task(
            run_scenario(
                name,
                self,  # type: ignore[arg-type]
                after_s=Timing.after_s if after_s is None else after_s,
                for_s=Timing.for_s if for_s is None else for_s,
                say=say,
            ),
            name=f"{type(self).__name__}-scenario-{name}",
        )
        return self._scenario

    async def _cancel_scenario(self) -> None:
        if self._scenario is not None:
            self._scenario.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._scenario

    # --- device-side faults ----------------------------------------------------------------

    def peel_off(self, channel: int = 0) -> None:
        """Electrode ``channel`` comes off the skin (rule 6)."""
        self.model.peel_off(channel)

    def reattach(self, channel: int = 0) -> None:
        """Electrode ``channel`` is back on; output stays 0 until a new START."""
        self.model.reattach(channel)

    def drain_battery(self, to_percent: float) -> None:
        """The battery drops to ``to_percent`` (rule 7 at 10 % and 5 %)."""
        self.model.drain_battery(to_percent)

    def set_battery(self, percent: float) -> None:
        self.model.set_battery(percent)

    def stick(self, stuck: bool = True, *, watchdog: bool = True) -> None:
        """Freeze the firmware: writes answered but dropped, no acks, no notifications
        (``watchdog=False``: its watchdog hangs too; see :meth:`OpenTensModel.stick`)."""
        self.model.stick(stuck, watchdog=watchdog)

    def send_malformed(self, kind: str = "crc") -> None:
        """The next status notification is garbage (bad CRC by default)."""
        self.model.send_malformed(kind)

    def reject_next_write(self, code: int = AttCode.BUSY) -> None:
        """The next control-point write is refused with ``code`` (default BUSY, 0x87)."""
        self.model.reject_next_write(code)

    def mute_acks(self, muted: bool = True) -> None:
        """Stuck acknowledgements: writes are obeyed but no status goes out (see
        :meth:`OpenTensModel.mute_acks`)."""
        self.model.mute_acks(muted)
