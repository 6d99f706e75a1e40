"""Widgets, one file each, grouped by the screen area they belong to."""
