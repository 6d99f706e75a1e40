"""What the pain dialog returns; the journal bridge turns it into a journal entry."""

from __future__ import annotations

from dataclasses import dataclass

from tens.journal.models import PainKind, RedFlag


@dataclass(frozen=True, slots=True)
class PainAnswer:
    nrs: int
    region: str | None = None
    kind: PainKind | None = None
    red_flags: tuple[RedFlag, ...] = ()
    helped: tuple[str, ...] = ()
    note: str | None = None
