"""The session setup dialog: program, minutes, start intensity, electrode placement."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from tens.programs import Program
from tens.safety import EffectiveLimits
from tui.plan_limits import limits_hint, plan_problems
from tui.widgets.common.stop_aware_input import StopAwareInput
from tui.widgets.common.stop_hint import DialogBottom
from tui.widgets.session.plan import SessionPlan


def placement_options() -> list[tuple[str, str]]:
    """Body regions where electrodes may go (contraindicated places are not offered)."""
    from tens.journal.regions import REGIONS

    return [(r.label, r.key) for r in REGIONS.values() if not r.contraindicated_for_electrodes]


class SetupScreen(ModalScreen[SessionPlan | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "cancel", "Cancel")]

    def __init__(
        self,
        plan: SessionPlan,
        programs: list[tuple[str, str | None]],
        limits: EffectiveLimits | None = None,
        program_table: dict[str, Program] | None = None,
        *,
        focus: str | None = None,
    ) -> None:
        super().__init__()
        self.focus_id = focus
        """The field to start on (``placement``: a start was refused for naming none)."""
        self.plan = plan
        self.programs = [name for name, _ in programs]
        self.reasons = dict(programs)
        self.limits = limits
        self.program_table = program_table or {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Label("Program", classes="field-label", id="program-label")
            yield OptionList(
                *(
                    Option(
                        name if why is None else f"{name} (not on this device: {why})",
                        id=name,
                        disabled=why is not None,
                    )
                    for name, why in self.reasons.items()
                ),
                id="programs",
            )
            with Horizontal(classes="row"):
                yield Label("Minutes ", classes="field-label")
                yield StopAwareInput(f"{self.plan.minutes:g}", id="minutes", type="number")
                yield Label(" Start at ", classes="field-label")
                yield StopAwareInput(f"{self.plan.intensity:g}", id="intensity", type="number")
            yield Static(limits_hint(self.limits), id="limits-hint", classes="hint")
            yield Static("", id="plan-problems")
            options = placement_options()
            keys = {k for _, k in options}
            with Horizontal(classes="row"):
                yield Label("Electrodes on ", classes="field-label")
                yield Select(
                    options,
                    value=self.plan.placement if self.plan.placement in keys else Select.NULL,
                    id="placement",
                    prompt="where do the electrodes go?",
                    type_to_search=False,  # s must stay the stop key
                )
            with Horizontal(classes="buttons"):
                yield Button("Use these", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")
        yield DialogBottom()  # the stop line, then this dialog's keys

    def on_mount(self) -> None:
        options = self.query_one("#programs", OptionList)
        if self.plan.program in self.programs:
            options.highlighted = self.programs.index(self.plan.program)
        options.focus()
        if self.focus_id is not None:
            self.query_one(f"#{self.focus_id}").focus()
        self.check_values()

    def chosen_program(self) -> str:
        index = self.query_one("#programs", OptionList).highlighted
        return self.programs[index] if index is not None else self.plan.program

    def problems(self) -> list[str]:
        return plan_problems(
            self.query_one("#minutes", Input).value,
            self.query_one("#intensity", Input).value,
            self.limits,
            self.program_table.get(self.chosen_program()),
        )

    def check_values(self) -> list[str]:
        """Show, as the values are typed, what the limits in force would refuse."""
        problems = self.problems()
        shown = self.query_one("#plan-problems", Static)
        shown.set_class(bool(problems), "-refused")
        shown.display = bool(problems)
        shown.update("\n".join(f"NOT ALLOWED: {p}" for p in problems))
        return problems

    def on_input_changed(self, event: Input.Changed) -> None:
        self.check_values()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.check_values()

    def result(self) -> SessionPlan | None:
        program = self.chosen_program()
        if self.check_values():
            self.notify("Not taken: a value is beyond the limits in force.", severity="error")
            return None
        try:
            minutes = float(self.query_one("#minutes", Input).value)
            intensity = float(self.query_one("#intensity", Input).value)
        except ValueError:
            self.notify("Minutes and start intensity must be numbers.", severity="error")
            return None
        placement = self.query_one("#placement", Select).value
        return replace(
            self.plan,
            program=program,
            minutes=minutes,
            intensity=intensity,
            placement=placement if isinstance(placement, str) else None,
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            plan = self.result()
            if plan is not None:
                self.dismiss(plan)
        else:
            self.dismiss(None)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#minutes", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
