"""Calm advice shown when a red flag is logged or pain is severe. Not a diagnosis: a nudge
to talk to someone who can examine the person."""

from __future__ import annotations

from collections.abc import Iterable

from tens.journal.models import RED_FLAG_LABELS, RedFlag

SEVERE_SCORE = 8


def red_flag_advice(flags: Iterable[RedFlag]) -> str | None:
    """The advice for logged red flags, or None when there are none."""
    names = [RED_FLAG_LABELS[f] for f in dict.fromkeys(flags)]
    if not names:
        return None
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"You noted {listed} with your pain. That is worth having checked: please arrange "
        "to see a healthcare provider (your doctor, a nurse or a physiotherapist) soon, and "
        "mention this entry. This is a general rule, not an alarm. TENS can ease pain but "
        "cannot tell what causes it. If you feel very unwell, seek urgent care."
    )


SEVERE_ADVICE = (
    "Pain this strong, pain that keeps getting worse, or pain that disturbs your sleep or "
    "daily activities is also worth talking over with a healthcare provider."
)

WORSENING_ADVICE = (
    "Your pain is higher now than at the start. Pain that keeps getting worse is worth "
    "talking over with a healthcare provider."
)


def entry_advice(score: int, flags: Iterable[RedFlag]) -> list[str]:
    """Everything to show at once after an entry is saved."""
    out: list[str] = []
    flagged = red_flag_advice(flags)
    if flagged:
        out.append(flagged)
    if score >= SEVERE_SCORE:
        out.append(SEVERE_ADVICE)
    return out
