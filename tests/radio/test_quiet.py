"""bumble's per-packet debug strings are cheap on the virtual radio unless debugging."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import asyncio
from simulators.radio.radio import VirtualRadio
from bumble import hci, host

async def main():
    radio = await VirtualRadio.local()
    await radio.close()

asyncio.run(main())
packet = hci.HCI_Reset_Command()
print(host.color("x", "red") == "x", str(packet) == "HCI_Reset_Command")
"""


def _probe(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return out.stdout.strip()


def test_radio_makes_bumble_debug_strings_cheap() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "BUMBLE_DEBUG_STRINGS"}
    assert _probe(env) == "True True"


def test_debugging_keeps_bumble_debug_strings_whole() -> None:
    import os

    env = {**os.environ, "BUMBLE_DEBUG_STRINGS": "1"}
    assert _probe(env) == "False False"
