"""The daily and rest limits hold whatever the storage does (issue 12, items 9, 10, 13).

Real SQLite failure modes, never mocks: a read-only connection (``PRAGMA query_only``), a
second connection holding the write lock past the busy timeout, a database at its page limit
(``PRAGMA max_page_count``) and a really full file system (a tiny tmpfs, where mounting is
allowed). Judged on the simulator's delivered-output record.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tens import controller as controller_mod
from tens.audit import FLUSH_S
from tens.clock import LoopClock
from tens.config import TensConfig
from tens.events import SessionEnded, SessionState, Source
from tens.limits import Limits
from tens.safety import StartRequest
from tens.store.sessions import create_session, list_audit, list_sessions
from tests.session.conftest import Rig, close_rig, make_rig
from tests.stated import placed_config, state_pads

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


# ---------------------------------------------------------------- the daily window (item 13)
class WallClock(LoopClock):
    """The loop's monotonic clock, with a wall clock that starts at a chosen instant."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self._t0: float | None = None

    def wall(self) -> dt.datetime:
        now = asyncio.get_running_loop().time()
        if self._t0 is None:
            self._t0 = now
        return self.start + dt.timedelta(seconds=now - self._t0)


@pytest.fixture
def local_zone() -> Iterator[Callable[[str], None]]:
    """Set the process's local time zone (TZ + tzset), restored afterwards."""
    before = os.environ.get("TZ")

    def use(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield use
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


UTC = dt.UTC
# (zone, the local midnight starting the DST-change day in UTC, noon that day in UTC)
DST_DAYS = [
    ("Europe/Berlin", (2026, 3, 28, 23), (2026, 3, 29, 10)),  # spring: 02:00 CET -> 03:00 CEST
    ("Europe/Berlin", (2026, 10, 24, 22), (2026, 10, 25, 11)),  # autumn: 03:00 CEST -> 02:00
    ("America/New_York", (2026, 3, 8, 5), (2026, 3, 8, 16)),
    ("America/New_York", (2026, 11, 1, 4), (2026, 11, 1, 17)),
]


@pytest.mark.parametrize(("zone", "day_start", "day_noon"), DST_DAYS, ids=str)
async def test_daily_window_is_the_local_calendar_day_on_dst_days(
    rig_factory,
    local_zone,
    zone: str,
    day_start: tuple[int, int, int, int],
    day_noon: tuple[int, int, int, int],
) -> None:
    local_zone(zone)
    midnight, noon = dt.datetime(*day_start, tzinfo=UTC), dt.datetime(*day_noon, tzinfo=UTC)
    assert noon.astimezone().date() == (midnight + dt.timedelta(hours=1)).astimezone().date()
    cfg = TensConfig(limits=Limits(daily_minutes=40, rest_minutes=0))
    rig = await rig_factory(cfg)
    rig.ctrl.clock = WallClock(noon)
    for start, label in (
        (midnight + dt.timedelta(minutes=10), "today"),
        (midnight - dt.timedelta(minutes=50), "yesterday"),
    ):
        await rig.db.run(
            create_session,
            started_at=start,
            ended_at=start + dt.timedelta(minutes=20),
            state="finished",
            stimulation_seconds=20 * 60,
            program=label,
        )
    await rig.ctrl.connect()
    # 20 min used today (from 00:10 local), yesterday's 23:10-23:30 not: 20 min left
    d = await rig.ctrl.start(StartRequest(intensity=3, minutes=25), Source.CLI)
    assert d.refused and "20 min used today" in d.reason, d  # autumn: an hour late misses it
    d = await rig.ctrl.start(StartRequest(intensity=3, minutes=20), Source.CLI)
    assert d.outcome == "allowed", d.reason  # spring: an hour early counts yesterday's
    await rig.ctrl.stop(Source.CLI)


# ---------------------------------------------------------------- crash lock-out (item 10)
def _running(db: Path) -> tuple[int, float, str] | None:
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            "SELECT id, stimulation_seconds, persisted_at FROM sessions WHERE state = 'running'"
        ).fetchone()
    except sqlite3.OperationalError:
        return None  # not created yet
    finally:
        conn.close()
    return row


@pytest.mark.looptime(False)
@pytest.mark.timeout(120)
async def test_kill_9_mid_session_leaves_no_lock_out(tmp_path: Path) -> None:
    env = {**os.environ, "TENS_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("TENS_RADIO", None)
    tens = [sys.executable, "-m", "tens"]
    p = await asyncio.create_subprocess_exec(
        *tens, "checklist", "--none-apply", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    assert await p.wait() == 0
    out = (tmp_path / "run.out").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *tens,
        "run",
        "--simulator",
        "--minutes",
        "5",
        "--intensity",
        "3",
        "--json",
        "--placement",
        "lower-back",
        "--no-prompt",
        env=env,
        stdout=out,  # a file, never a pipe that fills: --json puts its errors here
        stderr=asyncio.subprocess.STDOUT,
    )
    db = tmp_path / "tens.db"
    try:
        row = None
        for _ in range(600):  # until a second update of the stimulation time is on disk
            row = _running(db)
            if row is not None and row[1] > 0:
                break
            assert proc.returncode is None, (tmp_path / "run.out").read_text()[-2000:]
            await asyncio.sleep(0.1)
        assert row is not None and row[1] > 0, "the session never saved its time"
    finally:
        if proc.returncode is None:  # else its own exit is the failure shown above
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
        out.close()
    assert proc.returncode == -signal.SIGKILL
    sid, saved, persisted = row
    persisted_at = dt.datetime.fromisoformat(persisted)

    # a fresh controller on the same database, on a simulated wearable of its own
    cfg = TensConfig(limits=Limits(daily_minutes=3, rest_minutes=15))
    rig = await _rig_on(db, cfg)
    try:
        await rig.ctrl.connect()
        clock = WallClock(dt.datetime.now(UTC))
        rig.ctrl.clock = clock
        d = await rig.ctrl.start(StartRequest(intensity=3, minutes=1), Source.CLI)
        assert d.refused and "rest between sessions is 15 min" in d.reason, d
        assert "start again in 15 min" in d.reason
        rows = {r.id: r for r in await rig.db.run(list_sessions)}
        old = rows[sid]
        assert old.state == "interrupted", old
        assert old.stimulation_seconds == pytest.approx(saved)
        # it ends at the latest moment output may have been on: the last update + 10 s
        assert old.ended_at is not None
        assert persisted_at <= old.ended_at <= persisted_at + dt.timedelta(seconds=10)
        assert any("interrupted" in n for n in rig.ctrl.snapshot().notices)
        rest_over = old.ended_at + dt.timedelta(minutes=15)
        clock.start, clock._t0 = rest_over - dt.timedelta(seconds=2), None
        d = await rig.ctrl.start(StartRequest(intensity=3, minutes=1), Source.CLI)
        assert d.refused and "start again in 1 min" in d.reason, d
        clock.start, clock._t0 = rest_over + dt.timedelta(seconds=1), None
        # the daily count holds the saved time: a full 3 min no longer fits in 3 min a day
        d = await rig.ctrl.start(StartRequest(intensity=3, minutes=3), Source.CLI)
        assert d.refused and "daily limit" in d.reason, d
        d = await rig.ctrl.start(StartRequest(intensity=3, minutes=2), Source.CLI)
        assert d.outcome == "allowed", d.reason
        await rig.ctrl.stop(Source.CLI)
        audit = await rig.db.run(list_audit, sid)
        assert audit[-1].code == "interrupted" and audit[-1].action == "end"
    finally:
        await close_rig(rig)


async def _rig_on(db: Path, cfg: TensConfig) -> Rig:
    from devices import registry
    from simulators.opentens import start_simulated_wearable
    from simulators.radio import VirtualRadio
    from tens.controller import Controller
    from tens.store import AsyncDB

    radio = await VirtualRadio.local()
    sim = await start_simulated_wearable(radio, name="OpenTENS-Fresh")
    transport = radio.transport()
    store = await AsyncDB.open(db)
    await store.run(state_pads)

    async def opener() -> Any:
        return await registry.open_device(transport, "OpenTENS-Fresh", 5.0)

    ctrl = Controller(placed_config(cfg), opener, store)
    rig = Rig(ctrl, sim, radio, store)
    ctrl.add_listener(rig.events.append)
    return rig


async def test_a_record_another_process_left_running_is_closed_at_the_next_start(
    rig_factory,
) -> None:
    """A record left "running" by another process that died (the daemon while `tens run` is
    open, or kill -9 after this store opened): each start closes it as interrupted, at the
    latest moment its output may have been on (its last update plus the update period, but
    never after now), and the rest rule counts from there."""
    from tens.store.sessions import RUNNING_UPDATE_S

    rig = await rig_factory(TensConfig(limits=Limits(rest_minutes=15)))
    t = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # the controller's wall clock
    rig.ctrl.clock = WallClock(t)
    sid = await rig.db.run(
        create_session,  # no lease: nobody runs it any more
        started_at=t - dt.timedelta(minutes=5),
        persisted_at=t - dt.timedelta(seconds=5),
        stimulation_seconds=290.0,
        device="elsewhere",
        program="conventional",
    )
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=3, minutes=1), Source.CLI)
    assert d.refused and "rest between sessions is 15 min" in d.reason, d
    rec = {r.id: r for r in await rig.db.run(list_sessions)}[sid]
    assert rec.state == "interrupted", rec
    # 5 s ago + the update period would be in the future: it ends now, on the injected clock
    assert RUNNING_UPDATE_S > 5
    assert rec.ended_at == t, rec.ended_at
    assert rec.stimulation_seconds == pytest.approx(290.0)
    from tens.events import Notice

    said = [
        e
        for e in rig.events
        if isinstance(e, Notice) and f"session {sid} was interrupted" in e.text
    ]
    assert [n.level for n in said] == ["warning"], said
