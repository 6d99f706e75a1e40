"""Background load for the timing-steadiness benchmark, each in its own process.

    python -m benchmarks._load mqtt PORT TOPIC RATE   # publish cmd/program at RATE msgs/s
    python -m benchmarks._load tui                    # the TUI, headless, over a session

``mqtt`` publishes valid ``cmd/program`` commands (QoS 1, TCP_NODELAY): the daemon parses,
answers each on ``cmd/program/result`` and publishes an event, and nothing changes the
output. ``tui`` runs the Textual app (Pilot, headless) over its own controller and simulated
wearable with a session running, redrawing as events arrive, and presses up / down (one
intensity step, through the governor) every 0.1 s, so it redraws all the time.
Both run until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def mqtt_load(port: int, topic: str, rate: float) -> None:
    from benchmarks.common import nodelay_client

    period = 1.0 / rate
    async with nodelay_client(port, f"bench-load-{int(time.time())}") as client:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            payload = json.dumps({"v": 1, "ts": time.time(), "program": "conventional"})
            await client.publish(topic, payload.encode(), qos=1)
            next_t += period
            await asyncio.sleep(max(0.0, next_t - loop.time()))


async def tui_load() -> None:
    from benchmarks.common import make_rig
    from tens.controller import StartRequest
    from tens.events import Source
    from tui.app import make_app

    rig = await make_rig("OT-LOADTUI", interval_ms=30.0)
    app = make_app(rig.ctrl, connect=False, ask_pain=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await rig.ctrl.start(
            StartRequest(intensity=30.0, minutes=10.0, placement="lower-back"), Source.TUI
        )
        up = True
        while True:
            await pilot.press("up" if up else "down")
            up = not up
            await pilot.pause(0.1)


def main(argv: list[str]) -> int:
    if argv[:1] == ["mqtt"]:
        asyncio.run(mqtt_load(int(argv[1]), argv[2], float(argv[3])))
    elif argv[:1] == ["tui"]:
        asyncio.run(tui_load())
    else:
        sys.stderr.write(__doc__ or "")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
