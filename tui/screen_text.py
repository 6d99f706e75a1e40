"""The screen as plain text (no colour), for tests and for checking readability without colour."""

from __future__ import annotations

from typing import Any

from textual.app import App


def screen_text(app: App[Any]) -> str:
    """Every row of the current screen, as the characters a colourless terminal would show."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)
