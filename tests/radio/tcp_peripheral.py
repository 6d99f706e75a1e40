"""A peripheral process for the TCP test: ``python -m tests.radio.tcp_peripheral``.

Owns a radio with one test peripheral, serves the radio on a free TCP port and prints
``listening PORT ADDRESS``; then one line per link event (``connected``,
``disconnected REASON``). Each write is echoed back as a notification. Runs until killed.
"""

from __future__ import annotations

import asyncio
import contextlib

from bumble.device import Connection

from simulators.radio.radio import VirtualRadio
from tests.radio.kit import make_peripheral


async def main() -> None:
    radio = await VirtualRadio.local()
    peripheral = await make_peripheral(radio, "RemoteTENS")
    peripheral.echo = True

    def on_disconnection(reason: int) -> None:
        print(f"disconnected {reason}", flush=True)
        peripheral.later(peripheral.advertise())

    def on_connection(connection: Connection) -> None:
        print("connected", flush=True)
        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    peripheral.device.on(peripheral.device.EVENT_CONNECTION, on_connection)
    await radio.serve_tcp("127.0.0.1", 0)
    (_host, port), *_ = radio.tcp_addresses
    print(f"listening {port} {peripheral.address}", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
