"""Storing and reading journal entries and PEG-3 answers.

Synchronous functions on a connection from :func:`tens.store.open_db`; async code calls
them through ``AsyncDB.run``. Every write commits before the function returns and is one
transaction: a failed write leaves nothing behind. Edits and deletes keep the earlier
version in ``pain_entry_history``; a deleted entry is marked, never removed.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import replace
from typing import Any

from tens.journal.models import (
    Context,
    HistoryRecord,
    NewPainEntry,
    PainEntry,
    PainKind,
    PegEntry,
    RedFlag,
)
from tens.journal.validate import JournalInputError, new_entry, parse_score
from tens.store.connection import write
from tens.store.errors import NotFoundError
from tens.store.sessions import session_exists
from tens.store.timestamps import from_db, opt_from_db, to_db, utc_now

ENTRY_COLUMNS = (
    "id, at, recorded_at, score, context, session_id, region, kind, red_flags, helped, note, "
    "updated_at, deleted_at"
)
EDITABLE = frozenset(
    {"score", "at", "context", "session_id", "region", "kind", "red_flags", "helped", "note"}
)


def entry_from_row(row: tuple[Any, ...] | sqlite3.Row) -> PainEntry:
    return PainEntry(
        id=row[0],
        at=from_db(row[1]),
        recorded_at=from_db(row[2]),
        score=row[3],
        context=Context(row[4]),
        session_id=row[5],
        region=row[6],
        kind=None if row[7] is None else PainKind(row[7]),
        red_flags=tuple(RedFlag(f) for f in json.loads(row[8])),
        helped=tuple(json.loads(row[9])),
        note=row[10],
        updated_at=opt_from_db(row[11]),
        deleted_at=opt_from_db(row[12]),
    )


def _check_session(conn: sqlite3.Connection, entry: NewPainEntry) -> None:
    if entry.session_id is not None and not session_exists(conn, entry.session_id):
        raise JournalInputError("session", f"session {entry.session_id} does not exist")


def _values(entry: NewPainEntry) -> tuple[Any, ...]:
    return (
        to_db(entry.at),
        entry.score,
        entry.context.value,
        entry.session_id,
        entry.region,
        None if entry.kind is None else entry.kind.value,
        json.dumps([f.value for f in entry.red_flags]),
        json.dumps(list(entry.helped)),
        entry.note,
    )


def add_entry(
    conn: sqlite3.Connection, entry: NewPainEntry, *, now: dt.datetime | None = None
) -> int:
    """Store a validated entry (from :func:`tens.journal.validate.new_entry`); returns its id.
    A session it names must exist (checked in the same transaction)."""
    recorded = now or utc_now()
    with write(conn):
        _check_session(conn, entry)
        cur = conn.execute(
            "INSERT INTO pain_entries (at, score, context, session_id, region, kind, red_flags, "
            "helped, note, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_values(entry), to_db(recorded)),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def get_entry(conn: sqlite3.Connection, entry_id: int) -> PainEntry | None:
    """The entry, deleted or not; None when the id was never used."""
    row = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM pain_entries WHERE id = ?", (entry_id,)
    ).fetchone()
    return None if row is None else entry_from_row(row)


def list_entries(
    conn: sqlite3.Connection,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    include_deleted: bool = False,
    session_id: int | None = None,
) -> list[PainEntry]:
    """Entries with ``since <= at < until``, oldest first."""
    sql = f"SELECT {ENTRY_COLUMNS} FROM pain_entries WHERE 1"
    params: list[Any] = []
    if since is not None:
        sql += " AND at >= ?"
        params.append(to_db(since))
    if until is not None:
        sql += " AND at < ?"
        params.append(to_db(until))
    if not include_deleted:
        sql += " AND deleted_at IS NULL"
    if session_id is not None:
        sql += " AND session_id = ?"
        params.append(session_id)
    sql += " ORDER BY at, id"
    return [entry_from_row(r) for r in conn.execute(sql, params)]


def count_entries(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pain_entries WHERE deleted_at IS NULL").fetchone()
    return int(row[0])


def _live_entry(conn: sqlite3.Connection, entry_id: int) -> PainEntry:
    entry = get_entry(conn, entry_id)
    if entry is None:
        raise NotFoundError("entry", entry_id)
    if entry.deleted:
        raise JournalInputError("id", f"entry {entry_id} was deleted; it cannot be changed")
    return entry


def _history(
    conn: sqlite3.Connection,
    entry_id: int,
    action: str,
    before: PainEntry,
    after: PainEntry | None,
    at: dt.datetime,
    reason: str | None,
) -> None:
    conn.execute(
        "INSERT INTO pain_entry_history (entry_id, at, action, before, after, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            entry_id,
            to_db(at),
            action,
            json.dumps(before.to_dict()),
            None if after is None else json.dumps(after.to_dict()),
            reason,
        ),
    )


def edit_entry(
    conn: sqlite3.Connection,
    entry_id: int,
    *,
    now: dt.datetime | None = None,
    reason: str | None = None,
    **changes: Any,
) -> PainEntry:
    """Change fields of an entry (``score``, ``at``, ``context``, ``session_id``, ``region``,
    ``kind``, ``red_flags``, ``helped``, ``note``; raw values are validated as for a new
    entry). The previous version goes to the history. Returns the entry as now stored."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise JournalInputError(unknown[0], "cannot be edited")
    stamp = now or utc_now()
    with write(conn):
        before = _live_entry(conn, entry_id)
        merged: dict[str, Any] = {
            "score": before.score,
            "at": before.at,
            "context": before.context,
            "session_id": before.session_id,
            "region": before.region,
            "kind": before.kind,
            "red_flags": before.red_flags,
            "helped": before.helped,
            "note": before.note,
        }
        merged.update(changes)
        if changes.get("context") in (Context.OTHER, "other") and "session_id" not in changes:
            merged["session_id"] = None  # moved off its session
        updated = new_entry(merged.pop("score"), now=stamp, **merged)
        _check_session(conn, updated)
        conn.execute(
            "UPDATE pain_entries SET at = ?, score = ?, context = ?, session_id = ?, region = ?, "
            "kind = ?, red_flags = ?, helped = ?, note = ?, updated_at = ? WHERE id = ?",
            (*_values(updated), to_db(stamp), entry_id),
        )
        after = get_entry(conn, entry_id)
        assert after is not None
        _history(conn, entry_id, "edit", before, after, stamp, reason)
    return after


def delete_entry(
    conn: sqlite3.Connection,
    entry_id: int,
    *,
    now: dt.datetime | None = None,
    reason: str | None = None,
) -> PainEntry:
    """Mark an entry deleted (it stays in the database and its history); returns it."""
    stamp = now or utc_now()
    with write(conn):
        before = _live_entry(conn, entry_id)
        conn.execute(
            "UPDATE pain_entries SET deleted_at = ? WHERE id = ?", (to_db(stamp), entry_id)
        )
        _history(conn, entry_id, "delete", before, None, stamp, reason)
    return replace(before, deleted_at=from_db(to_db(stamp)))


def entry_history(conn: sqlite3.Connection, entry_id: int) -> list[HistoryRecord]:
    rows = conn.execute(
        "SELECT id, entry_id, at, action, before, after, reason FROM pain_entry_history "
        "WHERE entry_id = ? ORDER BY id",
        (entry_id,),
    )
    return [
        HistoryRecord(
            id=r[0],
            entry_id=r[1],
            at=from_db(r[2]),
            action=r[3],
            before=json.loads(r[4]),
            after=None if r[5] is None else json.loads(r[5]),
            reason=r[6],
        )
        for r in rows
    ]


def session_scores(
    conn: sqlite3.Connection, session_id: int
) -> tuple[PainEntry | None, PainEntry | None]:
    """The before- and after-score of a session (the latest of each, if entered twice)."""
    before = after = None
    for entry in list_entries(conn, session_id=session_id):
        if entry.context is Context.BEFORE and (before is None or entry.at >= before.at):
            before = entry
        elif entry.context is Context.AFTER and (after is None or entry.at >= after.at):
            after = entry
    return before, after


def add_peg(
    conn: sqlite3.Connection,
    pain: int | str,
    enjoyment: int | str,
    activity: int | str,
    *,
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store a PEG-3 answer (each item 0–10) and return its id."""
    stamp = now or utc_now()
    values = (
        parse_score(pain, "pain"),
        parse_score(enjoyment, "enjoyment"),
        parse_score(activity, "activity"),
    )
    when = at or stamp
    if when.tzinfo is None:
        raise JournalInputError("at", "needs a time zone")
    if when > stamp + dt.timedelta(minutes=2):
        raise JournalInputError("at", f"{when.isoformat(timespec='minutes')} is in the future")
    with write(conn):
        cur = conn.execute(
            "INSERT INTO peg_entries (at, recorded_at, pain, enjoyment, activity) "
            "VALUES (?, ?, ?, ?, ?)",
            (to_db(when), to_db(stamp), *values),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def list_peg(
    conn: sqlite3.Connection,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    include_deleted: bool = False,
) -> list[PegEntry]:
    sql = (
        "SELECT id, at, recorded_at, pain, enjoyment, activity, deleted_at FROM peg_entries WHERE 1"
    )
    params: list[Any] = []
    if since is not None:
        sql += " AND at >= ?"
        params.append(to_db(since))
    if until is not None:
        sql += " AND at < ?"
        params.append(to_db(until))
    if not include_deleted:
        sql += " AND deleted_at IS NULL"
    sql += " ORDER BY at, id"
    return [
        PegEntry(r[0], from_db(r[1]), from_db(r[2]), r[3], r[4], r[5], opt_from_db(r[6]))
        for r in conn.execute(sql, params)
    ]


RED_FLAG_CLEAR_HOW = ("seen-clinician", "dismissed")


def red_flag_blocks(conn: sqlite3.Connection) -> dict[str, str]:
    """Sites (regions) where a red flag was logged and not cleared since: region -> why the
    next session there is refused. Numb skin (``numbness``, ``saddle-numbness``) blocks the
    same way: stimulation on numb skin is one of the contraindications."""
    from tens.journal.advice import ACTION, urgency
    from tens.store.timestamps import from_db

    cleared: dict[str, dt.datetime] = {}
    for region, at in conn.execute(
        "SELECT requested, at FROM audit WHERE action = 'red_flag_clear' ORDER BY id"
    ):
        cleared[str(region)] = from_db(at)
    out: dict[str, str] = {}
    for region, at, flags in conn.execute(
        "SELECT region, at, red_flags FROM pain_entries WHERE deleted_at IS NULL "
        "AND region IS NOT NULL AND red_flags != '[]' ORDER BY at"
    ):
        when = from_db(at)
        if region in cleared and cleared[region] >= when:
            continue
        level = urgency(RedFlag(f) for f in json.loads(flags))
        if level is None:
            continue
        out[region] = (
            f"a red flag was logged for the {region.replace('-', ' ')} on {when:%Y-%m-%d} "
            f"({ACTION[level]}): no session there until you confirm you have seen a clinician "
            f"(`tens pain clear-flag {region} --seen-clinician`) or dismiss it deliberately "
            f"(`--dismiss`)"
        )
    return out


def clear_red_flag(
    conn: sqlite3.Connection, region: str, how: str, *, now: dt.datetime | None = None
) -> None:
    """Record that the person has seen a clinician about the red flags at `region`, or
    dismisses them deliberately (``how`` in :data:`RED_FLAG_CLEAR_HOW`), in the audit trail."""
    from tens.store.connection import write
    from tens.store.timestamps import to_db, utc_now

    if how not in RED_FLAG_CLEAR_HOW:
        raise JournalInputError("how", f"must be one of {', '.join(RED_FLAG_CLEAR_HOW)}")
    with write(conn):
        conn.execute(
            "INSERT INTO audit (at, session_id, source, action, requested, allowed, outcome, "
            "reason) VALUES (?, NULL, 'person', 'red_flag_clear', ?, ?, 'info', ?)",
            (to_db(now or utc_now()), region, how, f"red flags at {region} cleared: {how}"),
        )
