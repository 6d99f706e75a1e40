"""A small journal with numbers worked out by hand, shared by the report and export tests.

Time zone UTC, report day 2026-03-29 (a Sunday), 2 weeks shown (16–22 and 23–29 March).
Baseline days 1–7 March: one "other" score a day, 8 8 7 7 6 8 7 (mean 51/7 = 7.29, n=7).
Last 7 days 23–29 March: 5 5 4 5 4 5 4 (mean 32/7 = 4.57, n=7) -> 2.71 points, 37 %.
Week 16–22 March: 6 every day (n=7), high-pain days 0.
Sessions: 24 March (30 min, before 7 / after 3) and 26 March (20 min, before 6 / after 6),
one refused on 27 March (not counted). A red flag (swelling) on 25 March.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from tens.journal.repository import add_entry, add_peg, delete_entry
from tens.journal.validate import new_entry
from tens.store.sessions import create_session

TODAY = dt.date(2026, 3, 29)
NOW = dt.datetime(2026, 3, 29, 20, 0, tzinfo=dt.UTC)


def at(day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


def fill(conn: sqlite3.Connection) -> dict[str, int]:
    ids: dict[str, int] = {}
    for i, score in enumerate([8, 8, 7, 7, 6, 8, 7]):
        add_entry(
            conn,
            new_entry(score, at=at(dt.date(2026, 3, 1 + i)), now=NOW, region="lower-back"),
            now=NOW,
        )
    for i in range(7):
        add_entry(conn, new_entry(6, at=at(dt.date(2026, 3, 16 + i)), now=NOW), now=NOW)
    for i, score in enumerate([5, 5, 4, 5, 4, 5, 4]):
        flags = ["swelling"] if i == 2 else []
        ids[f"cur{i}"] = add_entry(
            conn,
            new_entry(
                score, at=at(dt.date(2026, 3, 23 + i)), now=NOW, red_flags=flags, region="knee-left"
            ),
            now=NOW,
        )
    s1 = create_session(
        conn,
        started_at=at(dt.date(2026, 3, 24), 18),
        ended_at=at(dt.date(2026, 3, 24), 18, 30),
        state="finished",
        stimulation_seconds=1800,
    )
    s2 = create_session(
        conn,
        started_at=at(dt.date(2026, 3, 26), 18),
        ended_at=at(dt.date(2026, 3, 26), 18, 20),
        state="stopped",
        stimulation_seconds=1200,
    )
    create_session(conn, started_at=at(dt.date(2026, 3, 27), 18), state="refused")
    add_entry(
        conn,
        new_entry(7, at=at(dt.date(2026, 3, 24), 17, 59), now=NOW, context="before", session_id=s1),
        now=NOW,
    )
    add_entry(
        conn,
        new_entry(3, at=at(dt.date(2026, 3, 24), 18, 31), now=NOW, context="after", session_id=s1),
        now=NOW,
    )
    add_entry(
        conn,
        new_entry(6, at=at(dt.date(2026, 3, 26), 17, 59), now=NOW, context="before", session_id=s2),
        now=NOW,
    )
    add_entry(
        conn,
        new_entry(6, at=at(dt.date(2026, 3, 26), 18, 21), now=NOW, context="after", session_id=s2),
        now=NOW,
    )
    # a deleted entry that would spoil every number if it were counted
    bad = add_entry(
        conn, new_entry(10, at=at(dt.date(2026, 3, 28)), now=NOW, red_flags=["fever"]), now=NOW
    )
    delete_entry(conn, bad, now=NOW)
    add_peg(conn, 6, 5, 4, at=at(dt.date(2026, 3, 28)), now=NOW)
    ids.update(s1=s1, s2=s2, deleted=bad)
    return ids
