"""Widgets of the history area."""
