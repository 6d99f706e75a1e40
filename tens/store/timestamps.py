"""Timestamps in the database: aware datetimes stored as ISO-8601 UTC text of one fixed shape.

One shape (``2026-01-05T08:00:00.000000+00:00``) keeps text order equal to time order, so
range queries and indexes work on the text column.
"""

from __future__ import annotations

import datetime as dt


def to_db(value: dt.datetime | str) -> str:
    """An aware datetime (or ISO text with an offset) as the stored UTC text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value.isoformat()} has no time zone; give an aware time")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def from_db(text: str) -> dt.datetime:
    """The stored text back as an aware UTC datetime."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:  # written by hand or by an older tool: treat as UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def opt_from_db(text: str | None) -> dt.datetime | None:
    return None if text is None else from_db(text)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
