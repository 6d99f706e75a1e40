"""TUI test fixtures: a private TENS_HOME and a database the app can use from any event loop."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tens.store import AsyncDB, open_db


@pytest.fixture(autouse=True)
def tens_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("TENS_HOME", str(home))
    yield home


@pytest.fixture
def db_path(tens_home: Path) -> Path:
    return tens_home / "tens.db"


def open_store(path: Path) -> AsyncDB:
    """An AsyncDB opened without a running loop (snapshot tests run the app in their own)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tens-db-test")
    conn = executor.submit(open_db, path).result()
    return AsyncDB(executor, conn)


@pytest.fixture
def store(db_path: Path) -> Iterator[AsyncDB]:
    db = open_store(db_path)
    yield db
    conn = db._conn
    if conn is not None:
        db._executor.submit(conn.close).result()
    db._executor.shutdown(wait=True)


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A second, synchronous connection to the same file, to arrange data."""
    c = open_db(db_path)
    yield c
    c.close()


def at(day: int, hour: int = 9) -> dt.datetime:
    """A fixed time in early 2026 (UTC): day 1 is 2026-01-01."""
    return dt.datetime(2026, 1, 1, hour, tzinfo=dt.UTC) + dt.timedelta(days=day - 1)
