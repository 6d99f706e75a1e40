"""Red flags escalate (issue 13 item 4): the advice is as urgent as the sign; weakness or
numbness asks about the emergency signs; a red flag logged for a site blocks the next session
there until a clinician is seen or it is dismissed (recorded)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tens.journal.advice import (
    ASK_WITH_NUMBNESS,
    Urgency,
    entry_advice,
    red_flag_advice,
    urgency,
)
from tens.journal.models import RedFlag
from tens.journal.repository import add_entry, clear_red_flag, red_flag_blocks
from tens.journal.validate import new_entry
from tens.store import open_db
from tens.store.sessions import list_audit

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("flags", "level", "says"),
    [
        ([RedFlag.BLADDER_BOWEL], Urgency.EMERGENCY, "EMERGENCY: CALL NOW"),
        ([RedFlag.SADDLE_NUMBNESS, RedFlag.SWELLING], Urgency.EMERGENCY, "EMERGENCY: CALL NOW"),
        ([RedFlag.WEAKNESS], Urgency.TODAY, "SEE A DOCTOR TODAY"),
        ([RedFlag.NUMBNESS, RedFlag.FEVER], Urgency.TODAY, "SEE A DOCTOR TODAY"),
        ([RedFlag.FEVER, RedFlag.WEIGHT_LOSS], Urgency.SOON, "SEE A DOCTOR SOON"),
        ([RedFlag.SWELLING, RedFlag.BRUISING], Urgency.CHECK, "GET IT CHECKED"),
    ],
)
def test_red_flags_escalate(flags: list[RedFlag], level: Urgency, says: str) -> None:
    assert urgency(flags) is level
    text = red_flag_advice(flags)
    assert text is not None and text.startswith(says)
    if level >= Urgency.TODAY:
        assert "not an alarm" not in text


def test_weakness_or_numbness_asks_about_the_emergency_signs() -> None:
    assert ASK_WITH_NUMBNESS in entry_advice(3, [RedFlag.WEAKNESS])
    assert ASK_WITH_NUMBNESS in entry_advice(3, [RedFlag.NUMBNESS])
    assert ASK_WITH_NUMBNESS not in entry_advice(3, [RedFlag.FEVER])
    # answered already: the emergency advice, not the question
    assert ASK_WITH_NUMBNESS not in entry_advice(3, [RedFlag.NUMBNESS, RedFlag.BLADDER_BOWEL])


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "t.db")
    yield c
    c.close()


def _log(conn: sqlite3.Connection, region: str, flags: tuple[str, ...], at: dt.datetime) -> None:
    entry = new_entry(5, at=at, now=at, context="other", region=region, red_flags=flags)
    add_entry(conn, entry, now=at)


def test_a_red_flag_blocks_its_site_until_cleared_and_the_clearing_is_recorded(
    conn: sqlite3.Connection,
) -> None:
    _log(conn, "lower-back", ("numbness",), NOW)
    _log(conn, "knee-left", (), NOW)
    blocks = red_flag_blocks(conn)
    assert list(blocks) == ["lower-back"] and "see a doctor today" in blocks["lower-back"]
    clear_red_flag(conn, "lower-back", "seen-clinician", now=NOW + dt.timedelta(hours=5))
    assert red_flag_blocks(conn) == {}
    [row] = [a for a in list_audit(conn) if a.action == "red_flag_clear"]
    assert (row.source, row.requested, row.allowed) == ("person", "lower-back", "seen-clinician")
    # a new flag after the clearing blocks again
    _log(conn, "lower-back", ("swelling",), NOW + dt.timedelta(days=1))
    assert "get it checked" in red_flag_blocks(conn)["lower-back"]
    clear_red_flag(conn, "lower-back", "dismissed", now=NOW + dt.timedelta(days=1, hours=1))
    assert red_flag_blocks(conn) == {}


@pytest.mark.looptime
async def test_a_red_flag_blocks_the_next_session_there_on_the_simulator(tmp_path: Path) -> None:
    from tens.events import Source
    from tens.journal.repository import add_entry as add
    from tens.safety import StartRequest
    from tests.session.conftest import close_rig, make_rig

    rig = await make_rig(tmp_path)
    try:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        entry = new_entry(
            6, at=at, now=at, context="other", region="lower-back", red_flags=("weakness",)
        )
        await rig.db.run(add, entry, now=at)
        await rig.ctrl.connect()
        req = StartRequest(program="conventional", minutes=1, intensity=5, placement="lower-back")
        decision = await rig.ctrl.start(req, Source.CLI)
        assert decision.refused and "red flag" in decision.reason
        assert max((s.intensity_ma for s in rig.sim.record), default=0.0) == 0.0
        other = await rig.ctrl.check_start(
            StartRequest(program="conventional", minutes=1, intensity=5, placement="knee-left"),
            Source.CLI,
        )
        assert not other.refused
    finally:
        await close_rig(rig)
