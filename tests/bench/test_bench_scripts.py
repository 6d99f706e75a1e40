"""Every benchmark script runs in ``--quick`` mode and prints the figures it names.

Smoke tests, not timed tests: each script runs in its own process as a user would run it
(``python -m benchmarks.NAME --quick --json``) and must exit 0 with every figure its table
names present and measured (a number, not "none measured"). The values are never judged.
The Coyote benchmark runs in the default selection (about 30 s); the others take 1-3 minutes
each on the project's 2-core machine and are marked ``slow`` (``pytest -m slow``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

COYOTE_FIGURES = [
    *(
        f"{m} {what}"
        for m in ("coyote3", "coyote2")
        for what in (
            "API stop p50",
            "API stop p99",
            "driver stop() p50",
            "driver set_output(0) p50",
            "driver stop() p99",
            "driver set_output(0) p99",
        )
    ),
    *(f"coyote3 CPU per session-second, {mode}" for mode in ("bleak", "driver", "controller")),
    "coyote3 CPU driver / bleak floor",
    "coyote3 CPU controller / bleak floor",
    "coyote3 CPU per session-second, simulated side",
    *(
        f"coyote3 frame-send lateness {q}, {mode}"
        for q in ("p99", "max")
        for mode in ("bleak", "driver", "controller")
    ),
]

SCRIPTS: list[Any] = [
    pytest.param("coyote", COYOTE_FIGURES, id="coyote"),
    pytest.param(
        "stop_latency",
        [
            *(f"{p} p99 @{i} ms" for p in ("api", "mqtt") for i in ("7.5", "30", "100")),
            "tui p99 @30 ms",
            *(f"mqtt adds (p99) @{i} ms" for i in ("7.5", "30", "100")),
        ],
        id="stop_latency",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "watchdog",
        ["kill: max", "freeze: max", "freeze: after the last command heard, max"],
        id="watchdog",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "jitter",
        ["ramp tick lateness p99", "keepalive tick lateness p99"],
        id="jitter",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "footprint",
        [
            "daemon RSS, idle",
            "daemon RSS, session",
            "daemon CPU, idle",
            "daemon CPU, session",
            "TUI RSS (+ its simulator)",
            "tens --help cold start",
        ],
        id="footprint",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "scale",
        [
            f"{what}, {n} wearables"
            for n in (8, 32, 64)
            for what in ("stop-all p99", "CPU per wearable")
        ],
        id="scale",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "mqtt_flood",
        [
            "stop p99, no flood @30 ms",
            "stop p99 under the flood",
            "publish -> the daemon obeys it, p99 (flood)",
            "flood sent: cmd/intensity",
        ],
        id="mqtt_flood",
        marks=pytest.mark.slow,
    ),
]


def run_quick(module: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--quick", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return dict(json.loads(last))


@pytest.mark.timeout(660)
@pytest.mark.parametrize(("module", "figures"), SCRIPTS)
def test_quick_run_prints_every_figure_it_names(module: str, figures: list[str]) -> None:
    result = run_quick(module)
    assert result["bench"] == module
    assert result["machine"]["cores"] >= 1
    rows = result["rows"]
    for name in figures:
        found = [r for r in rows if r["name"] == name or r["name"].startswith(name + " (")]
        assert found, f"{module}: no figure {name!r} in {[r['name'] for r in rows]}"
        value = found[0]["value"]
        assert isinstance(value, int | float), f"{module}: {name!r} was not measured ({value!r})"
