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
