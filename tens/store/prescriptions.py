"""The accepted prescription, stored as the TOML text the clinician wrote (re-validated on
every read: a row that no longer parses applies nothing and says so)."""

from __future__ import annotations

import datetime as dt
import sqlite3

from tens.store.connection import write
from tens.store.timestamps import to_db, utc_now


def save_accepted(conn: sqlite3.Connection, source: str, *, now: dt.datetime | None = None) -> int:
    """Store an accepted prescription; any earlier one is removed (one in force at a time)."""
    at = to_db(now or utc_now())
    with write(conn):
        conn.execute("UPDATE prescriptions SET removed_at = ? WHERE removed_at IS NULL", (at,))
        cur = conn.execute(
            "INSERT INTO prescriptions(imported_at, accepted_at, source) VALUES (?, ?, ?)",
            (at, at, source),
        )
    return int(cur.lastrowid or 0)


def active_source(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT source FROM prescriptions WHERE accepted_at IS NOT NULL AND removed_at IS NULL "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else str(row[0])


def last_change_at(conn: sqlite3.Connection) -> dt.datetime | None:
    """When a prescription was last accepted, replaced or removed (None: never): checklist
    answers given before it are asked again (tens.store.sessions.ChecklistRecord)."""
    from tens.store.timestamps import opt_from_db

    row = conn.execute(
        "SELECT max(max(coalesce(accepted_at, ''), coalesce(removed_at, ''))) FROM prescriptions"
    ).fetchone()
    return opt_from_db(row[0] or None) if row else None


def remove_active(conn: sqlite3.Connection, *, now: dt.datetime | None = None) -> bool:
    with write(conn):
        cur = conn.execute(
            "UPDATE prescriptions SET removed_at = ? WHERE removed_at IS NULL",
            (to_db(now or utc_now()),),
        )
    return cur.rowcount > 0


def sessions_started_since(conn: sqlite3.Connection, since: dt.datetime) -> int:
    """Sessions that ran (refused starts not counted) started at or after ``since``."""
    row = conn.execute(
        "SELECT count(*) FROM sessions WHERE started_at >= ? AND state != 'refused'",
        (to_db(since),),
    ).fetchone()
    return int(row[0])
