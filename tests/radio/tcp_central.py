"""A central process for the TCP test: ``python -m tests.radio.tcp_central PORT ADDRESS``.

Joins the radio at 127.0.0.1:PORT, connects to ADDRESS with bleak, prints ``linked`` and
waits to be killed (as a crashing controller process would be).
"""

from __future__ import annotations

import asyncio
import sys

from bleak import BleakClient

from simulators.radio.radio import VirtualRadio


async def main(port: int, address: str) -> None:
    radio = await VirtualRadio.connect("127.0.0.1", port)
    client = BleakClient(address, timeout=3.0, **radio.transport().client_options())
    await client.connect()
    print("linked", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
