"""`tens prescription keygen | sign | trust | keys | untrust`, and import/show with signatures:
a signature that does not verify is refused and nothing is stored; the plain words say who
signed (and that this is not proof of being a clinician) or that no trusted key did."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from tens.cli import main
from tests.journal.test_prescription_cli import _db_source
from tests.safety.test_prescription import RX


def _json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _clinician(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, str]:
    """A key pair and a signed copy of RX: (signed file, public key file, key id)."""
    key = tmp_path / "physio.key"
    assert main(["prescription", "keygen", "--out", str(key), "--name", "J. Physio", "--json"]) == 0
    kid = _json(capsys)["key_id"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub = tmp_path / "physio.key.pub"
    assert "J. Physio" in pub.read_text() and "BEGIN PUBLIC KEY" in pub.read_text()
    rx = tmp_path / "rx.toml"
    rx.write_text(RX, encoding="utf-8")
    signed = tmp_path / "rx-signed.toml"
    assert main(["prescription", "sign", str(rx), "--key", str(key), "--out", str(signed)]) == 0
    assert kid in capsys.readouterr().out
    assert rx.read_text() == RX  # --out: the original is left alone
    return signed, pub, kid


def test_trusted_signature_is_shown_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signed, pub, kid = _clinician(tmp_path, capsys)
    # before trusting: importable, and says no trusted key signed it
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["prescription", "import", str(signed)]) == 2
    assert "Not signed by a key you trust: the signature is valid" in capsys.readouterr().out
    assert main(["prescription", "trust", str(pub), "--name", "J. Physio", "--json"]) == 0
    assert _json(capsys) == {"trusted": True, "key_id": kid, "name": "J. Physio"}
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["prescription", "import", str(signed)]) == 0
    out = capsys.readouterr().out
    assert f"Signed by J. Physio, key {kid[:4]}…" in out
    assert "this proves who wrote the file, not that they are a clinician" in out
    assert out.index("Prescription from") < out.index("Signed by") < out.index("Accept")
    assert _db_source() == signed.read_text()
    assert main(["prescription", "show", "--json"]) == 0
    doc = _json(capsys)
    assert doc["signature"]["state"] == "trusted" and doc["applies"] is True
    assert main(["report", "--clinician"]) == 0
    assert f"Signed by J. Physio, key {kid[:4]}…" in capsys.readouterr().out
    assert main(["prescription", "keys", "--json"]) == 0
    assert _json(capsys) == {"keys": [{"key_id": kid, "name": "J. Physio", "trusted": True}]}
    # withdrawn: the stored one no longer applies, and show says so
    assert main(["prescription", "untrust", kid[:6]]) == 0
    capsys.readouterr()
    assert main(["prescription", "show"]) == 0
    assert "which you no longer trust" in (out := capsys.readouterr().out)
    assert "It does not apply: every start is refused" in out
    assert main(["prescription", "show", "--json"]) == 0
    doc = _json(capsys)
    assert (doc["applies"], doc["code"]) == (False, "signature-revoked")
    assert main(["prescription", "keys"]) == 0
    assert "(withdrawn)" in capsys.readouterr().out
    # and a file it signed is refused at import
    assert main(["prescription", "import", str(signed), "--yes", "--json"]) == 2
    assert _json(capsys)["code"] == "signature-revoked"
    assert main(["prescription", "untrust", kid]) == 1  # already withdrawn
    assert main(["prescription", "untrust", "ab"]) == 1  # too short to name one


def test_tampered_or_wrongly_signed_file_is_refused_and_nothing_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed, pub, _ = _clinician(tmp_path, capsys)
    assert main(["prescription", "trust", str(pub), "--name", "J. Physio"]) == 0
    tampered = tmp_path / "tampered.toml"
    tampered.write_text(signed.read_text().replace("[10, 25]", "[10, 40]"), encoding="utf-8")
    capsys.readouterr()
    assert main(["prescription", "import", str(tampered), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "signature does not verify" in err and "nothing was changed" in err
    assert _db_source() is None
    assert main(["prescription", "import", str(tampered), "--yes", "--json"]) == 2
    doc = _json(capsys)
    assert doc["code"] == "signature-invalid" and doc["signature"]["state"] == "invalid"
    assert _db_source() is None
    # a key id that is not its key
    wrong = tmp_path / "wrong.toml"
    text = signed.read_text()
    kid_line = next(line for line in text.splitlines() if line.startswith("key_id"))
    wrong.write_text(text.replace(kid_line, 'key_id = "0123456789abcdef"'), encoding="utf-8")
    assert main(["prescription", "import", str(wrong), "--yes", "--json"]) == 2
    assert _json(capsys)["code"] == "signature-key-id"
    assert _db_source() is None


def test_require_signature_refuses_unsigned_and_untrusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signed, pub, _ = _clinician(tmp_path, capsys)
    unsigned = tmp_path / "rx.toml"
    assert main(["prescription", "import", str(unsigned), "--yes"]) == 0  # optional by default
    assert "Not signed by a key you trust: the file carries no signature" in (
        capsys.readouterr().out
    )
    monkeypatch.setenv("TENS_PRESCRIPTION__REQUIRE_SIGNATURE", "true")
    assert main(["prescription", "show", "--json"]) == 0
    assert _json(capsys)["code"] == "signature-required"  # the stored one stops applying
    for f in (unsigned, signed):  # signed, but by a key not trusted yet
        assert main(["prescription", "import", str(f), "--yes", "--json"]) == 2
        doc = _json(capsys)
        assert doc["code"] == "signature-required" and "require_signature" in doc["error"]
    assert _db_source() == RX
    assert main(["prescription", "trust", str(pub), "--name", "J. Physio"]) == 0
    assert main(["prescription", "import", str(signed), "--yes", "--json"]) == 0
    assert _json(capsys)["signature"]["state"] == "trusted"
    assert _db_source() == signed.read_text()


def test_keygen_sign_and_trust_refuse_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed, pub, _ = _clinician(tmp_path, capsys)
    key = tmp_path / "physio.key"
    before = key.read_bytes()
    assert main(["prescription", "keygen", "--out", str(key)]) == 11  # never overwrites
    assert key.read_bytes() == before
    assert main(["prescription", "sign", str(signed), "--key", str(key), "--json"]) == 2
    assert _json(capsys)["code"] == "signature-present"
    assert main(["prescription", "sign", str(signed), "--key", str(pub), "--json"]) == 2
    assert _json(capsys)["code"] == "key-invalid"
    bad = tmp_path / "bad.toml"
    bad.write_text(RX.replace('"lower back"', '"chest"'), encoding="utf-8")
    assert main(["prescription", "sign", str(bad), "--key", str(key), "--json"]) == 2
    assert _json(capsys)["code"] == "rx-invalid"
    assert main(["prescription", "trust", str(key), "--name", "X", "--json"]) == 2
    assert _json(capsys)["code"] == "key-invalid"
    assert main(["prescription", "trust", str(pub), "--name", " ", "--json"]) == 2
    assert main(["prescription", "keys", "--json"]) == 0
    assert _json(capsys) == {"keys": []}
    # sign in place (no --out)
    rx = tmp_path / "rx.toml"
    assert main(["prescription", "sign", str(rx), "--key", str(key)]) == 0
    assert "[signature]" in rx.read_text()
