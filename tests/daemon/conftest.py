from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.broker import MOSQUITTO, NO_BROKER_REASON, Broker, running_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if MOSQUITTO is None:
        pytest.skip(NO_BROKER_REASON)
    with running_broker(tmp_path) as b:
        yield b


DAEMON_TEST_TIMEOUT_S = 90


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Bound every daemon test: a hang fails with a stack dump instead of stalling the suite."""
    for item in items:
        if "tests/daemon/" in str(item.path).replace("\\", "/") and not item.get_closest_marker(
            "timeout"
        ):
            item.add_marker(pytest.mark.timeout(DAEMON_TEST_TIMEOUT_S))
