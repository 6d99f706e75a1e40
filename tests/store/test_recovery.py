"""Records a crash left "running" are closed as interrupted; records a live process runs are
not (tens.store.sessions.close_interrupted, tens.store.leases). Real processes, real SQLite."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tens.store import open_db
from tens.store import sessions as S

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOLDER = Path(__file__).with_name("lease_holder.py")


def _minutes(m: float) -> dt.timedelta:
    return dt.timedelta(minutes=m)


def test_a_dead_running_record_is_closed_at_its_last_update_plus_margin(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "t.db")
    sid = S.create_session(
        conn, started_at=T0, stimulation_seconds=600, persisted_at=T0 + _minutes(12)
    )  # 10 min of output, 2 min of it paused: the last update came at 12 min
    now = T0 + _minutes(60)
    closed = S.close_interrupted(conn, now=now, margin_s=10)
    assert [r.id for r in closed] == [sid]
    rec = S.get_session(conn, sid)
    assert rec is not None and rec.state == S.INTERRUPTED
    assert rec.stimulation_seconds == 600  # the saved time counts, no more, no less
    assert rec.ended_at == T0 + _minutes(12) + dt.timedelta(seconds=10)
    assert rec.end_reason is not None and "crash" in rec.end_reason
    assert S.last_session_end(conn, now) == rec.ended_at
    assert S.stimulation_seconds_since(conn, T0 - _minutes(1)) == 600
    audit = S.list_audit(conn, sid)
    assert [(a.action, a.code) for a in audit] == [("end", S.INTERRUPTED)]
    assert S.close_interrupted(conn, now=now, margin_s=10) == []  # once only


def test_the_end_is_never_after_now_nor_before_the_saved_time(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "t.db")
    recent = S.create_session(conn, started_at=T0, persisted_at=T0 + _minutes(5))
    old = S.create_session(conn, started_at=T0, stimulation_seconds=420)  # before schema 4
    conn.execute("UPDATE sessions SET persisted_at = NULL WHERE id = ?", (old,))
    now = T0 + _minutes(5) + dt.timedelta(seconds=3)
    S.close_interrupted(conn, now=now, margin_s=10)
    a, b = S.get_session(conn, recent), S.get_session(conn, old)
    assert a is not None and a.ended_at == now  # restarted 3 s after its last update
    assert b is not None and b.ended_at == T0 + _minutes(7)  # started + stimulation time


def test_finished_and_refused_records_are_left(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "t.db")
    done = S.create_session(conn, started_at=T0, state="finished", ended_at=T0 + _minutes(30))
    S.create_session(conn, started_at=T0, state="refused")
    assert S.close_interrupted(conn, now=T0 + _minutes(90)) == []
    rec = S.get_session(conn, done)
    assert rec is not None and rec.state == "finished"


def test_a_session_this_process_runs_is_left(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "t.db")
    sid = S.start_session(conn, started_at=T0)
    assert S.close_interrupted(conn, now=T0 + _minutes(5)) == []
    S.finish_session(conn, sid, state="finished", ended_at=T0 + _minutes(5))
    rec = S.get_session(conn, sid)
    assert rec is not None and rec.state == "finished"


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_another_live_process_keeps_its_session_until_killed(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    open_db(db).close()
    holder = subprocess.Popen(
        [sys.executable, str(HOLDER), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        sid = int(holder.stdout.readline())
        conn = open_db(db)
        now = dt.datetime.now(dt.UTC) + _minutes(60)
        assert S.close_interrupted(conn, now=now) == []  # the daemon, say, still runs it
        rec = S.get_session(conn, sid)
        assert rec is not None and rec.state == "running"
        # and it still counts as running for the rest rule
        assert S.last_session_end(conn, now) == now
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    closed = S.close_interrupted(conn, now=now)
    assert [r.id for r in closed] == [sid]
    assert closed[0].stimulation_seconds == 30


async def test_opening_the_store_closes_interrupted_records(tmp_path: Path) -> None:
    """So the history and the report show them right before any start."""
    from tens.store import AsyncDB

    conn = open_db(tmp_path / "t.db")
    sid = S.create_session(conn, started_at=T0, stimulation_seconds=90)
    conn.close()
    async with await AsyncDB.open(tmp_path / "t.db") as db:
        rec = await db.run(S.get_session, sid)
    assert rec is not None and rec.state == S.INTERRUPTED


def test_the_margin_is_the_controllers_update_interval() -> None:
    from tens import controller

    assert controller.PERSIST_EVERY_S == S.RUNNING_UPDATE_S


def test_history_table_shows_an_interrupted_session(tmp_path: Path) -> None:
    from tui.widgets.history.sessions_table import session_row

    conn = open_db(tmp_path / "t.db")
    sid = S.create_session(conn, started_at=T0, stimulation_seconds=600, unit="mA")
    S.close_interrupted(conn, now=T0 + _minutes(60))
    rec = S.get_session(conn, sid)
    assert rec is not None
    row = session_row(rec, dt.UTC)
    assert row[4] == "10" and row[-1].startswith("interrupted: tens ended without closing")


def test_a_start_that_cannot_commit_holds_no_lease(tmp_path: Path) -> None:
    from tens.store import StoreError, leases

    conn = open_db(tmp_path / "t.db")
    conn.execute("PRAGMA query_only=1")
    with pytest.raises(StoreError):
        S.start_session(conn, started_at=T0)
    assert not any(p.endswith("t.db-live") for p, _ in leases._held)
