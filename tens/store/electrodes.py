"""The electrode size stated for each channel (``tens electrodes``): every statement is kept
with its time; the latest one per channel is in force until it is cleared or replaced."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from tens.electrodes import ElectrodeSize
from tens.store.connection import write
from tens.store.timestamps import from_db, to_db, utc_now


@dataclass(frozen=True, slots=True)
class StatedElectrode:
    channel: int
    size: ElectrodeSize
    stated_at: dt.datetime


def state_electrode(
    conn: sqlite3.Connection, channel: int, size: ElectrodeSize, *, now: dt.datetime | None = None
) -> None:
    """Record the pads now on ``channel``; the earlier statement for it is cleared."""
    if channel < 0:
        raise ValueError(f"channel {channel} is not a channel")
    at = to_db(now or utc_now())
    with write(conn):
        conn.execute(
            "UPDATE electrodes SET cleared_at = ? WHERE channel = ? AND cleared_at IS NULL",
            (at, channel),
        )
        conn.execute(
            "INSERT INTO electrodes(channel, label, area_cm2, stated_at) VALUES (?, ?, ?, ?)",
            (channel, size.label, float(size.area_cm2), at),
        )


def clear_electrode(
    conn: sqlite3.Connection, channel: int, *, now: dt.datetime | None = None
) -> bool:
    """Forget the size on ``channel`` (new pads): the next session there asks again."""
    with write(conn):
        cur = conn.execute(
            "UPDATE electrodes SET cleared_at = ? WHERE channel = ? AND cleared_at IS NULL",
            (to_db(now or utc_now()), channel),
        )
    return cur.rowcount > 0


def stated_electrodes(conn: sqlite3.Connection) -> dict[int, StatedElectrode]:
    """Channel -> the size in force there (channels with none stated are absent)."""
    rows = conn.execute(
        "SELECT channel, label, area_cm2, stated_at FROM electrodes WHERE cleared_at IS NULL "
        "ORDER BY id"
    ).fetchall()
    return {
        int(ch): StatedElectrode(int(ch), ElectrodeSize(str(label), float(area)), from_db(at))
        for ch, label, area, at in rows
    }
