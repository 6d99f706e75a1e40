"""The daily and rest limits hold whatever the storage does (issue 12, items 9, 10, 13).

Real SQLite failure modes, never mocks: a read-only connection (``PRAGMA query_only``), a
second connection holding the write lock past the busy timeout, a database at its page limit
(``PRAGMA max_page_count``) and a really full file system (a tiny tmpfs, where mounting is
allowed). Judged on the simulator's delivered-output record.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tens import controller as controller_mod
from tens.audit import FLUSH_S
from tens.config import TensConfig
from tens.events import SessionEnded, SessionState, Source
from tens.limits import Limits
from tens.safety import StartRequest
from tens.store.sessions import list_audit, list_sessions
from tests.session.conftest import Rig, close_rig, make_rig

pytestmark = [pytest.mark.looptime]

STOP_BOUND_S = 0.5  # failure seen -> zero on the electrodes (STOP over one connection event)


def _on_time(rig: Rig, channel: int = 0) -> float:
    """Seconds with output above zero, from the simulator's record."""
    samples = rig.record.for_channel(channel)
    total = 0.0
    for a, b in itertools.pairwise(samples):
        if a.intensity_ma > 0:
            total += b.t - a.t
    return total


def _last_on(rig: Rig, channel: int = 0) -> float:
    """Loop time at which output last went to zero (after being on)."""
    samples = rig.record.for_channel(channel)
    assert samples and samples[-1].intensity_ma == 0, "output still on"
    return next(s.t for s in reversed(samples) if s.intensity_ma == 0)


def _ended_at(rig: Rig) -> list[float]:
    """Loop times at which the controller ended a session (recorded by a listener)."""
    times: list[float] = []
    loop = asyncio.get_running_loop()

    def seen(event: object) -> None:
        if isinstance(event, SessionEnded):
            times.append(loop.time())

    rig.ctrl.add_listener(seen)
    return times


async def _hold(rig: Rig, intensity: float) -> None:
    await rig.record.wait_for(lambda s: s.intensity_ma >= intensity - 0.05, timeout=30)


def _set(pragma: str) -> Any:
    def fn(conn: sqlite3.Connection) -> Any:
        return conn.execute(pragma).fetchall()

    return fn


async def _failing_session(
    rig: Rig, fail: Any, *, intensity: float = 5.0, minutes: float = 3.0
) -> tuple[float, float]:
    """Start, reach the hold, make storage fail; returns (when it failed, when it was seen)."""
    ended = _ended_at(rig)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=intensity, minutes=minutes), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await _hold(rig, intensity)
    await asyncio.sleep(2.0)
    t_fail = asyncio.get_running_loop().time()
    await fail()
    snap = await rig.ctrl.wait_ended()
    assert snap.session is SessionState.ABORTED, snap
    assert snap.end_reason is not None and "could not be saved" in snap.end_reason
    assert ended, "no SessionEnded"
    return t_fail, ended[0]


def _storage_end(rig: Rig) -> None:
    decisions = [e for e in rig.events if isinstance(e, SessionEnded)]
    assert decisions and decisions[-1].state is SessionState.ABORTED
    assert "storage" in decisions[-1].reason


async def test_read_only_store_stops_the_session(rig_factory) -> None:
    rig = await rig_factory()

    async def fail() -> None:
        await rig.db.run(_set("PRAGMA query_only=1"))

    t_fail, t_seen = await _failing_session(rig, fail)
    # the next update of the stimulation time (every PERSIST_EVERY_S) fails and ends it
    assert t_seen - t_fail <= controller_mod.PERSIST_EVERY_S + 0.2
    assert _last_on(rig) - t_seen <= STOP_BOUND_S
    assert rig.last() == 0
    _storage_end(rig)
    # storage back: the record that could not be written is written at the next start
    await rig.db.run(_set("PRAGMA query_only=0"))
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.refused  # the rest rule now counts from the saved end
    rows = await rig.db.run(list_sessions)
    assert rows[-1].state == "aborted" and "could not be saved" in (rows[-1].end_reason or "")
    assert rows[-1].stimulation_seconds == pytest.approx(_on_time(rig), abs=2.0)
    await rig.ctrl.audit.flush()
    ends = [a for a in await rig.db.run(list_audit, rows[-1].id) if a.action == "end"]
    assert ends and ends[-1].code == "store_failed"


async def test_locked_store_stops_the_session(rig_factory, tmp_path: Path) -> None:
    rig = await rig_factory()
    await rig.db.run(_set("PRAGMA busy_timeout=100"))
    path = (await rig.db.run(_set("PRAGMA database_list")))[0][2]
    other = sqlite3.connect(path, isolation_level=None)

    async def fail() -> None:
        other.execute("BEGIN EXCLUSIVE")

    try:
        t_fail, t_seen = await _failing_session(rig, fail)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert t_seen - t_fail <= controller_mod.PERSIST_EVERY_S + 5.0  # + the busy wait (virtual)
    assert _last_on(rig) - t_seen <= STOP_BOUND_S
    _storage_end(rig)


def _fill_to_page_limit(conn: sqlite3.Connection) -> None:
    """Other data fills the database up to its page limit (as a full disk would)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 4}")
    with contextlib.suppress(sqlite3.Error):
        for _ in range(10_000):  # audit rows, smaller than any real one: every page full
            conn.execute(
                "INSERT INTO audit (at, source, action, outcome) VALUES (?, 'filler', 'x', 'info')",
                ("2026-01-01T00:00:00.000000+00:00",),
            )
    assert conn.execute("PRAGMA page_count").fetchone()[0] == pages + 4


async def test_database_at_its_size_limit_stops_the_session(rig_factory) -> None:
    """SQLITE_FULL from the page limit: the audit trail (safety rule 5) cannot be written."""
    rig = await rig_factory()

    async def fail() -> None:
        await rig.db.run(_fill_to_page_limit)
        await rig.ctrl.step_intensity(1, Source.CLI)  # an output change to record

    t_fail, t_seen = await _failing_session(rig, fail)
    # the next flush; loop time runs on while the database thread works (looptime)
    assert t_seen - t_fail <= FLUSH_S + 2.5
    assert _last_on(rig) - t_seen <= STOP_BOUND_S
    _storage_end(rig)
    assert "audit trail" in (rig.ctrl.snapshot().end_reason or "")


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a file system that really fills up (needs the right to mount)."""
    where = tmp_path / "tiny"
    where.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a tmpfs here (needs root in a mount namespace)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=10)


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())


async def test_full_disk_stops_the_session(tiny_fs: Path) -> None:
    rig = await make_rig(tiny_fs)
    try:

        async def fail() -> None:
            await asyncio.to_thread(_fill, tiny_fs)

        t_fail, t_seen = await _failing_session(rig, fail)
        assert t_seen - t_fail <= controller_mod.PERSIST_EVERY_S + 1.0
        assert _last_on(rig) - t_seen <= STOP_BOUND_S
        _storage_end(rig)
        d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
        assert d.refused and d.code == "store_failed", d
    finally:
        await close_rig(rig)


async def test_start_refused_when_the_record_cannot_be_written(rig_factory) -> None:
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.db.run(_set("PRAGMA query_only=1"))
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.MQTT)
    assert d.refused and d.code == "store_failed", d
    assert "storage" in d.reason
    await asyncio.sleep(3)
    assert rig.delivered_max() == 0
    await rig.db.run(_set("PRAGMA query_only=0"))
    assert await rig.db.run(list_sessions) == []


async def test_daily_cap_holds_across_storage_failures(rig_factory) -> None:
    """Today: 5.5 min delivered against a 3 min cap. The record must stay within the cap."""
    cfg = TensConfig(limits=Limits(daily_minutes=3, rest_minutes=0))
    rig = await rig_factory(cfg)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=2), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.wait_ended()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await _hold(rig, 5)
    await asyncio.sleep(35)
    await rig.db.run(_set("PRAGMA query_only=1"))
    snap = await rig.ctrl.wait_ended()
    assert snap.session is SessionState.ABORTED
    # refused while storage fails; and once it is back the time it could not save counts
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=0.5), Source.CLI)
    assert d.refused and d.code == "store_failed", d
    await rig.db.run(_set("PRAGMA query_only=0"))
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=0.5), Source.CLI)
    assert d.refused and "daily limit" in d.reason, d
    assert 2 * 60 + 35 <= _on_time(rig) <= 3 * 60
    rows = await rig.db.run(list_sessions)
    assert sum(r.stimulation_seconds for r in rows) == pytest.approx(_on_time(rig), abs=1.0)


async def test_audit_rows_kept_while_storage_fails(rig_factory) -> None:
    """Rows that could not be written are written once storage is back (not dropped)."""
    rig = await rig_factory()
    await rig.ctrl.connect()
    await rig.db.run(_set("PRAGMA query_only=1"))
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.TUI)
    assert d.refused
    await asyncio.sleep(FLUSH_S * 3)
    await rig.db.run(_set("PRAGMA query_only=0"))
    await rig.ctrl.audit.flush()
    rows = await rig.db.run(list_audit)
    assert [(r.source, r.action, r.outcome, r.code) for r in rows] == [
        ("tui", "start", "refused", "store_failed")
    ]
