"""`tens bench` and the benchmarks' measuring parts. Figures are never asserted (no timing
assertions): these check that the parts measure what they say, with real simulators."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.jitter import gap_lateness, grid_lateness
from simulators.opentens.record import DeliveredRecord, DeliveredSample
from tens.cli import main
from tens.cli.bench import RecordWatch, percentile, summarize


@pytest.fixture(autouse=True)
def tens_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TENS_HOME", str(home))
    return home


def test_percentile_is_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 101)]  # 1..100
    assert percentile(xs, 50) == 50.0
    assert percentile(xs, 99) == 99.0
    assert percentile(xs, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_summarize_reports_milliseconds() -> None:
    st = summarize([0.003, 0.001, 0.002])
    assert st["count"] == 3
    assert st["min_ms"] == 1.0 and st["max_ms"] == 3.0 and st["p50_ms"] == 2.0
    assert summarize([]) == {"count": 0}


def test_grid_lateness_counts_from_the_earliest_tick() -> None:
    ticks = [10.0, 10.1, 10.2 + 0.004, 10.3, 10.5 + 0.001]  # 10.4 skipped, two late
    late = [round(x * 1000, 6) for x in grid_lateness(ticks, 0.1)]
    assert late == [0.0, 0.0, 4.0, 0.0, 1.0]
    assert [round(x * 1000, 6) for x in gap_lateness([1.0, 1.25, 1.502], 0.25)] == [0.0, 2.0]


async def test_record_watch_judges_zero_on_samples_after_the_stop() -> None:
    record = DeliveredRecord()
    record.append(DeliveredSample(1.0, 0, 0.0, "power-on"))
    watch = RecordWatch(record, channels=2)
    on = asyncio.ensure_future(watch.wait_on(1.0))
    await asyncio.sleep(0)
    record.append(DeliveredSample(2.0, 0, 0.5, "ramp"))
    assert await on == 2.0
    zero = asyncio.ensure_future(watch.wait_zero(since=3.0, timeout=1.0))
    await asyncio.sleep(0)
    record.append(DeliveredSample(2.5, 1, 0.0, "stop"))  # before the stop call: no
    record.append(DeliveredSample(3.5, 1, 0.4, "ramp"))
    record.append(DeliveredSample(3.6, 0, 0.0, "stop"))  # channel 1 still on: no
    assert not zero.done()
    record.append(DeliveredSample(3.7, 1, 0.0, "stop"))
    assert await zero == 3.7
    watch.close()


def test_bench_stop_on_the_simulator_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "stop", "--simulator", "--count", "3", "--interval-ms", "7.5", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert out["measured_on"] == "simulator record"
    assert out["stats"]["count"] == 3
    assert out["stats"]["min_ms"] > 0
    assert out["interval_ms"] == 7.5 and out["target_p99_ms"] == 9.5
    assert out["machine"]["cores"] >= 1 and "bumble" in out["machine"]["versions"]


def test_bench_stop_on_a_real_link_needs_allow_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "stop", "--radio", "127.0.0.1:9", "--json"])
    out = json.loads(capsys.readouterr().out.strip())
    assert code == 5  # ExitCode.REFUSED, as in every verb
    assert "--allow-output" in out["error"]


def test_bench_stop_on_a_real_link_needs_the_checklist(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "stop", "--radio", "127.0.0.1:9", "--allow-output", "--json"])
    out = json.loads(capsys.readouterr().out.strip())
    assert code == 5  # ExitCode.REFUSED
    assert "checklist" in out["error"]


def test_bench_stop_caps_intensity_on_a_real_link(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "stop", "--radio", "127.0.0.1:9", "--allow-output", "--intensity", "5"]
    code = main([*argv, "--json"])
    assert code == 5  # ExitCode.REFUSED
    assert "at most 2 mA" in json.loads(capsys.readouterr().out.strip())["error"]


def test_bench_stop_times_only_the_opentens_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "stop", "--simulator", "--sim-model", "coyote3", "--json"])
    assert code == 2
    assert "OpenTENS" in json.loads(capsys.readouterr().out.strip())["error"]


def test_the_bench_verb_stays_light() -> None:
    probe = (
        "import sys, tens.cli.bench; "
        "print([m for m in ('bleak', 'bumble', 'textual', 'aiomqtt') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
