"""Channel numbers as people see them: numbered from 1 at every face, indexes from 0 inside.

Every face (CLI flags and output, ``--json``, the config file, the TUI, simulator text, MQTT
reasons, driver and governor messages) converts here, so none does its own ``+ 1``:

- :func:`label` / :func:`number`: an index (0, 1, …) as a person reads it ("1", 1);
- :func:`named` / :func:`span`: "channel 1", "channels 1 and 3"; "channels 1–2";
- :func:`parse` / :func:`index`: what a person typed (1, 2, …) to the index; 0, negative
  numbers and anything not a whole number are refused with :class:`ChannelNumberError`.

Wire protocols keep their own numbering (OpenTENS channel bytes and mask bits are indexes).
"""

from __future__ import annotations

from collections.abc import Iterable

FIRST = 1
"""The number people call a device's first channel."""


class ChannelNumberError(ValueError):
    """Not a channel number a person can mean (``code`` is machine-readable)."""

    code = "bad_channel_number"


def number(index: int) -> int:
    """The channel number a person (and ``--json``) sees for an index: 0 -> 1."""
    return index + FIRST


def label(index: int) -> str:
    """``"1"`` for index 0."""
    return str(number(index))


def named(indexes: Iterable[int]) -> str:
    """``channel 1``, ``channels 1 and 3``, ``channels 1, 2 and 4`` (``no channel`` if none)."""
    labels = [label(i) for i in indexes]
    if not labels:
        return "no channel"
    if len(labels) == 1:
        return f"channel {labels[0]}"
    return f"channels {', '.join(labels[:-1])} and {labels[-1]}"


def span(count: int) -> str:
    """What a device with ``count`` channels has: ``channel 1``, ``channels 1–2``."""
    if count < 1:
        return "no channels"
    if count == 1:
        return f"channel {FIRST}"
    return f"channels {FIRST}–{label(count - 1)}"


def index(value: int) -> int:
    """The index of channel number ``value`` (1 -> 0); 0 and below are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChannelNumberError(f"channel {value!r} is not a whole number")
    if value < FIRST:
        raise ChannelNumberError(
            f"channel {value} does not exist: channels are numbered from {FIRST} "
            f"(channel {FIRST} is the device's first)"
        )
    return value - FIRST


def parse(text: str) -> int:
    """What a person typed (``"1"``) to its index (0)."""
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise ChannelNumberError(
            f"channel {text.strip()!r} is not a whole number (channels are numbered from {FIRST})"
        ) from None
    return index(value)
