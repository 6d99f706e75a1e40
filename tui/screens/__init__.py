"""Screens: first-run checklist, devices, session, pain, history, help."""
