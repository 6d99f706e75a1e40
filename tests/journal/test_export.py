"""CSV and JSON exports read back to exactly what the database holds."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tens.journal.export import (
    ExportFormatError,
    collect,
    csv_paths,
    read_csv,
    read_json,
    write_csv,
    write_json,
)
from tens.journal.repository import add_entry
from tens.journal.validate import new_entry
from tens.store import open_db
from tests.journal.fixtures import NOW, fill


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "x.db")
    fill(c)
    add_entry(
        c,
        new_entry(
            3,
            at=NOW,
            now=NOW,
            kind="nociplastic",
            helped=["heat", "wall angels"],
            note='comma, "quotes"; semicolon\nand a new line — ünïcode',
        ),
        now=NOW,
    )
    yield c
    c.close()


@pytest.mark.parametrize("deleted", [False, True])
def test_json_round_trip(conn: sqlite3.Connection, tmp_path: Path, deleted: bool) -> None:
    path = write_json(conn, tmp_path / "journal.json", include_deleted=deleted, now=NOW)
    back = read_json(path)
    assert back == collect(conn, include_deleted=deleted)
    assert len(back.sessions) == 3 and len(back.peg) == 1
    assert any(e.deleted for e in back.entries) is deleted


@pytest.mark.parametrize("deleted", [False, True])
def test_csv_round_trip(conn: sqlite3.Connection, tmp_path: Path, deleted: bool) -> None:
    paths = write_csv(conn, tmp_path / "journal.csv", include_deleted=deleted)
    assert [p.name for p in paths] == ["journal.csv", "journal-sessions.csv", "journal-peg.csv"]
    assert read_csv(tmp_path / "journal.csv") == collect(conn, include_deleted=deleted)
    with paths[0].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["local_time"] and rows[0]["score"] == "8"


def test_csv_names_without_suffix() -> None:
    assert [p.name for p in csv_paths("data")] == ["data", "data-sessions.csv", "data-peg.csv"]


def test_bad_files_are_refused_with_the_place(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write_json(conn, tmp_path / "j.json", now=NOW)
    doc = json.loads(path.read_text())
    doc["entries"][2]["score"] = 14
    path.write_text(json.dumps(doc))
    with pytest.raises(ExportFormatError, match=r"entries\[2\]"):
        read_json(path)
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ExportFormatError, match="not a tens journal export"):
        read_json(tmp_path / "other.json")


def test_failed_write_leaves_earlier_file(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    target = tmp_path / "keep.json"
    target.write_text("earlier")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_json(conn, target, now=NOW)
    monkeypatch.undo()
    assert target.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "keep.json",
        "x.db",
        "x.db-shm",
        "x.db-wal",
    ]
    (tmp_path / "adir.json").mkdir()  # the target is a folder: refused, no leftovers
    with pytest.raises(OSError):
        write_json(conn, tmp_path / "adir.json", now=NOW)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    write_json(conn, target, now=NOW)
    assert read_json(target) == collect(conn)
