"""Optional Ed25519 signatures on a prescription (docs/prescription.md, "Signatures").

What is signed is the *data* of the file, not its bytes: the TOML parsed, the top-level
``signature`` table removed, written as canonical JSON (RFC 8785 / JCS for the values a
prescription holds; TOML dates as ``"YYYY-MM-DD"``), UTF-8. A clinician's tool elsewhere can
reproduce it (docs give test vectors and an ``openssl`` recipe).

A signature proves which key signed the data; the name beside the key is the one the person
gave when they trusted it (``tens prescription trust``). It does not prove that the key's
holder is a clinician.

Pure apart from key (de)serialisation: no I/O, no clock, no store.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "ed25519"
KEY_ID_HEX = 16
"""A key id is the first 16 hex digits (64 bits) of SHA-256 of the 32-byte raw public key."""
_MAX_SAFE_INT = 2**53 - 1

State = Literal["unsigned", "trusted", "untrusted", "revoked", "invalid"]


class SignatureError(ValueError):
    """A signature or key that cannot be used; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key_id: str
    name: str
    public_key: bytes
    """32 raw bytes."""
    revoked: bool = False
    """True: the person withdrew trust (``tens prescription untrust``)."""


@dataclass(frozen=True, slots=True)
class Status:
    state: State
    key_id: str | None = None
    signer: str | None = None
    """The name the person gave the key when trusting it (None: not trusted)."""
    code: str | None = None
    """Machine-readable, for ``invalid``: signature-malformed, signature-key-id,
    signature-invalid."""
    reason: str | None = None

    @property
    def words(self) -> str:
        short = f"key {self.key_id[:4]}…" if self.key_id else ""
        if self.state == "trusted":
            return (
                f"Signed by {self.signer}, {short} ({self.key_id}); this proves who wrote the "
                "file, not that they are a clinician."
            )
        if self.state == "untrusted":
            return (
                f"Not signed by a key you trust: the signature is valid but its {short} "
                f"({self.key_id}) is not one you imported with `tens prescription trust`."
            )
        if self.state == "revoked":
            return (
                f"Signed by {short} ({self.key_id}), named {self.signer}, which you no longer "
                "trust (`tens prescription untrust`)."
            )
        if self.state == "invalid":
            return f"The signature does not verify: {self.reason}."
        return "Not signed by a key you trust: the file carries no signature."

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "key_id": self.key_id,
            "signer": self.signer,
            "code": self.code,
            "words": self.words,
        }


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:KEY_ID_HEX]


# -- the canonical content ----------------------------------------------------------------


def _canon(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise SignatureError("signature-canonical", f"{where}: integer beyond ±(2^53 - 1)")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SignatureError("signature-canonical", f"{where}: {value} is not a number")
        if value.is_integer() and abs(value) <= _MAX_SAFE_INT:
            return str(int(value))
        text = repr(value)
        if "e" in text or "E" in text:
            raise SignatureError("signature-canonical", f"{where}: {text} is too small or large")
        return text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime | dt.time):
        raise SignatureError("signature-canonical", f"{where}: only dates, not times, are signed")
    if isinstance(value, dt.date):
        return f'"{value.isoformat()}"'
    if isinstance(value, list):
        return "[" + ",".join(_canon(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: str(k).encode("utf-16-be"))
        return (
            "{"
            + ",".join(
                json.dumps(str(k), ensure_ascii=False) + ":" + _canon(value[k], f"{where}.{k}")
                for k in keys
            )
            + "}"
        )
    raise SignatureError("signature-canonical", f"{where}: {type(value).__name__} is not signed")


def canonical_document(document: Mapping[str, Any]) -> bytes:
    """The bytes signed for a parsed TOML document (its ``signature`` table left out)."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return _canon(body, "(file)").encode("utf-8")


def canonical_bytes(text: str) -> bytes:
    try:
        return canonical_document(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise SignatureError("signature-canonical", f"not valid TOML: {exc}") from exc


# -- keys -----------------------------------------------------------------------------------


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (the file is written mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PrivateKey, name: str | None = None) -> str:
    """SubjectPublicKeyInfo PEM, with comment lines before it (the name, the key id)."""
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    head = f"# tens prescription signing key{': ' + name if name else ''}\n"
    return head + f"# key id: {key_id(raw_public(key))}\n" + pem


def load_private(data: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError("key-invalid", f"not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("key-invalid", "the private key is not an Ed25519 key")
    return key


_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----")


def load_public(text: str) -> bytes:
    """The 32 raw bytes of an Ed25519 public key in SubjectPublicKeyInfo PEM (lines around the
    PEM block, such as ``# J. Physio``, are ignored)."""
    found = _PEM.findall(text)
    if len(found) != 1:
        raise SignatureError("key-invalid", "expected exactly one PEM public key block")
    try:
        key = serialization.load_pem_public_key(found[0].encode("ascii"))
    except ValueError as exc:
        raise SignatureError("key-invalid", f"not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("key-invalid", "the public key is not an Ed25519 key")
    return raw_public(key)


# -- sign and check -------------------------------------------------------------------------


def sign(text: str, key: Ed25519PrivateKey) -> str:
    """``text`` with a ``[signature]`` table appended. Refuses a file that already has one
    (sign the unsigned file) or that is not valid TOML."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SignatureError("signature-canonical", f"not valid TOML: {exc}") from exc
    if "signature" in document:
        raise SignatureError(
            "signature-present", "the file already has a signature: sign the unsigned file"
        )
    value = base64.b64encode(key.sign(canonical_document(document))).decode("ascii")
    pub = raw_public(key)
    table = (
        "\n[signature]\n"
        f'algorithm = "{ALGORITHM}"\n'
        f'key_id = "{key_id(pub)}"\n'
        f'public_key = "{base64.b64encode(pub).decode("ascii")}"\n'
        f'value = "{value}"\n'
    )
    return text.rstrip("\n") + "\n" + table


def _b64(text: object, size: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise SignatureError("signature-malformed", f"signature.{what} is not text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature-malformed", f"signature.{what} is not base64") from exc
    if len(raw) != size:
        raise SignatureError(
            "signature-malformed", f"signature.{what} is {len(raw)} bytes, not {size}"
        )
    return raw


def check(text: str, keys: Iterable[TrustedKey]) -> Status:
    """The signature status of a prescription's text against the person's keys (trusted and
    withdrawn). Never raises for a bad signature: that is ``invalid`` with a code."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Status("invalid", code="signature-malformed", reason=f"not valid TOML: {exc}")
    sig = document.get("signature")
    if sig is None:
        return Status("unsigned")
    try:
        if not isinstance(sig, dict):
            raise SignatureError("signature-malformed", "signature is not a table")
        extra = sorted(set(sig) - {"algorithm", "key_id", "public_key", "value"})
        if extra:
            raise SignatureError("signature-malformed", f"signature has unknown keys {extra}")
        if sig.get("algorithm") != ALGORITHM:
            raise SignatureError(
                "signature-malformed",
                f"signature.algorithm is {sig.get('algorithm')!r}, only {ALGORITHM!r} is known",
            )
        pub = _b64(sig.get("public_key"), 32, "public_key")
        value = _b64(sig.get("value"), 64, "value")
        kid = key_id(pub)
        if sig.get("key_id") != kid:
            raise SignatureError(
                "signature-key-id", f"signature.key_id does not match its public key ({kid})"
            )
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(value, canonical_document(document))
        except InvalidSignature:
            raise SignatureError(
                "signature-invalid",
                f"the file was changed after key {kid} signed it, or signed with another key",
            ) from None
    except SignatureError as exc:
        declared = sig.get("key_id") if isinstance(sig, dict) else None
        return Status(
            "invalid",
            key_id=declared if isinstance(declared, str) else None,
            code=exc.code,
            reason=str(exc),
        )
    for k in keys:
        if k.key_id == kid and k.public_key == pub:
            return Status("revoked" if k.revoked else "trusted", key_id=kid, signer=k.name)
    return Status("untrusted", key_id=kid)


def refusal(status: Status, *, require_signature: bool) -> tuple[str, str] | None:
    """(code, why) when a prescription with this status must not be accepted or applied:
    one rule for import and for every start. None: it may be."""
    if status.state == "invalid":
        return (status.code or "signature-invalid", status.words)
    if status.state == "revoked":
        return ("signature-revoked", status.words)
    if require_signature and status.state != "trusted":
        return (
            "signature-required",
            status.words + " Your settings ask for one ([prescription] require_signature).",
        )
    return None
