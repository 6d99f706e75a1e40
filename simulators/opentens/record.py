"""The delivered-output record: every change of what the electrodes actually carry.

The device model appends a :class:`DeliveredSample` at the moment it changes a channel's
delivered output (a connection event, a watchdog trip, a peel-off, a disconnect), stamped
with the asyncio loop's time. Tests and benchmarks judge the controller by this record,
never by what the controller believes it sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tens import channels


@dataclass(frozen=True, slots=True)
class DeliveredSample:
    t: float
    """asyncio loop time of the change."""
    channel: int
    intensity_ma: float
    cause: str
    """Why it changed: power-on, set, ramp, stop, limits, watchdog, peel-off, disconnect,
    low-battery, reboot."""


SamplePredicate = Callable[[DeliveredSample], bool]


def sample_report(
    sample: DeliveredSample, t: float, unit: str = "mA"
) -> tuple[str, dict[str, Any]]:
    """How ``tens simulate`` shows one change, ``t`` seconds after it began: its text line
    and its ``--json`` fields. The channel is numbered from 1 in both, as on every face
    (:mod:`tens.channels`); the record itself keeps the device's index. ``unit``: "mA", or
    "level" for the Coyotes, whose record holds strength levels (in the same field)."""
    value = sample.intensity_ma
    amount = f"{value:7.2f} mA" if unit == "mA" else f"{value:4.0f} level"
    line = f"{t:10.3f} s  channel {channels.label(sample.channel)}  {amount}  {sample.cause}"
    fields = {
        "event": "delivered",
        "t": t,
        "mono": round(sample.t, 6),  # the loop's clock: time.monotonic(), machine-wide
        "channel": channels.number(sample.channel),
        "intensity_ma": sample.intensity_ma,  # the value, in ``unit`` (the name is kept)
        "unit": unit,
        "cause": sample.cause,
    }
    return line, fields


class DeliveredRecord:
    """A list-like, append-only record of delivered-output changes."""

    def __init__(self) -> None:
        self.samples: list[DeliveredSample] = []
        self._waiters: list[tuple[SamplePredicate, asyncio.Future[DeliveredSample]]] = []
        self._listeners: list[Callable[[DeliveredSample], None]] = []

    # list-like
    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[DeliveredSample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> DeliveredSample:
        return self.samples[index]

    def append(self, sample: DeliveredSample) -> None:
        self.samples.append(sample)
        for listener in list(self._listeners):
            listener(sample)
        still: list[tuple[SamplePredicate, asyncio.Future[DeliveredSample]]] = []
        for predicate, fut in self._waiters:
            if fut.done():
                continue
            if predicate(sample):
                fut.set_result(sample)
            else:
                still.append((predicate, fut))
        self._waiters = still

    def add_listener(self, listener: Callable[[DeliveredSample], None]) -> Callable[[], None]:
        """Call ``listener`` on every new sample; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def for_channel(self, channel: int) -> list[DeliveredSample]:
        return [s for s in self.samples if s.channel == channel]

    def value_at(self, channel: int, t: float) -> float:
        """What ``channel`` carried at loop time ``t`` (0 before its first sample)."""
        value = 0.0
        for s in self.samples:
            if s.t > t:
                break
            if s.channel == channel:
                value = s.intensity_ma
        return value

    def max(self, channel: int | None = None) -> float:
        """The highest delivered intensity on ``channel`` (or any channel), 0 if none."""
        values = [s.intensity_ma for s in self.samples if channel is None or s.channel == channel]
        return max(values, default=0.0)

    def last(self, channel: int) -> float:
        """What ``channel`` carries now."""
        for s in reversed(self.samples):
            if s.channel == channel:
                return s.intensity_ma
        return 0.0

    def max_rise_rate(self, channel: int) -> float:
        """Steepest rise between consecutive samples of ``channel``, in mA/s."""
        worst = 0.0
        prev: DeliveredSample | None = None
        for s in self.for_channel(channel):
            if prev is not None and s.intensity_ma > prev.intensity_ma:
                dt = s.t - prev.t
                rate = float("inf") if dt <= 0 else (s.intensity_ma - prev.intensity_ma) / dt
                worst = max(worst, rate)
            prev = s
        return worst

    async def wait_for(
        self,
        predicate: SamplePredicate,
        timeout: float,  # noqa: ASYNC109 (the record's API takes a plain timeout)
        *,
        since: float | None = None,
    ) -> DeliveredSample:
        """Wait for a sample matching ``predicate``; raise TimeoutError after ``timeout`` s.

        Only samples appended from now on count, unless ``since`` (a loop time) is given:
        then a matching sample already in the record at or after ``since`` is returned at once.
        """
        if since is not None:
            for s in self.samples:
                if s.t >= since and predicate(s):
                    return s
        fut: asyncio.Future[DeliveredSample] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if not fut.done():
                fut.cancel()
