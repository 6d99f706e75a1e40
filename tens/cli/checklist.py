"""`tens checklist`: the contraindication checklist, answered before the first session."""

from __future__ import annotations

import argparse
import sys

from tens.cli.common import add_json
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "checklist", help="answer the contraindication checklist (needed before a first session)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--none-apply", action="store_true", help="record that none of the questions apply"
    )
    g.add_argument("--show", action="store_true", help="show the last answers")
    add_json(p)
    p.set_defaults(handler=run)


def _ask(question: str) -> bool:
    while True:
        sys.stdout.write(f"{question} [y/n] ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        print("Please answer y or n.")


def _summary(answers: dict[str, bool]) -> list[dict[str, object]]:
    from tens.checklist import QUESTIONS

    return [{"key": q.key, "question": q.text, "answer": answers[q.key]} for q in QUESTIONS]


def run(args: argparse.Namespace) -> int:
    from tens.checklist import ADVICE, QUESTIONS, changes, expires_at, none_apply, validate_answers
    from tens.store import StoreError, open_db
    from tens.store.sessions import latest_checklist, record_checklist
    from tens.store.timestamps import utc_now

    try:
        conn = open_db()
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=args.json)
    now = utc_now()
    try:
        if args.show:
            rec = latest_checklist(conn)
            if rec is None:
                return fail(
                    "the checklist has not been answered yet", ExitCode.NOT_FOUND, as_json=args.json
                )
            because = rec.expiry_reason(now)
            expired = because is not None
            if args.json:
                emit_json(
                    {
                        "answered_at": rec.answered_at,
                        "expires_at": expires_at(rec.answered_at),
                        "expired": expired,
                        "expired_because": because,
                        "answers": rec.answers,
                        "any_yes": rec.any_yes,
                    }
                )
            else:
                print(f"answered {rec.answered_at:%Y-%m-%d %H:%M}")
                for q in QUESTIONS:
                    print(f"  {'yes' if rec.answers.get(q.key) else 'no ':3}  {q.text}")
                if expired:
                    print(f"EXPIRED: {because}; answer again.")
                else:
                    print(f"valid until {expires_at(rec.answered_at):%Y-%m-%d}")
            return 0
        if args.none_apply:
            # Scripts may answer for the person, but never without the questions on record.
            answers = none_apply()
            if not args.json:
                print("You affirm that none of these apply:")
                for q in QUESTIONS:
                    print(f"  no   {q.text}")
        else:
            if not sys.stdin.isatty() and not args.json:
                print("Answer each question (y/n). Use --none-apply in scripts.")
            try:
                answers = {q.key: _ask(q.text) for q in QUESTIONS}
            except (EOFError, KeyboardInterrupt):
                return fail(
                    "checklist not completed: nothing recorded", ExitCode.USAGE, as_json=args.json
                )
        answers = validate_answers(answers)
        any_yes = any(answers.values())
        previous = latest_checklist(conn)
        changed = changes(previous.answers, answers) if previous is not None else []
        record_checklist(conn, answers, any_yes, at=now)
    except StoreError as exc:
        return fail(str(exc), ExitCode.STORE, as_json=args.json)
    finally:
        conn.close()
    if args.json:
        emit_json(
            {
                "recorded": True,
                "answered_at": now,
                "expires_at": expires_at(now),
                "answers": _summary(answers),
                "changes": [
                    {"key": c.key, "was": c.was, "now": c.now, "withdrawn_yes": c.withdrawn_yes}
                    for c in changed
                ],
                "any_yes": any_yes,
                "advice": ADVICE if any_yes else None,
            }
        )
    else:
        for c in changed:
            print(f"Changed since last time (recorded {now:%Y-%m-%d %H:%M} UTC): {c.text()}")
        if any_yes:
            print(ADVICE)
        else:
            print(
                "Recorded: none of the contraindications apply "
                f"(asked again after {expires_at(now):%Y-%m-%d}). Talk to a clinician about TENS."
            )
    return 5 if any_yes else 0
