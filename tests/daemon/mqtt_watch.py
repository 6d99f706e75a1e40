"""A plain MQTT client for the tests: records every message under a filter, waits for some."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    t: float
    """The loop time it arrived at."""

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.seen: list[Seen] = []
        self._changed = asyncio.Condition()

    async def _read(self) -> None:
        async for m in self.client.messages:
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            async with self._changed:
                self.seen.append(
                    Seen(str(m.topic), payload, bool(m.retain), asyncio.get_running_loop().time())
                )
                self._changed.notify_all()

    async def wait_for(
        self,
        topic: str,
        where: Callable[[Seen], bool] = lambda s: True,
        *,
        after: int = 0,
        within: float = 5.0,
    ) -> Seen:
        """The first message on `topic` (from index `after`) that satisfies `where`."""

        def find() -> Seen | None:
            for s in self.seen[after:]:
                if s.topic == topic and where(s):
                    return s
            return None

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found

    def mark(self) -> int:
        return len(self.seen)

    async def publish(self, topic: str, payload: bytes | str, **kw: Any) -> None:
        await self.client.publish(topic, payload, qos=1, **kw)


@contextlib.asynccontextmanager
async def watching(port: int, *filters: str, **client_kw: Any) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client("127.0.0.1", port, **client_kw) as client:
        w = Watcher(client)
        for f in filters:
            await client.subscribe(f, qos=1)
        task = asyncio.create_task(w._read())
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
