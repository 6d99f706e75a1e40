"""Where tens keeps its files.

``TENS_HOME`` (an environment variable) puts configuration and data in that one folder, which
tests and portable installs use. Otherwise the platform's user directories for the app "tens"
apply (``~/.local/share/tens`` and ``~/.config/tens`` on Linux). Nothing here creates folders;
the code that writes a file creates its parent.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "tens"
HOME_ENV = "TENS_HOME"
DB_FILENAME = "tens.db"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """The folder for the database and other user data."""
    home = _home()
    if home is not None:
        return home
    import platformdirs  # light, but only needed here

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The folder for configuration files."""
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def db_path() -> Path:
    """The SQLite database shared by the journal and the session records."""
    return data_dir() / DB_FILENAME


BONDS_FILENAME = "bonds.json"
SIMULATOR_KEYS = ("simulator", "opentens-keys.json")


def bonds_path() -> Path:
    """The controller's bonds on the virtual radio (``--simulator``, ``--radio``); BlueZ keeps
    its own. Written by ``tens pair``, mode 0600: it holds long-term keys."""
    return data_dir() / BONDS_FILENAME


def simulator_keys_path() -> Path:
    """The in-process simulated wearable's own bonds (``tens pair --simulator`` makes it;
    while it exists, ``--simulator`` starts that wearable with link security)."""
    return data_dir().joinpath(*SIMULATOR_KEYS)
