"""Schema migrations, applied in order at start and recorded in ``PRAGMA user_version``.

A migration is appended, never edited: a data dir written by an older fcd is brought forward
one step at a time. Each runs in its own transaction with the version bump.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: resources as JSON documents keyed by (kind, scope, name); the name order is the FC
    # list order (bytewise, which is SQLite's BINARY collation).
    """
    CREATE TABLE resources (
        kind  TEXT NOT NULL,
        scope TEXT NOT NULL,
        name  TEXT NOT NULL,
        body  BLOB NOT NULL,
        etag  TEXT NOT NULL,
        PRIMARY KEY (kind, scope, name)
    ) WITHOUT ROWID;
    CREATE TABLE counters (
        kind  TEXT NOT NULL,
        scope TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (kind, scope)
    ) WITHOUT ROWID;
    CREATE TABLE access_keys (
        key_id     TEXT PRIMARY KEY,
        secret     TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the file's ``user_version``; return the new version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
