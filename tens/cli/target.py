"""Which device a CLI verb talks to: ``--simulator``, ``--radio HOST:PORT``, ``--device``, and
the ``[device] address`` setting.

Every verb that talks to a device calls :func:`add_target_arguments` on its parser and then::

    async with open_target(args, settings=loaded.config.device) as target:
        device = await target.open_device()      # built by its driver, not yet connected
        await device.connect()

This is the one path every face (``tens run``, ``tens tui``, ``tens daemon``, ``tens bench``)
opens its device by, so they all choose the same way ("only my device"):

1. ``--device ADDRESS`` (address in any case, or exact advertised name) on the command line;
2. else, unless ``--simulator``, the configured ``[device] address``;
3. else the in-process simulator (``--simulator``);
4. else the only known device around; with more than one, :class:`DeviceChoiceNeeded`
   listing them, and nothing is opened.

A named device (1 or 2) that is not around is :class:`~tens.device.DeviceNotFound` naming
where the name came from; another device is never used instead.

``target.transport`` is the bleak transport to scan or connect with, and ``target.simulator``
the in-process simulated wearable (``--simulator``) or None. On leaving the block every device
opened through the target is disconnected, and the simulator and radio are shut down.

Where the radio comes from: ``--simulator`` starts a virtual radio in this process with one
simulated OpenTENS wearable on it; ``--radio HOST:PORT`` (or the ``TENS_RADIO`` environment
variable) joins the radio of a ``tens simulate --listen HOST:PORT`` process; otherwise the
system's Bluetooth through bleak's default backend.

Bonds on the virtual radio: the central keeps them in :func:`tens.paths.bonds_path` (BlueZ
keeps its own). The in-process simulated wearable has link security once ``tens pair
--simulator`` paired with it (its bonds are in :func:`tens.paths.simulator_keys_path`); before
that, ``--simulator`` serves it on an open link (the development mode docs/simulator.md
describes).

Exit codes for verbs (:func:`exit_code_for`): 2 for a malformed ``--radio``, 12 (NOT_PAIRED)
when the device needs a bonded, encrypted link this controller does not have, and
:data:`EXIT_NO_DEVICE` (6, as ``tens run``) when there is no Bluetooth, the radio cannot be
reached or the device fails (not found, refused, ...). Nothing heavy is imported here at module
level.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tens.cli.exitcodes import ExitCode
from tens.device import Device, DeviceError

if TYPE_CHECKING:
    from devices.transport import BleTransport
    from tens.config import DeviceSettings

SIM_MODELS = ("opentens", "coyote3", "coyote2")
"""Models ``--simulator`` can start (``--sim-model``); the Coyotes are in simulators.coyote."""
RADIO_ENV = "TENS_RADIO"  # the same name as simulators.radio.spec.RADIO_ENV (kept import-free)
SIMULATOR_NAME = "OpenTENS-Sim"
DEFAULT_DEVICE_SCAN_S = 5.0

EXIT_USAGE = ExitCode.USAGE
EXIT_NO_DEVICE = ExitCode.NO_DEVICE
"""No Bluetooth adapter / BlueZ, no radio at HOST:PORT, or a device error (not found,
refused, timed out, disconnected): the same code as ``tens run``'s "device not found"."""


class TargetUnavailable(DeviceError):
    """The transport itself is missing: no Bluetooth stack, or no radio at HOST:PORT."""


class TargetUsageError(DeviceError):
    """The target options are malformed (e.g. ``--radio`` not HOST:PORT)."""


class DeviceChoiceNeeded(DeviceError):
    """More than one known device is around and none was named: nothing is opened.

    ``found`` lists them as (address, name) pairs, strongest first."""

    def __init__(self, message: str, found: tuple[tuple[str, str | None], ...]) -> None:
        super().__init__(message)
        self.found = found


FROM_COMMAND_LINE = "--device"
FROM_CONFIG = "[device] address"


def add_target_arguments(parser: argparse.ArgumentParser, *, device: bool = True) -> None:
    """Add ``--simulator``, ``--radio HOST:PORT`` and (unless ``device=False``) ``--device``."""
    group = parser.add_argument_group("device")
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--simulator",
        action="store_true",
        help="use a simulated OpenTENS wearable in this process (no hardware needed)",
    )
    where.add_argument(
        "--radio",
        metavar="HOST:PORT",
        default=None,
        help=f"join the virtual radio of `tens simulate --listen HOST:PORT` (env {RADIO_ENV})",
    )
    group.add_argument(
        "--sim-model",
        choices=SIM_MODELS,
        default="opentens",
        help="which wearable --simulator simulates (default: opentens)",
    )
    if device:
        group.add_argument(
            "--device",
            metavar="ADDRESS",
            default=None,
            help="address (or advertised name) of the device; default: [device] address in "
            "the config, else the only one found",
        )


def radio_spec(args: argparse.Namespace) -> str | None:
    """``--radio`` or, when not given, the TENS_RADIO environment variable (empty: unset)."""
    spec = getattr(args, "radio", None)
    if spec:
        return str(spec)
    if getattr(args, "simulator", False):
        return None
    return os.environ.get(RADIO_ENV) or None


@dataclass
class Target:
    """The transport a verb talks through, and the simulator when it runs in this process."""

    transport: BleTransport
    simulator: Any | None = None
    """The in-process OpenTensSimulator with ``--simulator``, else None."""
    radio: Any | None = None
    """The VirtualRadio for ``--simulator`` / ``--radio``, else None."""
    device_address: str | None = None
    """The device to use (``--device``, else ``[device] address``); None: see open_device."""
    device_origin: str | None = None
    """Where ``device_address`` came from: FROM_COMMAND_LINE or FROM_CONFIG."""
    scan_timeout: float = DEFAULT_DEVICE_SCAN_S
    declared_electrodes: dict[int, Any] = field(default_factory=dict)
    """Channel -> ElectrodeSize the device side declares: the in-process simulator's simulated
    pads (every device on its radio is simulated); empty for any real radio, where the person
    states the pads (`tens electrodes set`)."""
    _opened: list[Device] = field(default_factory=list)

    async def open_device(self, address: str | None = None) -> Device:
        """Find the device and build its driver (not connected yet): ``address`` (a choice made
        in a face, e.g. the TUI's devices screen), else the target's address (``--device``,
        else ``[device] address``), else the simulator, else the only known one around.

        Raises DeviceNotFound (a named device not around: never another one instead),
        DeviceChoiceNeeded (several around, none named) or another DeviceError."""
        from devices import registry
        from tens.device import DeviceNotFound

        wanted, origin = address, "the chosen device"
        if wanted is None and self.device_address is not None:
            wanted, origin = self.device_address, self.device_origin or FROM_COMMAND_LINE
        if wanted is None and self.simulator is not None:
            wanted, origin = _simulator_address(self.simulator), "the simulator"
        if wanted is not None:
            try:
                device = await registry.open_device(self.transport, wanted, self.scan_timeout)
            except DeviceNotFound as exc:
                if origin != FROM_CONFIG:
                    raise
                raise DeviceNotFound(
                    f"the configured device ({FROM_CONFIG} = {wanted!r}) was not found; no "
                    f"other device is used instead: {exc}"
                ) from exc
        else:
            found = await registry.scan(self.transport, self.scan_timeout)
            if not found:
                raise registry_not_found(self.transport.description, self.scan_timeout)
            if len(found) > 1:
                listing = ", ".join(f"{f.name or '?'} ({f.address})" for f in found)
                raise DeviceChoiceNeeded(
                    f"{len(found)} devices found ({listing}) and none is configured: choose "
                    f"one with --device ADDRESS or set {FROM_CONFIG} in the config; nothing "
                    "was opened",
                    tuple((f.address, f.name) for f in found),
                )
            device = await registry.open_device(self.transport, found[0].address, self.scan_timeout)
        # a daemon reopens after every link loss: forget the ones that are down already
        self._opened = [d for d in self._opened if d.connected]
        self._opened.append(device)
        return device

    async def aclose(self) -> None:
        for device in reversed(self._opened):
            with contextlib.suppress(Exception):
                await device.disconnect()
        self._opened.clear()


def registry_not_found(where: str, timeout: float) -> DeviceError:
    from tens.device import DeviceNotFound

    return DeviceNotFound(
        f"no known device answered within {timeout:g} s (via {where}); is it on and in "
        "range? `tens scan --all` lists everything around"
    )


def _simulator_address(simulator: Any) -> str | None:
    for attribute in ("address", "name"):
        value = getattr(simulator, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def chosen_address(
    args: argparse.Namespace, settings: DeviceSettings | None
) -> tuple[str | None, str | None]:
    """The device these arguments and settings name, and where from: ``--device`` wins; then
    ``[device] address``, except with ``--simulator`` (the simulated wearable is chosen on
    the command line). (None, None) when nothing is named."""
    explicit = getattr(args, "device", None)
    if explicit:
        return str(explicit), FROM_COMMAND_LINE
    configured = settings.address if settings is not None else None
    if configured and not getattr(args, "simulator", False):
        return configured, FROM_CONFIG
    return None, None


@contextlib.asynccontextmanager
async def open_target(
    args: argparse.Namespace,
    *,
    settings: DeviceSettings | None = None,
    simulator_config: Any = None,
    simulator_name: str = SIMULATOR_NAME,
) -> AsyncIterator[Target]:
    """The transport for these arguments (see the module docstring); cleans up on exit.

    ``settings`` is the config's ``[device]`` section: every face that opens a device passes
    it (``tens scan`` lists devices and opens none).

    Raises :class:`TargetUnavailable` when the radio cannot be reached and
    :class:`TargetUsageError` for a malformed ``--radio`` (both DeviceErrors).
    """
    scan_timeout = float(getattr(args, "device_timeout", None) or DEFAULT_DEVICE_SCAN_S)
    device_address, device_origin = chosen_address(args, settings)
    async with contextlib.AsyncExitStack() as stack:
        if getattr(args, "simulator", False):
            from simulators.radio import VirtualRadio
            from tens.paths import bonds_path

            radio = await VirtualRadio.local(keystore=bonds_path())
            stack.push_async_callback(radio.close)
            sim_model = getattr(args, "sim_model", None) or "opentens"
            simulator: Any
            if sim_model == "opentens":
                from simulators.opentens import start_simulated_wearable

                simulator = await start_simulated_wearable(
                    radio, name=simulator_name, config=in_process_sim_config(simulator_config)
                )
            else:
                from simulators.coyote.simulator import start_coyote

                simulator = await start_coyote(radio, sim_model)
            stack.push_async_callback(_close_simulator, simulator)
            target = Target(
                transport=radio.transport(),
                simulator=simulator,
                radio=radio,
                device_address=device_address,
                device_origin=device_origin,
                scan_timeout=scan_timeout,
                declared_electrodes=simulated_pads(),
            )
        elif (spec := radio_spec(args)) is not None:
            from simulators.radio import VirtualRadio, parse_radio

            try:
                host, port = parse_radio(spec)
            except ValueError as exc:
                raise TargetUsageError(str(exc)) from exc
            from tens.paths import bonds_path

            try:
                radio = await VirtualRadio.connect(host, port, keystore=bonds_path())
            except (ConnectionError, OSError) as exc:
                raise TargetUnavailable(
                    f"cannot reach the virtual radio at {host}:{port} ({exc}); is "
                    f"`tens simulate --listen {host}:{port}` running?"
                ) from exc
            stack.push_async_callback(radio.close)
            target = Target(
                transport=radio.transport(),
                radio=radio,
                device_address=device_address,
                device_origin=device_origin,
                scan_timeout=scan_timeout,
            )
        else:
            from devices.transport import BleTransport

            target = Target(
                transport=BleTransport(),
                device_address=device_address,
                device_origin=device_origin,
                scan_timeout=scan_timeout,
            )
        stack.push_async_callback(target.aclose)
        yield target


SIM_PASSKEY = 123456
"""The passkey "printed on" the in-process simulated wearable (``--simulator``)."""


def in_process_sim_config(config: Any = None, *, secure: bool | None = None) -> Any:
    """The SimConfig for ``--simulator``: ``config`` (a SimConfig or None), with link
    security (passkey :data:`SIM_PASSKEY`, bonds in :func:`tens.paths.simulator_keys_path`)
    when ``secure``; ``secure=None``: when that key file exists (``tens pair --simulator``
    made it). A config that sets its own security keeps it."""
    import dataclasses

    from simulators.opentens.config import LinkSecurity, SimConfig
    from tens.paths import simulator_keys_path

    base = config if config is not None else SimConfig()
    if base.security is not None:
        return base
    keys = simulator_keys_path()
    if secure is None:
        secure = keys.exists()
    if not secure:
        return base
    return dataclasses.replace(base, security=LinkSecurity(passkey=SIM_PASSKEY, keystore=keys))


def simulated_pads() -> dict[int, Any]:
    """The pads the in-process simulator declares on every channel it may have."""
    from simulators.opentens.codec import MAX_CHANNELS
    from tens.electrodes import SIMULATED_PAD

    return dict.fromkeys(range(MAX_CHANNELS), SIMULATED_PAD)


async def _close_simulator(simulator: Any) -> None:
    for name in ("aclose", "close", "stop"):
        method = getattr(simulator, name, None)
        if method is not None:
            result = method()
            if hasattr(result, "__await__"):
                await result
            return


def exit_code_for(exc: BaseException) -> int:
    """The exit code a verb returns for a device/transport error."""
    from tens.device import LinkNotSecure, PairingFailed

    if isinstance(exc, TargetUsageError):
        return EXIT_USAGE
    if isinstance(exc, LinkNotSecure | PairingFailed):
        return ExitCode.NOT_PAIRED
    return EXIT_NO_DEVICE
