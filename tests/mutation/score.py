"""Score table of the last mutmut run (tests/mutation/run.sh): per file, killed / (mutants -
equivalent). Equivalent mutants are listed, with the reason, in equivalent.toml beside this
file and matched by file, function and the changed lines, not by mutmut's numbering (which
shifts when a function changes).

Exit status: 0 when every file reaches TARGET and every survivor is listed as equivalent,
1 otherwise.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TARGET = 0.90
HERE = Path(__file__).parent
KILLED = {1, 3, 36, 24, -24, 152, 255, -9, -11}  # a failing test, a timeout, a crash
SURVIVED = {0}


@dataclass(frozen=True)
class Equivalent:
    file: str
    function: str
    before: str
    after: str
    reason: str


def load_equivalents() -> list[Equivalent]:
    data = tomllib.loads((HERE / "equivalent.toml").read_text("utf-8"))
    return [Equivalent(**e) for e in data.get("equivalent", [])]


def function_of(mutant: str) -> str:
    """'tens.programs.xǁProgramǁduty__mutmut_3' -> 'Program.duty'."""
    name = mutant.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1]
    if name.startswith("xǁ"):
        return ".".join(name[2:].split("ǁ"))
    return name.removeprefix("x_")


def changed_lines(mutant: str, path: Path) -> tuple[str, str]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(mutant, path=path)
    lines = diff.splitlines()
    minus = [ln[1:].strip() for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    return "\n".join(minus), "\n".join(plus)


def main() -> int:
    equivalents = load_equivalents()
    used: set[Equivalent] = set()
    ok = True
    rows = []
    survivors: list[tuple[str, str, str]] = []
    metas = sorted(Path("mutants").glob("tens/**/*.py.meta"))
    if not metas:
        print("no results: run tests/mutation/run.sh first", file=sys.stderr)
        return 2
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        src = meta.relative_to("mutants").with_suffix("")  # tens/x.py
        count: Counter[str] = Counter()
        for mutant, code in codes.items():
            if code in KILLED:
                count["killed"] += 1
            elif code in SURVIVED:
                before, after = changed_lines(mutant, src)
                fn = function_of(mutant)
                match = next(
                    (
                        e
                        for e in equivalents
                        if e.file == str(src)
                        and e.function == fn
                        and e.before == before
                        and e.after == after
                    ),
                    None,
                )
                if match is not None:
                    used.add(match)
                    count["equivalent"] += 1
                else:
                    count["survived"] += 1
                    survivors.append((mutant, before, after))
            elif code is None:
                count["not run"] += 1
            else:
                count["no test"] += 1  # 33/5: no test reaches the function; 34 skipped
        total = sum(count.values())
        real = total - count["equivalent"] - count["not run"]
        score = count["killed"] / real if real else 1.0
        ok &= score >= TARGET and not count["not run"] and not count["survived"]
        rows.append((str(src), total, count, score))
    print(f"{'file':28} {'mutants':>7} {'killed':>6} {'equiv':>5} {'surv':>4} {'none':>4}  score")
    for src, total, c, score in rows:
        print(
            f"{src:28} {total:7} {c['killed']:6} {c['equivalent']:5} {c['survived']:4} "
            f"{c['no test']:4}  {score:6.1%}"
            + (f"  ({c['not run']} not run)" if c["not run"] else "")
        )
    tk = sum(r[2]["killed"] for r in rows)
    tr = sum(r[1] - r[2]["equivalent"] - r[2]["not run"] for r in rows)
    print(f"{'all':28} {sum(r[1] for r in rows):7} {tk:6}  overall {tk / max(tr, 1):.1%}")
    if survivors:
        print(f"\n{len(survivors)} surviving mutants not listed as equivalent:")
        for name, before, after in survivors:
            print(f"  {name}\n    - {before!r}\n    + {after!r}")
    stale = [e for e in equivalents if e not in used]
    if stale and not any(r[2]["not run"] for r in rows):
        print(f"\n{len(stale)} entries of equivalent.toml match no surviving mutant (stale?):")
        for e in stale:
            print(f"  {e.file} {e.function}: {e.before!r} -> {e.after!r}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
