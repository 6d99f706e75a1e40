"""docs/raspberry-pi.md, followed literally, reaches a daemon running as the service user.

The guide's own ``sh`` blocks are read from the file and run in order, as root, in a throwaway
root folder instead of ``/`` (no container here). What is changed, and why, is one table below
(``MAPPED``, ``REPLACED``, ``NOT_HERE``): paths below the throwaway root, ``sudo -u tens`` by
``setpriv`` with the uid the guide's own step created there, the broker on a free port. Every
other command runs as written; a guide step that fails fails this test with its output.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.broker import MOSQUITTO, NO_BROKER_REASON, running_broker

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "raspberry-pi.md"
VENV = Path(sys.prefix)
"""The venv running the tests (the README's test command installed tens into it): stands in
for the guide's /opt/tens/venv, whose creation and `pip install` are the README's job."""

REPLACED = {
    "sudo python3 -m venv /opt/tens/venv": "the test's own venv (installed by the README command)",
    "sudo /opt/tens/venv/bin/pip install": "the test's own venv (installed by the README command)",
    "sudo systemctl daemon-reload": "systemd-analyze verify of the unit written",
}
NOT_HERE = (
    "sudo apt-get",  # host packages: .ci/run installs what the tests need
    "bluetoothctl",
    # pairing needs the wearable and a Bluetooth adapter (tests/bluez/test_pairing_bluez.py)
    "sudo -u tens TENS_HOME=/var/lib/tens TENS_CONFIG=/etc/tens/config.toml "
    "/opt/tens/venv/bin/tens pair",
    "sudo systemctl enable --now bluetooth",
    "sudo systemctl enable --now tens",  # no systemd as PID 1 here
    "systemctl status tens",
    "mosquitto_sub",
    "journalctl",
    "sudo systemctl edit",
    "pid=$(systemctl",  # the footprint block measures a running service
    "grep VmRSS",
    "t0=",
    "t1=",
    'echo "CPU',
)
SETUP_TIMEOUT_S = 60


def guide_blocks(kind: str) -> list[str]:
    """The guide's fenced blocks of one kind (sh, toml), in order."""
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def guide_commands() -> list[str]:
    """Every command of the sh blocks: continuation lines joined, comments dropped."""
    out: list[str] = []
    for block in guide_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                out.append(" ".join(line.split()))
    return out


@pytest.fixture
def root() -> Iterator[Path]:
    # not below pytest's tmp_path: that is private to root, and the service user must reach
    # the throwaway /etc/tens and /var/lib/tens as it would on a Pi
    folder = Path(tempfile.mkdtemp(prefix="tens-pi-root-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(folder.parent / f"{folder.name}-bin", ignore_errors=True)


def _ids(root: Path) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        name, _, uid, gid, *_ = line.split(":")
        if name == "tens":
            return int(uid), int(gid)
    raise AssertionError("the guide's steps did not create the user tens")


SUDO = """#!/bin/bash
# sudo for the guide test: the test runs as root already; `-u tens` runs the command as the
# uid that the guide's own step created in the throwaway root's /etc/passwd.
set -eu
if [ "${1:-}" = "-u" ]; then
  entry=$(grep "^$2:" "$PI_GUIDE_ROOT/etc/passwd")
  uid=$(echo "$entry" | cut -d: -f3); gid=$(echo "$entry" | cut -d: -f4)
  shift 2
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups ${PI_GUIDE_CAPS:-} env "$@"
fi
exec env "$@"
"""


def mapped(cmd: str, root: Path) -> str:
    """The guide's command as run here (the only rewriting: paths, and group names that exist
    only in the throwaway root)."""
    cmd = cmd.replace("/opt/tens/venv", str(VENV))
    cmd = re.sub(r"(?<![\w.])/(etc|var)/", lambda m: f"{root}/{m.group(1)}/", cmd)
    cmd = cmd.replace("tens install-service", f"tens install-service --root {root}")
    if "-g tens" in cmd or "chgrp tens" in cmd:
        _, gid = _ids(root)
        cmd = cmd.replace("-g tens", f"-g {gid}").replace("chgrp tens", f"chgrp {gid}")
    return cmd


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENS_")}
    shims = root.parent / f"{root.name}-bin"
    if not shims.exists():
        shims.mkdir()
        (shims / "sudo").write_text(SUDO)
        (shims / "sudo").chmod(0o755)
    env["PATH"] = f"{shims}:{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["PI_GUIDE_ROOT"] = str(root)
    if not _reachable_by_others(Path(os.path.realpath(sys.executable))):
        # the interpreter lives in a private folder (e.g. pyenv under /root): let the service
        # user *read and search* there, nothing more; every write is still checked, which is
        # what the guide's folders must get right
        env["PI_GUIDE_CAPS"] = "--inh-caps=+dac_read_search --ambient-caps=+dac_read_search"
    return env


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in path.parents)


def _run(cmd: str, root: Path, *, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", cmd],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(root),
        timeout=SETUP_TIMEOUT_S,
        check=False,
    )


def _config_edit(root: Path, port: int) -> None:
    """The guide's "Then edit /etc/tens/config.toml" with its own sample, pointed at the
    test's broker (the sample's host is localhost on the default port)."""
    (sample,) = guide_blocks("toml")
    sample = sample.replace('host = "localhost"', f'host = "127.0.0.1"\nport = {port}')
    sample = sample.replace('"/etc/', f'"{root}/etc/')
    with (root / "etc" / "tens" / "config.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + sample)


@pytest.mark.skipif(MOSQUITTO is None, reason=NO_BROKER_REASON)
@pytest.mark.skipif(os.geteuid() != 0, reason="the guide's steps run as root (sudo)")
@pytest.mark.skipif(
    not (shutil.which("systemd-sysusers") and shutil.which("setpriv")),
    reason="needs systemd-sysusers and setpriv (Debian: systemd, util-linux)",
)
def test_the_pi_guide_followed_literally_reaches_a_running_daemon(
    root: Path, tmp_path: Path
) -> None:
    commands = guide_commands()
    assert any("tens install-service" in c for c in commands)
    log: list[str] = []
    with running_broker(tmp_path, port=None) as broker:
        for cmd in commands:
            if any(cmd.startswith(p) for p in NOT_HERE):
                log.append(f"not here: {cmd}")
                continue
            replaced = next((why for p, why in REPLACED.items() if cmd.startswith(p)), None)
            if replaced is not None:
                log.append(f"replaced ({replaced}): {cmd}")
                if "daemon-reload" in cmd:
                    unit = root / "etc/systemd/system/tens.service"
                    done = _run(f"systemd-analyze verify {unit}", root)
                    assert done.returncode == 0, done.stderr
                continue
            if "bin/tens daemon" in cmd:
                _daemon_as_the_service_user(mapped(cmd, root), root, broker.port)
                log.append(f"ran: {cmd}")
                continue
            answers = "n\n" * 12 if cmd.endswith("tens checklist") else ""
            done = _run(mapped(cmd, root), root, stdin=answers)
            assert done.returncode == 0, (
                f"guide step failed: {cmd}\n(as run: {mapped(cmd, root)})\n"
                f"{done.stdout}\n{done.stderr}\nsteps so far:\n" + "\n".join(log)
            )
            log.append(f"ran: {cmd}")
            if cmd.endswith("tens config init"):
                _config_edit(root, broker.port)
    state = root / "var" / "lib" / "tens"
    uid, _ = _ids(root)
    assert (state / "tens.db").stat().st_uid == uid  # the service user's own database
    config = (root / "etc" / "tens" / "config.toml").stat()
    assert config.st_mode & 0o777 == 0o640 and config.st_gid == _ids(root)[1]
    assert "TENS_HOME=/var/lib/tens" in (root / "etc/systemd/system/tens.service").read_text()


def _daemon_as_the_service_user(cmd: str, root: Path, port: int) -> None:
    """The guide's check run: the daemon as the service user, until it is serving, then
    Ctrl-C (SIGINT) as the guide says. No wearable here, so `--simulator`, as the guide's
    next line offers."""
    cmd += " --simulator"
    availability = (
        subprocess.Popen(
            [
                "mosquitto_sub",
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-t",
                "tens/bedside/availability",
                "-C",
                "1",
                "-W",
                "30",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        if shutil.which("mosquitto_sub")
        else None
    )
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {cmd}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(root),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (root / "var/lib/tens/tens.db").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
        if availability is not None:
            out, _ = availability.communicate(timeout=35)
            assert out.strip() == "online", out
        else:
            time.sleep(3)
        assert proc.poll() is None, proc.communicate()[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, output


def test_install_service_refuses_to_replace_an_edited_file_and_writes_nothing(root: Path) -> None:
    tens = VENV / "bin" / "tens"
    first = _run(f"{tens} install-service --root {root} --json", root)
    if first.returncode == 6:
        pytest.skip("systemd-sysusers / systemd-tmpfiles not installed")
    assert first.returncode == 0, first.stderr
    unit = root / "etc/systemd/system/tens.service"
    assert f"ExecStart={tens} daemon" in unit.read_text()
    edited = root / "etc/sysusers.d/tens.conf"
    edited.write_text(edited.read_text() + "# a local change\n")
    unit.unlink()
    again = _run(f"{tens} install-service --root {root}", root)
    assert again.returncode == 11 and "--force" in again.stderr  # ExitCode.WRITE
    assert "a local change" in edited.read_text() and not unit.exists()  # nothing half-applied
    forced = _run(f"{tens} install-service --root {root} --force", root)
    assert forced.returncode == 0 and unit.exists()
    assert "a local change" not in edited.read_text()
