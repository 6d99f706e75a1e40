"""Clinicians' public keys the person trusts for signed prescriptions (tens prescription
trust | keys | untrust). Withdrawing trust keeps the row, marked revoked: a prescription that
key signed is then refused, not taken for an unsigned one."""

from __future__ import annotations

import datetime as dt
import sqlite3

from tens.prescription_signature import TrustedKey, key_id
from tens.store.connection import write
from tens.store.timestamps import to_db, utc_now


def trust_key(
    conn: sqlite3.Connection, public_key: bytes, name: str, *, now: dt.datetime | None = None
) -> str:
    """Trust (or trust again, under this name) a 32-byte Ed25519 public key; its key id."""
    kid = key_id(public_key)
    with write(conn):
        conn.execute(
            "INSERT INTO prescription_keys(key_id, name, public_key, trusted_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(key_id) DO UPDATE SET name = excluded.name, "
            "public_key = excluded.public_key, trusted_at = excluded.trusted_at, "
            "revoked_at = NULL",
            (kid, name, public_key, to_db(now or utc_now())),
        )
    return kid


def all_keys(conn: sqlite3.Connection) -> list[TrustedKey]:
    """Every key the person has trusted, withdrawn ones included (``revoked``)."""
    rows = conn.execute(
        "SELECT key_id, name, public_key, revoked_at FROM prescription_keys ORDER BY trusted_at"
    ).fetchall()
    return [TrustedKey(str(r[0]), str(r[1]), bytes(r[2]), r[3] is not None) for r in rows]


def untrust_key(
    conn: sqlite3.Connection, key: str, *, now: dt.datetime | None = None
) -> str | None:
    """Withdraw trust from the trusted key whose id is ``key`` or starts with it (at least 4
    hex digits, matching one key only); its full id, or None when none (or several) match."""
    if len(key) < 4:
        return None
    rows = conn.execute(
        "SELECT key_id FROM prescription_keys "
        "WHERE revoked_at IS NULL AND substr(key_id, 1, ?) = ?",
        (len(key), key.lower()),
    ).fetchall()
    if len(rows) != 1:
        return None
    kid = str(rows[0][0])
    with write(conn):
        conn.execute(
            "UPDATE prescription_keys SET revoked_at = ? WHERE key_id = ?",
            (to_db(now or utc_now()), kid),
        )
    return kid
