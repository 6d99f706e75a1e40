"""The audit trail writer: every decision and output change, with its source and reason.

Rows are buffered and written in one transaction at most every ``FLUSH_S`` seconds (a ramp
writes ten setpoints a second; one fsync each would cost more than the stimulation), and at
once on ``flush()`` (the controller flushes when a session ends and on close). A crash can
lose at most the last ``FLUSH_S`` of audit rows, never a session record.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from tens.events import Decision

log = logging.getLogger(__name__)
FLUSH_S = 0.5


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: dt.datetime
    session_id: int | None
    decision: Decision


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def insert_rows(conn: sqlite3.Connection, rows: list[AuditRow]) -> None:
    """All rows in one write transaction (same table and encoding as store.sessions.add_audit)."""
    from tens.store.connection import write
    from tens.store.timestamps import to_db

    with write(conn):
        conn.executemany(
            "INSERT INTO audit (at, session_id, source, action, requested, allowed, outcome, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    to_db(r.at),
                    r.session_id,
                    r.decision.source.value,
                    r.decision.action,
                    _text(r.decision.requested),
                    _text(r.decision.allowed),
                    r.decision.outcome,
                    r.decision.reason or None,
                )
                for r in rows
            ],
        )


class AuditTrail:
    """Buffers audit rows and writes them through the async store in batches."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._rows: list[AuditRow] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, at: dt.datetime, session_id: int | None, decision: Decision) -> None:
        if self.store is None:
            return
        self._rows.append(AuditRow(at, session_id, decision))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(FLUSH_S)
        await self.flush()

    async def flush(self) -> None:
        """Write everything buffered so far; returns when it is committed."""
        async with self._lock:
            rows, self._rows = self._rows, []
            if not rows or self.store is None:
                return
            try:
                await self.store.run(insert_rows, rows)
            except Exception:
                log.exception("could not write %d audit rows", len(rows))

    async def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
