"""Writing output files whole or not at all: a temporary file in the same folder, flushed to
disk, then renamed over the target. New files are private (mode 0600: they hold health
data); a replaced file keeps its mode."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; raises OSError with the path on failure
    and leaves any earlier file untouched. The folder must exist: a typo in its name is an
    error, not a new tree of folders holding health data."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder {folder} does not exist (create it first)")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():  # keep the mode of the file replaced; new files stay private
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
