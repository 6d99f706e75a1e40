"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) as text tables.

    .venv/bin/python -m benchmarks.profile_top PROFILE.raw [--top 30] [--process WORD]
        [--focus tens/,devices/]

For each process in the profile (``py-spy record --subprocesses`` roots every stack in its
process): the share of samples per area (tens, devices, simulators, bumble, bleak, asyncio,
...) by the innermost frame (self time), then the top functions by self samples and by total
samples (each function counted once per stack); with ``--focus`` also the functions whose
file path contains one of the words, by total samples (what tens' own code costs, callees
included). ``--process WORD`` keeps the processes whose command line contains WORD.
py-spy leaves idle threads out unless ``--idle``; samples waiting in ``select``/``waitpid``
(which it may still count as active) are left out here too, so shares are of busy time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
AREAS = (
    ("/simulators/radio/", "simulators/radio (virtual radio glue)"),
    ("/simulators/", "simulators (device models)"),
    ("/devices/", "devices (drivers)"),
    ("/tens/", "tens"),
    ("/tui/", "tui"),
    ("/benchmarks/", "benchmarks (the harness)"),
    ("bumble/", "bumble"),
    ("bleak/", "bleak"),
    ("aiomqtt/", "aiomqtt"),
    ("paho/", "paho"),
    ("pydantic", "pydantic"),
    ("asyncio/", "asyncio"),
    ("selectors", "asyncio"),
)


def area(file: str) -> str:
    file = "/" + file  # py-spy names files relative to the working directory or absolute
    if "site-packages/" in file:
        file = "/" + file.split("site-packages/", 1)[1]
    for needle, name in AREAS:
        if needle in file:
            return name
    return "other (stdlib, interpreter)"


def function_key(frame: str) -> tuple[str, str]:
    """(``func (file)`` without the line, its file) of one collapsed-stack frame."""
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip(), ""
    file = m["file"]
    short = file
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            short = file.split(marker, 1)[1]
            break
    else:
        for top in ("/simulators/", "/devices/", "/tens/", "/benchmarks/", "/tui/"):
            i = ("/" + file).find(top)
            if i >= 0:
                short = file[i:]
                break
    return f"{m['func']} ({short})", file


def load(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """Stacks per process: root frame (``process N:"cmd"``) -> [(frames, samples)]."""
    out: dict[str, list[tuple[list[str], int]]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.rstrip()
        if not line or " " not in line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        proc = "process"
        while frames and frames[0].startswith("process "):  # parent;child;...: the last one
            proc, frames = frames[0], frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        out.setdefault(proc, []).append((frames, int(count)))
    return out


IDLE_LEAVES = ("EpollSelector.select (", "_do_waitpid (", "Condition.wait (", "Event.wait (")
"""Innermost frames that mean waiting, not working (py-spy may sample them as active)."""


def table(title: str, counter: Counter[str], total: int, top: int) -> list[str]:
    lines = [title, f"  {'samples':>8} {'share':>6}  where"]
    for name, n in counter.most_common(top):
        lines.append(f"  {n:>8} {100.0 * n / total:>5.1f}%  {name}")
    return lines


def summarise(
    stacks: list[tuple[list[str], int]], top: int, focus: tuple[str, ...] = ()
) -> list[str]:
    idle = sum(n for frames, n in stacks if frames and frames[-1].startswith(IDLE_LEAVES))
    stacks = [(f, n) for f, n in stacks if f and not f[-1].startswith(IDLE_LEAVES)]
    total = sum(n for _, n in stacks) or 1
    by_area: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    focused: Counter[str] = Counter()
    for frames, n in stacks:
        if not frames:
            continue
        key, file = function_key(frames[-1])
        self_time[key] += n
        by_area[area(file)] += n
        keys = {function_key(f) for f in frames}
        for k, _file in keys:
            total_time[k] += n
        for k in {k for k, file in keys if focus and any("/" + f in "/" + file for f in focus)}:
            focused[k] += n
    lines = [f"busy samples: {total} (waiting in select/waitpid, left out: {idle})", ""]
    lines += table("share by area (self time)", by_area, total, len(by_area))
    lines += ["", *table(f"top {top} functions by self time", self_time, total, top)]
    lines += ["", *table(f"top {top} functions by total time", total_time, total, top)]
    if focus:
        title = f"top {top} functions in {', '.join(focus)} by total time"
        lines += ["", *table(title, focused, total, top)]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="top tables of a py-spy raw profile")
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--focus",
        default="",
        help="also list the functions whose file path contains one of these (comma-separated)",
    )
    p.add_argument("--process", default="", help="only processes whose command contains this")
    args = p.parse_args(argv)
    procs = load(args.profile)
    for proc, stacks in procs.items():
        if args.process and args.process not in proc:
            continue
        print(f"== {proc}")
        focus = tuple(x for x in args.focus.split(",") if x)
        print("\n".join(summarise(stacks, args.top, focus)))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
