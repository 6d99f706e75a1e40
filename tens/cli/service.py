"""`tens install-service`: the systemd unit, the service user and its folders, written where
systemd reads them, so a wheel user needs no checkout (docs/raspberry-pi.md).

The files ship in ``tens/daemon/units/``. The unit's ``ExecStart`` is pointed at the ``tens``
that runs this command (the venv's). Files already there and identical are left alone; a
different one is refused unless ``--force``, so nothing a person edited is lost by a re-run.
``--root DIR`` writes below DIR instead of ``/`` (and passes ``--root`` to systemd-sysusers and
systemd-tmpfiles), for images and for tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tens.cli.common import add_json
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

EXIT_USAGE = ExitCode.USAGE
EXIT_WRITE = ExitCode.WRITE
EXIT_UNAVAILABLE = ExitCode.NO_DEVICE
UNIT_EXEC = "/opt/tens/venv/bin/tens"
"""The ExecStart in the shipped unit; replaced by the real path when installed."""


@dataclass(frozen=True, slots=True)
class UnitFile:
    source: str
    target: str
    """Absolute path below the root."""


FILES = (
    UnitFile("tens.service", "/etc/systemd/system/tens.service"),
    UnitFile("tens.sysusers", "/etc/sysusers.d/tens.conf"),
    UnitFile("tens.tmpfiles", "/etc/tmpfiles.d/tens.conf"),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "install-service",
        help="write the systemd unit, the service user and its folders (run with sudo)",
        description="Write /etc/systemd/system/tens.service (ExecStart: this tens), "
        "/etc/sysusers.d/tens.conf and /etc/tmpfiles.d/tens.conf, then create the user and "
        "the folders /etc/tens and /var/lib/tens. Enables nothing: see docs/raspberry-pi.md.",
    )
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR", help="install below DIR")
    p.add_argument(
        "--exec",
        dest="exec_path",
        type=Path,
        metavar="PATH",
        help="the tens command the unit runs (default: the one running now)",
    )
    p.add_argument("--print", dest="show", action="store_true", help="show the files only")
    p.add_argument("--force", action="store_true", help="replace files that differ")
    add_json(p)
    p.set_defaults(handler=run)


def default_exec() -> Path:
    """The ``tens`` script beside this interpreter (a venv's bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "tens"
    if beside.exists():
        return beside
    found = shutil.which("tens")
    return Path(found) if found else beside


def render(exec_path: Path) -> dict[str, str]:
    """Target path -> text of each file."""
    units = resources.files("tens.daemon") / "units"
    out: dict[str, str] = {}
    for f in FILES:
        text = (units / f.source).read_text(encoding="utf-8")
        if f.source == "tens.service":
            text = text.replace(f"ExecStart={UNIT_EXEC}", f"ExecStart={exec_path}")
        out[f.target] = text
    return out


def _below(root: Path, target: str) -> Path:
    return root / target.lstrip("/")


def run(args: argparse.Namespace) -> int:
    exec_path: Path = (args.exec_path or default_exec()).absolute()
    files = render(exec_path)
    if args.show:
        if args.json:
            emit_json({"files": files})
        else:
            for target, text in files.items():
                print(f"# ---- {target}\n{text}")
        return 0
    if not exec_path.exists():
        return fail(f"--exec {exec_path} does not exist", EXIT_USAGE, as_json=args.json)
    root: Path = args.root
    # check everything first, so a refusal leaves nothing half-written
    differ = []
    for target, text in files.items():
        path = _below(root, target)
        if path.exists() and path.read_text(encoding="utf-8") != text:
            differ.append(str(path))
    if differ and not args.force:
        return fail(
            f"{', '.join(differ)} already exist(s) and differ(s) from this version: "
            "compare with `tens install-service --print`, then re-run with --force to replace",
            EXIT_WRITE,
            as_json=args.json,
        )
    tools = [shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")]
    if None in tools:
        return fail(
            "systemd-sysusers and systemd-tmpfiles are needed (package systemd): this command "
            "sets up a systemd service; on a machine without systemd run `tens daemon` yourself",
            EXIT_UNAVAILABLE,
            as_json=args.json,
        )
    written = []
    try:
        for target, text in files.items():
            path = _below(root, target)
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)
            written.append(str(path))
    except OSError as exc:
        return fail(f"cannot write the service files: {exc}", EXIT_WRITE, as_json=args.json)
    steps = [
        ["systemd-sysusers", f"--root={root}", "tens.conf"],
        ["systemd-tmpfiles", f"--root={root}", "--create", "tens.conf"],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return fail(
                f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}",
                EXIT_WRITE,
                as_json=args.json,
            )
    if args.json:
        emit_json({"written": written, "exec": str(exec_path), "root": str(root)})
        return 0
    for name in written:
        print(f"wrote {name}")
    print(
        f"service user 'tens' and the folders /etc/tens, /var/lib/tens are ready "
        f"(ExecStart={exec_path}).\nNext: configure (docs/raspberry-pi.md), then "
        "`sudo systemctl daemon-reload && sudo systemctl enable --now tens`."
    )
    return 0
