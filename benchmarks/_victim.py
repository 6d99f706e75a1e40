"""The controller process the watchdog benchmark kills: a zygote that imports everything once
and forks one controller per request (so a run costs a fork, not an interpreter start).

Reads lines on stdin: ``go HOST PORT NAME`` forks a child that joins the virtual radio at
HOST:PORT, connects to the wearable NAME, starts a session from zero (10 mA target) and then
just runs; the zygote answers ``pid N``. ``quit`` (or end of input) ends the zygote. Children
are reaped by the kernel (SIGCHLD ignored).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys


def _child(host: str, port: int, name: str) -> None:
    from benchmarks.common import bench_config, bench_pads
    from devices import registry
    from simulators.radio import VirtualRadio
    from tens.controller import Controller, StartRequest
    from tens.events import Source

    async def main() -> int:
        radio = await VirtualRadio.connect(host, port)
        transport = radio.transport()

        async def opener() -> object:
            return await registry.open_device(transport, name, 10.0)

        ctrl = Controller(bench_config(), opener, None, declared_electrodes=bench_pads())  # type: ignore[arg-type]
        await ctrl.connect()
        decision = await ctrl.start(
            StartRequest(intensity=10.0, minutes=5.0, placement="lower-back"), Source.CLI
        )
        if decision.refused:
            return 3
        await asyncio.Event().wait()
        return 0

    code = 1
    try:
        code = asyncio.run(main())
    finally:
        os._exit(code)


def main() -> int:
    # Import the heavy parts once, before any fork (no loop, no threads yet).
    import benchmarks.common  # noqa: F401
    import devices.opentens.driver  # noqa: F401
    import simulators.radio.radio  # noqa: F401
    import tens.controller  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        if parts[0] == "go" and len(parts) == 4:
            pid = os.fork()
            if pid == 0:
                sys.stdin.close()
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                _child(parts[1], int(parts[2]), parts[3])
            sys.stdout.write(f"pid {pid}\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
