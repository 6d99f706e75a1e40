"""Electrode sizes, stated per channel before the first session (never assumed).

The r.m.s. current-density rule (IEC 60601-2-10: 2 mA/cm² r.m.s.) divides by the pad's area:
an assumed area makes the rule describe pads nobody checked. So the person states the size of
the pads on each channel (``tens electrodes set``, the prompt in ``tens run``), or the device
side declares them (the in-process simulator's simulated pads); with no size known for a
channel a session on it is refused (:data:`ELECTRODE_SIZE_UNKNOWN`).

Sizes: the common ones by name (:data:`COMMON_SIZES`), any rectangle ``WxH`` in cm, a round
pad ``round-D`` (diameter in cm), or a custom area in cm² (``12cm2``, ``custom:12``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ELECTRODE_SIZE_UNKNOWN = "electrode_size_unknown"
"""Decision.code of a start refused because a channel's electrode size is not known."""
MIN_AREA_CM2 = 1.0
"""Smaller than any TENS pad sold: a typo (0.25 for 25) is refused, not believed."""
MAX_AREA_CM2 = 400.0
"""A 20 x 20 cm pad; anything larger is refused as a typo."""


class ElectrodeSizeError(ValueError):
    """An electrode size that cannot be read or is out of range; the message says why."""


@dataclass(frozen=True, slots=True)
class ElectrodeSize:
    """One pad's size: how the person named it and its area in cm²."""

    label: str
    area_cm2: float


def _round(diameter_cm: float) -> ElectrodeSize:
    return ElectrodeSize(f"round {diameter_cm:g} cm", math.pi * (diameter_cm / 2) ** 2)


COMMON_SIZES: dict[str, ElectrodeSize] = {
    "5x5": ElectrodeSize("5x5 cm", 25.0),
    "5x9": ElectrodeSize("5x9 cm", 45.0),
    "round-3.2": _round(3.2),
}
"""The sizes offered first, by the name ``tens electrodes set`` takes."""

SIMULATED_PAD = ElectrodeSize("simulated 5x5 cm", 25.0)
"""What the in-process simulator (``--simulator``) declares on each channel: its pads are
simulated, so nobody can state them; a real device declares none."""

_NUM = r"(\d+(?:\.\d+)?)"
_RECT = re.compile(rf"^{_NUM}\s*[x×*]\s*{_NUM}(?:\s*cm)?$")
_ROUND = re.compile(rf"^(?:round|r|ø|⌀)[-\s:]*{_NUM}(?:\s*cm)?$")
_AREA = re.compile(rf"^(?:custom[-\s:]*)?{_NUM}\s*(?:cm2|cm²|sqcm)?$")


def _checked(size: ElectrodeSize) -> ElectrodeSize:
    if not math.isfinite(size.area_cm2) or not (
        MIN_AREA_CM2 <= size.area_cm2 <= MAX_AREA_CM2 + 1e-9
    ):
        raise ElectrodeSizeError(
            f"{size.label} is {size.area_cm2:.3g} cm²: an electrode must be "
            f"{MIN_AREA_CM2:g}–{MAX_AREA_CM2:g} cm²"
        )
    return size


def parse_size(text: str) -> ElectrodeSize:
    """A size as typed: ``5x5``, ``5x9``, ``round-3.2``, ``4x6``, ``12cm2``, ``custom:12``.

    A bare number is an area in cm². Raises :class:`ElectrodeSizeError`."""
    t = text.strip().lower()
    if t in COMMON_SIZES:
        return COMMON_SIZES[t]
    if m := _RECT.match(t):
        w, h = float(m[1]), float(m[2])
        return _checked(ElectrodeSize(f"{w:g}x{h:g} cm", w * h))
    if m := _ROUND.match(t):
        return _checked(_round(float(m[1])))
    if m := _AREA.match(t):
        area = float(m[1])
        return _checked(ElectrodeSize(f"custom {area:g} cm²", area))
    offered = ", ".join(COMMON_SIZES)
    raise ElectrodeSizeError(
        f"cannot read electrode size {text!r}: give one of {offered}, a rectangle WxH in cm "
        "(e.g. 4x6), round-D for a round pad of diameter D cm, or an area like 12cm2"
    )


def unknown_text(channel: int) -> str:
    """Why a session on channel index ``channel`` is refused, and what to do (the channel
    named as people count it, from 1)."""
    from tens.channels import label

    return (
        f"the electrode size on channel {label(channel)} is not known: the r.m.s. current "
        "density limit needs it. State it with `tens electrodes set --channel "
        f"{label(channel)} SIZE` (SIZE: {', '.join(COMMON_SIZES)}, WxH in cm, or an area like "
        "12cm2); refusing to start"
    )
