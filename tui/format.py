"""Pure text rendering for the TUI: durations, bars, charts, state words.

Everything a widget shows is built here from plain values, so it is deterministic, testable
without a terminal, and readable without colour (bars use block characters, states are words).
"""

from __future__ import annotations

from collections.abc import Sequence

from tens import channels
from tens.events import LinkState, SessionState

FULL = "█"
EMPTY = "░"
MARK = "│"
# eight heights of a block column, lowest first; the blank stands for zero
LEVELS = " ▁▂▃▄▅▆▇█"


def duration(seconds: float | None) -> str:
    """``mm:ss`` below an hour, ``h:mm:ss`` above; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    total = max(0, int(seconds + 0.5))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def amount(value: float, unit: str) -> str:
    """An intensity with its unit: ``12.0 mA`` or ``7 level``."""
    if unit == "mA":
        return f"{value:.1f} mA"
    return f"{value:g} {unit}"


def bar(value: float, full_scale: float, width: int, marker: float | None = None) -> str:
    """A horizontal bar of ``width`` cells: filled to ``value``, with an optional marker.

    ``marker`` (e.g. the target) is drawn as ``│`` where it falls on an empty cell.
    """
    if width <= 0:
        return ""
    scale = full_scale if full_scale > 0 else 1.0
    filled = round(min(max(value / scale, 0.0), 1.0) * width)
    cells = [FULL] * filled + [EMPTY] * (width - filled)
    if marker is not None and marker > 0:
        at = min(width - 1, max(0, round(min(marker / scale, 1.0) * width) - 1))
        if at >= filled:
            cells[at] = MARK
    return "".join(cells)


def chart_rows(values: Sequence[float], full_scale: float, height: int) -> list[str]:
    """A column chart, one column per value, ``height`` text rows, top row first.

    Values are scaled against ``full_scale`` (the limit), not the data's own maximum, so the
    same current always looks the same height.
    """
    scale = full_scale if full_scale > 0 else 1.0
    steps = height * 8
    heights = [round(min(max(v / scale, 0.0), 1.0) * steps) for v in values]
    rows = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        rows.append("".join(LEVELS[min(8, max(0, h - base))] for h in heights))
    return rows


STATE_WORDS: dict[SessionState, str] = {
    SessionState.IDLE: "IDLE",
    SessionState.CONNECTING: "CONNECTING",
    SessionState.READY: "READY",
    SessionState.RAMPING: "RAMPING UP",
    SessionState.RUNNING: "RUNNING",
    SessionState.PAUSED: "PAUSED",
    SessionState.RAMPING_DOWN: "RAMPING DOWN",
    SessionState.FINISHED: "FINISHED",
    SessionState.STOPPED: "STOPPED",
    SessionState.ABORTED: "ABORTED",
}


def state_word(state: SessionState) -> str:
    return STATE_WORDS.get(state, str(state).upper())


def link_word(link: LinkState) -> str:
    return {
        LinkState.DISCONNECTED: "not connected",
        LinkState.CONNECTING: "connecting…",
        LinkState.CONNECTED: "connected",
        LinkState.LOST: "LOST",
    }.get(link, str(link))


def battery_text(percent: int | None) -> str:
    if percent is None:
        return "battery ?"
    return f"battery {percent}%" + (" LOW" if percent <= 15 else "")


def contact_text(electrodes: Sequence[bool | None]) -> str:
    """Electrode contact per channel: ``contact ok``, ``contact 1 ok · 2 OFF``."""
    if not electrodes:
        return "contact ?"
    words = ["ok" if c else ("OFF" if c is False else "?") for c in electrodes]
    if len(words) == 1:
        return f"contact {words[0]}"
    return "contact " + " · ".join(f"{channels.label(i)} {w}" for i, w in enumerate(words))


def bucket_max(
    samples: Sequence[tuple[float, float]], now: float, span_s: float, n: int
) -> list[float]:
    """Downsample ``(t, value)`` samples to ``n`` columns covering ``[now - span_s, now]``.

    Each column holds the largest value seen in its slice (a short peak is never hidden);
    a slice without samples carries the last value before it forward (output holds between
    notifications), starting from zero. Samples must be in time order.
    """
    if n <= 0 or span_s <= 0:
        return []
    width = span_s / n
    start = now - span_s
    peak: list[float | None] = [None] * n
    last: list[float | None] = [None] * n
    carry = 0.0
    for t, v in samples:
        if t < start:
            carry = v
            continue
        if t > now:
            break
        i = min(n - 1, int((t - start) / width))
        cur = peak[i]
        peak[i] = v if cur is None else max(cur, v)
        last[i] = v
    out: list[float] = []
    for p, lv in zip(peak, last, strict=True):
        if p is None or lv is None:
            out.append(carry)
        else:
            out.append(max(p, carry))  # the held value until the first sample
            carry = lv
    return out
