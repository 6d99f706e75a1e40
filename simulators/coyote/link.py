"""When a write reaches a simulated Coyote: at a connection event, as on a real link.

bumble's LocalLink delivers at once; a real link moves data only at connection events, one
every connection interval (the same model as :mod:`simulators.opentens.link`, whose event grid
this reuses). A write is applied at the first event at or after its arrival, in arrival order;
a write request is answered then. A write arriving just as an event begins waits for the
next one. Writes still waiting when the link drops are never applied, nor is a write that
reaches the simulator after the link went down (bumble can hand one over late).
Notifications go out at once (in the event that applied the write that caused them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulators.opentens.link import ConnectionEvents

DEFAULT_INTERVAL_MS = 30.0
_AFTER_S = 1e-5


class LinkTiming:
    """The connection-event grid of the one central's link to a simulated Coyote."""

    def __init__(self, interval_ms: float = DEFAULT_INTERVAL_MS) -> None:
        if not 7.5 <= interval_ms <= 4000.0:
            raise ValueError("connection interval must be 7.5 ms to 4 s")
        self.interval_s = interval_ms / 1000.0
        self._events = ConnectionEvents(self.interval_s)
        self.anchor = 0.0
        """When the current link came up; its events are at anchor + k·interval, k >= 1."""
        self._pending: list[tuple[Callable[[], None], asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._up = False

    def link_up(self) -> None:
        self.link_down()
        self.anchor = asyncio.get_running_loop().time()
        self._events.reset(self.anchor)
        self._up = True

    def link_down(self) -> None:
        """Writes not yet at an event are lost with the link."""
        self._up = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.cancel()

    async def apply(self, action: Callable[[], None]) -> None:
        """Run ``action`` at the next connection event; return once it has run (at once,
        without running it, when there is no link: the write is lost with it)."""
        if not self._up:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((action, future))
        if self._timer is None:
            # strictly after now: the event under way when a write arrives has begun
            t, _lost = self._events.peek(loop.time() + _AFTER_S)
            self._timer = loop.call_at(t, self._event)
        await future

    def _event(self) -> None:
        self._timer = None
        self._events.consume()
        pending, self._pending = self._pending, []
        for action, future in pending:
            try:
                action()
            except Exception as exc:  # a model bug: fail that write, apply the rest
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(None)
