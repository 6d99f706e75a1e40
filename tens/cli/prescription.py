"""`tens prescription import FILE [--yes] | show | remove [--yes]`: a clinician's prescription;
`keygen | sign` (the clinician's side) and `trust | keys | untrust` (the person's keys) for
optional Ed25519 signatures (tens.prescription_signature).

Import validates the file and its signature, shows both in plain words and asks the person to
accept it (``--yes`` accepts without asking, for scripts). Nothing is stored unless it is valid
and accepted; a signature that does not verify, or one by a key the person withdrew, is
refused, as is an unsigned or untrusted one under ``[prescription] require_signature``.
Exit codes: 0 done, 1 nothing to show, remove or untrust, 2 the file or key is refused or not
accepted, 3 the configuration is refused, 4 the database could not be used, 11 an output file
could not be written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tens.cli.common import add_config, add_json, load_or_fail
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

EXIT_NONE = ExitCode.NOT_FOUND
EXIT_REFUSED = ExitCode.USAGE
EXIT_STORE = ExitCode.STORE
EXIT_WRITE = ExitCode.WRITE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prescription", help="import, show or remove a clinician's prescription (limits)"
    )
    verbs = p.add_subparsers(dest="rx_verb", metavar="ACTION", required=True)
    i = verbs.add_parser("import", help="check a prescription file and accept it")
    i.add_argument("file", type=Path, metavar="FILE")
    i.add_argument("--yes", action="store_true", help="accept without asking")
    add_config(i)
    add_json(i)
    s = verbs.add_parser("show", help="the prescription in force, in plain words")
    add_config(s)
    add_json(s)
    r = verbs.add_parser("remove", help="stop applying the prescription")
    r.add_argument("--yes", action="store_true", help="remove without asking")
    add_json(r)
    k = verbs.add_parser("keygen", help="(clinician) make a signing key pair")
    k.add_argument("--out", type=Path, required=True, metavar="FILE", help="private key file")
    k.add_argument("--name", help="your name, written beside the public key")
    add_json(k)
    g = verbs.add_parser("sign", help="(clinician) sign a prescription file")
    g.add_argument("file", type=Path, metavar="FILE")
    g.add_argument("--key", type=Path, required=True, metavar="PRIVATE", help="private key file")
    g.add_argument("--out", type=Path, metavar="SIGNED", help="signed file (default: FILE)")
    add_json(g)
    t = verbs.add_parser("trust", help="trust a clinician's public key for signed prescriptions")
    t.add_argument("pubkey", type=Path, metavar="PUBKEY_FILE")
    t.add_argument("--name", required=True, help="whose key it is, as you know them")
    add_json(t)
    ks = verbs.add_parser("keys", help="the keys you trust (and withdrew)")
    add_json(ks)
    u = verbs.add_parser("untrust", help="withdraw trust from a key")
    u.add_argument("key_id", metavar="KEYID", help="its key id (or its first 4+ hex digits)")
    add_json(u)
    p.set_defaults(handler=run, json=False)


def _confirm(question: str) -> bool:
    sys.stdout.write(f"{question} [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _refuse(message: str, code: str, as_json: bool, status: Any = None) -> int:
    if as_json:
        doc: dict[str, Any] = {"error": message, "code": code}
        if status is not None:
            doc["signature"] = status.as_json()
        emit_json(doc)
        return EXIT_REFUSED
    return fail(message, EXIT_REFUSED)


def _keygen(args: argparse.Namespace, as_json: bool) -> int:
    from tens.prescription_signature import generate, key_id, private_pem, public_pem, raw_public

    out: Path = args.out
    pub_path = out.with_name(out.name + ".pub")
    key = generate()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return fail(f"cannot write {out}: {exc} (nothing was written)", EXIT_WRITE, as_json=as_json)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem(key))
    public = public_pem(key, args.name)
    try:
        pub_path.write_text(public, encoding="ascii")
    except OSError as exc:
        out.unlink()
        return fail(
            f"cannot write {pub_path}: {exc} (nothing was written)", EXIT_WRITE, as_json=as_json
        )
    kid = key_id(raw_public(key))
    if as_json:
        emit_json(
            {"key_id": kid, "private_key": str(out), "public_key": str(pub_path), "pem": public}
        )
    else:
        print(public, end="")
        print(
            f"Private key: {out} (keep it to yourself; mode 0600). Public key: {pub_path}: "
            "give it to your patients, who trust it with `tens prescription trust`."
        )
    return 0


def _sign(args: argparse.Namespace, as_json: bool) -> int:
    from tens.prescription import PrescriptionError, parse
    from tens.prescription_signature import SignatureError, key_id, load_private, raw_public, sign

    try:
        text = args.file.read_text(encoding="utf-8")
        key_bytes = args.key.read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        return _refuse(f"cannot read: {exc}", "file-unreadable", as_json)
    try:
        parse(text)  # sign only what tens would accept (programs are checked on import)
        key = load_private(key_bytes)
        signed = sign(text, key)
    except PrescriptionError as exc:
        return _refuse(f"{exc} (nothing was signed)", "rx-invalid", as_json)
    except SignatureError as exc:
        return _refuse(f"{exc} (nothing was signed)", exc.code, as_json)
    out: Path = args.out or args.file
    try:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(signed, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        return fail(f"cannot write {out}: {exc} (nothing was written)", EXIT_WRITE, as_json=as_json)
    kid = key_id(raw_public(key))
    if as_json:
        emit_json({"signed": str(out), "key_id": kid})
    else:
        print(f"Signed with key {kid}: {out}")
    return 0


def _trust(args: argparse.Namespace, as_json: bool) -> int:
    from tens.prescription_signature import SignatureError, load_public
    from tens.store import StoreError, open_db
    from tens.store.prescription_keys import trust_key

    name = str(args.name).strip()
    if not name or len(name) > 200:
        return _refuse("--name: give the key holder's name (1-200 characters)", "name", as_json)
    try:
        raw = load_public(args.pubkey.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return _refuse(f"cannot read {args.pubkey}: {exc}", "file-unreadable", as_json)
    except SignatureError as exc:
        return _refuse(f"{args.pubkey}: {exc}", exc.code, as_json)
    try:
        conn = open_db()
        try:
            kid = trust_key(conn, raw, name)
        finally:
            conn.close()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=as_json)
    if as_json:
        emit_json({"trusted": True, "key_id": kid, "name": name})
    else:
        print(
            f"Trusted key {kid} as {name}. A prescription it signs will say so; this proves who "
            "wrote the file, not that they are a clinician."
        )
    return 0


def _keys(args: argparse.Namespace, as_json: bool) -> int:
    from tens.store import StoreError, open_db
    from tens.store.prescription_keys import all_keys, untrust_key

    try:
        conn = open_db()
        try:
            if args.rx_verb == "untrust":
                kid = untrust_key(conn, str(args.key_id))
                if kid is None:
                    return fail(
                        f"no trusted key {args.key_id!r} (or several start so): see "
                        "`tens prescription keys`",
                        EXIT_NONE,
                        as_json=as_json,
                    )
                if as_json:
                    emit_json({"untrusted": True, "key_id": kid})
                else:
                    print(
                        f"Key {kid} is no longer trusted: a prescription it signed is refused, "
                        "and one in force stops applying: every start is refused until you "
                        "import one that passes, or remove it."
                    )
                return 0
            keys = all_keys(conn)
        finally:
            conn.close()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=as_json)
    if as_json:
        emit_json(
            {"keys": [{"key_id": k.key_id, "name": k.name, "trusted": not k.revoked} for k in keys]}
        )
    elif not keys:
        print("No keys: no signed prescription is from a key you trust.")
    else:
        for k in keys:
            print(f"{k.key_id}  {k.name}" + ("  (withdrawn)" if k.revoked else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    from tens.prescription import PrescriptionError, parse
    from tens.prescription_signature import check, refusal
    from tens.store import StoreError, open_db
    from tens.store.prescription_keys import all_keys
    from tens.store.prescriptions import active_source, remove_active, save_accepted

    as_json = bool(getattr(args, "json", False))
    if args.rx_verb == "keygen":
        return _keygen(args, as_json)
    if args.rx_verb == "sign":
        return _sign(args, as_json)
    if args.rx_verb == "trust":
        return _trust(args, as_json)
    if args.rx_verb in ("keys", "untrust"):
        return _keys(args, as_json)
    if args.rx_verb == "import":
        loaded = load_or_fail(args)
        if isinstance(loaded, int):
            return loaded
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return fail(f"file: cannot read {args.file}: {exc}", EXIT_REFUSED, as_json=as_json)
        try:
            rx = parse(text, programs=loaded.config.program_table())
        except PrescriptionError as exc:
            if as_json:
                emit_json(
                    {
                        "error": str(exc),
                        "problems": [{"field": k, "reason": why} for k, why in exc.problems],
                    }
                )
                return EXIT_REFUSED
            return fail(f"{exc} (nothing was changed)", EXIT_REFUSED)
        try:
            conn = open_db()
        except StoreError as exc:
            return fail(str(exc), EXIT_STORE, as_json=as_json)
        try:
            status = check(text, all_keys(conn))
            refused = refusal(
                status, require_signature=loaded.config.prescription.require_signature
            )
            if refused is not None:
                code, why = refused
                return _refuse(
                    f"prescription refused: {why} (nothing was changed)", code, as_json, status
                )
            if not as_json:
                print(rx.plain_words())
                print(status.words)
            if not args.yes and not _confirm("Accept this prescription?"):
                return fail("not accepted: nothing was changed", EXIT_REFUSED, as_json=as_json)
            save_accepted(conn, text)
        except StoreError as exc:
            return fail(str(exc), EXIT_STORE, as_json=as_json)
        finally:
            conn.close()
        if as_json:
            emit_json(
                {
                    "accepted": True,
                    "prescriber": rx.prescriber,
                    "valid_until": rx.valid_until.isoformat(),
                    "signature": status.as_json(),
                }
            )
        else:
            print("Accepted: every session from now on keeps to it.")
        return 0
    try:
        conn = open_db()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=as_json)
    try:
        source = active_source(conn)
        if source is None:
            return fail("no prescription is in force", EXIT_NONE, as_json=as_json)
        if args.rx_verb == "show":
            try:
                words = parse(source).plain_words()
            except PrescriptionError as exc:
                words = f"the stored prescription cannot be read ({exc}); it applies nothing "
                words += "and sessions are refused until it is removed or imported again"
            status = check(source, all_keys(conn))
            loaded = load_or_fail(args)
            if isinstance(loaded, int):
                return loaded
            refused = refusal(
                status, require_signature=loaded.config.prescription.require_signature
            )
            sig_words = status.words
            if refused is not None:
                sig_words += " It does not apply: every start is refused until you import a "
                sig_words += "prescription that passes, or remove this one."
            if as_json:
                emit_json(
                    {
                        "prescription": words,
                        "source": source,
                        "signature": status.as_json(),
                        "applies": refused is None,
                        "code": None if refused is None else refused[0],
                    }
                )
            else:
                print(words)
                print(sig_words)
            return 0
        if not args.yes and not _confirm("Remove the prescription? Your own limits will apply."):
            return fail("not removed", EXIT_REFUSED, as_json=as_json)
        remove_active(conn)
        if as_json:
            emit_json({"removed": True})
        else:
            print("Removed: your own limits apply.")
        return 0
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=as_json)
    finally:
        conn.close()
