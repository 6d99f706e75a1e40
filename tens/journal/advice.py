"""Advice shown when a red flag is logged or pain is severe. Not a diagnosis: a nudge to talk
to someone who can examine the person, as urgently as the sign needs. All the advice text
lives here.

Escalation (:data:`URGENCY`), from the seed article's red-flag list
(../shared/design/clinical.md) and the red flags for back pain in NICE Clinical Knowledge
Summaries ("Back pain - low (without radiculopathy)", "Sciatica (lumbar radiculopathy)"):
suspected cauda equina syndrome (new bladder or bowel dysfunction, saddle anaesthesia) needs
emergency care; a progressive neurological deficit (weakness, numbness) needs to be seen the
same day; fever (infection) and unexplained weight loss (cancer) need a prompt appointment;
swelling or bruising after an injury (a fracture or a soft-tissue injury) should be checked.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from tens.journal.models import RED_FLAG_LABELS, RedFlag

SEVERE_SCORE = 8


class Urgency(enum.IntEnum):
    """How soon to be seen; a higher value is more urgent."""

    CHECK = 1
    SOON = 2
    TODAY = 3
    EMERGENCY = 4


URGENCY: dict[RedFlag, Urgency] = {
    RedFlag.SWELLING: Urgency.CHECK,
    RedFlag.BRUISING: Urgency.CHECK,
    RedFlag.FEVER: Urgency.SOON,
    RedFlag.WEIGHT_LOSS: Urgency.SOON,
    RedFlag.NUMBNESS: Urgency.TODAY,
    RedFlag.WEAKNESS: Urgency.TODAY,
    RedFlag.BLADDER_BOWEL: Urgency.EMERGENCY,
    RedFlag.SADDLE_NUMBNESS: Urgency.EMERGENCY,
}

ACTION: dict[Urgency, str] = {
    Urgency.CHECK: "get it checked",
    Urgency.SOON: "see a doctor soon",
    Urgency.TODAY: "see a doctor today",
    Urgency.EMERGENCY: "emergency: call now",
}

ASK_WITH_NUMBNESS = (
    "With weakness or numbness, also tell us: have you noticed new problems passing or "
    "holding urine or stools, or numbness around the groin or buttocks? If so, that is an "
    "emergency: call your emergency number now (log it as bladder-bowel or saddle-numbness)."
)
"""Asked whenever weakness or numbness is reported (the signs of cauda equina syndrome)."""

ASKS_FOLLOW_UP = frozenset({RedFlag.NUMBNESS, RedFlag.WEAKNESS})


def urgency(flags: Iterable[RedFlag]) -> Urgency | None:
    """The most urgent level among the flags, or None when there are none."""
    return max((URGENCY[f] for f in flags), default=None)


def needs_follow_up(flags: Iterable[RedFlag]) -> bool:
    """Weakness or numbness reported without the emergency signs answered."""
    got = set(flags)
    return bool(got & ASKS_FOLLOW_UP) and not (
        got & {RedFlag.BLADDER_BOWEL, RedFlag.SADDLE_NUMBNESS}
    )


def red_flag_advice(flags: Iterable[RedFlag]) -> str | None:
    """The advice for logged red flags, at the most urgent level among them, or None."""
    flags = list(dict.fromkeys(flags))
    level = urgency(flags)
    if level is None:
        return None
    names = [RED_FLAG_LABELS[f] for f in flags]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    head = f"{ACTION[level].upper()}. You noted {listed} with your pain. "
    if level is Urgency.EMERGENCY:
        return head + (
            "New bladder or bowel problems or numbness around the groin can mean pressure on "
            "the nerves at the base of the spine, which needs treatment within hours: call "
            "your emergency number or go to an emergency department now. Do not use TENS."
        )
    if level is Urgency.TODAY:
        return head + (
            "Weakness or numbness that is getting worse needs a doctor to examine you today "
            "(your doctor, an urgent care service, or an emergency department if you cannot "
            "reach one). Do not use TENS on numb skin."
        )
    if level is Urgency.SOON:
        return head + (
            "Please arrange to see a doctor or other healthcare provider soon (within days), and "
            "mention this entry. This "
            "is a general rule, not an alarm. TENS can ease pain but cannot tell what causes "
            "it. If you feel very unwell, seek urgent care."
        )
    return head + (
        "After an injury, swelling or bruising is worth having checked by a healthcare "
        "provider (your doctor, a nurse or a physiotherapist). This is a general rule, not an "
        "alarm. If you feel very unwell, seek urgent care."
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
    flags = list(flags)
    flagged = red_flag_advice(flags)
    if flagged:
        out.append(flagged)
    if needs_follow_up(flags):
        out.append(ASK_WITH_NUMBNESS)
    if score >= SEVERE_SCORE:
        out.append(SEVERE_ADVICE)
    return out
