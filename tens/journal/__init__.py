"""The pain-relief journal: entries, PEG-3, red-flag advice, statistics and reports.

Kept light: importing this package imports nothing; :mod:`tens.journal.regions` is a pure
table the safety governor reads.
"""
