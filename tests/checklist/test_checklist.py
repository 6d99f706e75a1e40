"""A checklist that means something (issue 13 item 5): ``--none-apply`` shows every question
and lists what was affirmed; answers expire after about 6 months (injected clock) and are asked
again; a "yes" later changed to "no" is recorded with the time."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tens.checklist import QUESTIONS, VALID_FOR, is_expired, none_apply
from tens.cli import build_parser
from tens.store import open_db
from tens.store.sessions import checklist_changes, latest_checklist, list_audit, record_checklist

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "t.db")
    yield c
    c.close()


def test_none_apply_shows_every_question_and_what_was_affirmed(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli.checklist import run

    assert run(parse("checklist", "--none-apply")) == 0
    out = capsys.readouterr().out
    for q in QUESTIONS:
        assert f"no   {q.text}" in out
    assert "affirm" in out
    assert run(parse("checklist", "--none-apply", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(a["key"], a["answer"]) for a in doc["answers"]] == [(q.key, False) for q in QUESTIONS]
    assert all(a["question"] for a in doc["answers"])
    assert doc["expires_at"]


def test_answers_expire_after_six_months() -> None:
    assert VALID_FOR >= dt.timedelta(days=182) and VALID_FOR <= dt.timedelta(days=184)
    assert not is_expired(T0, T0 + VALID_FOR - dt.timedelta(seconds=1))
    assert is_expired(T0, T0 + VALID_FOR)


def test_the_stored_record_expires_with_an_injected_clock(conn: sqlite3.Connection) -> None:
    record_checklist(conn, none_apply(), False, at=T0)
    rec = latest_checklist(conn)
    assert rec is not None
    assert not rec.expired(T0 + dt.timedelta(days=100))
    assert rec.expired(T0 + dt.timedelta(days=200))


def test_a_yes_changed_to_no_is_recorded_with_the_time(conn: sqlite3.Connection) -> None:
    yes = {**none_apply(), "pregnancy": True}
    record_checklist(conn, yes, True, at=T0)
    later = T0 + dt.timedelta(days=3)
    record_checklist(conn, none_apply(), False, at=later)
    [change] = checklist_changes(conn)
    assert (change.key, change.was, change.now, change.at) == ("pregnancy", True, False, later)
    assert change.withdrawn_yes
    rows = [a for a in list_audit(conn) if a.action == "checklist_change"]
    assert [(r.source, r.outcome, r.at) for r in rows] == [("checklist", "info", later)]
    # answering the same again records no change
    record_checklist(conn, none_apply(), False, at=later + dt.timedelta(days=1))
    assert len(checklist_changes(conn)) == 1


def test_the_cli_says_a_withdrawn_yes_was_recorded(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli.checklist import run

    c = open_db()
    record_checklist(c, {**none_apply(), "implant": True}, True)
    c.close()
    assert run(parse("checklist", "--none-apply", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["changes"] == [{"key": "implant", "was": True, "now": False, "withdrawn_yes": True}]


class FixedWall:
    """The controller's clock with an injected wall time (monotonic from the loop)."""

    def __init__(self, wall: dt.datetime) -> None:
        self._wall = wall

    def monotonic(self) -> float:
        import asyncio

        return asyncio.get_running_loop().time()

    def wall(self) -> dt.datetime:
        return self._wall

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds))


@pytest.mark.looptime
async def test_an_expired_checklist_refuses_a_start_on_the_simulator(tmp_path: Path) -> None:
    from tens.events import Source
    from tens.safety import StartRequest
    from tests.session.conftest import close_rig, make_rig

    rig = await make_rig(tmp_path, checklist=False)
    try:
        await rig.db.run(record_checklist, none_apply(), False, at=T0)
        rig.ctrl.clock = FixedWall(T0 + dt.timedelta(days=200))
        await rig.ctrl.connect()
        req = StartRequest(program="conventional", minutes=1, intensity=5, placement="lower-back")
        decision = await rig.ctrl.start(req, Source.CLI)
        assert decision.refused and "6 months" in decision.reason
        assert max((s.intensity_ma for s in rig.sim.record), default=0.0) == 0.0
        rig.ctrl.clock = FixedWall(T0 + dt.timedelta(days=100))
        ok: Any = await rig.ctrl.check_start(req, Source.CLI)
        assert not ok.refused
    finally:
        await close_rig(rig)


# ------------------------------------------ answers expire when the prescription changes
RX = """
version = 1
prescriber = "J. Physio"
prescribed_on = 2026-01-01
valid_from = 2026-01-01
valid_until = 2099-12-31
placements = ["lower-back"]
session_minutes = 1
sessions_per_day = 3
rest_minutes = 0

[programs.conventional]
intensity = [5, 12]
"""


def test_answers_given_before_a_prescription_change_expire(conn: sqlite3.Connection) -> None:
    """Issue 13 item 5: the answers are asked again whenever a prescription changes (one is
    accepted, replaced or removed), whatever their age."""
    from tens.store.prescriptions import remove_active, save_accepted

    record_checklist(conn, none_apply(), False, at=T0)
    day = dt.timedelta(days=1)
    rec = latest_checklist(conn)
    assert rec is not None and not rec.expired(T0 + day) and rec.expiry_reason(T0 + day) is None
    save_accepted(conn, RX, now=T0 + day)
    rec = latest_checklist(conn)
    assert rec is not None and rec.expired(T0 + 2 * day)
    reason = rec.expiry_reason(T0 + 2 * day)
    assert reason is not None and "prescription" in reason
    record_checklist(conn, none_apply(), False, at=T0 + 2 * day)  # answered again: counts
    rec = latest_checklist(conn)
    assert rec is not None and not rec.expired(T0 + 3 * day)
    remove_active(conn, now=T0 + 4 * day)  # removing it is a change too
    rec = latest_checklist(conn)
    assert rec is not None and rec.expired(T0 + 5 * day)
    # the six-month rule still holds beside it
    record_checklist(conn, none_apply(), False, at=T0 + 5 * day)
    rec = latest_checklist(conn)
    assert rec is not None and not rec.expired(T0 + 6 * day)
    later = T0 + 5 * day + VALID_FOR
    assert rec.expired(later) and "6 months" in (rec.expiry_reason(later) or "")


@pytest.mark.looptime
async def test_a_prescription_change_refuses_the_next_start_until_answered(
    tmp_path: Path,
) -> None:
    from tens.events import Source
    from tens.safety import StartRequest
    from tens.store.prescriptions import save_accepted
    from tests.session.conftest import close_rig, make_rig

    rig = await make_rig(tmp_path, checklist=False)
    try:
        now = dt.datetime.now(dt.UTC)
        await rig.db.run(record_checklist, none_apply(), False, at=now - dt.timedelta(days=2))
        await rig.db.run(save_accepted, RX, now=now - dt.timedelta(days=1))
        await rig.ctrl.connect()
        req = StartRequest(program="conventional", minutes=1, intensity=5, placement="lower-back")
        decision = await rig.ctrl.start(req, Source.CLI)
        assert decision.refused and "prescription" in decision.reason, decision.reason
        assert max((s.intensity_ma for s in rig.sim.record), default=0.0) == 0.0
        await rig.db.run(record_checklist, none_apply(), False)
        ok: Any = await rig.ctrl.check_start(req, Source.CLI)
        assert not ok.refused, ok.reason
    finally:
        await close_rig(rig)


def test_checklist_show_says_the_prescription_changed(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli.checklist import run
    from tens.store.prescriptions import save_accepted

    c = open_db()
    record_checklist(c, none_apply(), False, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    save_accepted(c, RX)
    c.close()
    assert run(parse("checklist", "--show", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["expired"] is True and "prescription" in doc["expired_because"]
    assert run(parse("checklist", "--show")) == 0
    assert "prescription" in capsys.readouterr().out
