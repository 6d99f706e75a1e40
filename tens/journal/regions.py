"""Body regions, for where pain is and where electrodes go. A pure table: no imports beyond
the standard library, so the safety governor can read it.

Keys are lowercase with hyphens; sided regions have one key per side (``knee-left``).
``contraindicated_for_electrodes`` marks places where no electrode may go (IEC 60601-2-10:
across the head, on the eyes, over the mouth, on the front of the neck, across the chest).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Side = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class Region:
    key: str
    label: str
    area: str
    """The region without its side (``knee`` for ``knee-left``)."""
    side: Side | None
    contraindicated_for_electrodes: bool = False


# (area key, label, sided?, contraindicated for electrodes?)
_AREAS: tuple[tuple[str, str, bool, bool], ...] = (
    ("head", "head", False, True),
    ("eyes", "eyes", False, True),
    ("mouth", "mouth", False, True),
    ("jaw", "jaw", True, True),  # part of the head: no stimulation across it
    ("front-of-neck", "front of the neck", False, True),
    ("chest", "chest", False, True),
    ("neck", "neck (back)", False, False),
    ("upper-back", "upper back", False, False),
    ("mid-back", "mid back", False, False),
    ("lower-back", "lower back", False, False),
    ("abdomen", "abdomen", False, False),
    ("shoulder", "shoulder", True, False),
    ("upper-arm", "upper arm", True, False),
    ("elbow", "elbow", True, False),
    ("forearm", "forearm", True, False),
    ("wrist-hand", "wrist / hand", True, False),
    ("buttock", "buttock", True, False),
    ("hip", "hip", True, False),
    ("thigh", "thigh", True, False),
    ("knee", "knee", True, False),
    ("lower-leg", "lower leg / calf", True, False),
    ("ankle-foot", "ankle / foot", True, False),
)


def _build() -> dict[str, Region]:
    sides: tuple[Side, Side] = ("left", "right")
    table: dict[str, Region] = {}
    for area, label, sided, contra in _AREAS:
        if not sided:
            table[area] = Region(area, label, area, None, contra)
            continue
        for side in sides:
            key = f"{area}-{side}"
            table[key] = Region(key, f"{label}, {side}", area, side, contra)
    return table


REGIONS: MappingProxyType[str, Region] = MappingProxyType(_build())
"""Every known region by key."""

SIDED_AREAS: frozenset[str] = frozenset(a for a, _, sided, _ in _AREAS if sided)

_ALIASES: dict[str, str] = {
    "wrist": "wrist-hand",
    "hand": "wrist-hand",
    "ankle": "ankle-foot",
    "foot": "ankle-foot",
    "calf": "lower-leg",
    "back-of-neck": "neck",
    "low-back": "lower-back",
    "face": "head",
    "eye": "eyes",
}


def normalize_region(text: str) -> str:
    """The region key for what a person typed (``Lower back``, ``knee_left``, ``left knee``).

    Raises ``ValueError`` naming the known keys when nothing matches, and when a sided area
    comes without its side.
    """
    words = text.strip().lower().replace("_", " ").replace("-", " ").replace("/", " ").split()
    side = None
    if words and words[0] in ("left", "right"):
        side, words = words[0], words[1:]
    elif words and words[-1] in ("left", "right"):
        side, words = words[-1], words[:-1]
    area = "-".join(words)
    area = _ALIASES.get(area, area)
    key = f"{area}-{side}" if side else area
    if key in REGIONS:
        return key
    if area in SIDED_AREAS and side is None:
        raise ValueError(f"say which side for {area!r}: {area}-left or {area}-right")
    raise ValueError(f"unknown region {text!r}; known regions: {', '.join(REGIONS)}")


def is_contraindicated(key: str) -> bool:
    """True when no electrode may go on this region. Unknown keys count as contraindicated
    (refuse when unsure)."""
    region = REGIONS.get(key)
    return True if region is None else region.contraindicated_for_electrodes
