"""Opening the database (WAL, foreign keys, migrations, refusals) and write transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tens.store.errors import (
    CorruptDatabaseError,
    NewerSchemaError,
    StoreError,
    translate,
)
from tens.store.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 5.0
QUICK_CHECK_MAX_BYTES = 8 * 1024 * 1024
"""Files up to this size get ``PRAGMA quick_check`` on every open (a few ms for a typical
journal; ~50 000 entries fit). Bigger files skip it to keep commands fast; damage found
later is still reported as :class:`CorruptDatabaseError`, and :func:`check_db` checks on
demand."""


def open_db(path: str | Path | None = None, *, upgrade_to: int | None = None) -> sqlite3.Connection:
    """Open (creating folders and file) the tens database and bring its schema up to date.

    The connection is in autocommit mode: group writes with :func:`write`. WAL, foreign keys
    and ``synchronous=FULL`` are on, so a write that returned is on disk. Refuses, with a
    clear :class:`StoreError`, a file that is damaged or not a tens database
    (:class:`CorruptDatabaseError`) and one written by a newer tens (:class:`NewerSchemaError`).
    ``upgrade_to`` stops the upgrade at an earlier version (tests build old schemas with it).
    """
    if path is None:
        from tens.paths import db_path

        path = db_path()
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data folder {path.parent}: {exc}") from exc
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
    try:
        _check_and_configure(conn, path)
        migrate(conn, SCHEMA_VERSION if upgrade_to is None else upgrade_to, path=path)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check_and_configure(conn: sqlite3.Connection, path: Path) -> None:
    try:
        version = schema_version(conn)
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        n_tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(
            f"{path} is damaged or not a database ({exc}); tens will not write to it. "
            "Move it aside to start a new journal, or keep it for recovery"
        ) from exc
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{path} has schema version {version}, newer than this tens knows "
            f"({SCHEMA_VERSION}); upgrade tens to use it (the file was not changed)"
        )
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and (version or n_tables)):
        raise CorruptDatabaseError(
            f"{path} is an SQLite database of another program, not a tens database; "
            "tens will not write to it"
        )
    if n_tables and _file_size(path) <= QUICK_CHECK_MAX_BYTES:
        check_db(conn, path=path, full=False)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
    if str(mode).lower() != "wal":
        raise StoreError(f"{path}: cannot switch the database to WAL mode (got {mode!r})")


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def check_db(conn: sqlite3.Connection, *, path: object = None, full: bool = True) -> None:
    """Check every page (``integrity_check``, or the faster ``quick_check`` with
    ``full=False``); raises :class:`CorruptDatabaseError` naming the first problems."""
    pragma = "integrity_check" if full else "quick_check"
    where = f"{path} " if path else "the database "
    try:
        rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(f"{where}is damaged ({exc}); tens will not use it") from exc
    if [r[0] for r in rows] != ["ok"]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise CorruptDatabaseError(f"{where}is damaged ({detail}); tens will not use it")


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION, *, path: object = None) -> int:
    """Apply the migrations from the current version up to ``target``; returns the version.

    Each migration and its version bump commit together, so a crash mid-upgrade leaves the
    database at the last complete version.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"no schema version {target}")
    current = schema_version(conn)
    while current < target:
        statements = MIGRATIONS[current]
        with write(conn, path=path):
            for statement in statements:
                conn.execute(statement)
            if current == 0:
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={current + 1}")
        current += 1
    return current


@contextmanager
def write(conn: sqlite3.Connection, *, path: object = None) -> Iterator[sqlite3.Connection]:
    """One write transaction: all of it commits, or none of it (any error rolls it back).

    Takes the write lock at once (``BEGIN IMMEDIATE``) so readers never see half a change.
    Nested use joins the outer transaction through a savepoint. sqlite3 errors come out as
    :class:`StoreError` (disk full, damaged, locked ...).
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT nested")
        try:
            yield conn
        except BaseException as exc:
            if conn.in_transaction:  # SQLite may have rolled back everything already
                try:
                    conn.execute("ROLLBACK TO nested")
                    conn.execute("RELEASE nested")
                except sqlite3.Error:
                    pass
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, path) from exc
            raise
        conn.execute("RELEASE nested")
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the transaction is gone already (SQLite rolled back on its own)
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, path) from exc
        raise
