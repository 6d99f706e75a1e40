"""Run every benchmark, one after another, each in its own process; print the tables.

    .venv/bin/python -m benchmarks [--quick] [--json] [--only stop_latency,watchdog,...]
        [--out results.json]

Benchmarks: stop_latency, watchdog, jitter, footprint, scale, coyote (the Coyote drivers on
their simulators, docs/benchmarks.md), journal (the journal engineer's
``benchmarks/journal_report.py``); ``benchmarks/mqtt_flood.py`` runs on its own. Each prints
a table (figure, value, target, met) with its settings and the machine (CPU, cores, load
average at its start, Python, versions, commit); ``--json`` prints one JSON object with all
of them, ``--out`` also writes it to a file. The full run took about 9 minutes on the
project's 2-core machine before the Coyote benchmark (551 s at a load average of 2.5), which
adds about 4.5 (30 s with ``--quick``); ``--quick`` about 3.5 (212 s; smaller counts, listed
in each module's docstring and in docs/performance.md).
Exit code 0 when every benchmark ran (missed targets are figures, not failures).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: benchmarks/run_all.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    Row,
    env_without_venv_noise,
    format_rows,
    machine_info,
)

ORDER = ("stop_latency", "watchdog", "jitter", "footprint", "scale", "coyote", "journal")
TIMEOUT_S = 600
JOURNAL_TARGET_MS = 200.0


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except json.JSONDecodeError:
                return None
    return None


def _journal_result(raw: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    rows = [
        Row(
            f"12-week report, {raw.get('entries')} entries (median)",
            raw.get("report_ms_median"),
            "ms",
            JOURNAL_TARGET_MS,
            note=f"min {raw.get('report_ms_min')}; open {raw.get('open_ms')} ms; "
            f"text {raw.get('text_ms')} ms, html {raw.get('html_ms')} ms",
        )
    ]
    return {
        "bench": "journal",
        "title": "Journal: the 12-week report (benchmarks/journal_report.py)",
        "rows": [r.as_json() for r in rows],
        "settings": {k: raw.get(k) for k in ("entries", "days", "weeks")},
        "details": raw,
        "machine": machine,
    }


def run_one(name: str, quick: bool) -> dict[str, Any]:
    if name == "journal":
        cmd = [sys.executable, str(ROOT / "benchmarks" / "journal_report.py"), "--json"]
    else:
        cmd = [sys.executable, "-m", f"benchmarks.{name}", "--json"]
        if quick:
            cmd.append("--quick")
    machine = machine_info()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            env=env_without_venv_noise(),
            timeout=TIMEOUT_S,
            check=False,
        )
        out, err, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, code = f"timed out after {TIMEOUT_S} s", -1
    elapsed = time.monotonic() - t0
    raw = _last_json(out)
    if raw is None:
        return {
            "bench": name,
            "title": name,
            "error": f"exit {code}: {err.strip()[-800:]}",
            "rows": [],
            "elapsed_s": round(elapsed, 1),
            "machine": machine,
        }
    result = _journal_result(raw, machine) if name == "journal" else raw
    result["machine"]["loadavg_at_start"] = machine["loadavg"]
    result["elapsed_s"] = round(elapsed, 1)
    result["exit_code"] = code
    return result


def _rows(result: dict[str, Any]) -> list[Row]:
    return [
        Row(r["name"], r["value"], r["unit"], r["target"], note=r.get("note", ""))
        for r in result.get("rows", [])
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="run every benchmark (docs/performance.md)")
    p.add_argument("--json", action="store_true", help="one JSON object with every result")
    p.add_argument("--quick", action="store_true", help="smaller counts (about 3.5 minutes)")
    p.add_argument("--only", default=",".join(ORDER), help="comma-separated benchmark names")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n in ORDER]
    started = time.monotonic()
    results = []
    for name in names:
        if not args.json:
            print(f"== {name} ...", flush=True)
        res = run_one(name, args.quick)
        results.append(res)
        if not args.json:
            if "error" in res:
                print(f"{name}: FAILED: {res['error']}")
            else:
                m = res["machine"]
                print(format_rows(res["title"], _rows(res)))
                print(f"  settings: {json.dumps(res.get('settings', {}), default=str)}")
                print(
                    f"  load at start {m.get('loadavg_at_start')}; took {res['elapsed_s']} s",
                    flush=True,
                )
    total = time.monotonic() - started
    summary = {
        "quick": args.quick,
        "total_s": round(total, 1),
        "machine": machine_info(),
        "results": results,
    }
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    else:
        missed = [
            f"{res['bench']}: {r['name']}"
            for res in results
            for r in res.get("rows", [])
            if r.get("met") is False
        ]
        m = summary["machine"]
        print(f"\nall benchmarks: {total:.0f} s on {m['cpu']} x{m['cores']}, commit {m['commit']}")
        print("targets missed:" if missed else "every target met")
        for line in missed:
            print(f"  {line}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
