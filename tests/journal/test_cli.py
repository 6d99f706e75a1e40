"""The CLI verbs in-process, against a database in a temporary TENS_HOME."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tens.cli import main
from tens.store import SCHEMA_VERSION


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if line.startswith("#")]


def count(home: Path) -> int:
    conn = sqlite3.connect(home / "tens.db")
    try:
        return int(conn.execute("SELECT count(*) FROM pain_entries").fetchone()[0])
    finally:
        conn.close()


def test_done_when_add_then_report_then_html(
    capsys: pytest.CaptureFixture[str], tens_home: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "pain", "add", "6", "--where", "lower-back")
    assert code == 0 and "saved entry 1" in out and "lower-back" in out
    code, out, _ = run(capsys, "report")
    assert code == 0
    assert "6.0 (n=1)" in out  # honest n
    assert "No comparison claimed" in out
    assert "#1" in out and "pain  6" in out  # the entry itself
    html = tmp_path / "out.html"
    code, out, _ = run(capsys, "report", "--html", str(html))
    assert code == 0 and html.exists()
    page = html.read_text()
    assert '<svg viewBox="0 0 820 280"' in page and 'class="day"' in page
    code, out, _ = run(capsys, "report", "--json", "--weeks", "4")
    doc = json.loads(out)
    assert doc["weeks"] == 4 and doc["weekly"][-1]["mean"] == {"value": 6.0, "n": 1}


def test_add_json_with_red_flag_shows_advice_at_once(
    capsys: pytest.CaptureFixture[str], tens_home: Path
) -> None:
    code, out, _ = run(
        capsys,
        "pain",
        "add",
        "4",
        "--where",
        "knee left",
        "--kind",
        "nociceptive",
        "--red-flag",
        "swelling",
        "--red-flag",
        "fever",
        "--helped",
        "ice",
        "--helped",
        "bird-dog",
        "--note",
        "after a walk",
        "--json",
    )
    doc = json.loads(out)
    assert code == 0 and doc["saved"] is True
    assert doc["entry"]["red_flags"] == ["swelling", "fever"]
    assert doc["entry"]["region"] == "knee-left"
    assert "healthcare provider" in doc["advice"][0]
    code, out, _ = run(capsys, "pain", "add", "3", "--red-flag", "numbness")
    assert "⚑" in out and "progressive numbness" in out


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["pain", "add", "11"], "score"),
        (["pain", "add", "x"], "score"),
        (["pain", "add", "5", "--where", "moon"], "where"),
        (["pain", "add", "5", "--kind", "throbbing"], "kind"),
        (["pain", "add", "5", "--red-flag", "dizzy"], "red-flag"),
        (["pain", "add", "5", "--at", "2999-01-01"], "at"),
        (["pain", "add", "5", "--after", "7"], "session"),
        (["pain", "add", "5", "--before", "abc"], "session"),
        (["pain", "list", "--since", "2999-01-01"], "since"),
        (["pain", "list", "--since", "yesterday"], "since"),
        (["peg", "5", "11", "3"], "enjoyment"),
        (["peg", "5", "3"], "PEG-3 needs three"),
        (["report", "--weeks", "0"], "weeks"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tens_home: Path, argv: list[str], field: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert f"tens: error: {field}" in err
    if (tens_home / "tens.db").exists():
        assert count(tens_home) == 0


def test_json_errors_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pain", "add", "12", "--json")
    assert code == 2 and json.loads(out)["error"].startswith("score:")


def test_before_after_session_edit_delete_list(
    capsys: pytest.CaptureFixture[str], tens_home: Path
) -> None:
    import datetime as dt

    from tens.store import open_db
    from tens.store.sessions import create_session

    conn = open_db()
    sid = create_session(conn, started_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=40))
    conn.close()
    assert run(capsys, "pain", "add", "7", "--before", str(sid))[0] == 0
    assert run(capsys, "pain", "add", "3", "--after", f"#{sid}")[0] == 0
    code, out, _ = run(capsys, "pain", "list", "--json")
    entries = json.loads(out)["entries"]
    assert [(e["context"], e["session_id"]) for e in entries] == [("before", sid), ("after", sid)]
    code, out, _ = run(capsys, "pain", "edit", "2", "--score", "2", "--reason", "misread")
    assert code == 0 and "pain  2" in out
    code, out, _ = run(capsys, "pain", "delete", "1")
    assert code == 0 and "deleted entry 1" in out
    code, out, _ = run(capsys, "pain", "list")
    assert ids(out) == ["#2"] and "after session" in out and "n=1" in out
    code, out, _ = run(capsys, "pain", "list", "--all")
    assert ids(out) == ["#1", "#2"] and "deleted" in out
    code, out, _ = run(capsys, "pain", "show", "2", "--json")
    hist = json.loads(out)["history"]
    assert hist[0]["before"]["score"] == 3 and hist[0]["reason"] == "misread"
    code, _, err = run(capsys, "pain", "edit", "1", "--score", "4")
    assert code == 2 and "deleted" in err
    code, _, err = run(capsys, "pain", "delete", "99")
    assert code == 1 and "entry 99 does not exist" in err
    code, _, err = run(capsys, "pain", "edit", "2")
    assert code == 2 and "nothing to change" in err
    code, out, _ = run(capsys, "report", "--json")
    (s,) = json.loads(out)["sessions"]
    assert (s["before"], s["after"]) == (None, 2)  # before-score was deleted


def test_peg_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "peg", "6", "5", "4")
    assert code == 0 and "score 5.0" in out
    code, out, _ = run(capsys, "peg", "--list", "--json")
    assert json.loads(out)["peg"][0]["score"] == 5.0
    code, out, _ = run(capsys, "pain", "options", "--json")
    doc = json.loads(out)
    assert "lower-back" in doc["regions"] and "weight-loss" in doc["red_flags"]


def test_export_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run(capsys, "pain", "add", "5", "--note", "a, b")
    code, out, _ = run(capsys, "export", "--csv", str(tmp_path / "e.csv"))
    assert code == 0 and "e-sessions.csv" in out and (tmp_path / "e-peg.csv").exists()
    code, out, _ = run(capsys, "export", "--json", str(tmp_path / "e.json"))
    assert (
        code == 0 and json.loads((tmp_path / "e.json").read_text())["entries"][0]["note"] == "a, b"
    )


def test_corrupt_and_newer_databases_are_refused(
    capsys: pytest.CaptureFixture[str], tens_home: Path
) -> None:
    tens_home.mkdir(parents=True)
    db = tens_home / "tens.db"
    db.write_bytes(b"garbage" * 500)
    code, _, err = run(capsys, "pain", "add", "5")
    assert code == 4 and "damaged or not a database" in err
    assert db.read_bytes() == b"garbage" * 500
    db.unlink()
    run(capsys, "pain", "add", "5")
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 3}")
    raw.commit()
    raw.close()
    code, _, err = run(capsys, "report")
    assert code == 4 and "newer than this tens" in err


def test_full_disk_is_a_clear_error_and_nothing_half_written(
    capsys: pytest.CaptureFixture[str], tens_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tens.store.connection as connection

    assert run(capsys, "pain", "add", "5")[0] == 0
    real_open = connection.open_db

    def tiny_disk(path: object = None, **kw: object) -> sqlite3.Connection:
        conn = real_open(path, **kw)  # type: ignore[arg-type]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages}")  # the file cannot grow: "disk full"
        return conn

    monkeypatch.setattr("tens.store.open_db", tiny_disk)
    long_note = "n" * 1900
    for _ in range(30):
        code, _, err = run(capsys, "pain", "add", "5", "--note", long_note)
        if code != 0:
            break
    assert code == 4 and "disk is full" in err and "nothing was" in err
    monkeypatch.undo()
    n = count(tens_home)
    conn = sqlite3.connect(tens_home / "tens.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    notes = [r[0] for r in conn.execute("SELECT note FROM pain_entries")]
    conn.close()
    assert all(note in (None, long_note) for note in notes) and len(notes) == n


def test_output_file_that_cannot_be_written_is_exit_11(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "pain", "add", "5")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run(capsys, "report", "--html", str(blocker / "r.html"))
    assert code == 11 and "html: cannot write" in err  # ExitCode.WRITE
    code, _, err = run(capsys, "export", "--json", str(blocker / "e.json"))
    assert code == 11 and "nothing was written" in err  # ExitCode.WRITE
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize(
    "argv",
    [
        ("report", "--html", "{missing}/report.html"),
        ("export", "--csv", "{missing}/pain.csv"),
        ("export", "--json", "{missing}/journal.json"),
    ],
)
def test_writing_into_a_missing_folder_is_an_error_not_a_silent_mkdir(
    capsys: pytest.CaptureFixture[str], tens_home: Path, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """A typo in a folder name must not create a tree of folders holding health data."""
    missing = tmp_path / "no-such-folder"
    code, _, err = run(capsys, *(a.format(missing=missing) for a in argv))
    assert code != 0
    assert "no-such-folder" in err and "does not exist" in err
    assert not missing.exists()


def test_export_csv_names_match_the_help(
    capsys: pytest.CaptureFixture[str], tens_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    code, _, _ = run(capsys, "export", "--csv", str(folder / "pain.csv"))
    assert code == 0
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["pain-peg.csv", "pain-sessions.csv", "pain.csv"]
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = capsys.readouterr().out
    assert "pain-sessions.csv" in help_text and "pain-peg.csv" in help_text


@pytest.mark.parametrize(
    ("scores", "field", "anchor"),
    [
        (["11", "3", "3"], "pain", "no pain"),
        (["5", "11", "3"], "enjoyment", "does not interfere"),
        (["5", "3", "-1"], "activity", "does not interfere"),
    ],
)
def test_peg_errors_use_each_items_own_anchors(
    capsys: pytest.CaptureFixture[str], tens_home: Path, scores: list[str], field: str, anchor: str
) -> None:
    """PEG-3's enjoyment and activity items ask about interference, not pain."""
    code, _, err = run(capsys, "peg", *scores)
    assert code == 2 and f"tens: error: {field}" in err and anchor in err
    if field != "pain":
        assert "no pain" not in err
    assert err.count("tens: error") == 1
