"""Which driver speaks to a device, picked from what it advertises; scanning and opening.

A driver family registers one :class:`DriverSpec`: a name, a ``matches(advertisement)``
predicate over the library-independent :class:`~tens.device.Advertisement`, and a
``factory(seen, transport)`` building its :class:`~tens.device.Device`. Specs are tried in
order; the first match wins, so put the most specific first.

Adding a family (Coyote 3.0, Coyote 2.0, ...): write ``devices/<family>/`` with its codec and
driver, give its package a ``DRIVER_SPEC`` and add the module name to
:data:`BUILTIN_DRIVER_MODULES` (a module not written yet is skipped), or call
:func:`register` at run time. The matchers for the two Coyote generations are ready below:
``name_is(COYOTE3_NAME) | has_service(COYOTE3_SERVICE_UUID)`` and ``name_is(COYOTE2_NAME)``.
See docs/drivers.md.

Importing this module is light: bleak loads only when scanning or opening.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tens.device import Advertisement, Device, DeviceError, DeviceNotFound

if TYPE_CHECKING:
    from devices.bleak_link import Seen
    from devices.transport import BleTransport

log = logging.getLogger(__name__)

DEFAULT_SCAN_TIMEOUT_S = 5.0

# Identifiers of known families (docs: docs/opentens-profile.md, docs/coyote.md).
OPENTENS_SERVICE_UUID = "0e7e5000-1c8a-4b1f-9d3e-6a5d2c7b9f10"
COYOTE3_NAME = "47L121000"
COYOTE3_SERVICE_UUID = "0000180c-0000-1000-8000-00805f9b34fb"
COYOTE2_NAME = "D-LAB ESTIM01"

BUILTIN_DRIVER_MODULES: tuple[str, ...] = (
    "devices.opentens",
    "devices.coyote3",
    "devices.coyote2",
)
"""Packages that may export a ``DRIVER_SPEC``, tried in this order. Missing ones are skipped."""


class BluetoothUnavailable(DeviceError):
    """No usable Bluetooth adapter (or no BlueZ / D-Bus, or no radio) on this machine."""


class Matcher:
    """A predicate over advertisements that composes with ``|`` and ``&``."""

    def __init__(self, predicate: Callable[[Advertisement], bool], label: str) -> None:
        self._predicate = predicate
        self.label = label

    def __call__(self, adv: Advertisement) -> bool:
        return self._predicate(adv)

    def __or__(self, other: Matcher) -> Matcher:
        return Matcher(lambda a: self(a) or other(a), f"({self.label} or {other.label})")

    def __and__(self, other: Matcher) -> Matcher:
        return Matcher(lambda a: self(a) and other(a), f"({self.label} and {other.label})")

    def __repr__(self) -> str:
        return f"Matcher({self.label})"


def normalize_uuid(uuid: str) -> str:
    """Lower-case 128-bit form; a 16- or 32-bit short UUID gets the Bluetooth base."""
    text = uuid.strip().lower()
    if len(text) in (4, 8):
        try:
            return f"{int(text, 16):08x}-0000-1000-8000-00805f9b34fb"
        except ValueError:
            return text
    return text


def has_service(uuid: str) -> Matcher:
    """Advertises this service UUID (128-bit or 16-bit short form, any case)."""
    wanted = normalize_uuid(uuid)
    return Matcher(
        lambda adv: any(normalize_uuid(u) == wanted for u in adv.service_uuids),
        f"service {wanted}",
    )


def name_is(name: str) -> Matcher:
    """Advertises exactly this local name."""
    return Matcher(lambda adv: adv.name == name, f"name {name!r}")


DeviceFactory = Callable[["Seen", "BleTransport"], Device]


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """One driver family: how to recognise its devices and how to build a driver for one."""

    name: str
    matches: Callable[[Advertisement], bool]
    factory: DeviceFactory
    description: str = ""
    link_security: bool = False
    """Whether its devices take commands only over an encrypted, bonded link (OpenTENS v2);
    False: anyone in range can write to them (the published Coyote protocols)."""


_registered: list[DriverSpec] = []
_builtins_loaded = False


def register(spec: DriverSpec, *, first: bool = False) -> None:
    """Add a driver family (replacing one of the same name)."""
    for existing in list(_registered):
        if existing.name == spec.name:
            _registered.remove(existing)
    if first:
        _registered.insert(0, spec)
    else:
        _registered.append(spec)


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module_name in BUILTIN_DRIVER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a family not written yet
            raise
        spec = getattr(module, "DRIVER_SPEC", None)
        if isinstance(spec, DriverSpec) and all(s.name != spec.name for s in _registered):
            _registered.append(spec)


def drivers() -> list[DriverSpec]:
    """Registered driver families, in match order."""
    _load_builtins()
    return list(_registered)


def match(adv: Advertisement) -> DriverSpec | None:
    """The first driver whose matcher accepts this advertisement, else None."""
    for spec in drivers():
        try:
            if spec.matches(adv):
                return spec
        except Exception:  # a broken matcher must not hide the other families
            log.exception("driver %s: matcher failed on %r", spec.name, adv)
    return None


@dataclass(frozen=True, slots=True)
class Found:
    """A device a scan saw, with the driver that would speak to it (None: no known driver)."""

    address: str
    name: str | None
    driver: str | None
    rssi: int | None
    ble_device: Any
    """bleak's ``BLEDevice``, to connect with."""
    advertisement: Advertisement

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "driver": self.driver,
            "rssi": self.rssi,
        }


def link_protected(driver: str | None) -> bool:
    """Whether devices of this driver family refuse unbonded, unencrypted commands."""
    spec = next((s for s in drivers() if s.name == driver), None)
    return spec is not None and spec.link_security


def _found(seen: Seen) -> Found:
    spec = match(seen.advertisement)
    return Found(
        address=seen.advertisement.address,
        name=seen.advertisement.name,
        driver=spec.name if spec else None,
        rssi=seen.advertisement.rssi,
        ble_device=seen.ble_device,
        advertisement=seen.advertisement,
    )


def _sorted(found: Sequence[Found]) -> list[Found]:
    return sorted(
        found,
        key=lambda f: (f.driver is None, -(f.rssi if f.rssi is not None else -999), f.address),
    )


async def scan(
    transport: BleTransport,
    timeout: float = DEFAULT_SCAN_TIMEOUT_S,  # noqa: ASYNC109 (scan length)
    *,
    show_all: bool = False,
) -> list[Found]:
    """Scan for ``timeout`` seconds; devices a known driver speaks to (all with show_all).

    Sorted: known drivers first, then strongest signal. Raises
    :class:`devices.bleak_link.BluetoothUnavailable` without a usable adapter.
    """
    from devices.bleak_link import discover

    found = [_found(seen) for seen in await discover(transport, timeout)]
    if not show_all:
        found = [f for f in found if f.driver is not None]
    return _sorted(found)


def _is_target(address_or_name: str) -> Callable[[Advertisement], bool]:
    wanted = address_or_name.strip()

    def check(adv: Advertisement) -> bool:
        return adv.address.lower() == wanted.lower() or adv.name == wanted

    return check


async def find(
    transport: BleTransport,
    address_or_name: str,
    timeout: float = DEFAULT_SCAN_TIMEOUT_S,  # noqa: ASYNC109 (longest scan)
) -> Found:
    """Scan until a device with this address (any case) or exact name appears.

    Raises :class:`DeviceNotFound` after ``timeout`` seconds, or when the device found has no
    driver here.
    """
    from devices.bleak_link import discover

    is_target = _is_target(address_or_name)
    seen = await discover(transport, timeout, stop_when=is_target)
    candidates = [_found(s) for s in seen if is_target(s.advertisement)]
    if not candidates:
        raise DeviceNotFound(
            f"no device with address or name {address_or_name!r} answered within "
            f"{timeout:g} s (via {transport.description}); is it on, in range and "
            "advertising? `tens scan --all` lists what is around"
        )
    exact = [c for c in candidates if c.address.lower() == address_or_name.strip().lower()]
    chosen = (exact or _sorted(candidates))[0]
    if chosen.driver is None:
        raise DeviceNotFound(
            f"{chosen.name or chosen.address} ({chosen.address}) was found but no driver here "
            f"speaks to it (known: {', '.join(s.name for s in drivers()) or 'none'})"
        )
    return chosen


async def open_device(
    transport: BleTransport,
    address_or_name: str,
    timeout: float = DEFAULT_SCAN_TIMEOUT_S,  # noqa: ASYNC109 (longest scan)
) -> Device:
    """Scan for the device, pick its driver and build it (not yet connected)."""
    found = await find(transport, address_or_name, timeout)
    spec = next(s for s in drivers() if s.name == found.driver)
    from devices.bleak_link import Seen

    return spec.factory(Seen(found.ble_device, found.advertisement), transport)
