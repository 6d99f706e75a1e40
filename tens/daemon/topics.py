"""Topic names of one daemon on the bus: ``<prefix>/<controller_id>/...``."""

from __future__ import annotations

from dataclasses import dataclass

VERBS: tuple[str, ...] = ("start", "stop", "pause", "resume", "intensity", "program")
"""Command verbs a daemon listens to under ``cmd/<verb>``."""

ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    controller_id: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.controller_id}"

    @property
    def availability(self) -> str:
        """Retained ``online`` / ``offline``; the broker publishes ``offline`` as our will."""
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        """Retained JSON state (:class:`tens.daemon.payloads.StatePayload`)."""
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        """Not retained: refusals, narrowings, session ends, notices, command results."""
        return f"{self.base}/events"

    def command(self, verb: str) -> str:
        return f"{self.base}/cmd/{verb}"

    def result(self, verb: str) -> str:
        return f"{self.base}/cmd/{verb}/result"

    @property
    def command_filter(self) -> str:
        """Subscription for every command (one level: the ``/result`` replies do not match)."""
        return f"{self.base}/cmd/+"

    def verb_of(self, topic: str) -> str | None:
        """The verb of a command topic, or None when the topic is not one of ours."""
        head = f"{self.base}/cmd/"
        if not topic.startswith(head):
            return None
        verb = topic[len(head) :]
        return verb if verb and "/" not in verb else None

    @property
    def discovery(self) -> str:
        """Home Assistant device discovery config (retained)."""
        return f"{self.discovery_prefix}/device/{self.controller_id}/config"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic: re-send discovery on ``online``."""
        return f"{self.discovery_prefix}/status"
