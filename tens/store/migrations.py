"""The database schema as an ordered list of migrations; ``PRAGMA user_version`` is the index.

Migration *n* (1-based) takes a database from version n-1 to n. Each runs in one transaction
together with its ``user_version`` bump, so an interrupted upgrade leaves the old version
intact. To change the schema, append a migration; never edit a released one.
"""

from __future__ import annotations

# Tables shared with the session runner (sessions, audit, checklist) are part of migration 1
# exactly as agreed; the journal's tables follow.
_V1: tuple[str, ...] = (
    """CREATE TABLE sessions(
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        device TEXT,
        program TEXT,
        placement TEXT,
        target_intensity REAL,
        unit TEXT,
        state TEXT NOT NULL,
        end_reason TEXT,
        stimulation_seconds REAL NOT NULL DEFAULT 0,
        max_delivered REAL NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE audit(
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        session_id INTEGER REFERENCES sessions(id),
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        requested TEXT,
        allowed TEXT,
        outcome TEXT NOT NULL,
        reason TEXT
    )""",
    """CREATE TABLE checklist(
        id INTEGER PRIMARY KEY,
        answered_at TEXT NOT NULL,
        answers TEXT NOT NULL,
        any_yes INTEGER NOT NULL
    )""",
    """CREATE TABLE pain_entries(
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        score INTEGER NOT NULL CHECK (typeof(score) = 'integer' AND score BETWEEN 0 AND 10),
        context TEXT NOT NULL CHECK (context IN ('before', 'after', 'other')),
        session_id INTEGER REFERENCES sessions(id),
        region TEXT,
        kind TEXT,
        red_flags TEXT NOT NULL DEFAULT '[]',
        helped TEXT NOT NULL DEFAULT '[]',
        note TEXT,
        updated_at TEXT,
        deleted_at TEXT,
        CHECK ((context = 'other') = (session_id IS NULL))
    )""",
    """CREATE TABLE pain_entry_history(
        id INTEGER PRIMARY KEY,
        entry_id INTEGER NOT NULL REFERENCES pain_entries(id),
        at TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('edit', 'delete')),
        before TEXT NOT NULL,
        after TEXT,
        reason TEXT
    )""",
    """CREATE TABLE peg_entries(
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        pain INTEGER NOT NULL CHECK (typeof(pain) = 'integer' AND pain BETWEEN 0 AND 10),
        enjoyment INTEGER NOT NULL
            CHECK (typeof(enjoyment) = 'integer' AND enjoyment BETWEEN 0 AND 10),
        activity INTEGER NOT NULL
            CHECK (typeof(activity) = 'integer' AND activity BETWEEN 0 AND 10),
        deleted_at TEXT
    )""",
)

# Indexes for the reports (the 12-week report reads by time) and for audit look-ups.
_V2: tuple[str, ...] = (
    "CREATE INDEX pain_entries_at ON pain_entries(at)",
    "CREATE INDEX pain_entries_session ON pain_entries(session_id)",
    "CREATE INDEX pain_entry_history_entry ON pain_entry_history(entry_id)",
    "CREATE INDEX peg_entries_at ON peg_entries(at)",
    "CREATE INDEX sessions_started_at ON sessions(started_at)",
    "CREATE INDEX audit_session ON audit(session_id)",
)

# Partial indexes for the report: live (not deleted) entries by time, covering the trend
# columns, and the few entries with red flags.
_V3: tuple[str, ...] = (
    "CREATE INDEX pain_entries_live ON pain_entries(at, context, score) WHERE deleted_at IS NULL",
    "CREATE INDEX pain_entries_flagged ON pain_entries(at) "
    "WHERE deleted_at IS NULL AND red_flags != '[]'",
)

# When a running session's record was last brought up to date (a record that a crash left
# "running" is closed as interrupted, ending then: tens.store.sessions.close_interrupted), and
# the decision's machine-readable code beside its reason in the audit trail.
_V4: tuple[str, ...] = (
    "ALTER TABLE sessions ADD COLUMN persisted_at TEXT",
    "ALTER TABLE audit ADD COLUMN code TEXT",
)

# A clinician's prescription (tens prescription import): the TOML text as imported, when it
# was accepted, and when it was removed. Additive: no existing table changes.
_V5: tuple[str, ...] = (
    """CREATE TABLE prescriptions(
        id INTEGER PRIMARY KEY,
        imported_at TEXT NOT NULL,
        accepted_at TEXT,
        removed_at TEXT,
        source TEXT NOT NULL
    )""",
)

# Clinicians' public keys the person trusts for signed prescriptions (tens prescription
# trust/untrust); a withdrawn key keeps its row (revoked_at), so a prescription it signed is
# refused rather than treated as merely unsigned. Additive: no existing table changes.
_V6: tuple[str, ...] = (
    """CREATE TABLE prescription_keys(
        key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        trusted_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
)

# The electrode size on each channel, as the person stated it (tens electrodes set): every
# statement kept, the latest per channel in force until cleared (new pads: asked again).
_V7: tuple[str, ...] = (
    """CREATE TABLE electrodes(
        id INTEGER PRIMARY KEY,
        channel INTEGER NOT NULL CHECK (typeof(channel) = 'integer' AND channel >= 0),
        label TEXT NOT NULL,
        area_cm2 REAL NOT NULL CHECK (area_cm2 > 0),
        stated_at TEXT NOT NULL,
        cleared_at TEXT
    )""",
    "CREATE INDEX electrodes_channel ON electrodes(channel, id)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
"""MIGRATIONS[n - 1] upgrades version n - 1 to n."""

SCHEMA_VERSION = len(MIGRATIONS)

APPLICATION_ID = 0x54454E53  # "TENS": marks the file as ours (PRAGMA application_id)
