"""A separate Python 3.13 venv with Home Assistant, to check our discovery against its schemas.

Home Assistant needs Python 3.13 and hundreds of packages, so it never goes into the project's
venv. The venv is built once (minutes) in the user's cache folder, or ``HA_CHECK_VENV`` when
set, and reused: checking the payloads in it takes about two seconds. A folder is used only
once its build finished (a ``ready`` file naming the spec installed), so a build cut short is
never mistaken for a good one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import platformdirs

HA_SPEC = "homeassistant==2025.4.4"
"""The release the issue was checked against (the newest that installs on Python 3.13.0)."""
CHECK_SCRIPT = Path(__file__).with_name("ha_check.py")
BUILD_TIMEOUT_S = 1500
CHECK_TIMEOUT_S = 120


def venv_dir() -> Path:
    given = os.environ.get("HA_CHECK_VENV")
    if given:
        return Path(given)
    slug = HA_SPEC.replace("==", "-")
    return Path(platformdirs.user_cache_dir("tens", appauthor=False)) / f"ha-venv-{slug}"


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def ready(folder: Path) -> bool:
    marker = folder / "ready"
    return (
        marker.is_file()
        and marker.read_text(encoding="utf-8").strip() == HA_SPEC
        and venv_python(folder).exists()
    )


def _is_313(python: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "True"


def find_python313() -> str | None:
    """A working python3.13: on PATH, else one of pyenv's versions (its shim may not be
    selected for this folder, so the versions are tried directly too)."""
    candidates: list[str] = []
    if sys.version_info[:2] == (3, 13):
        candidates.append(sys.executable)
    if found := shutil.which("python3.13"):
        candidates.append(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for v in sorted(versions.glob("3.13*"), reverse=True):
            candidates.append(str(v / "bin" / "python3.13"))
    for c in candidates:
        if _is_313(c):
            return c
    return None


def build(folder: Path) -> str | None:
    """Make the venv and install Home Assistant into it. None when done, else why not."""
    if ready(folder):
        return None
    python = find_python313()
    if python is None:
        return "no Python 3.13 found (python3.13 on PATH, or pyenv's versions)"
    shutil.rmtree(folder, ignore_errors=True)  # a build cut short: start again
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        made = subprocess.run(
            [python, "-m", "venv", str(folder)], capture_output=True, text=True, timeout=300
        )
        if made.returncode != 0:
            return f"python3.13 -m venv failed: {made.stderr.strip()[-500:]}"
        pip = subprocess.run(
            [str(venv_python(folder)), "-m", "pip", "install", "-q", HA_SPEC],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        if pip.returncode != 0:
            return f"pip install {HA_SPEC} failed: {pip.stderr.strip()[-500:]}"
    except subprocess.TimeoutExpired as exc:
        return f"building the Home Assistant venv took longer than {exc.timeout} s"
    (folder / "ready").write_text(HA_SPEC + "\n", encoding="utf-8")  # last: the build is whole
    return None


def check(folder: Path, cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run :mod:`tests.daemon.ha_check` in the venv on ``cases``; its JSON answer."""
    done = subprocess.run(
        [str(venv_python(folder)), str(CHECK_SCRIPT)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ha_check failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
