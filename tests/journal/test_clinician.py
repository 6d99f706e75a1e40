"""The clinician report on seeded journals: empty, one entry, the hand-worked fixture, a
12-week responder and a non-responder exactly on the threshold; terminal, HTML and PDF
(rendered with WeasyPrint and read back page by page with pdftotext)."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tens.journal.clinician import (
    NO_PRESCRIPTION,
    build_clinician,
    clinician_dict,
    render_clinician_html,
    render_clinician_text,
)
from tens.journal.repository import add_entry, add_peg
from tens.journal.validate import new_entry
from tens.store import open_db
from tens.store.sessions import create_session
from tests.journal.fixtures import NOW, at, fill

UTC = dt.UTC


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "c.db")
    yield c
    c.close()


def seed_weeks(conn: sqlite3.Connection, baseline: int, final: int, weeks: int = 12) -> dt.date:
    """``weeks`` weeks ending on NOW's day: baseline scores in week 1 falling linearly to
    ``final`` in the last week; a session every other day with before/after scores
    (relief 2), a PEG-3 answer each Sunday. Returns the first day."""
    first = NOW.date() - dt.timedelta(days=7 * weeks - 1)
    for i in range(7 * weeks):
        day = first + dt.timedelta(days=i)
        week = i // 7
        score = round(baseline + (final - baseline) * week / (weeks - 1))
        add_entry(conn, new_entry(score, at=at(day, 8), now=NOW, region="lower-back"), now=NOW)
        if i % 2 == 0:
            sid = create_session(
                conn,
                started_at=at(day, 18),
                ended_at=at(day, 18, 30),
                state="finished" if i % 10 else "aborted",
                end_reason=None if i % 10 else "electrode peel-off",
                program="conventional",
                placement="lower-back",
                unit="mA",
                target_intensity=20.0,
                max_delivered=18.0 + (i % 4),
                stimulation_seconds=1800,
            )
            add_entry(
                conn,
                new_entry(score, at=at(day, 17, 59), now=NOW, context="before", session_id=sid),
                now=NOW,
            )
            add_entry(
                conn,
                new_entry(
                    max(0, score - 2), at=at(day, 18, 31), now=NOW, context="after", session_id=sid
                ),
                now=NOW,
            )
        if day.weekday() == 6:
            add_peg(conn, score, max(0, score - 1), max(0, score - 1), at=at(day, 20), now=NOW)
    return first


def test_empty_journal(db: sqlite3.Connection) -> None:
    c = build_clinician(db, weeks=12, now=NOW, tz=UTC)
    text = render_clinician_text(c, tz=UTC)
    assert "None reported." in text and NO_PRESCRIPTION in text
    assert "Sessions: 0 in 12 weeks (0.0 per week)" in text
    assert "No comparison claimed" in text
    html = render_clinician_html(c, tz=UTC)
    assert 'id="no-claim"' in html and "<script" not in html
    assert clinician_dict(c)["adherence"]["sessions"] == 0


def test_one_entry(db: sqlite3.Connection) -> None:
    add_entry(db, new_entry(6, at=at(NOW.date()), now=NOW, region="knee-left"), now=NOW)
    c = build_clinician(db, weeks=4, now=NOW, tz=UTC)
    assert c.report.entries_in_period == 1
    assert c.report.comparison.no_claim is not None
    assert "6.0 (n=1)" in render_clinician_text(c, tz=UTC)


def test_red_flags_come_first_with_the_advice(db: sqlite3.Connection) -> None:
    fill(db)
    c = build_clinician(db, weeks=2, now=NOW, tz=UTC)
    text = render_clinician_text(c, tz=UTC)
    assert text.index("RED FLAGS") < text.index("Adherence") < text.index("Baseline and now")
    assert "⚑ 2026-03-25: swelling" in text and "knee, left" in text
    assert "Advice given:" in text and "healthcare provider" in text
    assert "fever" not in text  # the deleted entry's flag
    html = render_clinician_html(c, tz=UTC)
    assert html.index('id="red-flags"') < html.index('id="adherence"')
    # fixture: 2 sessions ran (30 + 20 min), one refused start
    a = c.adherence
    assert (a.sessions, round(a.minutes), a.refused) == (2, 50, 1)
    assert [x.state for x in a.aborts] == ["refused"]
    assert dict(a.end_states) == {"finished": 1, "stopped": 1}


def test_twelve_week_responder(db: sqlite3.Connection) -> None:
    seed_weeks(db, baseline=8, final=4)
    c = build_clinician(db, weeks=12, now=NOW, tz=UTC)
    cmp = c.report.comparison
    assert cmp.no_claim is None and cmp.responder is True
    assert cmp.baseline.value == 8 and cmp.current.value == 4
    a = c.adherence
    assert a.sessions == 42 and a.per_week == pytest.approx(3.5)
    assert round(a.minutes) == 42 * 30
    assert dict(a.placements) == {"lower-back": 42}
    (mA,) = a.intensities
    assert (mA.unit, mA.low, mA.high, mA.n) == ("mA", 18.0, 20.0, 42)
    assert all(x.reason == "electrode peel-off" for x in a.aborts) and len(a.aborts) == 9
    assert c.report.relief.median.value == 2 and c.report.relief.median.n == 42
    weeks_with_peg = [p for p in c.peg_weeks if p.mean.n]
    assert len(weeks_with_peg) == 12
    assert weeks_with_peg[0].mean.value == pytest.approx((8 + 7 + 7) / 3, abs=0.01)
    text = render_clinician_text(c, tz=UTC)
    assert cmp.summary is not None and cmp.summary[:40] in text.replace("\n  ", " ")
    assert "lower back ×42" in text and "peak 18–20 mA, median" in text
    html = render_clinician_html(c, tz=UTC)
    assert html.count('class="peg-point"') == 12 and 'id="change-summary"' in html


@pytest.mark.parametrize(
    ("final", "points", "responder"),
    [(5, 2.0, True), (6, 1.0, False)],
    ids=["exactly-2-points", "just-below"],
)
def test_responder_rule_on_the_threshold(
    tmp_path: Path, final: int, points: float, responder: bool
) -> None:
    """Baseline 7 to 5 is 2 points (28.6 %): a responder by the points rule; 7 to 6 is not.
    The report states the stats module's one sentence, not a rule of its own."""
    conn = open_db(tmp_path / f"t{final}.db")
    seed_weeks(conn, baseline=7, final=final)
    c = build_clinician(conn, weeks=12, now=NOW, tz=UTC)
    conn.close()
    cmp = c.report.comparison
    assert cmp.points == pytest.approx(points) and cmp.responder is responder
    assert cmp.summary is not None
    assert cmp.summary in " ".join(render_clinician_text(c, tz=UTC).split())
    assert clinician_dict(c)["report"]["comparison"]["responder"] is responder


def _pdftotext(pdf: Path) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")


def test_pdf_rendered_and_read_back_page_by_page(db: sqlite3.Connection, tmp_path: Path) -> None:
    pytest.importorskip("weasyprint")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    from tens.journal.clinician import write_pdf

    seed_weeks(db, baseline=8, final=4)
    add_entry(db, new_entry(5, at=at(NOW.date(), 9), now=NOW, red_flags=["numbness"]), now=NOW)
    c = build_clinician(db, weeks=12, now=NOW, tz=UTC)
    pdf = write_pdf(render_clinician_html(c, tz=UTC), tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = [p for p in _pdftotext(pdf) if p.strip()]
    assert len(pages) >= 2
    first = " ".join(pages[0].split())
    assert "clinician report" in first
    assert first.index("Red flags") < first.index("Adherence")
    assert "progressive numbness" in first
    assert "42 in 12 weeks (3.5 per week)" in first
    assert all(f"page {i} of {len(pages)}" in p for i, p in enumerate(pages, 1))
    everything = " ".join(" ".join(p.split()) for p in pages)
    assert "Median relief per session: 2.0 points (n=42)" in everything
    assert "PEG-3 over the weeks" in everything


def test_cli_clinician_text_html_pdf(
    tmp_path: Path, tens_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tens.cli import main

    assert main(["pain", "add", "6", "--where", "lower-back", "--red-flag", "fever"]) == 0
    capsys.readouterr()
    assert main(["report", "--clinician"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Clinician report") and "⚑" in out and "fever" in out
    html = tmp_path / "c.html"
    assert main(["report", "--clinician", "--html", str(html)]) == 0
    assert 'id="red-flags"' in html.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["report", "--pdf", str(tmp_path / "x.pdf")]) == 2
    assert "--pdf needs --clinician" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()
    assert main(["report", "--clinician", "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["prescription"] == NO_PRESCRIPTION and doc["adherence"]["sessions"] == 0
    pytest.importorskip("weasyprint")
    pdf = tmp_path / "c.pdf"
    assert main(["report", "--clinician", "--pdf", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
