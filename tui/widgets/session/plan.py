"""The session plan (program, minutes, target, placement) and the last refusal, if any."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static

from tens.events import SessionState, Snapshot
from tui import format as fmt


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What space will start: the controller ramps from zero to ``intensity``."""

    program: str = "conventional"
    minutes: float = 30.0
    intensity: float = 10.0
    placement: str | None = None

    @classmethod
    def from_defaults(cls, defaults: object | None) -> SessionPlan:
        """From the config's [session] table (program, minutes, placement), if there is one."""
        if defaults is None:
            return cls()
        return cls(
            program=str(getattr(defaults, "program", "conventional")),
            minutes=float(getattr(defaults, "minutes", 30.0)),
            placement=getattr(defaults, "placement", None),
        )


def placement_label(key: str | None) -> str:
    if key is None:
        return "placement not set"
    from tens.journal.regions import REGIONS

    region = REGIONS.get(key)
    return region.label if region is not None else key


def plan_text(
    plan: SessionPlan, unit: str, refusal: str | None, snap: Snapshot | None = None
) -> str:
    if snap is not None and (snap.session.active or snap.session is SessionState.PAUSED):
        pausing = "space resumes" if snap.session is SessionState.PAUSED else "space pauses"
        line = (
            f"Now: {snap.program or plan.program} · target {fmt.amount(snap.target, unit)}"
            f" · up/down one step · {pausing}"
        )
    else:
        line = (
            f"Next: {plan.program} · {plan.minutes:g} min · to "
            f"{fmt.amount(plan.intensity, unit)} · {placement_label(plan.placement)} (g)"
        )
    if refusal:
        line += f"\nREFUSED: {refusal}"
    return line


class PlanLine(Static):
    def show(
        self, plan: SessionPlan, unit: str, refusal: str | None, snap: Snapshot | None = None
    ) -> None:
        self.set_class(bool(refusal), "-refused")
        self.update(plan_text(plan, unit, refusal, snap))
