"""The contraindication checklist, answered before the first session.

Any "yes" refuses stimulation, with advice to talk to a healthcare provider. Answers are kept
in the database (table `checklist`, insert-only: every answering is a new row) so the governor
reads them on every start.

Answers expire: health changes (a new implant, a pregnancy, a new diagnosis), so answers older
than :data:`VALID_FOR` (about 6 months) count as not answered and are asked again. A "yes"
later changed to "no" is recorded with the time (:func:`changes`; the store writes each change
to the audit trail).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

VALID_FOR = dt.timedelta(days=183)
"""How long checklist answers count: about 6 months, then they are asked again."""


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


def expires_at(answered_at: dt.datetime, valid_for: dt.timedelta = VALID_FOR) -> dt.datetime:
    return answered_at + valid_for


def is_expired(
    answered_at: dt.datetime, now: dt.datetime, valid_for: dt.timedelta = VALID_FOR
) -> bool:
    """Are answers given at `answered_at` too old to count at `now`? (They expire at exactly
    ``answered_at + valid_for``.)"""
    return now >= expires_at(answered_at, valid_for)


@dataclass(frozen=True, slots=True)
class AnswerChange:
    key: str
    was: bool
    now: bool

    @property
    def withdrawn_yes(self) -> bool:
        """A "yes" (a contraindication) later answered "no"."""
        return self.was and not self.now

    def text(self) -> str:
        said = {True: "yes", False: "no"}
        return f"{self.key}: {said[self.was]} changed to {said[self.now]}"


def changes(previous: Mapping[str, object], current: Mapping[str, bool]) -> list[AnswerChange]:
    """Answers that differ from the previous answering, in question order."""
    return [
        AnswerChange(q.key, bool(previous[q.key]), bool(current[q.key]))
        for q in QUESTIONS
        if q.key in previous and q.key in current and bool(previous[q.key]) != current[q.key]
    ]
