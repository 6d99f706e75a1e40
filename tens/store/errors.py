"""Errors of the store, each with a message a person can act on."""

from __future__ import annotations

import sqlite3


class StoreError(Exception):
    """Something is wrong with the database; the message says what and what to do."""


class CorruptDatabaseError(StoreError):
    """The file is not a tens database, or it is damaged."""


class NewerSchemaError(StoreError):
    """The database was written by a newer tens; this one refuses to touch it."""


class StorageFullError(StoreError):
    """The disk (or the database's size limit) is full; the write was rolled back."""


class DatabaseBusyError(StoreError):
    """Another program held the database locked for too long; the write was rolled back."""


class NotFoundError(StoreError, LookupError):
    """A record that the caller named does not exist."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} does not exist")
        self.what = what
        self.ident = ident


def translate(exc: sqlite3.Error, path: object = None) -> StoreError:
    """Map a sqlite3 error to a StoreError with a clear message (the caller raises it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    where = f" ({path})" if path else ""
    if code == sqlite3.SQLITE_FULL:
        return StorageFullError(
            f"the disk is full{where}: nothing was written; free some space and try again"
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return CorruptDatabaseError(
            f"the database is damaged or not a tens database{where}: {exc}. "
            "Keep a copy of the file; tens will not write to it"
        )
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseBusyError(
            f"the database is locked by another program{where}; nothing was written, try again"
        )
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return StoreError(f"cannot write the database{where}: {exc}")
    if code == sqlite3.SQLITE_IOERR or (code is not None and code & 0xFF == sqlite3.SQLITE_IOERR):
        return StoreError(f"input/output error on the database{where}: {exc}")
    return StoreError(f"database error{where}: {exc}")
