"""Prescription signatures (tens.prescription_signature): the canonical content as documented,
the documented test vectors (also against openssl), every way a signature fails, and the one
rule import and every start share."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tens.prescription import parse
from tens.prescription_signature import (
    SignatureError,
    Status,
    TrustedKey,
    canonical_bytes,
    check,
    key_id,
    load_private,
    load_public,
    private_pem,
    public_pem,
    raw_public,
    refusal,
    sign,
)
from tests.safety.test_prescription import PROGRAMS, RX

DOC = (Path(__file__).resolve().parents[2] / "docs" / "prescription.md").read_text("utf-8")
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(32))


def _vector(name: str) -> str:
    m = re.search(rf"<!-- vector: {name} -->\n```[a-z]*\n(.*?)```", DOC, re.S)
    assert m, name
    return m.group(1)


def _trusted(key: Ed25519PrivateKey = KEY, *, revoked: bool = False) -> TrustedKey:
    pub = raw_public(key)
    return TrustedKey(key_id(pub), "J. Physio", pub, revoked)


def test_the_documented_vectors() -> None:
    text = _vector("file")
    assert canonical_bytes(text) == _vector("canonical").rstrip("\n").encode("utf-8")
    assert load_private(_vector("private-pem").encode()) is not None
    assert private_pem(KEY).decode() == _vector("private-pem")
    assert public_pem(KEY, "J. Physio") == _vector("public-pem")
    assert load_public(_vector("public-pem")) == raw_public(KEY)
    signed = sign(text, KEY)
    assert signed == text + "\n" + _vector("signature")
    assert check(signed, [_trusted()]) == Status(
        "trusted", key_id="21fe31dfa154a261", signer="J. Physio"
    )
    parse(signed, programs=PROGRAMS)  # the [signature] table is not a limit


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_the_openssl_recipe_makes_the_same_signature(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text(_vector("private-pem"))
    canon = tmp_path / "canonical.json"
    canon.write_bytes(canonical_bytes(_vector("file")))
    out = subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-inkey", str(key), "-rawin", "-in", str(canon)],
        capture_output=True,
        check=True,
    ).stdout
    value = re.search(r'value = "(.*)"', _vector("signature"))
    assert value and base64.b64encode(out).decode() == value.group(1)


def test_layout_and_comments_are_not_signed_but_every_value_is() -> None:
    signed = sign(RX, KEY)
    relaid = "# from the clinic\n" + signed.replace("sessions_per_day = 2", "sessions_per_day=2")
    relaid = relaid.replace("intensity = [10, 25]", "intensity = [10.0, 25.0]  # mA")
    assert check(relaid, [_trusted()]).state == "trusted"
    for before, after in [
        ("intensity = [10, 25]", "intensity = [10, 35]"),
        ("valid_until = 2026-05-24", "valid_until = 2027-05-24"),
        ('"knee-left"', '"knee-right"'),
        ("Stop if the skin gets red.", "Stop if the skin gets red!"),
        ("rest_minutes = 60\n", ""),
        ('notes = "', 'extra = 1\nnotes = "'),
    ]:
        assert before in signed
        st = check(signed.replace(before, after, 1), [_trusted()])
        assert (st.state, st.code) == ("invalid", "signature-invalid"), before


def _sig_field(signed: str, field: str, value: str) -> str:
    return re.sub(rf'^{field} = ".*"$', f'{field} = "{value}"', signed, count=1, flags=re.M)


def test_every_malformed_signature_is_invalid_with_its_code() -> None:
    signed = sign(RX, KEY)
    other_pub = base64.b64encode(raw_public(OTHER)).decode()
    cases = {
        "signature-key-id": _sig_field(signed, "key_id", "0000000000000000"),
        "signature-invalid": _sig_field(
            _sig_field(signed, "public_key", other_pub), "key_id", key_id(raw_public(OTHER))
        ),
        "signature-malformed": _sig_field(signed, "algorithm", "rsa"),
    }
    cases["bad-b64"] = _sig_field(signed, "value", "not base64!")
    cases["short"] = _sig_field(signed, "value", base64.b64encode(b"x" * 63).decode())
    cases["extra"] = signed + 'comment = "hi"\n'
    cases["not-a-table"] = 'signature = "yes"\n' + RX
    for name, text in cases.items():
        st = check(text, [_trusted()])
        assert st.state == "invalid", name
        assert st.code == (name if name.startswith("signature-") else "signature-malformed")
        assert refusal(st, require_signature=False) is not None
        assert "does not verify" in st.words


def test_resigned_by_another_key_is_valid_but_not_trusted() -> None:
    forged = sign(RX.replace("25]", "60]"), OTHER)
    st = check(forged, [_trusted()])
    assert st.state == "untrusted" and st.signer is None
    assert st.key_id == key_id(raw_public(OTHER))
    assert st.words.startswith("Not signed by a key you trust")
    assert refusal(st, require_signature=False) is None
    assert refusal(st, require_signature=True)[0] == "signature-required"  # type: ignore[index]


def test_trusted_withdrawn_and_unsigned() -> None:
    signed = sign(RX, KEY)
    st = check(signed, [_trusted(OTHER), _trusted()])
    assert st.state == "trusted"
    assert "Signed by J. Physio, key 21fe…" in st.words
    assert "this proves who wrote the file, not that they are a clinician" in st.words
    assert refusal(st, require_signature=True) is None
    gone = check(signed, [_trusted(revoked=True)])
    assert gone.state == "revoked"
    assert refusal(gone, require_signature=False)[0] == "signature-revoked"  # type: ignore[index]
    # a stored key with the same id but other bytes is not the signer
    impostor = TrustedKey(key_id(raw_public(KEY)), "J. Physio", raw_public(OTHER))
    assert check(signed, [impostor]).state == "untrusted"
    unsigned = check(RX, [_trusted()])
    assert (
        unsigned.state == "unsigned" and "not signed by a key you trust" in unsigned.words.lower()
    )
    assert refusal(unsigned, require_signature=False) is None
    assert refusal(unsigned, require_signature=True)[0] == "signature-required"  # type: ignore[index]


def test_canonical_form_details() -> None:
    # keys sorted by UTF-16 code units (JCS): U+1F600 (D83D …) before U+E000
    text = 'a = 1\n"\ue000" = 2\n"\U0001f600" = 3\n"B" = -0.0\nc = 0.1\nd = true\n'
    assert canonical_bytes(text).decode() == '{"B":0,"a":1,"c":0.1,"d":true,"😀":3,"\ue000":2}'
    assert canonical_bytes('s = "tab\\t nl\\n q\\" bs\\\\ \\u0001 é"\n').decode() == (
        '{"s":"tab\\t nl\\n q\\" bs\\\\ \\u0001 é"}'
    )
    for bad in [
        "t = 2026-03-01T10:00:00Z",
        "t = 10:00:00",
        "x = 1e-7",
        "n = 9007199254740992",
        "f = nan",
        "v = [1e300]",
    ]:
        with pytest.raises(SignatureError) as err:
            canonical_bytes(bad)
        assert err.value.code == "signature-canonical", bad
    with pytest.raises(SignatureError) as err:
        sign(sign(RX, KEY), KEY)
    assert err.value.code == "signature-present"


def test_keys_that_are_not_ed25519_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ecdsa = ec.generate_private_key(ec.SECP256R1())
    pem = ecdsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = (
        ecdsa.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for fn, arg in [
        (load_private, pem),
        (load_public, pub),
        (load_private, b"junk"),
        (load_public, "junk"),
    ]:
        with pytest.raises(SignatureError) as err:
            fn(arg)  # type: ignore[operator]
        assert err.value.code == "key-invalid"
