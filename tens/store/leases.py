"""Which "running" session records belong to a live process: one advisory lock per session.

A process that runs a session holds a POSIX record lock on byte ``session_id`` of a lock file
next to the database (``tens.db-live``). The operating system drops the lock when the process
dies in any way (crash, ``kill -9``, power loss), so at the next start a "running" record
whose byte can be locked belongs to no one and is closed as interrupted
(:func:`tens.store.sessions.close_interrupted`), while a session that another process (the
daemon, say) is really running is left alone.

POSIX locks belong to the process, and closing *any* descriptor of the file drops all of
them, so each process keeps one descriptor per lock file, open while it holds a lock there,
and checks its own sessions in a table (the kernel would report them as free to their owner). Where
``fcntl`` is missing, no other process's session can be seen as live.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from tens.store.errors import StoreError

LOCK_SUFFIX = "-live"
_guard = threading.Lock()
_fds: dict[str, int] = {}
_held: set[tuple[str, int]] = set()


def lock_path(conn: sqlite3.Connection) -> str | None:
    """The lock file beside the connection's main database (None for an in-memory one)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return f"{file}{LOCK_SUFFIX}" if file else None
    return None


def _fd(path: str) -> int:
    fd = _fds.get(path)
    if fd is None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the session lock file {path}: {exc}") from exc
        _fds[path] = fd
    return fd


def hold(conn: sqlite3.Connection, session_id: int) -> None:
    """Mark the session as run by this process until :func:`release` or the process ends."""
    path = lock_path(conn)
    if path is None:
        return
    with _guard:
        if fcntl is not None:
            try:
                fcntl.lockf(_fd(path), fcntl.LOCK_EX, 1, session_id)
            except OSError as exc:
                raise StoreError(f"cannot lock session {session_id} in {path}: {exc}") from exc
        _held.add((path, session_id))


def release(conn: sqlite3.Connection, session_id: int) -> None:
    """This process no longer runs the session (its record is closed)."""
    path = lock_path(conn)
    if path is None:
        return
    with _guard:
        if (path, session_id) not in _held:
            return
        _held.discard((path, session_id))
        if fcntl is not None and path in _fds:
            try:
                fcntl.lockf(_fds[path], fcntl.LOCK_UN, 1, session_id)
            except OSError:
                pass  # the lock goes with the process at the latest
        _close_if_unused(path)


def _close_if_unused(path: str) -> None:
    """Close the descriptor once this process holds nothing in the file (closing it drops
    every lock the process holds there, so never before)."""
    if any(p == path for p, _ in _held):
        return
    fd = _fds.pop(path, None)
    if fd is not None:
        os.close(fd)


def is_live(conn: sqlite3.Connection, session_id: int) -> bool:
    """True when a live process (this one or another) holds the session's lock."""
    path = lock_path(conn)
    if path is None:
        return False
    with _guard:
        if (path, session_id) in _held:
            return True
        if fcntl is None or not Path(path).exists():
            return False
        fd = _fd(path)
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, session_id)
        except OSError:
            return True  # another process holds it
        else:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, session_id)
            return False
        finally:
            _close_if_unused(path)
