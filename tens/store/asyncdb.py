"""The database for async code: every sqlite call runs in one worker thread, never on the loop.

    db = await AsyncDB.open()               # or AsyncDB.open(path)
    sid = await db.run(create_session, started_at=now, state="running")
    await db.close()

``run(fn, *args, **kwargs)`` calls ``fn(conn, *args, **kwargs)`` in the worker thread, where
``fn`` is any of the synchronous store/journal functions that take a connection first. One
thread owns the connection, so calls run one at a time in the order they were made. If the
awaiting task is cancelled, a call already started still finishes (a write commits or rolls
back as a whole); the caller just does not wait for it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from tens.store.connection import open_db
from tens.store.errors import StoreError

log = logging.getLogger(__name__)


def _close_interrupted(conn: sqlite3.Connection) -> list[Any]:
    from tens.store.sessions import close_interrupted

    return close_interrupted(conn)


P = ParamSpec("P")
T = TypeVar("T")


class AsyncDB:
    """An open database whose calls run in a dedicated thread (see the module doc)."""

    def __init__(self, executor: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        self._executor = executor
        self._conn: sqlite3.Connection | None = conn
        self.interrupted: list[Any] = []
        """Session records that opening closed as interrupted (a face may say so once)."""

    @classmethod
    async def open(cls, path: str | Path | None = None) -> AsyncDB:
        """Open (and migrate) the database in a new worker thread; errors as in ``open_db``."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tens-db")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, functools.partial(open_db, path))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        db = cls(executor, conn)
        try:  # records a crash left "running" show as interrupted at once (history, report)
            db.interrupted = await loop.run_in_executor(executor, _close_interrupted, conn)
        except (StoreError, sqlite3.Error) as exc:  # a start tries again, refusing if it cannot
            log.warning("could not close interrupted sessions: %s", exc)
        return db

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in the database thread and return its result."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("the database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(fn, conn, *args, **kwargs)
        )

    @property
    def closed(self) -> bool:
        return self._conn is None

    async def close(self) -> None:
        """Close the connection (in its thread) after the calls already queued."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, conn.close)
        finally:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncDB:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
