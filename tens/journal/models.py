"""What the journal records, as plain frozen dataclasses and string enums."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any


class Context(enum.StrEnum):
    """When a score was taken: before a session, after it, or at any other time."""

    BEFORE = "before"
    AFTER = "after"
    OTHER = "other"


class PainKind(enum.StrEnum):
    NOCICEPTIVE = "nociceptive"
    NEUROPATHIC = "neuropathic"
    NOCIPLASTIC = "nociplastic"
    UNSURE = "unsure"


KIND_LABELS: dict[PainKind, str] = {
    PainKind.NOCICEPTIVE: "tissue or injury pain (nociceptive)",
    PainKind.NEUROPATHIC: "nerve pain (neuropathic)",
    PainKind.NOCIPLASTIC: "nervous-system pain (nociplastic)",
    PainKind.UNSURE: "unsure",
}


class RedFlag(enum.StrEnum):
    SWELLING = "swelling"
    BRUISING = "bruising"
    FEVER = "fever"
    WEIGHT_LOSS = "weight-loss"
    NUMBNESS = "numbness"
    WEAKNESS = "weakness"
    BLADDER_BOWEL = "bladder-bowel"
    SADDLE_NUMBNESS = "saddle-numbness"


RED_FLAG_LABELS: dict[RedFlag, str] = {
    RedFlag.SWELLING: "swelling",
    RedFlag.BRUISING: "bruising",
    RedFlag.FEVER: "fever",
    RedFlag.WEIGHT_LOSS: "unexplained weight loss",
    RedFlag.NUMBNESS: "progressive numbness",
    RedFlag.WEAKNESS: "progressive weakness",
    RedFlag.BLADDER_BOWEL: "new bladder or bowel problems",
    RedFlag.SADDLE_NUMBNESS: "numbness around the groin or buttocks (saddle area)",
}

KNOWN_HELPERS: dict[str, str] = {
    "movement": "movement",
    "ice": "ice (10–15 min)",
    "heat": "heat (10–15 min)",
    "medication": "medication",
    "rest": "rest",
    "sleep": "sleep",
    "diaphragmatic-breathing": "diaphragmatic breathing",
    "childs-pose": "standing child's pose",
    "wall-angels": "wall angels",
    "bird-dog": "bird dog",
}
"""Things besides TENS that helped; other short names are accepted as named exercises."""


@dataclass(frozen=True, slots=True)
class NewPainEntry:
    """A validated entry about to be stored (see :mod:`tens.journal.validate`)."""

    score: int
    at: dt.datetime
    context: Context = Context.OTHER
    session_id: int | None = None
    region: str | None = None
    kind: PainKind | None = None
    red_flags: tuple[RedFlag, ...] = ()
    helped: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PainEntry:
    """A stored NRS entry. ``deleted_at`` set means deleted (kept for the audit)."""

    id: int
    at: dt.datetime
    recorded_at: dt.datetime
    score: int
    context: Context
    session_id: int | None
    region: str | None
    kind: PainKind | None
    red_flags: tuple[RedFlag, ...]
    helped: tuple[str, ...]
    note: str | None
    updated_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO-8601 UTC)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "score": self.score,
            "context": self.context.value,
            "session_id": self.session_id,
            "region": self.region,
            "kind": None if self.kind is None else self.kind.value,
            "red_flags": [f.value for f in self.red_flags],
            "helped": list(self.helped),
            "note": self.note,
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
            "deleted_at": None if self.deleted_at is None else self.deleted_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class PegEntry:
    """A PEG-3 answer (Krebs 2009): average pain, interference with enjoyment of life and
    with general activity, each 0–10; the score is their mean."""

    id: int
    at: dt.datetime
    recorded_at: dt.datetime
    pain: int
    enjoyment: int
    activity: int
    deleted_at: dt.datetime | None = None

    @property
    def score(self) -> float:
        return round((self.pain + self.enjoyment + self.activity) / 3, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "pain": self.pain,
            "enjoyment": self.enjoyment,
            "activity": self.activity,
            "score": self.score,
            "deleted_at": None if self.deleted_at is None else self.deleted_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One edit or delete of an entry: the entry before and after (JSON dicts)."""

    id: int
    entry_id: int
    at: dt.datetime
    action: str
    before: dict[str, Any]
    after: dict[str, Any] | None
    reason: str | None = None
