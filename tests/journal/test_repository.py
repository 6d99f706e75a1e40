"""Entries: validation naming the field, session links, edit/delete with history, PEG-3."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tens.journal import repository as repo
from tens.journal.advice import entry_advice, red_flag_advice
from tens.journal.models import Context, PainKind, RedFlag
from tens.journal.regions import REGIONS, is_contraindicated, normalize_region
from tens.journal.validate import (
    JournalInputError,
    local_midnight,
    new_entry,
    parse_date,
    parse_when,
)
from tens.store import NotFoundError, open_db
from tens.store.sessions import create_session

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "j.db")
    yield c
    c.close()


def test_regions_table_and_contraindications() -> None:
    for key in ("head", "eyes", "mouth", "front-of-neck", "chest"):
        assert REGIONS[key].contraindicated_for_electrodes
    for key in ("lower-back", "upper-back", "neck", "shoulder-left", "knee-right"):
        assert not REGIONS[key].contraindicated_for_electrodes
    assert REGIONS["knee-left"].side == "left" and REGIONS["knee-left"].area == "knee"
    assert normalize_region("Left Knee") == "knee-left"
    assert normalize_region("lower back") == "lower-back"
    assert is_contraindicated("no-such-place")  # unknown: refuse
    with pytest.raises(ValueError, match="which side"):
        normalize_region("knee")


def test_regions_module_is_pure() -> None:
    code = (
        "import sys, tens.journal.regions; "
        "heavy = {'sqlite3', 'textual', 'bleak', 'bumble', 'aiomqtt', 'pydantic'}; "
        "heavy &= set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"score": "11"}, "score"),
        ({"score": "-1"}, "score"),
        ({"score": "6.5"}, "score"),
        ({"score": "six"}, "score"),
        ({"region": "elbowish"}, "where"),
        ({"kind": "sharp"}, "kind"),
        ({"red_flags": ["headache"]}, "red-flag"),
        ({"at": NOW + dt.timedelta(hours=1)}, "at"),
        ({"context": "before"}, "session"),
        ({"context": "other", "session_id": 3}, "session"),
        ({"context": "during", "session_id": 3}, "context"),
        ({"note": "x" * 3000}, "note"),
        ({"helped": ["ice; heat"]}, "helped"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, field: str) -> None:
    args = {"score": "5", "at": NOW, "now": NOW} | kwargs
    score = args.pop("score")
    with pytest.raises(JournalInputError) as info:
        new_entry(score, **args)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_dates_local_and_future() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    at = parse_when("2026-03-09 08:30", now=NOW, tz=berlin)
    assert at == dt.datetime(2026, 3, 9, 7, 30, tzinfo=dt.UTC)
    assert parse_when("2026-03-09", now=NOW, tz=dt.UTC).hour == 12
    with pytest.raises(JournalInputError, match=r"at: .*future"):
        parse_when("2026-03-11", now=NOW, tz=dt.UTC)
    with pytest.raises(JournalInputError, match=r"since: .*future"):
        parse_date("2026-03-11", now=NOW, tz=dt.UTC)
    with pytest.raises(JournalInputError, match=r"since: .*YYYY-MM-DD"):
        parse_date("10/03/2026", now=NOW)
    assert local_midnight(dt.date(2026, 3, 9), berlin) == dt.datetime(2026, 3, 8, 23, tzinfo=dt.UTC)


def test_add_with_all_fields_and_read_back(conn: sqlite3.Connection) -> None:
    sid = create_session(conn, started_at=NOW - dt.timedelta(hours=1))
    entry = new_entry(
        "7",
        at=NOW - dt.timedelta(hours=1, minutes=2),
        now=NOW,
        context="before",
        session_id=sid,
        region="Lower back",
        kind="neuropathic",
        red_flags=["swelling", "progressive-numbness", "swelling"],
        helped=["Ice", "bird dog", "child's pose", "stretching"],
        note="  after gardening ",
    )
    eid = repo.add_entry(conn, entry, now=NOW)
    got = repo.get_entry(conn, eid)
    assert got is not None
    assert (got.score, got.context, got.session_id, got.region) == (
        7,
        Context.BEFORE,
        sid,
        "lower-back",
    )
    assert got.kind is PainKind.NEUROPATHIC
    assert got.red_flags == (RedFlag.SWELLING, RedFlag.NUMBNESS)
    assert got.helped == ("ice", "bird-dog", "childs-pose", "stretching")
    assert got.note == "after gardening"
    assert got.recorded_at == NOW
    assert repo.session_scores(conn, sid) == (got, None)


def test_unknown_session_is_refused_and_nothing_written(conn: sqlite3.Connection) -> None:
    entry = new_entry(5, at=NOW, now=NOW, context="after", session_id=42)
    with pytest.raises(JournalInputError, match="session: session 42 does not exist"):
        repo.add_entry(conn, entry, now=NOW)
    assert repo.count_entries(conn) == 0


def test_edit_keeps_history_and_validates(conn: sqlite3.Connection) -> None:
    eid = repo.add_entry(conn, new_entry(6, at=NOW, now=NOW, region="neck"), now=NOW)
    later = NOW + dt.timedelta(minutes=5)
    edited = repo.edit_entry(conn, eid, now=later, reason="typo", score="5", note="better")
    assert edited.score == 5 and edited.note == "better" and edited.region == "neck"
    assert edited.updated_at == later
    with pytest.raises(JournalInputError, match="score"):
        repo.edit_entry(conn, eid, now=later, score=12)
    with pytest.raises(JournalInputError, match="session"):
        repo.edit_entry(conn, eid, now=later, context="after", session_id=99)
    assert repo.get_entry(conn, eid) == edited  # failed edits changed nothing
    (h,) = repo.entry_history(conn, eid)
    assert h.action == "edit" and h.before["score"] == 6 and h.after is not None
    assert h.after["score"] == 5 and h.reason == "typo"
    with pytest.raises(NotFoundError):
        repo.edit_entry(conn, 999, score=3)


def test_edit_moves_between_session_and_other(conn: sqlite3.Connection) -> None:
    sid = create_session(conn, started_at=NOW)
    eid = repo.add_entry(conn, new_entry(6, at=NOW, now=NOW), now=NOW)
    e = repo.edit_entry(conn, eid, now=NOW, context="after", session_id=sid)
    assert (e.context, e.session_id) == (Context.AFTER, sid)
    e = repo.edit_entry(conn, eid, now=NOW, context="other")
    assert (e.context, e.session_id) == (Context.OTHER, None)


def test_delete_marks_not_loses(conn: sqlite3.Connection) -> None:
    keep = repo.add_entry(conn, new_entry(4, at=NOW, now=NOW), now=NOW)
    gone = repo.add_entry(conn, new_entry(8, at=NOW, now=NOW), now=NOW)
    deleted = repo.delete_entry(conn, gone, now=NOW, reason="double")
    assert deleted.deleted_at == NOW
    assert [e.id for e in repo.list_entries(conn)] == [keep]
    assert [e.id for e in repo.list_entries(conn, include_deleted=True)] == [keep, gone]
    raw = conn.execute(
        "SELECT score, deleted_at FROM pain_entries WHERE id = ?", (gone,)
    ).fetchone()
    assert raw[0] == 8 and raw[1] is not None
    (h,) = repo.entry_history(conn, gone)
    assert h.action == "delete" and h.before["score"] == 8 and h.reason == "double"
    with pytest.raises(JournalInputError, match="deleted"):
        repo.delete_entry(conn, gone)
    with pytest.raises(JournalInputError, match="deleted"):
        repo.edit_entry(conn, gone, score=1)


def test_list_since(conn: sqlite3.Connection) -> None:
    for d in range(5):
        repo.add_entry(conn, new_entry(d, at=NOW - dt.timedelta(days=d), now=NOW), now=NOW)
    since = NOW - dt.timedelta(days=2, hours=1)
    assert [e.score for e in repo.list_entries(conn, since=since)] == [2, 1, 0]


def test_peg(conn: sqlite3.Connection) -> None:
    pid = repo.add_peg(conn, "6", 5, 4, now=NOW)
    (p,) = repo.list_peg(conn)
    assert p.id == pid and p.score == 5.0
    assert repo.add_peg(conn, 7, 7, 6, now=NOW) > pid
    assert repo.list_peg(conn)[1].score == pytest.approx(6.67)
    with pytest.raises(JournalInputError, match="enjoyment"):
        repo.add_peg(conn, 5, 11, 3, now=NOW)
    with pytest.raises(JournalInputError, match="at"):
        repo.add_peg(conn, 5, 5, 3, at=NOW + dt.timedelta(days=1), now=NOW)
    assert len(repo.list_peg(conn)) == 2


def test_red_flag_advice_is_calm_and_immediate() -> None:
    text = red_flag_advice([RedFlag.FEVER, RedFlag.WEIGHT_LOSS])
    assert text is not None
    assert "fever and unexplained weight loss" in text and "healthcare provider" in text
    assert "not an alarm" in text
    assert red_flag_advice([]) is None
    assert entry_advice(3, []) == []
    assert len(entry_advice(9, [RedFlag.SWELLING])) == 2  # red flag + severe pain
