"""Holds a running session the way a live tens process does; run as: lease_holder.py DB.
Prints the session id, then waits (for stdin to close, or to be killed)."""

from __future__ import annotations

import datetime as dt
import sys


def main() -> None:
    from tens.store import open_db
    from tens.store.sessions import start_session

    conn = open_db(sys.argv[1])
    sid = start_session(conn, started_at=dt.datetime.now(dt.UTC), stimulation_seconds=30)
    sys.stdout.write(f"{sid}\n")
    sys.stdout.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main()
