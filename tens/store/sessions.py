"""Session records, the audit trail and the pre-session checklist (tables shared with the
session runner). Synchronous functions on a ``sqlite3.Connection`` from :func:`open_db`;
async code calls them through ``AsyncDB.run(fn, ...)``. Every write is committed when the
function returns. Times go in and come out as aware datetimes (stored as UTC ISO-8601).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from tens.store import leases
from tens.store.connection import write
from tens.store.errors import NotFoundError
from tens.store.timestamps import from_db, opt_from_db, to_db, utc_now

SESSION_FIELDS: tuple[str, ...] = (
    "started_at",
    "ended_at",
    "device",
    "program",
    "placement",
    "target_intensity",
    "unit",
    "state",
    "end_reason",
    "stimulation_seconds",
    "max_delivered",
)
PERSISTED_AT = "persisted_at"
"""Not one of SESSION_FIELDS (exports leave it out): when a running record was last updated."""
_TIME_FIELDS = frozenset({"started_at", "ended_at", PERSISTED_AT})
INTERRUPTED = "interrupted"
"""The state of a record that a crash, kill or power loss left "running" (close_interrupted)."""
AUDIT_OUTCOMES = frozenset({"allowed", "narrowed", "refused", "info"})


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    device: str | None
    program: str | None
    placement: str | None
    target_intensity: float | None
    unit: str | None
    state: str
    end_reason: str | None
    stimulation_seconds: float
    max_delivered: float
    persisted_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: dt.datetime
    session_id: int | None
    source: str
    action: str
    requested: str | None
    allowed: str | None
    outcome: str
    reason: str | None
    code: str | None = None
    """The decision's machine-readable code (e.g. ``store_failed``), when it had one."""


@dataclass(frozen=True, slots=True)
class ChecklistRecord:
    id: int
    answered_at: dt.datetime
    answers: dict[str, Any]
    any_yes: bool
    prescription_changed_at: dt.datetime | None = None
    """When a prescription was last accepted, replaced or removed (issue 13 item 5)."""

    def expired(self, now: dt.datetime) -> bool:
        """No longer counts at `now`: asked again (:meth:`expiry_reason` says why)."""
        return self.expiry_reason(now) is not None

    def expiry_reason(self, now: dt.datetime) -> str | None:
        """Why the answers no longer count at `now`: older than tens.checklist.VALID_FOR, or
        given before the prescription last changed; None while they count."""
        from tens.checklist import is_expired

        changed = self.prescription_changed_at
        if changed is not None and self.answered_at < changed:
            return (
                f"the prescription changed on {changed.astimezone():%Y-%m-%d %H:%M}, after "
                "these answers were given"
            )
        if is_expired(self.answered_at, now):
            return "these answers are more than 6 months old"
        return None


_SESSION_COLUMNS = "id, " + ", ".join((*SESSION_FIELDS, PERSISTED_AT))


def _session(row: sqlite3.Row | tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        started_at=from_db(row[1]),
        ended_at=opt_from_db(row[2]),
        device=row[3],
        program=row[4],
        placement=row[5],
        target_intensity=row[6],
        unit=row[7],
        state=row[8],
        end_reason=row[9],
        stimulation_seconds=float(row[10]),
        max_delivered=float(row[11]),
        persisted_at=opt_from_db(row[12]),
    )


def _session_values(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - {*SESSION_FIELDS, PERSISTED_AT})
    if unknown:
        raise ValueError(f"unknown session field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _TIME_FIELDS and value is not None:
            value = to_db(value)
        elif name in ("started_at", "state", "stimulation_seconds", "max_delivered") and (
            value is None
        ):
            raise ValueError(f"session field {name} cannot be empty")
        values[name] = value
    return values


def create_session(conn: sqlite3.Connection, **fields: Any) -> int:
    """Insert a session and return its id. ``started_at`` (aware datetime) is required;
    ``state`` defaults to ``"running"``; other fields are the ``sessions`` columns."""
    fields.setdefault("state", "running")
    if fields.get("started_at") is None:
        raise ValueError("session field started_at is required")
    values = _session_values(fields)
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    with write(conn):
        cur = conn.execute(
            f"INSERT INTO sessions ({names}) VALUES ({marks})", tuple(values.values())
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def start_session(conn: sqlite3.Connection, **fields: Any) -> int:
    """Insert a "running" session and mark it as run by this process (tens.store.leases), in
    one transaction, so that no other process can take it for a crashed one; returns its id.
    ``persisted_at`` starts at ``started_at``. Close it with :func:`finish_session`."""
    fields["state"] = "running"
    fields.setdefault(PERSISTED_AT, fields.get("started_at"))
    session_id: int | None = None
    try:
        with write(conn):
            session_id = create_session(conn, **fields)
            leases.hold(conn, session_id)
    except BaseException:
        if session_id is not None:  # rolled back: this process runs no such session
            leases.release(conn, session_id)
        raise
    return session_id


def finish_session(conn: sqlite3.Connection, session_id: int, **fields: Any) -> None:
    """The final update of a session from :func:`start_session`; then its lock is released
    (only once the record is written: a failed write leaves it this process's to retry)."""
    update_session(conn, session_id, **fields)
    leases.release(conn, session_id)


def update_session(conn: sqlite3.Connection, session_id: int, **fields: Any) -> None:
    """Change some columns of a session; :class:`NotFoundError` when there is no such id."""
    values = _session_values(fields)
    if not values:
        if get_session(conn, session_id) is None:
            raise NotFoundError("session", session_id)
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    with write(conn):
        cur = conn.execute(
            f"UPDATE sessions SET {assignments} WHERE id = ?", (*values.values(), session_id)
        )
        if cur.rowcount == 0:
            raise NotFoundError("session", session_id)


def get_session(conn: sqlite3.Connection, session_id: int) -> SessionRecord | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
    ).fetchone()
    return None if row is None else _session(row)


def session_exists(conn: sqlite3.Connection, session_id: int) -> bool:
    row = conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return row is not None


def list_sessions(
    conn: sqlite3.Connection,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[SessionRecord]:
    """Sessions that started in [since, until), oldest first."""
    sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE 1"
    params: list[str] = []
    if since is not None:
        sql += " AND started_at >= ?"
        params.append(to_db(since))
    if until is not None:
        sql += " AND started_at < ?"
        params.append(to_db(until))
    sql += " ORDER BY started_at, id"
    return [_session(row) for row in conn.execute(sql, params)]


def stimulation_seconds_since(conn: sqlite3.Connection, since: dt.datetime) -> float:
    """Seconds of stimulation in sessions that overlap [since, now).

    A session counts in full if it started at or after ``since`` or ended at or after it
    (so a session straddling ``since`` is over-counted, never under-counted). A session
    that never got an end time (a crash) counts when it started at or after ``since``.
    """
    key = to_db(since)
    row = conn.execute(
        "SELECT COALESCE(SUM(stimulation_seconds), 0) FROM sessions "
        "WHERE started_at >= ? OR (ended_at IS NOT NULL AND ended_at >= ?)",
        (key, key),
    ).fetchone()
    return float(row[0])


def last_session_end(
    conn: sqlite3.Connection, now: dt.datetime | None = None
) -> dt.datetime | None:
    """When the most recent session that stimulated ended, or None if there was none.

    Sessions with ``state = 'refused'`` (nothing delivered) are ignored. A session without an
    end time (still running, or cut by a crash) counts as ending at
    ``started_at + stimulation_seconds``, or ``now`` (default: the system clock) if that is
    later and it is still running.
    """
    ended = conn.execute(
        "SELECT MAX(ended_at) FROM sessions WHERE ended_at IS NOT NULL AND state != 'refused'"
    ).fetchone()[0]
    latest = None if ended is None else from_db(ended)
    for started, seconds, state in conn.execute(
        "SELECT started_at, stimulation_seconds, state FROM sessions "
        "WHERE ended_at IS NULL AND state != 'refused'"
    ):
        end = from_db(started) + dt.timedelta(seconds=float(seconds))
        if state == "running":
            end = max(end, now or utc_now())
        if latest is None or end > latest:
            latest = end
    return latest


RUNNING_UPDATE_S = 10.0
"""A running session's record is brought up to date at least this often (the controller's
PERSIST_EVERY_S): how long after its last update an interrupted session may have run."""


def close_interrupted(
    conn: sqlite3.Connection, *, now: dt.datetime | None = None, margin_s: float = RUNNING_UPDATE_S
) -> list[SessionRecord]:
    """Close as ``interrupted`` every record left "running" by a process that is gone (a
    crash, ``kill -9``, a power cut: see tens.store.leases); returns the closed records.

    Each keeps its last saved ``stimulation_seconds`` (the daily count), and ends at the
    latest moment its output may have been on: the last time the record was brought up to date
    (``persisted_at``, or ``started_at + stimulation_seconds`` if that is later or unknown)
    plus ``margin_s`` (how long a live session goes between updates), but not after ``now``.
    The rest between sessions counts from that end. Sessions a live process runs are left.
    ``now`` defaults to the system clock.
    """
    now = now or utc_now()
    closed: list[SessionRecord] = []
    query = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE state = 'running' ORDER BY id"
    if all(leases.is_live(conn, row[0]) for row in conn.execute(query)):
        return closed  # nothing to close: no write (and no wait for the write lock)
    with write(conn):
        for row in conn.execute(query).fetchall():
            rec = _session(row)
            if leases.is_live(conn, rec.id):
                continue
            by_time = rec.started_at + dt.timedelta(seconds=max(0.0, rec.stimulation_seconds))
            seen = max(rec.persisted_at or by_time, by_time)
            end = max(seen, min(seen + dt.timedelta(seconds=margin_s), now))
            reason = (
                "tens ended without closing the session (a crash, a kill or a power cut); "
                f"counted up to its last saved stimulation time, "
                f"{rec.stimulation_seconds / 60:.1f} min"
            )
            conn.execute(
                "UPDATE sessions SET state = ?, ended_at = ?, end_reason = ? WHERE id = ?",
                (INTERRUPTED, to_db(end), reason, rec.id),
            )
            add_audit(
                conn,
                source="system",
                action="end",
                outcome="info",
                session_id=rec.id,
                allowed=0.0,
                reason=f"{INTERRUPTED}: {reason}",
                at=now,
                code=INTERRUPTED,
            )
            got = get_session(conn, rec.id)
            assert got is not None
            closed.append(got)
    return closed


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def add_audit(
    conn: sqlite3.Connection,
    *,
    source: str,
    action: str,
    outcome: str,
    session_id: int | None = None,
    requested: Any = None,
    allowed: Any = None,
    reason: str | None = None,
    at: dt.datetime | None = None,
    code: str | None = None,
) -> int:
    """Append one audit row. ``outcome`` is allowed/narrowed/refused/info; ``requested`` and
    ``allowed`` may be text or anything JSON can hold (stored as JSON text)."""
    if outcome not in AUDIT_OUTCOMES:
        raise ValueError(f"audit outcome must be one of {sorted(AUDIT_OUTCOMES)}, not {outcome!r}")
    with write(conn):
        cur = conn.execute(
            "INSERT INTO audit (at, session_id, source, action, requested, allowed, outcome, "
            "reason, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                to_db(at or utc_now()),
                session_id,
                source,
                action,
                _as_text(requested),
                _as_text(allowed),
                outcome,
                reason,
                code,
            ),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def list_audit(conn: sqlite3.Connection, session_id: int | None = None) -> list[AuditRecord]:
    """Audit rows in order; only one session's when ``session_id`` is given."""
    sql = (
        "SELECT id, at, session_id, source, action, requested, allowed, outcome, reason, code "
        "FROM audit"
    )
    params: tuple[int, ...] = ()
    if session_id is not None:
        sql += " WHERE session_id = ?"
        params = (session_id,)
    sql += " ORDER BY id"
    return [
        AuditRecord(r[0], from_db(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
        for r in conn.execute(sql, params)
    ]


def record_checklist(
    conn: sqlite3.Connection,
    answers: dict[str, Any],
    any_yes: bool,
    *,
    at: dt.datetime | None = None,
) -> int:
    """Store one pre-session checklist (answers as JSON) and return its id.

    Every answer that differs from the previous answering is written to the audit trail in
    the same transaction (action ``checklist_change``, source ``checklist``, outcome ``info``,
    ``requested`` and ``allowed`` the old and new answers as ``key=yes|no``), so a "yes" later
    changed to "no" is on record with its time (:func:`checklist_changes`)."""
    from tens.checklist import changes

    when = to_db(at or utc_now())
    previous = latest_checklist(conn)
    changed = changes(previous.answers, answers) if previous is not None else []
    with write(conn):
        cur = conn.execute(
            "INSERT INTO checklist (answered_at, answers, any_yes) VALUES (?, ?, ?)",
            (when, json.dumps(answers, sort_keys=True), int(bool(any_yes))),
        )
        conn.executemany(
            "INSERT INTO audit (at, session_id, source, action, requested, allowed, outcome, "
            "reason) VALUES (?, NULL, 'checklist', 'checklist_change', ?, ?, 'info', ?)",
            [(when, f"{c.key}={_yn(c.was)}", f"{c.key}={_yn(c.now)}", c.text()) for c in changed],
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def latest_checklist(conn: sqlite3.Connection) -> ChecklistRecord | None:
    row = conn.execute(
        "SELECT id, answered_at, answers, any_yes FROM checklist "
        "ORDER BY answered_at DESC, id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    from tens.store.prescriptions import last_change_at

    return ChecklistRecord(
        row[0], from_db(row[1]), json.loads(row[2]), bool(row[3]), last_change_at(conn)
    )


@dataclass(frozen=True, slots=True)
class ChecklistChange:
    at: dt.datetime
    key: str
    was: bool
    now: bool

    @property
    def withdrawn_yes(self) -> bool:
        return self.was and not self.now


def _yn(answer: bool) -> str:
    return "yes" if answer else "no"


def checklist_changes(conn: sqlite3.Connection) -> list[ChecklistChange]:
    """Every changed checklist answer, oldest first, with the time it was changed."""
    rows = conn.execute(
        "SELECT at, requested, allowed FROM audit WHERE action = 'checklist_change' ORDER BY id"
    ).fetchall()
    out = []
    for at, was, now in rows:
        key, _, old = str(was).partition("=")
        out.append(ChecklistChange(from_db(at), key, old == "yes", str(now).endswith("=yes")))
    return out
