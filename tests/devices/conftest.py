from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulators.radio.radio import VirtualRadio


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    r = await VirtualRadio.local()
    yield r
    await r.close()
