"""One table of exit codes for every verb (docs/cli.md). Scripts rely on these: a number keeps
its meaning in every verb, and a new meaning gets a new number."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    """Done; for `tens run`: the session finished on time."""
    NOT_FOUND = 1
    """The thing asked for does not exist (a journal entry, a prescription)."""
    USAGE = 2
    """Bad usage or bad input (a flag, a score, a file that is not valid)."""
    CONFIG = 3
    """The configuration was refused (the key is named)."""
    STORE = 4
    """The database could not be read or written."""
    REFUSED = 5
    """Refused by the safety governor (the limit is named)."""
    NO_DEVICE = 6
    """No device found, could not connect, or a system part is missing (Bluetooth, systemd)."""
    LOST = 7
    """The device was lost mid-session."""
    ABORTED = 8
    """The session was aborted (fault, peel-off, low battery, unreadable data)."""
    STOPPED = 9
    """The session was stopped (Ctrl-C, SIGTERM or another stop)."""
    STOP_UNCONFIRMED = 10
    """A stop was not confirmed by the device: the link was dropped so that it zeroes."""
    WRITE = 11
    """An output file could not be written (nothing was written)."""
    NOT_PAIRED = 12
    """The device needs an encrypted, bonded link and has none with this controller (never
    paired, or it forgot us), or pairing failed: `tens pair`. Nothing was driven."""
    INTERRUPTED = 130
    """Ctrl-C outside a session."""
