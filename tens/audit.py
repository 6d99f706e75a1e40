"""The audit trail writer: every decision and output change, with its source and reason.

Rows are buffered and written in one transaction at most every ``FLUSH_S`` seconds (a ramp
writes ten setpoints a second; one fsync each would cost more than the stimulation), and at
once on ``flush()`` (the controller flushes when a session ends and on close). A crash can
lose at most the last ``FLUSH_S`` of audit rows, never a session record.

When a write fails (disk full, read-only, locked), the rows are kept (up to ``MAX_KEPT``, the
oldest dropped beyond that) and written with the next flush, and ``on_failure`` is called:
the controller stops a running session, since output changes that cannot be recorded break
safety rule 5 (see docs/safety.md, "store failure").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tens.events import Decision

log = logging.getLogger(__name__)
FLUSH_S = 0.5
MAX_KEPT = 10_000


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
            "reason, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    r.decision.code,
                )
                for r in rows
            ],
        )


class AuditTrail:
    """Buffers audit rows and writes them through the async store in batches."""

    def __init__(self, store: Any, on_failure: Callable[[Exception], None] | None = None) -> None:
        self.store = store
        self.on_failure = on_failure
        self.failures = 0
        """Failed writes in a row (0 once a write succeeds)."""
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
            except Exception as exc:
                kept = [*rows, *self._rows]
                self._rows = kept[-MAX_KEPT:]
                if len(kept) > MAX_KEPT:
                    log.error("audit: %d rows dropped (storage failing)", len(kept) - MAX_KEPT)
                if not self.failures:
                    log.error("could not write %d audit rows: %s", len(rows), exc)
                self.failures += 1
                if self.on_failure is not None:
                    self.on_failure(exc)
                return
            self.failures = 0

    async def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
