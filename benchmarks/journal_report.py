"""Benchmark: fill a journal with 100 000 entries and time the 12-week report.

    .venv/bin/python benchmarks/journal_report.py [--entries 100000] [--days 730] [--runs 5]

Entries are spread evenly over ``--days`` days ending now (3 sessions a day, each with a
before- and an after-score; the rest are "other" scores). Prints the fill time, the time to
open the database (quick_check included) and the median time of ``build_report`` for 12
weeks, plus the text and HTML rendering. Target: report ≤ 200 ms on the project machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tens.journal.html import render_html
from tens.journal.report import build_report
from tens.journal.terminal import render_text
from tens.store import open_db, write
from tens.store.connection import QUICK_CHECK_MAX_BYTES
from tens.store.timestamps import to_db

TARGET_MS = 200.0


def fill(db: Path, entries: int, days: int, now: dt.datetime, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    conn = open_db(db)
    start = now - dt.timedelta(days=days)
    span = (now - start).total_seconds()
    n_sessions = min(days * 3, entries // 3)
    sessions = []
    pain: list[tuple[str, int, str, int | None, str]] = []
    for i in range(n_sessions):
        t = start + dt.timedelta(seconds=span * (i + 0.5) / n_sessions)
        sessions.append(
            (i + 1, to_db(t), to_db(t + dt.timedelta(minutes=30)), "finished", 1800.0, 20.0)
        )
        before = rng.randint(3, 9)
        pain.append((to_db(t - dt.timedelta(minutes=1)), before, "before", i + 1, "[]"))
        after = max(0, before - rng.randint(0, 4))
        pain.append((to_db(t + dt.timedelta(minutes=31)), after, "after", i + 1, "[]"))
    for _ in range(entries - len(pain)):
        t = start + dt.timedelta(seconds=span * rng.random())
        flags = '["swelling"]' if rng.random() < 0.001 else "[]"
        pain.append((to_db(t), rng.randint(0, 10), "other", None, flags))
    with write(conn):
        conn.executemany(
            "INSERT INTO sessions (id, started_at, ended_at, state, stimulation_seconds, "
            "max_delivered) VALUES (?, ?, ?, ?, ?, ?)",
            sessions,
        )
        conn.executemany(
            "INSERT INTO pain_entries (at, score, context, session_id, red_flags, recorded_at, "
            "region) VALUES (?, ?, ?, ?, ?, ?1, 'lower-back')",
            pain,
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return len(pain), len(sessions)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="one JSON line with the results")
    args = ap.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        n_entries, n_sessions = fill(db, args.entries, args.days, now)
        fill_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        db_bytes = db.stat().st_size
        conn = open_db(db)
        open_ms = (time.perf_counter() - t0) * 1000
        times = []
        report = None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = build_report(conn, weeks=args.weeks, now=now)
            times.append((time.perf_counter() - t0) * 1000)
        assert report is not None
        t0 = time.perf_counter()
        render_text(report)
        text_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        render_html(report)
        html_ms = (time.perf_counter() - t0) * 1000
        conn.close()
    result = {
        "entries": n_entries,
        "sessions": n_sessions,
        "days": args.days,
        "weeks": args.weeks,
        "entries_in_period": report.entries_in_period,
        "fill_s": round(fill_s, 2),
        "open_ms": round(open_ms, 1),
        "db_bytes": db_bytes,
        "report_ms_median": round(statistics.median(times), 1),
        "report_ms_min": round(min(times), 1),
        "text_ms": round(text_ms, 1),
        "html_ms": round(html_ms, 1),
        "target_ms": TARGET_MS,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"filled {n_entries} entries, {n_sessions} sessions over {args.days} days "
            f"in {fill_s:.1f} s"
        )
        checked = "with" if result["db_bytes"] <= QUICK_CHECK_MAX_BYTES else "without"
        print(
            f"open_db ({checked} quick_check, file {result['db_bytes'] / 1e6:.1f} MB): "
            f"{open_ms:.1f} ms"
        )
        print(
            f"{args.weeks}-week report ({report.entries_in_period} entries in the period): "
            f"median {result['report_ms_median']} ms, min {result['report_ms_min']} ms "
            f"over {args.runs} runs (target ≤ {TARGET_MS:.0f} ms)"
        )
        print(f"render text: {text_ms:.1f} ms, render HTML: {html_ms:.1f} ms")
    return 0 if statistics.median(times) <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
