"""The fault campaign (issue 12): random sessions, random faults at random moments, judged on
the simulator's delivered-output record and on what the device was asked.

* ``test_short_campaign[...]`` — the default suite: a few hundred faults per device, the
  fault kinds and invariants of :data:`KNOWN_OPEN` left out (their fixes have not landed).
* ``test_full_campaign[...]`` — ``-m slow``: at least 10 000 injected faults per device, every
  kind; violations of a KNOWN_OPEN entry are reported (xfail), any other fails the test.
* ``test_known_open_*`` — one minimal, scripted reproduction per KNOWN_OPEN entry, marked
  ``xfail(strict=True)``: each starts to pass (and so fails the suite) the moment its fix
  lands, and its KNOWN_OPEN entry must then be removed.

Reproduce a run: ``pytest tests/campaign -m slow --campaign-seed N`` (or
``CAMPAIGN_SEED=N``); every failure prints its seed and the steps before it.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from tests.campaign.engine import RunResult, all_kinds, run_campaign
from tests.campaign.trace import Violation

pytestmark = pytest.mark.timeout(1800)

KNOWN_OPEN: dict[str, str] = {
    # found by this campaign, not in issue 12's list (see docs/safety.md, "Fault campaign")
    "invariant:radio_error": "new, simulator infrastructure: bumble's Host.on_packet raises "
    "InvalidStateError when the driver drops a link with a request in flight (Coyote 3)",
    # fault kinds whose violations are being fixed in other branches (``fault:<device>:<kind>``
    # for one device only): none today
}
"""What the campaign finds today and other branches are fixing: ``fault:<kind>`` (left out of
the short run) and ``invariant:<name>`` (not failing the short run). Empty it as fixes land."""

SHORT_SEEDS = {"opentens": 20260114, "coyote3": 20260115}
SHORT_EPISODES = 50
FULL_FAULTS = 10_000
FULL_EPISODES_PER_RUN = 25  # a fresh rig (and day) per run, so the daily cap is not all a run
DEVICES = ["opentens", "coyote3"]


def known_invariants() -> set[str]:
    return {k.split(":", 1)[1] for k in KNOWN_OPEN if k.startswith("invariant:")}


def known_faults(device: str | None = None) -> set[str]:
    out = set()
    for key in KNOWN_OPEN:
        parts = key.split(":")
        if parts[0] == "fault" and (len(parts) == 2 or parts[1] == device):
            out.add(parts[-1])
    return out


def _report(results: list[RunResult], violations: list[tuple[RunResult, Violation]]) -> str:
    faults: Counter[str] = Counter()
    for r in results:
        faults.update(r.faults)
    lines = [
        f"{sum(faults.values())} faults injected in {len(results)} run(s): "
        + ", ".join(f"{k} {n}" for k, n in sorted(faults.items()))
    ]
    by_inv: dict[str, list[tuple[RunResult, Violation]]] = {}
    for r, v in violations:
        by_inv.setdefault(v.invariant, []).append((r, v))
    for inv, items in sorted(by_inv.items()):
        seeds = sorted({r.seed for r, _ in items})
        lines.append(f"{inv}: {len(items)} violation(s), seeds {seeds[:8]}")
        r, v = items[0]
        lines.append(f"  first (seed {r.seed}): {v}")
        near = [s for s in r.steps if v.t - 12 <= s[0] <= v.t + 0.2][-25:]
        lines += [f"      {t:10.3f}  {what}" for t, what in near]
    return "\n".join(lines)


@pytest.mark.parametrize("device", DEVICES)
def test_short_campaign(
    device: str, campaign_seed: int | None, campaign_summary: list[str]
) -> None:
    seed = SHORT_SEEDS[device] if campaign_seed is None else campaign_seed
    print(f"campaign {device}: seed {seed}")
    kinds = [k for k in all_kinds(device) if k not in known_faults(device)]
    t0 = time.monotonic()
    result = run_campaign(device, seed, SHORT_EPISODES, kinds)
    wall = time.monotonic() - t0
    open_ = [v for v in result.violations if v.invariant not in known_invariants()]
    known = [v for v in result.violations if v.invariant in known_invariants()]
    total = sum(result.faults.values())
    campaign_summary.append(
        f"short {device} seed={seed}: {total} faults, {len(open_)} violations, "
        f"{len(known)} known-open, {wall:.0f} s"
    )
    print(_report([result], [(result, v) for v in result.violations]))
    assert total >= 150, f"too few faults injected ({total}): the campaign lost its teeth"
    assert not open_, f"seed {seed}:\n" + _report([result], [(result, v) for v in open_])


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_full_campaign(device: str, campaign_seed: int | None, campaign_summary: list[str]) -> None:
    base = campaign_seed if campaign_seed is not None else random.SystemRandom().randrange(10**9)
    print(f"campaign {device}: base seed {base} (runs use base, base+1, ...)")
    results: list[RunResult] = []
    k = 0
    while sum(sum(r.faults.values()) for r in results) < FULL_FAULTS:
        results.append(run_campaign(device, base + k, FULL_EPISODES_PER_RUN))
        k += 1
    all_v = [(r, v) for r in results for v in r.violations]
    open_ = [(r, v) for r, v in all_v if not _is_known(r, v)]
    total = sum(sum(r.faults.values()) for r in results)
    report = _report(results, all_v)
    campaign_summary.append(
        f"full {device} base seed={base}: {total} faults, {len(open_)} violations, "
        f"{len(all_v) - len(open_)} known-open"
    )
    print(report)
    assert not open_, f"base seed {base}:\n" + _report(results, open_)
    if all_v:
        pytest.xfail(f"known-open violations only (KNOWN_OPEN):\n{report}")


def _is_known(r: RunResult, v: Violation) -> bool:
    """A violation of a KNOWN_OPEN invariant, or one in a run that injected a known-open
    fault kind within the few seconds before it."""
    if v.invariant in known_invariants():
        return True
    kinds = known_faults(r.device)
    return any(kind in kinds and v.t - 15.0 <= t <= v.t for t, kind in r.fault_times)
