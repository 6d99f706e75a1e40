"""``tens simulate``: a standalone simulated wearable on a virtual radio served over TCP.

Other processes reach it with ``--radio HOST:PORT`` (or the ``TENS_RADIO`` environment
variable), e.g. ``tens scan --radio 127.0.0.1:9710``. It prints what it serves, then every
change of delivered output (and link changes and scenario steps) as it happens; with
``--json`` one JSON object per line: ``{"event": "serving" | "delivered" | "link" |
"scenario" | "stopped", ...}``. Ctrl-C or SIGTERM stops it cleanly (exit 0). Exit 2 for bad
usage, 6 when the address cannot be listened on.

``start_simulated_wearable`` (re-exported here) is what ``--simulator`` uses in-process.
Nothing heavy is imported until the verb runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail

if TYPE_CHECKING:
    from simulators.opentens.config import SimConfig
    from simulators.opentens.server import OpenTensSimulator

DEFAULT_LISTEN = "127.0.0.1:9710"
RADIO_ENV = "TENS_RADIO"  # the same name as simulators.radio.spec.RADIO_ENV (kept import-free)
MODELS = ("opentens", "coyote3", "coyote2")
EXIT_USAGE = ExitCode.USAGE
EXIT_UNAVAILABLE = ExitCode.NO_DEVICE


async def start_simulated_wearable(
    radio: Any,
    *,
    name: str = "OpenTENS-Sim",
    config: SimConfig | None = None,
    scenario: str | None = None,
) -> OpenTensSimulator:
    """Start a simulated OpenTENS wearable on ``radio`` (see
    ``simulators.opentens.wearable.start_simulated_wearable``); returns the
    ``OpenTensSimulator``."""
    from simulators.opentens.wearable import start_simulated_wearable as start

    return await start(radio, name=name, config=config, scenario=scenario)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a simulated wearable that other tens processes can reach",
        description="Run a simulated wearable on a virtual Bluetooth radio served over TCP. "
        "Reach it from another shell with `tens scan --radio HOST:PORT`.",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"where to serve the radio (default ${RADIO_ENV} or {DEFAULT_LISTEN}; port 0 "
        "picks a free one)",
    )
    parser.add_argument("--name", help="advertised name (default OpenTENS-Sim)")
    parser.add_argument(
        "--model", choices=MODELS, default="opentens", help="which wearable (default opentens)"
    )
    parser.add_argument("--scenario", metavar="NAME", help="run a fault scenario by name")
    parser.add_argument(
        "--list-scenarios", action="store_true", help="list the fault scenarios and exit"
    )
    parser.add_argument(
        "--after",
        type=float,
        metavar="S",
        help="scenario: seconds from the first connection to the fault (default 10)",
    )
    parser.add_argument(
        "--for",
        dest="for_s",
        type=float,
        metavar="S",
        help="scenario: how long a fault that ends lasts (default 5)",
    )
    parser.add_argument(
        "--interval-ms",
        type=float,
        metavar="MS",
        help="connection interval, 7.5 to 4000 ms (default 30)",
    )
    parser.add_argument(
        "--jitter-ms", type=float, metavar="MS", help="random lateness of connection events"
    )
    parser.add_argument(
        "--loss", type=float, metavar="P", help="probability that a connection event is lost"
    )
    parser.add_argument("--channels", type=int, metavar="N", help="channels, 1 to 4 (default 2)")
    parser.add_argument(
        "--passkey",
        type=int,
        metavar="N",
        help="the six-digit passkey printed on the wearable (default 123456)",
    )
    parser.add_argument(
        "--keys",
        type=Path,
        metavar="FILE",
        help="keep the wearable's bonds (and its address) in FILE across restarts "
        "(default: in memory)",
    )
    parser.add_argument(
        "--numeric-comparison",
        action="store_true",
        help="the wearable has a display and a button: numeric comparison, not a passkey",
    )
    parser.add_argument(
        "--open-link",
        action="store_true",
        help="no link security (profile v1 behaviour: anyone in range can write)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--bluez",
        action="store_true",
        help="serve it as BlueZ (org.bluez) on a private D-Bus instead of a TCP radio, for "
        "bleak's default backend; prints the DBUS_SYSTEM_BUS_ADDRESS to use (--listen unused)",
    )
    parser.set_defaults(handler=run)


def _parse_listen(spec: str) -> tuple[str, int]:
    from simulators.radio.spec import parse_radio

    text = spec.strip()
    if text.endswith(":0"):
        host, _ = parse_radio(text[:-2] + ":1")
        return host, 0
    return parse_radio(text)


def _list_scenarios(as_json: bool) -> int:
    from simulators.opentens.scenarios import SCENARIOS

    if as_json:
        for s in SCENARIOS.values():
            emit_json(
                {"scenario": s.name, "summary": s.summary, "needs_security": s.needs_security}
            )
        return 0
    width = max(len(name) for name in SCENARIOS)
    for s in SCENARIOS.values():
        sys.stdout.write(f"{s.name:<{width}}  {s.summary}\n")
    sys.stdout.write("AFTER and FOR are --after and --for (seconds from the first connection).\n")
    return 0


def _config(args: argparse.Namespace) -> Any:
    from simulators.opentens.config import SimConfig

    overrides: dict[str, Any] = {}
    for option, key in (
        ("interval_ms", "interval_ms"),
        ("jitter_ms", "jitter_ms"),
        ("loss", "loss"),
        ("channels", "channels"),
    ):
        value = getattr(args, option)
        if value is not None:
            overrides[key] = value
    if args.name:
        overrides["name"] = args.name
    if args.model == "opentens" and not args.open_link and not args.bluez:
        from simulators.opentens.config import DEFAULT_PASSKEY, LinkSecurity

        overrides["security"] = LinkSecurity(
            passkey=DEFAULT_PASSKEY if args.passkey is None else args.passkey,
            keystore=args.keys,
            numeric_comparison=args.numeric_comparison,
        )
    return SimConfig(**overrides)


def _security_line(config: Any) -> tuple[str, dict[str, Any] | None]:
    security = getattr(config, "security", None)
    if security is None:
        return "Link: OPEN (no pairing: anyone in range can write; --open-link)\n", None
    bonds = str(security.keystore) if security.keystore is not None else "memory"
    method = "numeric_comparison" if security.numeric_comparison else "passkey"
    how = (
        "numeric comparison (the wearable confirms the six digits)"
        if security.numeric_comparison
        else f"passkey {security.passkey:06d} (printed on it)"
    )
    line = f"Link security: LE Secure Connections, {how}; bonds in {bonds}\n"
    return line, {"method": method, "passkey": security.passkey, "keys": bonds}


def _say(as_json: bool, line: str, **fields: Any) -> None:
    if as_json:
        emit_json(fields)
    else:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


async def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal

    as_json = bool(args.json)
    if args.list_scenarios:
        return _list_scenarios(as_json)
    listen = args.listen or os.environ.get(RADIO_ENV) or DEFAULT_LISTEN
    try:
        host, port = _parse_listen(listen)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE, as_json=as_json)
    try:
        config = _config(args)
    except ValueError as exc:
        return fail(f"simulator settings refused: {exc}", EXIT_USAGE, as_json=as_json)
    if args.scenario is not None:
        from simulators.opentens.scenarios import SCENARIOS

        if args.model != "opentens":
            return fail("scenarios run on the opentens model only", EXIT_USAGE, as_json=as_json)
        if args.scenario not in SCENARIOS:
            known = ", ".join(SCENARIOS)
            return fail(
                f"unknown scenario {args.scenario!r}; known: {known}", EXIT_USAGE, as_json=as_json
            )
    if args.passkey is not None and not 1 <= args.passkey <= 999_999:
        return fail("--passkey takes the six digits 000001-999999", EXIT_USAGE, as_json=as_json)
    if args.scenario is not None and args.open_link:
        from simulators.opentens.scenarios import SCENARIOS

        if SCENARIOS[args.scenario].needs_security:
            return fail(
                f"scenario {args.scenario!r} needs link security (drop --open-link)",
                EXIT_USAGE,
                as_json=as_json,
            )
    for option in ("after", "for_s"):
        value = getattr(args, option)
        if value is not None and not 0 <= value <= 86400:
            return fail("--after and --for take 0 to 86400 seconds", EXIT_USAGE, as_json=as_json)
    if args.bluez:
        from simulators.bluez.demo import serve_bluez

        return await serve_bluez(args, config, lambda line, **f: _say(as_json, line, **f))

    from simulators.opentens.record import sample_report
    from simulators.radio import VirtualRadio

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    radio = await VirtualRadio.local()
    simulator: Any = None
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    try:
        try:
            await radio.serve_tcp(host, port)
        except OSError as exc:
            return fail(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                EXIT_UNAVAILABLE,
                as_json=as_json,
            )
        bound_host, bound_port = radio.tcp_addresses[0]
        where = (
            f"{bound_host}:{bound_port}"
            if ":" not in bound_host
            else f"[{bound_host}]:{bound_port}"
        )
        if args.model == "opentens":
            from simulators.opentens.wearable import start_simulated_wearable as start

            simulator = await start(radio, name=config.name, config=config)
        else:
            from simulators.coyote.simulator import start_coyote

            simulator = await start_coyote(radio, args.model, name=args.name)

        def on_sample(sample: Any) -> None:
            unit = "mA" if args.model == "opentens" else "level"
            line, fields = sample_report(sample, round(sample.t - t0, 3), unit)
            _say(as_json, line, **fields)

        def on_link(what: str) -> None:
            t = round(loop.time() - t0, 3)
            _say(as_json, f"{t:10.3f} s  link {what}", event="link", t=t, link=what)

        def on_scenario(text: str) -> None:
            t = round(loop.time() - t0, 3)
            _say(as_json, f"{t:10.3f} s  scenario: {text}", event="scenario", t=t, text=text)

        record = getattr(simulator, "record", None)
        if record is not None and hasattr(record, "add_listener"):
            record.add_listener(on_sample)
        if hasattr(simulator, "add_link_listener"):
            simulator.add_link_listener(on_link)
        if args.scenario is not None:
            simulator.run_scenario(
                args.scenario, after_s=args.after, for_s=args.for_s, say=on_scenario
            )

        name = str(getattr(simulator, "name", config.name))
        address = str(getattr(simulator, "address", "?"))
        security_line, security = _security_line(config) if args.model == "opentens" else ("", None)
        pair_hint = (
            f"Pair with it: tens pair --radio {where} --passkey {security['passkey']:06d}\n"
            if security is not None and security["method"] == "passkey"
            else ""
        )
        _say(
            as_json,
            f"Serving simulated {args.model} wearable {name!r} ({address}) on a virtual radio "
            f"at {where}\n"
            f"Reach it with: tens scan --radio {where}   (or {RADIO_ENV}={where})\n"
            + security_line
            + pair_hint
            + (f"Scenario: {args.scenario}\n" if args.scenario else "")
            + "Delivered output changes follow; Ctrl-C stops.",
            event="serving",
            model=args.model,
            name=name,
            address=address,
            radio=where,
            scenario=args.scenario,
            security=security,
            **(
                {"interval_ms": config.interval_ms, "channels": config.channels}
                if args.model == "opentens"
                else {}
            ),
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        if simulator is not None:
            with contextlib.suppress(Exception):
                await simulator.close()
        await radio.close()
    _say(as_json, "stopped", event="stopped")
    return 0
