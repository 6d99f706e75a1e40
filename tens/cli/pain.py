"""`tens pain add|list|show|edit|delete|options` and `tens peg`: the pain journal by hand.

Exit codes: 0 done, 1 no such entry, 2 bad input (the message names the field), 4 the
database could not be opened or written (nothing was written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any

from tens.cli.common import add_json
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

EXIT_NOT_FOUND = ExitCode.NOT_FOUND
EXIT_INPUT = ExitCode.USAGE
EXIT_STORE = ExitCode.STORE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pain",
        help="log and review pain scores (0–10) in the journal",
        description="The pain journal: 0–10 scores with where, what kind, red flags and what "
        "else helped. `tens pain options` lists the accepted names.",
    )
    verbs = p.add_subparsers(dest="pain_verb", metavar="ACTION", required=True)

    add = verbs.add_parser("add", help="log a pain score (0 = no pain, 10 = worst)")
    add.add_argument("score", metavar="SCORE", help="pain now, a whole number 0–10")
    _session_options(add)
    _detail_options(add)
    add.add_argument("--at", metavar="WHEN", help="when (YYYY-MM-DD [HH:MM], local; default now)")
    add_json(add)
    add.set_defaults(handler=run_add)

    lst = verbs.add_parser("list", help="list entries, oldest first")
    lst.add_argument("--since", metavar="DATE", help="from this local date on (YYYY-MM-DD)")
    lst.add_argument("--all", action="store_true", help="include deleted entries")
    add_json(lst)
    lst.set_defaults(handler=run_list)

    show = verbs.add_parser("show", help="one entry with its edit/delete history")
    show.add_argument("id", metavar="ID", type=_entry_id)
    add_json(show)
    show.set_defaults(handler=run_show)

    edit = verbs.add_parser("edit", help="change an entry (the old version is kept)")
    edit.add_argument("id", metavar="ID", type=_entry_id)
    edit.add_argument("--score", metavar="SCORE", help="new 0–10 score")
    g = _session_options(edit)
    g.add_argument("--other", action="store_true", help="not linked to a session any more")
    _detail_options(edit)
    edit.add_argument("--no-red-flags", action="store_true", help="clear the red flags")
    edit.add_argument("--no-helped", action="store_true", help="clear what helped")
    edit.add_argument("--at", metavar="WHEN", help="new time (YYYY-MM-DD [HH:MM], local)")
    edit.add_argument("--reason", metavar="TEXT", help="why (kept in the history)")
    add_json(edit)
    edit.set_defaults(handler=run_edit)

    delete = verbs.add_parser("delete", help="delete an entry (it is marked, not erased)")
    delete.add_argument("id", metavar="ID", type=_entry_id)
    delete.add_argument("--reason", metavar="TEXT", help="why (kept in the history)")
    add_json(delete)
    delete.set_defaults(handler=run_delete)

    clear = verbs.add_parser(
        "clear-flag", help="after a red flag: say you have seen a clinician, or dismiss it"
    )
    clear.add_argument("region", metavar="REGION", help="the site the red flag was logged for")
    how = clear.add_mutually_exclusive_group(required=True)
    how.add_argument("--seen-clinician", action="store_true", help="I have seen a clinician")
    how.add_argument("--dismiss", action="store_true", help="dismiss it deliberately")
    add_json(clear)
    clear.set_defaults(handler=run_clear_flag)

    opts = verbs.add_parser("options", help="accepted regions, kinds, red flags and helpers")
    add_json(opts)
    opts.set_defaults(handler=run_options)

    peg = sub.add_parser(
        "peg",
        help="weekly PEG-3: average pain, enjoyment of life, general activity (each 0–10)",
        description="PEG-3 (Krebs 2009). In the past week: A = average pain, B = how much pain "
        "interfered with enjoyment of life, C = with general activity; each 0–10. The "
        "score is their mean.",
    )
    peg.add_argument("scores", nargs="*", metavar="A B C", help="the three answers, 0–10")
    peg.add_argument("--at", metavar="WHEN", help="when (YYYY-MM-DD [HH:MM], local)")
    peg.add_argument("--list", action="store_true", help="list PEG-3 answers instead")
    add_json(peg)
    peg.set_defaults(handler=run_peg)


def _entry_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ID must be an entry number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"ID must be an entry number, not {text!r}")
    return value


def _session_options(p: argparse.ArgumentParser) -> Any:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--before", metavar="SESSION", help="score taken before this session")
    g.add_argument("--after", metavar="SESSION", help="score taken after this session")
    return g


def _detail_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--where", metavar="REGION", help="body region, e.g. lower-back, knee-left")
    p.add_argument("--kind", metavar="KIND", help="nociceptive, neuropathic, nociplastic or unsure")
    p.add_argument(
        "--red-flag",
        metavar="FLAG",
        action="append",
        default=None,
        help="swelling, bruising, fever, weight-loss, numbness, weakness, bladder-bowel, "
        "saddle-numbness (repeatable)",
    )
    p.add_argument(
        "--helped",
        metavar="THING",
        action="append",
        default=None,
        help="what else helped: movement, ice, heat, medication, an exercise (repeatable)",
    )
    p.add_argument("--note", metavar="TEXT", help="a free note")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _session_arg(args: argparse.Namespace) -> tuple[str | None, int | None]:
    for context in ("before", "after"):
        raw = getattr(args, context, None)
        if raw is not None:
            from tens.journal.validate import JournalInputError

            text = str(raw).strip().lstrip("#")
            if not text.isdigit() or int(text) < 1:
                raise JournalInputError("session", f"{raw!r} is not a session id")
            return context, int(text)
    return None, None


def _with_db(args: argparse.Namespace, work: Callable[[sqlite3.Connection], int]) -> int:
    """Open the database, run ``work``, and turn errors into clear messages and exit codes."""
    from tens.journal.validate import JournalInputError
    from tens.paths import db_path
    from tens.store import NotFoundError, StoreError, open_db

    as_json = bool(getattr(args, "json", False))
    try:
        conn = open_db()
    except StoreError as exc:
        return fail(str(exc), EXIT_STORE, as_json=as_json)
    try:
        return work(conn)
    except JournalInputError as exc:
        return fail(str(exc), EXIT_INPUT, as_json=as_json)
    except NotFoundError as exc:
        return fail(str(exc), EXIT_NOT_FOUND, as_json=as_json)
    except StoreError as exc:
        return fail(f"{exc} (nothing was changed)", EXIT_STORE, as_json=as_json)
    except sqlite3.DatabaseError as exc:  # a read hit damage that the open did not see
        from tens.store.errors import translate

        return fail(str(translate(exc, db_path())), EXIT_STORE, as_json=as_json)
    finally:
        conn.close()


def _print_advice(advice: list[str]) -> None:
    import textwrap

    for text in advice:
        print()
        print(textwrap.fill(text, 88, initial_indent="⚑ ", subsequent_indent="  "))


def run_add(args: argparse.Namespace) -> int:
    from tens.journal.advice import entry_advice
    from tens.journal.repository import add_entry, get_entry
    from tens.journal.validate import JournalInputError, new_entry, parse_when

    now = _now()
    try:
        context, session_id = _session_arg(args)
        at = now if args.at is None else parse_when(args.at, now=now)
        entry = new_entry(
            args.score,
            at=at,
            now=now,
            context=context or "other",
            session_id=session_id,
            region=args.where,
            kind=args.kind,
            red_flags=args.red_flag or (),
            helped=args.helped or (),
            note=args.note,
        )
    except JournalInputError as exc:
        return fail(str(exc), EXIT_INPUT, as_json=args.json)

    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.terminal import entry_line

        entry_id = add_entry(conn, entry, now=now)
        advice = entry_advice(entry.score, entry.red_flags)
        stored = get_entry(conn, entry_id)
        assert stored is not None
        if args.json:
            emit_json({"saved": True, "entry": stored.to_dict(), "advice": advice})
        else:
            print(f"saved entry {entry_id}:")
            print("  " + entry_line(stored))
            _print_advice(advice)
        return 0

    return _with_db(args, work)


def run_list(args: argparse.Namespace) -> int:
    from tens.journal.repository import list_entries
    from tens.journal.validate import JournalInputError, local_midnight, parse_date

    since = None
    if args.since is not None:
        try:
            since = local_midnight(parse_date(args.since, now=_now()))
        except JournalInputError as exc:
            return fail(str(exc), EXIT_INPUT, as_json=args.json)

    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.terminal import entry_line

        entries = list_entries(conn, since=since, include_deleted=args.all)
        if args.json:
            emit_json({"entries": [e.to_dict() for e in entries], "n": len(entries)})
            return 0
        if not entries:
            print("No entries" + (" since then." if since else " yet."))
            print("Add one with: tens pain add SCORE --where REGION")
            return 0
        for e in entries:
            print(entry_line(e))
        print(f"n={len(entries)}")
        return 0

    return _with_db(args, work)


def run_show(args: argparse.Namespace) -> int:
    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.repository import entry_history, get_entry
        from tens.journal.terminal import entry_line, local_time
        from tens.store import NotFoundError

        entry = get_entry(conn, args.id)
        if entry is None:
            raise NotFoundError("entry", args.id)
        history = entry_history(conn, args.id)
        if args.json:
            emit_json(
                {
                    "entry": entry.to_dict(),
                    "history": [
                        {
                            "at": h.at.isoformat(),
                            "action": h.action,
                            "before": h.before,
                            "after": h.after,
                            "reason": h.reason,
                        }
                        for h in history
                    ],
                }
            )
            return 0
        print(entry_line(entry))
        for h in history:
            why = f" ({h.reason})" if h.reason else ""
            print(f"  {local_time(h.at)} {h.action}{why}; before: score {h.before['score']}")
        return 0

    return _with_db(args, work)


def run_edit(args: argparse.Namespace) -> int:
    from tens.journal.validate import JournalInputError, parse_when

    now = _now()
    changes: dict[str, Any] = {}
    try:
        context, session_id = _session_arg(args)
        if context is not None:
            changes["context"], changes["session_id"] = context, session_id
        if args.other:
            changes["context"], changes["session_id"] = "other", None
        if args.score is not None:
            changes["score"] = args.score
        if args.at is not None:
            changes["at"] = parse_when(args.at, now=now)
        if args.where is not None:
            changes["region"] = args.where
        if args.kind is not None:
            changes["kind"] = args.kind
        if args.no_red_flags:
            changes["red_flags"] = ()
        if args.red_flag:
            changes["red_flags"] = args.red_flag
        if args.no_helped:
            changes["helped"] = ()
        if args.helped:
            changes["helped"] = args.helped
        if args.note is not None:
            changes["note"] = args.note
    except JournalInputError as exc:
        return fail(str(exc), EXIT_INPUT, as_json=args.json)
    if not changes:
        return fail(
            "nothing to change: give --score, --where, --note ...", EXIT_INPUT, as_json=args.json
        )

    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.advice import red_flag_advice
        from tens.journal.repository import edit_entry
        from tens.journal.terminal import entry_line

        entry = edit_entry(conn, args.id, now=now, reason=args.reason, **changes)
        advice = [a for a in [red_flag_advice(entry.red_flags)] if a and "red_flags" in changes]
        if args.json:
            emit_json({"saved": True, "entry": entry.to_dict(), "advice": advice})
        else:
            print(f"changed entry {entry.id} (the earlier version is kept):")
            print("  " + entry_line(entry))
            _print_advice(advice)
        return 0

    return _with_db(args, work)


def run_delete(args: argparse.Namespace) -> int:
    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.repository import delete_entry

        entry = delete_entry(conn, args.id, now=_now(), reason=args.reason)
        if args.json:
            emit_json({"deleted": True, "entry": entry.to_dict()})
        else:
            print(f"deleted entry {entry.id} (kept, marked deleted; `tens pain list --all`)")
        return 0

    return _with_db(args, work)


def run_clear_flag(args: argparse.Namespace) -> int:
    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.regions import normalize_region
        from tens.journal.repository import clear_red_flag, red_flag_blocks

        try:
            region = normalize_region(args.region)
        except ValueError as exc:
            return fail(str(exc), EXIT_INPUT, as_json=args.json)
        if region not in red_flag_blocks(conn):
            return fail(f"no red flag is open for {region}", EXIT_INPUT, as_json=args.json)
        how = "seen-clinician" if args.seen_clinician else "dismissed"
        clear_red_flag(conn, region, how, now=_now())
        if args.json:
            emit_json({"cleared": True, "region": region, "how": how})
        else:
            print(f"recorded: red flags at {region} {how.replace('-', ' ')}")
        return 0

    return _with_db(args, work)


def run_options(args: argparse.Namespace) -> int:
    from tens.journal.models import KIND_LABELS, KNOWN_HELPERS, RED_FLAG_LABELS
    from tens.journal.regions import REGIONS

    if args.json:
        emit_json(
            {
                "regions": {k: r.label for k, r in REGIONS.items()},
                "kinds": {k.value: v for k, v in KIND_LABELS.items()},
                "red_flags": {k.value: v for k, v in RED_FLAG_LABELS.items()},
                "helped": KNOWN_HELPERS,
            }
        )
        return 0
    print("--where REGION:")
    print("  " + ", ".join(REGIONS))
    print("--kind KIND:")
    for kind, label in KIND_LABELS.items():
        print(f"  {kind.value:<12} {label}")
    print("--red-flag FLAG:")
    for flag, label in RED_FLAG_LABELS.items():
        print(f"  {flag.value:<12} {label}")
    print("--helped THING (or any other short name, e.g. an exercise):")
    print("  " + ", ".join(KNOWN_HELPERS))
    return 0


def run_peg(args: argparse.Namespace) -> int:
    from tens.journal.validate import JournalInputError, parse_score, parse_when

    now = _now()
    if args.list:
        if args.scores:
            return fail("give either --list or three scores", EXIT_INPUT, as_json=args.json)

        def show(conn: sqlite3.Connection) -> int:
            from tens.journal.repository import list_peg
            from tens.journal.terminal import local_time

            answers = list_peg(conn)
            if args.json:
                emit_json({"peg": [p.to_dict() for p in answers], "n": len(answers)})
                return 0
            if not answers:
                print("No PEG-3 answers yet. Add one with: tens peg A B C")
            for p in answers:
                print(
                    f"#{p.id:<4} {local_time(p.at)}  pain {p.pain}  enjoyment {p.enjoyment}  "
                    f"activity {p.activity}  score {p.score:.1f}"
                )
            return 0

        return _with_db(args, show)
    if len(args.scores) != 3:
        return fail(
            f"PEG-3 needs three scores A B C (pain, enjoyment, activity), got {len(args.scores)}",
            EXIT_INPUT,
            as_json=args.json,
        )
    try:
        values = [
            parse_score(v, name)
            for v, name in zip(args.scores, ("pain", "enjoyment", "activity"), strict=True)
        ]
        at = now if args.at is None else parse_when(args.at, now=now)
    except JournalInputError as exc:
        return fail(str(exc), EXIT_INPUT, as_json=args.json)

    def work(conn: sqlite3.Connection) -> int:
        from tens.journal.repository import add_peg, list_peg

        peg_id = add_peg(conn, *values, at=at, now=now)
        saved = next(p for p in list_peg(conn) if p.id == peg_id)
        if args.json:
            emit_json({"saved": True, "peg": saved.to_dict()})
        else:
            print(
                f"saved PEG-3 {peg_id}: score {saved.score:.1f} (mean of {values[0]}, "
                f"{values[1]}, {values[2]})"
            )
        return 0

    return _with_db(args, work)
