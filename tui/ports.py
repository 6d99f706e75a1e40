"""What the TUI needs from the rest of tens, as protocols.

The real objects are :class:`tens.controller.Controller`, the journal and the checklist
store; the TUI only calls what is listed here, so a face never holds rules of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from tens.events import ControllerEvent, Decision, Snapshot, Source


class ControllerPort(Protocol):
    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def start(self, request: Any, source: Source) -> Decision: ...

    async def check_start(self, request: Any, source: Source) -> Decision: ...

    async def step_intensity(self, steps: int, source: Source) -> Decision: ...

    async def pause(self, source: Source) -> Decision: ...

    async def resume(self, source: Source) -> Decision: ...

    async def stop(self, source: Source) -> Any: ...

    def snapshot(self) -> Snapshot: ...

    def events(self) -> AbstractAsyncContextManager[AsyncIterator[ControllerEvent]]: ...

    async def close(self) -> None: ...
