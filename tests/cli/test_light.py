"""`tens --help` and the domain core stay light: no BLE, UI or MQTT library at import."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("bumble", "bleak", "textual", "aiomqtt", "dbus_fast", "paho")


def _loaded_after(code: str) -> set[str]:
    probe = (
        f"{code}\nimport sys\nprint('loaded:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), result.stdout
    return {m for m in last.removeprefix("loaded:").split(",") if m}


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import contextlib, io\n"
        "from tens.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    )
    assert _loaded_after(code) == set()


def test_domain_core_imports_no_face_or_transport() -> None:
    code = (
        "import tens.controller, tens.safety, tens.session, tens.config, tens.schedule, "
        "tens.audit, tens.checklist, tens.store, tens.journal"
    )
    assert _loaded_after(code) == set()
