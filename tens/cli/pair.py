"""``tens pair``: bond with *my* wearable and make it the configured device; ``tens devices``.

``tens pair [ADDRESS]`` finds the device (ADDRESS, else the configured ``[device] address``,
else the simulator with ``--simulator``, else the only known device around), pairs with it
through bleak's ``pair()`` (LE Secure Connections: the passkey printed on the device, asked
for or given with ``--passkey``; or the six digits shown, confirmed), proves the bond, and
writes ``[device] address`` into the config file, so every face drives that device and no
other. With ``--simulator`` the config is left as it is (``--simulator`` chooses the simulated
wearable itself) and the in-process wearable keeps its bonds from then on.
``tens pair --forget [ADDRESS]`` deletes this controller's bond (the device keeps its half
until a person clears it; the in-process simulated wearable forgets too).

``tens devices`` lists the devices this controller is bonded with and the configured one.

Exit codes: 0 done; 2 bad usage (no passkey without a terminal); 3 the config could not be
written; 6 the device was not found / no Bluetooth; 12 pairing failed (wrong passkey,
refused) or the device still refuses the link.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from tens.cli.common import add_config, add_json, load_or_fail
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail
from tens.cli.target import (
    FROM_CONFIG,
    add_target_arguments,
    exit_code_for,
    in_process_sim_config,
    open_target,
)
from tens.device import DeviceError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pair",
        help="bond with your wearable (passkey) and make it the configured device",
        description="Pair with the wearable (LE Secure Connections, the passkey printed on "
        "it), then write its address into the config's [device] section.",
    )
    p.add_argument(
        "address",
        nargs="?",
        metavar="ADDRESS",
        help="the device (address or exact name); default: [device] address, the simulator "
        "with --simulator, else the only known device around",
    )
    p.add_argument(
        "--passkey",
        type=int,
        metavar="N",
        help="the six-digit passkey printed on the device (default: ask for it)",
    )
    p.add_argument(
        "--forget",
        action="store_true",
        help="delete this controller's bond with the device instead of pairing",
    )
    add_target_arguments(p, device=False)
    add_json(p)
    add_config(p)
    p.set_defaults(handler=run_pair)

    d = sub.add_parser("devices", help="the devices this controller is bonded with")
    add_target_arguments(d, device=False)
    add_json(d)
    add_config(d)
    d.set_defaults(handler=run_devices)


def _ask_passkey() -> int | None:
    text = input("Passkey printed on the device (6 digits): ").strip()
    return int(text) if text.isdigit() else None


def _ask_same(number: int) -> bool:
    answer = input(f"Does the device show {number:06d}? [y/N] ").strip().lower()
    return answer in ("y", "yes")


async def _in_thread(func: Any, *args: Any) -> Any:
    return await asyncio.to_thread(func, *args)


async def run_pair(args: argparse.Namespace) -> int:
    import logging

    as_json = bool(args.json)
    smp_log = logging.getLogger("bumble.smp")
    if not smp_log.isEnabledFor(logging.DEBUG):
        smp_log.setLevel(logging.ERROR)  # a failure is reported once, by tens, with its code
    if args.passkey is not None and not 1 <= args.passkey <= 999_999:
        return fail("--passkey takes the six digits 000001-999999", ExitCode.USAGE, as_json=as_json)
    interactive = sys.stdin.isatty() and not as_json
    if args.passkey is None and not interactive and not args.forget:
        return fail(
            "no passkey: give --passkey N (the six digits printed on the device)",
            ExitCode.USAGE,
            as_json=as_json,
        )
    if args.simulator and getattr(args, "sim_model", "opentens") != "opentens":
        return fail(
            "only the opentens simulator has link security", ExitCode.USAGE, as_json=as_json
        )
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    config_path = args.config
    if config_path is None:
        from tens.config import default_path

        config_path = default_path()

    sim_config = in_process_sim_config(secure=True) if args.simulator else None
    try:
        async with open_target(
            args, settings=loaded.config.device, simulator_config=sim_config
        ) as target:
            wanted = args.address or target.device_address
            if wanted is None and target.simulator is not None:
                wanted = target.simulator.address
            if args.forget:
                return await _forget(args, target, wanted, as_json)
            if wanted is None:
                wanted = await _only_device(target)
            from devices.pairing import pair_device

            passkey: Any = args.passkey
            if passkey is None:
                passkey = lambda: _in_thread(_ask_passkey)  # noqa: E731
            compare = (lambda n: _in_thread(_ask_same, n)) if interactive else None
            paired = await pair_device(
                target.transport,
                wanted,
                passkey=passkey,
                compare_numbers=compare,
                scan_timeout=target.scan_timeout,
            )
    except DeviceError as exc:
        return fail(str(exc), exit_code_for(exc), as_json=as_json)

    written: str | None = None
    if not args.simulator:
        from tens.config import ConfigError
        from tens.config_edit import set_device_address

        try:
            set_device_address(config_path, paired.address)
        except (ConfigError, OSError) as exc:
            return fail(
                f"paired with {paired.address}, but the config was not written: {exc}",
                ExitCode.CONFIG,
                as_json=as_json,
            )
        written = str(config_path)
    if as_json:
        emit_json(
            {
                "paired": paired.address,
                "name": paired.name,
                "driver": paired.driver,
                "config": written,
            }
        )
    else:
        name = f"{paired.name} " if paired.name else ""
        print(f"paired with {name}({paired.address}): the link is encrypted and bonded")
        if written:
            print(f"wrote {FROM_CONFIG} = {paired.address!r} to {written}")
        else:
            print(
                "the simulated wearable keeps the bond: from now on `--simulator` drives it "
                "over this encrypted link only"
            )
    return 0


async def _only_device(target: Any) -> str:
    from devices import registry
    from tens.cli.target import DeviceChoiceNeeded, registry_not_found

    found = [f for f in await registry.scan(target.transport, target.scan_timeout) if f.driver]
    if not found:
        raise registry_not_found(target.transport.description, target.scan_timeout)
    if len(found) > 1:
        listing = ", ".join(f"{f.name or '?'} ({f.address})" for f in found)
        raise DeviceChoiceNeeded(
            f"{len(found)} devices found ({listing}): name the one to pair with, "
            "`tens pair ADDRESS`",
            tuple((f.address, f.name) for f in found),
        )
    return str(found[0].address)


async def _forget(args: argparse.Namespace, target: Any, wanted: str | None, as_json: bool) -> int:
    from devices.pairing import bonded_addresses, forget_device

    if wanted is None:
        return fail(
            "which device? `tens pair --forget ADDRESS` (nothing is configured)",
            ExitCode.USAGE,
            as_json=as_json,
        )
    before = await bonded_addresses(target.transport)
    await forget_device(target.transport, wanted)
    if target.simulator is not None:
        await target.simulator.forget_bonds()
    known = None if before is None else wanted.upper() in before
    if as_json:
        emit_json({"forgotten": wanted, "was_bonded": known})
    elif known is False:
        print(f"no bond with {wanted} was stored; nothing to forget")
    else:
        print(f"forgot the bond with {wanted}; pair again with `tens pair`")
    return 0


async def run_devices(args: argparse.Namespace) -> int:
    as_json = bool(args.json)
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    configured = loaded.config.device.address
    try:
        async with open_target(args, settings=loaded.config.device) as target:
            from devices.pairing import bonded_addresses

            bonded = await bonded_addresses(target.transport)
            description = target.transport.description
    except DeviceError as exc:
        return fail(str(exc), exit_code_for(exc), as_json=as_json)
    if as_json:
        emit_json({"bonded": bonded, "configured": configured, "via": description})
        return 0
    if bonded is None:
        print(f"{description}: BlueZ keeps the bonds; list them with `bluetoothctl devices Paired`")
    elif not bonded:
        print(f"no bonded devices ({description}); pair with `tens pair`")
    for address in bonded or ():
        mark = "  (configured)" if configured and configured.upper() == address else ""
        print(f"{address}  bonded{mark}")
    if configured and (bonded is None or configured.upper() not in bonded):
        print(f"{FROM_CONFIG} = {configured!r}")
    return 0
