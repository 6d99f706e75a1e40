"""The rate of rise over every window of a step function (a delivered-output record, or the
setpoints a device was asked for).

A value v_i holds from t_i until the next change t_{i+1}; the rise over the window from just
before t_{i+1} to t_j is v_j - v_i and lasts t_j - t_{i+1}. Checking every such pair, not only
neighbours, is what catches ramp credit: after a hold a jump has a long gap to the previous
*change* but none to the held value itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Excess:
    """The worst window: how far the rise went past rate x length (<= 0: within)."""

    excess: float
    frm: tuple[float, float]
    to: tuple[float, float]
    held_until: float


def worst_window(
    points: Sequence[tuple[float, float]],
    rate: float,
    horizon_s: float = 120.0,
    from_index: int = 1,
) -> Excess | None:
    """The window whose rise most exceeds ``rate`` x its length; None for fewer than 2 points.

    ``points`` are (time, value) in time order. Windows longer than ``horizon_s`` are not
    looked at (choose it >= peak / rate: a longer window allows the whole range anyway).
    Only windows ending at ``points[from_index:]`` are looked at (to check a growing record
    incrementally).
    """
    worst: Excess | None = None
    for j in range(max(1, from_index), len(points)):
        tj, vj = points[j]
        i = j - 1
        while i >= 0:
            held_until = points[i + 1][0]
            if tj - held_until > horizon_s:
                break
            e = vj - points[i][1] - rate * max(0.0, tj - held_until)
            if worst is None or e > worst.excess:
                worst = Excess(e, points[i], points[j], held_until)
            i -= 1
    return worst


def assert_rate_over_every_window(
    points: Sequence[tuple[float, float]],
    rate: float,
    slack: float,
    what: str,
    horizon_s: float = 120.0,
) -> None:
    w = worst_window(points, rate, horizon_s)
    assert w is None or w.excess <= slack + 1e-9, (
        f"{what}: rose {w.to[1] - w.frm[1]:g} from {w.frm} (held until {w.held_until:.3f}) "
        f"to {w.to}: {w.excess:.3f} more than {rate:g}/s allows (slack {slack:g})"
    )
