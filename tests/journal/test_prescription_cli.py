"""`tens prescription import | show | remove`: plain words, acceptance, and no change on any
refusal (malformed, contradictory, expired-looking dates are stored but announced)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tens.cli import main
from tests.safety.test_prescription import RX


def _db_source() -> str | None:
    from tens.store import open_db
    from tens.store.prescriptions import active_source

    conn = open_db()
    try:
        return active_source(conn)
    finally:
        conn.close()


def test_import_shows_plain_words_and_asks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "rx.toml"
    f.write_text(RX, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["prescription", "import", str(f)]) == 2
    out = capsys.readouterr()
    assert "Prescription from J. Physio" in out.out and "Accept this prescription?" in out.out
    assert "nothing was changed" in out.err and _db_source() is None
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["prescription", "import", str(f)]) == 0
    assert _db_source() == RX
    assert main(["prescription", "show"]) == 0
    assert "at most 25 mA" in capsys.readouterr().out
    assert main(["report", "--clinician"]) == 0
    assert "Prescription from J. Physio" in capsys.readouterr().out
    assert main(["prescription", "remove", "--yes"]) == 0
    assert _db_source() is None
    assert main(["prescription", "show"]) == 1


def test_refused_file_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(RX, encoding="utf-8")
    assert main(["prescription", "import", str(good), "--yes"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(RX.replace('"lower back"', '"chest"'), encoding="utf-8")
    capsys.readouterr()
    assert main(["prescription", "import", str(bad), "--yes", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["problems"][0]["field"] == "placements"
    assert "electrodes must never go" in doc["problems"][0]["reason"]
    assert _db_source() == RX  # the accepted one is still in force
    assert main(["prescription", "import", str(tmp_path / "missing.toml"), "--yes"]) == 2
    assert _db_source() == RX
