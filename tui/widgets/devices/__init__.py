"""Widgets of the devices area."""
