"""Options and the summary line of the fault campaign.

``--campaign-seed N`` (or ``CAMPAIGN_SEED=N``; not a ``TENS_`` name, which the config would
refuse as an unknown key) fixes the seed of every campaign test;
without it the short run uses its fixed seeds and the full run a fresh one (printed).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

SUMMARY: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--campaign-seed",
        type=int,
        default=None,
        help="seed of the fault campaign (tests/campaign); also CAMPAIGN_SEED",
    )


@pytest.fixture
def campaign_seed(request: pytest.FixtureRequest) -> int | None:
    seed = request.config.getoption("--campaign-seed", default=None)
    if seed is None and os.environ.get("CAMPAIGN_SEED"):
        seed = int(os.environ["CAMPAIGN_SEED"])
    return seed


@pytest.fixture
def campaign_summary() -> list[str]:
    return SUMMARY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("fault campaign")
        for line in SUMMARY:
            terminalreporter.write_line(line)
