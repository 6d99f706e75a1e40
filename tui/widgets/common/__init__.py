"""Widgets of the common area."""
