"""`tens prescription import FILE [--yes] | show | remove [--yes]`: a clinician's prescription.

Import validates the file, shows it in plain words and asks the person to accept it (``--yes``
accepts without asking, for scripts). Nothing is stored unless it is valid and accepted.
Exit codes: 0 done, 1 nothing to show or remove, 2 the file is refused or not accepted,
3 the configuration is refused, 4 the database could not be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tens.cli.common import add_config, add_json, load_or_fail
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

EXIT_NONE = ExitCode.NOT_FOUND
EXIT_REFUSED = ExitCode.USAGE
EXIT_STORE = ExitCode.STORE


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
    add_json(s)
    r = verbs.add_parser("remove", help="stop applying the prescription")
    r.add_argument("--yes", action="store_true", help="remove without asking")
    add_json(r)
    p.set_defaults(handler=run, json=False)


def _confirm(question: str) -> bool:
    sys.stdout.write(f"{question} [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from tens.prescription import PrescriptionError, parse
    from tens.store import StoreError, open_db
    from tens.store.prescriptions import active_source, remove_active, save_accepted

    as_json = bool(getattr(args, "json", False))
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
        if not as_json:
            print(rx.plain_words())
        if not args.yes and not _confirm("Accept this prescription?"):
            return fail("not accepted: nothing was changed", EXIT_REFUSED, as_json=as_json)
        try:
            conn = open_db()
            try:
                save_accepted(conn, text)
            finally:
                conn.close()
        except StoreError as exc:
            return fail(str(exc), EXIT_STORE, as_json=as_json)
        if as_json:
            emit_json(
                {
                    "accepted": True,
                    "prescriber": rx.prescriber,
                    "valid_until": rx.valid_until.isoformat(),
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
            if as_json:
                emit_json({"prescription": words, "source": source})
            else:
                print(words)
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
