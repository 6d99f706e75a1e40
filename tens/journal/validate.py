"""Turning what a person typed (or a face passed) into valid journal values.

Every error is a :class:`JournalInputError` naming the field, so the CLI and the TUI can say
exactly what is wrong; nothing is written until everything is valid.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from tens.journal.models import (
    Context,
    NewPainEntry,
    PainKind,
    RedFlag,
)
from tens.journal.regions import normalize_region

FUTURE_TOLERANCE = dt.timedelta(minutes=2)
"""Clock skew allowed before a time counts as "in the future"."""
MAX_NOTE = 2000
MAX_HELPED = 40

_RED_FLAG_ALIASES: dict[str, RedFlag] = {
    "unexplained-weight-loss": RedFlag.WEIGHT_LOSS,
    "weightloss": RedFlag.WEIGHT_LOSS,
    "progressive-numbness": RedFlag.NUMBNESS,
    "progressive-weakness": RedFlag.WEAKNESS,
    "swollen": RedFlag.SWELLING,
    "bruise": RedFlag.BRUISING,
    "bruised": RedFlag.BRUISING,
}
_HELPED_ALIASES: dict[str, str] = {
    "child's-pose": "childs-pose",
    "child-pose": "childs-pose",
    "standing-child's-pose": "childs-pose",
    "standing-childs-pose": "childs-pose",
    "wall-angel": "wall-angels",
    "birddog": "bird-dog",
    "breathing": "diaphragmatic-breathing",
    "meds": "medication",
    "medicine": "medication",
    "walking": "movement",
    "exercise": "movement",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class JournalInputError(ValueError):
    """A value the journal cannot accept; ``field`` names which one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _key(text: str) -> str:
    return "-".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


SCORE_ANCHORS: dict[str, str] = {
    "enjoyment": "0 = does not interfere, 10 = completely interferes",
    "activity": "0 = does not interfere, 10 = completely interferes",
}
"""The ends of each 0–10 item that is not a pain rating (PEG-3's interference items)."""
PAIN_ANCHORS = "0 = no pain, 10 = worst"


def parse_score(value: str | int, field: str = "score") -> int:
    """A 0–10 whole number (the NRS has 11 points; 6.5 is refused, not rounded).

    ``field`` names the item; its anchors (``SCORE_ANCHORS``, else the pain scale's) are
    named in the error."""
    if isinstance(value, bool):
        raise JournalInputError(field, "must be a whole number from 0 to 10")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise JournalInputError(field, f"{value!r} is not a whole number from 0 to 10")
        number = int(text)
    if not 0 <= number <= 10:
        anchors = SCORE_ANCHORS.get(field, PAIN_ANCHORS)
        raise JournalInputError(field, f"{number} is outside 0–10 ({anchors})")
    return number


def parse_region(text: str, field: str = "where") -> str:
    try:
        return normalize_region(text)
    except ValueError as exc:
        raise JournalInputError(field, str(exc)) from None


def parse_kind(value: str | PainKind, field: str = "kind") -> PainKind:
    if isinstance(value, PainKind):
        return value
    key = _key(value)
    for kind in PainKind:
        if key == kind.value:
            return kind
    raise JournalInputError(
        field, f"unknown kind {value!r}; known kinds: {', '.join(k.value for k in PainKind)}"
    )


def parse_red_flag(value: str | RedFlag, field: str = "red-flag") -> RedFlag:
    if isinstance(value, RedFlag):
        return value
    key = _key(value)
    for flag in RedFlag:
        if key == flag.value:
            return flag
    if key in _RED_FLAG_ALIASES:
        return _RED_FLAG_ALIASES[key]
    raise JournalInputError(
        field, f"unknown red flag {value!r}; known: {', '.join(f.value for f in RedFlag)}"
    )


def parse_helped(value: str, field: str = "helped") -> str:
    """A helper as a short key: the known ones (``models.KNOWN_HELPERS``: movement, ice, heat,
    medication, named exercises) or any other short name, such as another exercise."""
    key = _key(value)
    key = _HELPED_ALIASES.get(key, key)
    if not key:
        raise JournalInputError(field, "is empty")
    if len(key) > MAX_HELPED or not re.fullmatch(r"[\w'.+-]+", key):
        raise JournalInputError(field, f"{value!r} is not a short name (at most {MAX_HELPED})")
    return key


def parse_note(value: str | None, field: str = "note") -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_NOTE:
        raise JournalInputError(field, f"is {len(text)} characters long; at most {MAX_NOTE}")
    if _CONTROL.search(text):
        raise JournalInputError(field, "contains control characters")
    return text


def _localize(naive: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def check_not_future(when: dt.datetime, now: dt.datetime, field: str = "at") -> dt.datetime:
    if when > now + FUTURE_TOLERANCE:
        raise JournalInputError(field, f"{when.isoformat(timespec='minutes')} is in the future")
    return when


def parse_when(
    text: str, *, now: dt.datetime, tz: dt.tzinfo | None = None, field: str = "at"
) -> dt.datetime:
    """A moment: ISO date-time (``2026-03-02 08:30``, with or without offset; without means
    local time) or a date alone (noon local time). Must not be in the future."""
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            when = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(12, 0))
        else:
            when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise JournalInputError(
            field, f"{text!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DD HH:MM)"
        ) from None
    if when.tzinfo is None:
        when = _localize(when, tz)
    return check_not_future(when.astimezone(dt.UTC), now, field)


def parse_date(
    text: str, *, now: dt.datetime, tz: dt.tzinfo | None = None, field: str = "since"
) -> dt.date:
    """A calendar date YYYY-MM-DD, not after today (local)."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise JournalInputError(field, f"{text!r} is not a date in the form YYYY-MM-DD") from None
    if len(text.strip()) != 10:
        raise JournalInputError(field, f"{text!r} is not a date in the form YYYY-MM-DD")
    today = now.astimezone(tz).date() if tz is not None else now.astimezone().date()
    if day > today:
        raise JournalInputError(field, f"{day.isoformat()} is in the future")
    return day


def local_midnight(day: dt.date, tz: dt.tzinfo | None = None) -> dt.datetime:
    """The start of a local calendar day, as an aware UTC datetime."""
    return _localize(dt.datetime.combine(day, dt.time()), tz).astimezone(dt.UTC)


def new_entry(
    score: str | int,
    *,
    at: dt.datetime,
    now: dt.datetime,
    context: Context | str = Context.OTHER,
    session_id: int | None = None,
    region: str | None = None,
    kind: str | PainKind | None = None,
    red_flags: Iterable[str | RedFlag] = (),
    helped: Iterable[str] = (),
    note: str | None = None,
) -> NewPainEntry:
    """Validate every field and build the entry to store (session existence is checked by
    the repository, in the same transaction as the insert)."""
    if at.tzinfo is None:
        raise JournalInputError("at", "needs a time zone")
    try:
        context = Context(context)
    except ValueError:
        raise JournalInputError("context", f"{context!r} is not before, after or other") from None
    if context is Context.OTHER and session_id is not None:
        raise JournalInputError("session", "a session is given only with before/after")
    if context is not Context.OTHER and session_id is None:
        raise JournalInputError("session", f"a {context.value}-session score needs a session id")
    if session_id is not None and (isinstance(session_id, bool) or session_id < 1):
        raise JournalInputError("session", f"{session_id!r} is not a session id")
    flags = tuple(dict.fromkeys(parse_red_flag(f) for f in red_flags))
    helpers = tuple(dict.fromkeys(parse_helped(h) for h in helped))
    return NewPainEntry(
        score=parse_score(score),
        at=check_not_future(at.astimezone(dt.UTC), now),
        context=context,
        session_id=session_id,
        region=None if region is None else parse_region(region),
        kind=None if kind is None else parse_kind(kind),
        red_flags=flags,
        helped=helpers,
        note=parse_note(note),
    )
