"""The database: opening, refusals, migrations from every earlier version, atomic writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from tens import paths
from tens.store import (
    SCHEMA_VERSION,
    AsyncDB,
    CorruptDatabaseError,
    NewerSchemaError,
    NotFoundError,
    StorageFullError,
    check_db,
    open_db,
    schema_version,
    write,
)
from tens.store import sessions as S

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_paths_follow_tens_home(tens_home: Path) -> None:
    assert paths.data_dir() == tens_home
    assert paths.config_dir() == tens_home
    assert paths.db_path() == tens_home / "tens.db"


def test_paths_without_tens_home_use_user_dirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", "/x/data")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/x/config")
    assert paths.data_dir() == Path("/x/data/tens")
    assert paths.config_dir() == Path("/x/config/tens")


def test_open_creates_folder_wal_and_foreign_keys(tens_home: Path) -> None:
    conn = open_db()
    assert (tens_home / "tens.db").exists()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert schema_version(conn) == SCHEMA_VERSION
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO audit (at, session_id, source, action, outcome) "
            "VALUES ('x', 999, 's', 'a', 'info')"
        )
    conn.close()


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    open_db(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    before = db.read_bytes()
    with pytest.raises(NewerSchemaError, match="newer than this tens"):
        open_db(db)
    assert db.read_bytes() == before


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not a database at all" * 200)
    before = db.read_bytes()
    with pytest.raises(CorruptDatabaseError, match="damaged or not a database"):
        open_db(db)
    assert db.read_bytes() == before


def test_other_programs_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE t(x)")
    raw.commit()
    raw.close()
    with pytest.raises(CorruptDatabaseError, match="another program"):
        open_db(db)


def test_large_file_skips_quick_check_but_check_db_finds_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _damaged(tmp_path)
    monkeypatch.setattr("tens.store.connection.QUICK_CHECK_MAX_BYTES", 1024)
    conn = open_db(db)  # header and schema are fine: opens without the page check
    with pytest.raises(CorruptDatabaseError, match="damaged"):
        check_db(conn)
    conn.close()


def _damaged(tmp_path: Path) -> Path:
    db = tmp_path / "dmg.db"
    conn = open_db(db)
    with write(conn):  # one transaction: fast
        for i in range(400):
            S.create_session(conn, started_at=T0 + dt.timedelta(minutes=i), device="x" * 200)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = 4096
    for off in range(3 * page, 6 * page):  # scribble over some b-tree pages
        data[off] = 0xA5
    db.write_bytes(bytes(data))
    return db


def test_damaged_page_is_refused(tmp_path: Path) -> None:
    db = _damaged(tmp_path)
    with pytest.raises(CorruptDatabaseError):
        open_db(db)


# One fixture row set per schema version: what a database at that version could hold.
def _fill(conn: sqlite3.Connection, version: int) -> None:
    if version >= 1:
        conn.execute(
            "INSERT INTO sessions (id, started_at, state, stimulation_seconds) "
            "VALUES (1, '2026-03-02T09:00:00.000000+00:00', 'finished', 1800)"
        )
        conn.execute(
            "INSERT INTO pain_entries (id, at, recorded_at, score, context, session_id, region) "
            "VALUES (1, '2026-03-02T08:59:00.000000+00:00', '2026-03-02T08:59:00.000000+00:00',"
            " 7, 'before', 1, 'lower-back')"
        )
        conn.execute(
            "INSERT INTO audit (at, session_id, source, action, outcome) "
            "VALUES ('2026-03-02T09:00:00.000000+00:00', 1, 'cli', 'start', 'allowed')"
        )


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_migrates_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    db = tmp_path / f"v{start}.db"
    conn = open_db(db, upgrade_to=start)
    assert schema_version(conn) == start
    with write(conn):
        _fill(conn, start)
    conn.close()
    conn = open_db(db)
    assert schema_version(conn) == SCHEMA_VERSION
    if start >= 1:
        assert S.get_session(conn, 1) is not None
        assert conn.execute("SELECT score FROM pain_entries WHERE id = 1").fetchone() == (7,)
        assert len(S.list_audit(conn, 1)) == 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"pain_entries_at", "pain_entries_live", "pain_entries_flagged"} <= names
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_interrupted_migration_keeps_old_version(tmp_path: Path, monkeypatch) -> None:
    from tens.store import migrations

    db = tmp_path / "m.db"
    open_db(db, upgrade_to=1).close()
    broken = (*migrations.MIGRATIONS[:1], ("CREATE INDEX a ON sessions(id)", "BROKEN SQL"))
    monkeypatch.setattr("tens.store.connection.MIGRATIONS", broken)
    with pytest.raises(Exception, match="syntax"):
        open_db(db)
    monkeypatch.undo()
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name='a'").fetchone()[0] == 0
    raw.close()
    assert schema_version(open_db(db)) == SCHEMA_VERSION


def test_full_disk_rolls_back_whole_write(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "full.db")
    S.create_session(conn, started_at=T0)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 2}")  # the file may hardly grow: "disk full"
    with pytest.raises(StorageFullError, match="disk is full"), write(conn):
        for i in range(200):
            S.add_audit(conn, source="t", action="a", outcome="info", reason="r" * 500 + str(i))
    assert not conn.in_transaction
    assert S.list_audit(conn) == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_session_functions(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "s.db")
    sid = S.create_session(
        conn, started_at=T0, device="sim", program="conventional", placement="lower-back"
    )
    rec = S.get_session(conn, sid)
    assert rec is not None and rec.state == "running" and rec.started_at == T0
    S.update_session(
        conn,
        sid,
        ended_at=T0 + dt.timedelta(minutes=30),
        state="finished",
        stimulation_seconds=1700.0,
        max_delivered=12.5,
    )
    rec = S.get_session(conn, sid)
    assert rec is not None and rec.stimulation_seconds == 1700 and rec.max_delivered == 12.5
    with pytest.raises(NotFoundError):
        S.update_session(conn, 999, state="x")
    with pytest.raises(ValueError, match="unknown session field"):
        S.create_session(conn, started_at=T0, colour="red")
    refused = S.create_session(conn, started_at=T0 + dt.timedelta(hours=2), state="refused")
    later = S.create_session(
        conn,
        started_at=T0 + dt.timedelta(hours=5),
        ended_at=T0 + dt.timedelta(hours=5, minutes=20),
        state="stopped",
        stimulation_seconds=600,
    )
    assert [s.id for s in S.list_sessions(conn)] == [sid, refused, later]
    assert [s.id for s in S.list_sessions(conn, since=T0 + dt.timedelta(hours=1))] == [
        refused,
        later,
    ]
    assert S.stimulation_seconds_since(conn, T0) == 2300
    assert S.stimulation_seconds_since(conn, T0 + dt.timedelta(minutes=10)) == 2300  # straddles
    assert S.stimulation_seconds_since(conn, T0 + dt.timedelta(hours=1)) == 600
    assert S.last_session_end(conn) == T0 + dt.timedelta(hours=5, minutes=20)
    crashed = S.create_session(
        conn, started_at=T0 + dt.timedelta(hours=6), state="aborted", stimulation_seconds=60
    )
    assert S.last_session_end(conn) == T0 + dt.timedelta(hours=6, minutes=1)
    aid = S.add_audit(
        conn,
        session_id=crashed,
        source="governor",
        action="set_intensity",
        requested={"mA": 30},
        allowed={"mA": 20},
        outcome="narrowed",
        reason="ramp limit",
        at=T0,
    )
    (row,) = S.list_audit(conn, crashed)
    assert row.id == aid and row.requested == '{"mA": 30}' and row.outcome == "narrowed"
    with pytest.raises(ValueError, match="outcome"):
        S.add_audit(conn, source="x", action="y", outcome="maybe")
    assert S.latest_checklist(conn) is None
    S.record_checklist(conn, {"pacemaker": False}, False, at=T0)
    S.record_checklist(conn, {"pacemaker": True}, True, at=T0 + dt.timedelta(days=1))
    latest = S.latest_checklist(conn)
    assert latest is not None and latest.any_yes and latest.answers == {"pacemaker": True}


async def test_async_db_runs_off_the_loop_thread(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def where(conn: sqlite3.Connection) -> int:
        seen.append(threading.get_ident())
        return S.create_session(conn, started_at=T0)

    async with await AsyncDB.open(tmp_path / "a.db") as db:
        ids = await asyncio.gather(*(db.run(where) for _ in range(5)))
        assert ids == [1, 2, 3, 4, 5]
        rec = await db.run(S.get_session, 3)
        assert rec is not None and rec.id == 3
        await db.run(S.update_session, 3, state="finished")
    assert db.closed
    assert seen and all(t != loop_thread for t in seen)
    with pytest.raises(RuntimeError, match="closed"):
        await db.run(S.get_session, 1)


async def test_async_open_reports_refusal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(CorruptDatabaseError):
        await AsyncDB.open(bad)
