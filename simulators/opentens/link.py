"""Connection-event timing of a simulated BLE link.

bumble's LocalLink delivers at once; a real link moves data only at connection events, one
every connection interval. The simulator applies writes and sends notifications at these
events, so latency measured against it means something. Each event may come late by a random
jitter (never past the next one) and may be lost (then its traffic waits one more interval).
"""

from __future__ import annotations

import math
import random

EPS = 1e-6


class ConnectionEvents:
    """The event grid of one connection: anchor + k·interval + jitter_k, k = 1, 2, …"""

    def __init__(
        self,
        interval_s: float,
        *,
        jitter_s: float = 0.0,
        loss: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self.loss = loss
        self._rng = rng or random.Random(0)
        self._anchor = 0.0
        self._k = 1
        self._t = interval_s
        self._lost = False

    def reset(self, anchor: float) -> None:
        """A new connection starts at ``anchor``; its first event is one interval later."""
        self._anchor = anchor
        self._draw(1)

    def _draw(self, k: int) -> None:
        self._k = k
        jitter = self._rng.uniform(0.0, self.jitter_s) if self.jitter_s > 0 else 0.0
        self._t = self._anchor + k * self.interval_s + jitter
        self._lost = self.loss > 0 and self._rng.random() < self.loss

    def peek(self, not_before: float) -> tuple[float, bool]:
        """The first event at or after ``not_before``: (time, lost)."""
        if self._t < not_before - EPS:
            k = max(self._k + 1, math.floor((not_before - self._anchor) / self.interval_s))
            self._draw(k)
            while self._t < not_before - EPS:
                self._draw(self._k + 1)
        return self._t, self._lost

    def consume(self) -> None:
        """The event returned by the last peek has happened; move on to the next one."""
        self._draw(self._k + 1)
