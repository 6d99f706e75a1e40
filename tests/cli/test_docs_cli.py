"""docs/cli.md names every verb, sub-verb and flag the program has, and every exit code."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tens.cli import build_parser
from tens.cli.exitcodes import ExitCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")


def _walk(parser: argparse.ArgumentParser, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((prefix + name, ""))
                out += _walk(sub, prefix + name + " ")
        else:
            out += [(prefix.strip(), flag) for flag in action.option_strings if flag != "-h"]
    return [(p, f) for p, f in out if f != "--help"]


def test_every_verb_and_flag_is_documented() -> None:
    missing = []
    for where, flag in _walk(build_parser()):
        verb = where.split()[0] if where else ""
        if not flag:
            if f"`tens {where}`" not in DOC and f"| {where.split()[-1]} |" not in DOC:
                missing.append(f"tens {where}")
            continue
        section = DOC.split(f"### `tens {verb}`", 1)[-1].split("\n### ", 1)[0] if verb else DOC
        if f"`{flag}" not in section and f", {flag}" not in section:
            missing.append(f"tens {where} {flag}")
    assert not missing, f"docs/cli.md lacks: {missing}"


def test_every_exit_code_is_in_the_one_table() -> None:
    table = DOC.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert listed == {int(c) for c in ExitCode}
