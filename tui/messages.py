"""App-wide messages, as dataclasses (Textual's Message supports ``@dataclass``)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tens.events import ControllerEvent


@dataclass
class ControllerEventArrived(Message):
    """An event from the controller's stream, delivered on the app's message loop."""

    event: ControllerEvent


@dataclass
class ViewChanged(Message):
    """The view state changed; screens re-render what they show from it."""


@dataclass
class PainLogged(Message):
    """A pain entry was saved to the journal (``when``: "before", "after" or "any")."""

    nrs: int
    when: str
    red_flags: tuple[str, ...] = ()


@dataclass
class ChecklistAnswered(Message):
    """The contraindication checklist was answered (``clear``: no contraindication ticked)."""

    clear: bool


@dataclass
class DeviceChosen(Message):
    """The person chose a device on the devices screen (``address`` None: the simulator)."""

    address: str | None
