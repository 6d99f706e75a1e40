"""Widgets of the pain area."""
