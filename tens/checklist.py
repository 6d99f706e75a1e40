"""The contraindication checklist, answered before the first session.

Any "yes" refuses stimulation, with advice to talk to a healthcare provider. Answers are kept
in the database (table `checklist`) so the governor reads them on every start.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    text: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "implant", "Do you have a pacemaker, implanted defibrillator or other active implant?"
    ),
    Question("heart_rhythm", "Do you have a heart rhythm problem?"),
    Question("epilepsy", "Do you have epilepsy?"),
    Question("pregnancy", "Are you pregnant, or could you be?"),
    Question("skin", "Is the skin where the electrodes go broken, inflamed or numb?"),
    Question("cancer", "Is there cancer at or near the site?"),
    Question("undiagnosed", "Is this pain that no healthcare provider has diagnosed?"),
)

ADVICE = (
    "TENS may not be safe for you. Please talk to a doctor, physiotherapist or other "
    "healthcare provider before using it. tens will not start a session."
)


def validate_answers(answers: dict[str, bool]) -> dict[str, bool]:
    """Every question answered, no unknown keys; returns the answers in question order."""
    keys = [q.key for q in QUESTIONS]
    unknown = sorted(set(answers) - set(keys))
    if unknown:
        raise ValueError(f"unknown checklist question(s): {', '.join(unknown)}")
    missing = [k for k in keys if k not in answers]
    if missing:
        raise ValueError(f"checklist question(s) not answered: {', '.join(missing)}")
    return {k: bool(answers[k]) for k in keys}


def none_apply() -> dict[str, bool]:
    return {q.key: False for q in QUESTIONS}
