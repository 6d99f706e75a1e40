"""Export of entries, PEG-3 answers and sessions as JSON or CSV, and reading them back.

JSON: one file ``{"format": "tens-journal", "version": 1, "entries": [...], "peg": [...],
"sessions": [...]}``. CSV: three files, ``FILE`` (pain entries), ``FILE-sessions.csv`` and
``FILE-peg.csv`` (named from FILE's stem). Times are ISO-8601 UTC; CSV files also carry a
``local_time`` column for people (ignored when read back). Lists in CSV cells are joined
with ``;``. Files are written atomically.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tens.journal.files import write_atomic
from tens.journal.models import Context, PainEntry, PainKind, PegEntry, RedFlag
from tens.journal.repository import list_entries, list_peg
from tens.store.sessions import SESSION_FIELDS, SessionRecord, list_sessions
from tens.store.timestamps import from_db, to_db

FORMAT = "tens-journal"
FORMAT_VERSION = 1

ENTRY_CSV_FIELDS = (
    "id",
    "at",
    "local_time",
    "recorded_at",
    "score",
    "context",
    "session_id",
    "region",
    "kind",
    "red_flags",
    "helped",
    "note",
    "updated_at",
    "deleted_at",
)
PEG_CSV_FIELDS = (
    "id",
    "at",
    "local_time",
    "recorded_at",
    "pain",
    "enjoyment",
    "activity",
    "score",
    "deleted_at",
)
SESSION_CSV_FIELDS = ("id", *SESSION_FIELDS)


class ExportFormatError(ValueError):
    """A file that is not a valid tens export; the message names the place."""


@dataclass(frozen=True, slots=True)
class Bundle:
    entries: list[PainEntry]
    peg: list[PegEntry]
    sessions: list[SessionRecord]


def collect(conn: sqlite3.Connection, *, include_deleted: bool = False) -> Bundle:
    return Bundle(
        entries=list_entries(conn, include_deleted=include_deleted),
        peg=list_peg(conn, include_deleted=include_deleted),
        sessions=list_sessions(conn),
    )


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else to_db(value)


def session_to_dict(s: SessionRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "started_at": _iso(s.started_at),
        "ended_at": _iso(s.ended_at),
        "device": s.device,
        "program": s.program,
        "placement": s.placement,
        "target_intensity": s.target_intensity,
        "unit": s.unit,
        "state": s.state,
        "end_reason": s.end_reason,
        "stimulation_seconds": s.stimulation_seconds,
        "max_delivered": s.max_delivered,
    }


def _entry_dict(e: PainEntry) -> dict[str, Any]:
    d = e.to_dict()
    for key in ("at", "recorded_at", "updated_at", "deleted_at"):
        d[key] = _iso(getattr(e, key))
    return d


def _peg_dict(p: PegEntry) -> dict[str, Any]:
    d = p.to_dict()
    for key in ("at", "recorded_at", "deleted_at"):
        d[key] = _iso(getattr(p, key))
    return d


def bundle_json(bundle: Bundle, *, exported_at: dt.datetime) -> str:
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": to_db(exported_at),
        "entries": [_entry_dict(e) for e in bundle.entries],
        "peg": [_peg_dict(p) for p in bundle.peg],
        "sessions": [session_to_dict(s) for s in bundle.sessions],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_json(
    conn: sqlite3.Connection,
    path: str | Path,
    *,
    include_deleted: bool = False,
    now: dt.datetime | None = None,
) -> Path:
    bundle = collect(conn, include_deleted=include_deleted)
    return write_atomic(path, bundle_json(bundle, exported_at=now or dt.datetime.now(dt.UTC)))


def csv_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """(entries, sessions, peg) file names for ``--csv path``."""
    p = Path(path)
    stem = p.stem if p.suffix.lower() == ".csv" else p.name
    return p, p.with_name(f"{stem}-sessions.csv"), p.with_name(f"{stem}-peg.csv")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return to_db(value)
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def _local(value: dt.datetime, tz: dt.tzinfo | None) -> str:
    shown = value.astimezone(tz) if tz is not None else value.astimezone()
    return shown.isoformat(timespec="minutes")


def _table(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fields})
    return buf.getvalue()


def bundle_csv(bundle: Bundle, tz: dt.tzinfo | None = None) -> tuple[str, str, str]:
    entries = [
        {
            **_entry_dict(e),
            "local_time": _local(e.at, tz),
            "red_flags": [f.value for f in e.red_flags],
        }
        for e in bundle.entries
    ]
    peg = [{**_peg_dict(p), "local_time": _local(p.at, tz)} for p in bundle.peg]
    sessions = [session_to_dict(s) for s in bundle.sessions]
    return (
        _table(ENTRY_CSV_FIELDS, entries),
        _table(SESSION_CSV_FIELDS, sessions),
        _table(PEG_CSV_FIELDS, peg),
    )


def write_csv(
    conn: sqlite3.Connection,
    path: str | Path,
    *,
    include_deleted: bool = False,
    tz: dt.tzinfo | None = None,
) -> list[Path]:
    """Write the three CSV files; returns their paths."""
    texts = bundle_csv(collect(conn, include_deleted=include_deleted), tz)
    return [write_atomic(p, t) for p, t in zip(csv_paths(path), texts, strict=True)]


# -- reading back -------------------------------------------------------------------------


def _opt_int(text: str) -> int | None:
    return None if text == "" else int(text)


def _opt_float(text: str) -> float | None:
    return None if text == "" else float(text)


def _opt_time(text: str | None) -> dt.datetime | None:
    return None if text in (None, "") else from_db(str(text))


def _opt_text(text: str | None) -> str | None:
    return None if text in (None, "") else text


def _entry(d: dict[str, Any]) -> PainEntry:
    flags = d["red_flags"]
    helped = d["helped"]
    if isinstance(flags, str):
        flags = [f for f in flags.split(";") if f]
    if isinstance(helped, str):
        helped = [h for h in helped.split(";") if h]
    score = int(d["score"])
    if not 0 <= score <= 10:
        raise ValueError(f"score {score} outside 0–10")
    session = d["session_id"]
    return PainEntry(
        id=int(d["id"]),
        at=from_db(d["at"]),
        recorded_at=from_db(d["recorded_at"]),
        score=score,
        context=Context(d["context"]),
        session_id=None if session in (None, "") else int(session),
        region=_opt_text(d["region"]),
        kind=None if d["kind"] in (None, "") else PainKind(d["kind"]),
        red_flags=tuple(RedFlag(f) for f in flags),
        helped=tuple(helped),
        note=_opt_text(d["note"]),
        updated_at=_opt_time(d["updated_at"]),
        deleted_at=_opt_time(d["deleted_at"]),
    )


def _peg(d: dict[str, Any]) -> PegEntry:
    return PegEntry(
        id=int(d["id"]),
        at=from_db(d["at"]),
        recorded_at=from_db(d["recorded_at"]),
        pain=int(d["pain"]),
        enjoyment=int(d["enjoyment"]),
        activity=int(d["activity"]),
        deleted_at=_opt_time(d["deleted_at"]),
    )


def _session(d: dict[str, Any]) -> SessionRecord:
    def num(key: str) -> float | None:
        v = d[key]
        return _opt_float(v) if isinstance(v, str) else (None if v is None else float(v))

    return SessionRecord(
        id=int(d["id"]),
        started_at=from_db(d["started_at"]),
        ended_at=_opt_time(d["ended_at"]),
        device=_opt_text(d["device"]),
        program=_opt_text(d["program"]),
        placement=_opt_text(d["placement"]),
        target_intensity=num("target_intensity"),
        unit=_opt_text(d["unit"]),
        state=d["state"],
        end_reason=_opt_text(d["end_reason"]),
        stimulation_seconds=num("stimulation_seconds") or 0.0,
        max_delivered=num("max_delivered") or 0.0,
    )


def _rows(kind: str, items: Any, parse: Any) -> list[Any]:
    if not isinstance(items, list):
        raise ExportFormatError(f"{kind}: expected a list")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(parse(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportFormatError(f"{kind}[{i}]: {type(exc).__name__}: {exc}") from None
    return out


def read_json(path: str | Path) -> Bundle:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportFormatError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExportFormatError(f"{path}: not a tens journal export")
    if doc.get("version") != FORMAT_VERSION:
        raise ExportFormatError(f"{path}: export version {doc.get('version')} is not supported")
    return Bundle(
        entries=_rows("entries", doc.get("entries"), _entry),
        peg=_rows("peg", doc.get("peg"), _peg),
        sessions=_rows("sessions", doc.get("sessions"), _session),
    )


def _read_table(path: Path, fields: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(fields) - set(reader.fieldnames or ())
        if missing:
            raise ExportFormatError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return list(reader)


def read_csv(path: str | Path) -> Bundle:
    """Read the three CSV files written by :func:`write_csv` for ``path``."""
    entries_p, sessions_p, peg_p = csv_paths(path)
    return Bundle(
        entries=_rows(str(entries_p), _read_table(entries_p, ENTRY_CSV_FIELDS), _entry),
        peg=_rows(str(peg_p), _read_table(peg_p, PEG_CSV_FIELDS), _peg),
        sessions=_rows(str(sessions_p), _read_table(sessions_p, SESSION_CSV_FIELDS), _session),
    )
