"""Writer for the crash test: adds journal entries as fast as it can and prints
``<id> <score> <note>`` after each one is committed. Run as a script: crash_writer.py DB SEED."""

from __future__ import annotations

import datetime as dt
import random
import sys


def main() -> None:
    from tens.journal.repository import add_entry, edit_entry
    from tens.journal.validate import new_entry
    from tens.store import open_db

    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    conn = open_db(path)
    n = 0
    while True:
        now = dt.datetime.now(dt.UTC)
        score = rng.randint(0, 10)
        note = f"w{seed}-{n}-" + "x" * rng.randint(0, 800)
        entry_id = add_entry(conn, new_entry(score, at=now, now=now, note=note), now=now)
        sys.stdout.write(f"{entry_id} {score} {note}\n")
        sys.stdout.flush()
        if n % 7 == 3:  # edits too: entry and history row commit together
            edit_entry(conn, entry_id, now=now, note=note + "e")
            sys.stdout.write(f"{entry_id} {score} {note}e\n")
            sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    main()
