"""The tens database: one SQLite file shared by the journal and the session records.

Sync code: ``conn = open_db()`` and the functions in :mod:`tens.store.sessions` and
:mod:`tens.journal.repository`. Async code: ``db = await AsyncDB.open()`` and
``await db.run(fn, *args)``, which runs ``fn(conn, *args)`` in the database's own thread.
"""

from __future__ import annotations

from tens.store.asyncdb import AsyncDB
from tens.store.connection import check_db, migrate, open_db, schema_version, write
from tens.store.errors import (
    CorruptDatabaseError,
    DatabaseBusyError,
    NewerSchemaError,
    NotFoundError,
    StorageFullError,
    StoreError,
)
from tens.store.migrations import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "AsyncDB",
    "CorruptDatabaseError",
    "DatabaseBusyError",
    "NewerSchemaError",
    "NotFoundError",
    "StorageFullError",
    "StoreError",
    "check_db",
    "migrate",
    "open_db",
    "schema_version",
    "write",
]
