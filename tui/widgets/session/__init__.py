"""Widgets of the session area."""
