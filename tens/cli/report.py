"""`tens report` (terminal, --json, --html FILE) and
`tens export --csv FILE | --json FILE | --fhir FILE`.

Exit codes: 0 done, 2 bad input, 4 the database could not be read, 5 the output file could
not be written (nothing half-written: files are replaced atomically).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
from pathlib import Path

from tens.cli.common import add_json
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

EXIT_INPUT = ExitCode.USAGE
EXIT_STORE = ExitCode.STORE
EXIT_WRITE = ExitCode.WRITE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="pain relief report: baseline vs now, weekly trend, sessions, red flags",
        description="The journal report. Every mean shows its n; no comparison is claimed "
        "when there are too few entries.",
    )
    p.add_argument("--weeks", type=int, default=12, metavar="N", help="weeks to show (default 12)")
    p.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--no-chart", action="store_true", help="leave out the text chart")
    p.add_argument(
        "--clinician",
        action="store_true",
        help="the report for a physiotherapist or doctor: red flags first, adherence, "
        "before/after per session, weekly trend, PEG-3, baseline comparison",
    )
    p.add_argument("--pdf", type=Path, metavar="FILE", help="with --clinician: write it as a PDF")
    add_json(p)
    p.set_defaults(handler=run_report)

    e = sub.add_parser("export", help="export entries, PEG-3 and sessions as CSV or JSON")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="entries to FILE, sessions and PEG-3 beside it "
        "(pain.csv: pain-sessions.csv, pain-peg.csv)",
    )
    g.add_argument("--json", dest="json_file", type=Path, metavar="FILE", help="one JSON file")
    g.add_argument(
        "--fhir",
        type=Path,
        metavar="FILE",
        help="a FHIR R4 Bundle (pain scores, PEG-3, sessions) for a clinic's system",
    )
    e.add_argument("--include-deleted", action="store_true", help="also deleted entries")
    e.add_argument(
        "--patient-name",
        metavar="NAME",
        help="with --fhir: a name for the Patient (left out unless given)",
    )
    e.set_defaults(handler=run_export, json=False)


def _open() -> sqlite3.Connection:
    from tens.store import open_db

    return open_db()


def run_report(args: argparse.Namespace) -> int:
    from tens.journal.report import MAX_WEEKS, build_report, report_json
    from tens.store import StoreError

    if not 1 <= args.weeks <= MAX_WEEKS:
        return fail(f"weeks: {args.weeks} is outside 1–{MAX_WEEKS}", EXIT_INPUT, as_json=args.json)
    if args.pdf is not None and not args.clinician:
        return fail("pdf: --pdf needs --clinician", EXIT_INPUT, as_json=args.json)
    if args.clinician:
        return run_clinician(args)
    try:
        conn = _open()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=args.json)
    try:
        report = build_report(conn, weeks=args.weeks, now=dt.datetime.now(dt.UTC))
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=args.json)
    except sqlite3.DatabaseError as exc:
        return fail(f"cannot read the database: {exc}", EXIT_STORE, as_json=args.json)
    finally:
        conn.close()
    if args.html is not None:
        from tens.journal.files import write_atomic
        from tens.journal.html import render_html

        try:
            path = write_atomic(args.html, render_html(report))
        except OSError as exc:
            return fail(f"html: cannot write {args.html}: {exc}", EXIT_WRITE, as_json=args.json)
        if args.json:
            emit_json({"html": str(path)})
        else:
            print(f"wrote {path}")
        return 0
    if args.json:
        import json

        emit_json(json.loads(report_json(report)))
        return 0
    from tens.journal.terminal import render_text

    print(render_text(report, chart=not args.no_chart), end="")
    return 0


def _prescription_words(conn: sqlite3.Connection) -> str | None:
    from tens.prescription import PrescriptionError, parse
    from tens.store.prescriptions import active_source

    source = active_source(conn)
    if source is None:
        return None
    from tens.prescription_signature import check
    from tens.store.prescription_keys import all_keys

    try:
        return parse(source).plain_words() + "\n" + check(source, all_keys(conn)).words
    except PrescriptionError as exc:
        return f"A stored prescription cannot be read ({exc}); sessions are refused."


def run_clinician(args: argparse.Namespace) -> int:
    from tens.journal.clinician import (
        PdfUnavailable,
        build_clinician,
        render_clinician_html,
        render_clinician_text,
        write_pdf,
    )
    from tens.store import StoreError

    try:
        conn = _open()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=args.json)
    try:
        report = build_clinician(
            conn,
            weeks=args.weeks,
            now=dt.datetime.now(dt.UTC),
            prescription=_prescription_words(conn),
        )
    except (StoreError, sqlite3.DatabaseError) as exc:
        return fail(f"cannot read the database: {exc}", EXIT_STORE, as_json=args.json)
    finally:
        conn.close()
    written: list[str] = []
    if args.html is not None:
        from tens.journal.files import write_atomic

        try:
            written.append(str(write_atomic(args.html, render_clinician_html(report))))
        except OSError as exc:
            return fail(f"html: cannot write {args.html}: {exc}", EXIT_WRITE, as_json=args.json)
    if args.pdf is not None:
        try:
            written.append(str(write_pdf(render_clinician_html(report), args.pdf)))
        except PdfUnavailable as exc:
            return fail(f"pdf: {exc}", EXIT_INPUT, as_json=args.json)
        except OSError as exc:
            return fail(f"pdf: cannot write {args.pdf}: {exc}", EXIT_WRITE, as_json=args.json)
    if written:
        if args.json:
            emit_json({"written": written})
        else:
            for path in written:
                print(f"wrote {path}")
        return 0
    if args.json:
        from tens.journal.clinician import clinician_dict

        emit_json(clinician_dict(report))
        return 0
    print(render_clinician_text(report), end="")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from tens.journal.export import write_csv, write_json
    from tens.store import StoreError

    try:
        conn = _open()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE)
    try:
        if args.fhir is not None:
            from tens.journal.export import collect
            from tens.journal.fhir import write_fhir

            paths = [
                write_fhir(
                    collect(conn),
                    args.fhir,
                    now=dt.datetime.now(dt.UTC),
                    patient_name=args.patient_name,
                )
            ]
        elif args.csv is not None:
            paths = write_csv(conn, args.csv, include_deleted=args.include_deleted)
        else:
            paths = [write_json(conn, args.json_file, include_deleted=args.include_deleted)]
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE)
    except OSError as exc:
        target = next(t for t in (args.fhir, args.csv, args.json_file) if t is not None)
        return fail(f"cannot write {target}: {exc} (nothing was written)", EXIT_WRITE)
    finally:
        conn.close()
    for path in paths:
        print(f"wrote {path}")
    return 0
