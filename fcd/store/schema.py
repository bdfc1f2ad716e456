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
    # 2: metering rows (one per invocation that ran) and function log lines (one per line the
    # function printed, tagged with its request id). Both are written in batches by the
    # invocation recorder and pruned by age; reports read them by function and time.
    """
    CREATE TABLE invocations (
        request_id    TEXT NOT NULL,
        service       TEXT NOT NULL,
        function      TEXT NOT NULL,
        qualifier     TEXT NOT NULL,
        version_id    TEXT NOT NULL,
        started_at    REAL NOT NULL,
        day           TEXT NOT NULL,
        duration_ms   REAL NOT NULL,
        billed_ms     INTEGER NOT NULL,
        memory_mb     INTEGER NOT NULL,
        gb_seconds    REAL NOT NULL,
        max_memory_mb REAL NOT NULL,
        cold          INTEGER NOT NULL,
        cold_start_ms REAL NOT NULL,
        status        TEXT NOT NULL
    );
    CREATE INDEX invocations_by_day ON invocations(day, service, function);
    CREATE INDEX invocations_by_time ON invocations(started_at);
    CREATE INDEX invocations_by_request ON invocations(request_id);
    CREATE TABLE function_logs (
        id         INTEGER PRIMARY KEY,
        service    TEXT NOT NULL,
        function   TEXT NOT NULL,
        request_id TEXT NOT NULL,
        at         REAL NOT NULL,
        line       BLOB NOT NULL
    );
    CREATE INDEX function_logs_by_function ON function_logs(service, function, at);
    CREATE INDEX function_logs_by_request ON function_logs(request_id);
    """,
    # 3: the durable async queue (fcd.invocations.queue): one row per accepted async
    # invocation, from accept to its end; its record for stateful get/list/stop. No ';' may
    # appear inside a statement (the migration runner splits on it).
    """
    CREATE TABLE async_invocations (
        seq                INTEGER PRIMARY KEY,
        request_id         TEXT NOT NULL UNIQUE,
        invocation_id      TEXT NOT NULL,
        service            TEXT NOT NULL,
        qualifier          TEXT NOT NULL,
        function           TEXT NOT NULL,
        source             TEXT NOT NULL,
        stateful           INTEGER NOT NULL,
        payload            BLOB NOT NULL,
        status             TEXT NOT NULL,
        attempts           INTEGER NOT NULL,
        enqueued_at        REAL NOT NULL,
        due_at             REAL NOT NULL,
        started_at         REAL,
        ended_at           REAL,
        duration_ms        REAL,
        instance_id        TEXT NOT NULL DEFAULT '',
        error_message      TEXT NOT NULL DEFAULT '',
        return_payload     BLOB,
        destination_status TEXT NOT NULL DEFAULT '',
        events             TEXT NOT NULL
    );
    CREATE INDEX async_due ON async_invocations(due_at, seq) WHERE status = 'Enqueued';
    CREATE INDEX async_running ON async_invocations(status) WHERE status = 'Running';
    CREATE UNIQUE INDEX async_by_invocation ON async_invocations(service, function, invocation_id);
    CREATE INDEX async_by_function ON async_invocations(service, function, enqueued_at);
    CREATE INDEX async_finished ON async_invocations(ended_at) WHERE ended_at IS NOT NULL;
    """,
    # 4: timer triggers (fcd.triggers.timer): the last scheduled time each trigger handled and
    # how ("armed", "fired", "skipped", "failed", "disabled"), so a restart neither fires a
    # time twice nor forgets one that fell due while the daemon was down.
    """
    CREATE TABLE timer_state (
        trigger_id TEXT PRIMARY KEY,
        service    TEXT NOT NULL,
        function   TEXT NOT NULL,
        trigger    TEXT NOT NULL,
        last_due   REAL NOT NULL,
        status     TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 5: the async queue fetches due rows per function (a full function's backlog is never
    # scanned while it is full): its "due" index is keyed by function first.
    """
    DROP INDEX async_due;
    CREATE INDEX async_due_by_function
        ON async_invocations(service, qualifier, function, due_at, seq)
        WHERE status = 'Enqueued';
    """,
    # 6: bounds of the async queue (fcd.invocations.queue, [async] in the config): how many
    # invocations of each function are unfinished, and how many payload and result bytes the
    # table holds, kept exact by triggers so an accept reads two rows instead of counting.
    """
    CREATE TABLE async_depth (
        service  TEXT NOT NULL,
        function TEXT NOT NULL,
        queued   INTEGER NOT NULL,
        PRIMARY KEY (service, function)
    ) WITHOUT ROWID;
    CREATE TABLE async_usage (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        bytes INTEGER NOT NULL
    );
    INSERT INTO async_usage(id, bytes)
        SELECT 1, coalesce(sum(length(payload) + coalesce(length(return_payload), 0)), 0)
        FROM async_invocations;
    INSERT INTO async_depth(service, function, queued)
        SELECT service, function, count(*) FROM async_invocations
        WHERE status IN ('Enqueued', 'Running') GROUP BY service, function;
    CREATE TRIGGER async_bytes_insert AFTER INSERT ON async_invocations BEGIN
        UPDATE async_usage
        SET bytes = bytes + length(NEW.payload) + coalesce(length(NEW.return_payload), 0);
    END;
    CREATE TRIGGER async_bytes_update AFTER UPDATE OF payload, return_payload
        ON async_invocations BEGIN
        UPDATE async_usage SET bytes = bytes
            + length(NEW.payload) + coalesce(length(NEW.return_payload), 0)
            - length(OLD.payload) - coalesce(length(OLD.return_payload), 0);
    END;
    CREATE TRIGGER async_bytes_delete AFTER DELETE ON async_invocations BEGIN
        UPDATE async_usage
        SET bytes = bytes - length(OLD.payload) - coalesce(length(OLD.return_payload), 0);
    END;
    CREATE TRIGGER async_depth_insert AFTER INSERT ON async_invocations
        WHEN NEW.status IN ('Enqueued', 'Running') BEGIN
        INSERT INTO async_depth(service, function, queued) VALUES (NEW.service, NEW.function, 1)
            ON CONFLICT(service, function) DO UPDATE SET queued = queued + 1;
    END;
    CREATE TRIGGER async_depth_end AFTER UPDATE OF status ON async_invocations
        WHEN OLD.status IN ('Enqueued', 'Running')
            AND NEW.status NOT IN ('Enqueued', 'Running') BEGIN
        UPDATE async_depth SET queued = queued - 1
            WHERE service = OLD.service AND function = OLD.function;
    END;
    CREATE TRIGGER async_depth_again AFTER UPDATE OF status ON async_invocations
        WHEN OLD.status NOT IN ('Enqueued', 'Running')
            AND NEW.status IN ('Enqueued', 'Running') BEGIN
        INSERT INTO async_depth(service, function, queued) VALUES (NEW.service, NEW.function, 1)
            ON CONFLICT(service, function) DO UPDATE SET queued = queued + 1;
    END;
    CREATE TRIGGER async_depth_delete AFTER DELETE ON async_invocations
        WHEN OLD.status IN ('Enqueued', 'Running') BEGIN
        UPDATE async_depth SET queued = queued - 1
            WHERE service = OLD.service AND function = OLD.function;
    END;
    """,
]


def _statements(script: str) -> list[str]:
    """The statements of a script, split on ';' where SQLite agrees one ends (a trigger's
    body holds several)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.replace(";", "").strip():
                statements.append(pending)
            pending = ""
    if pending.replace(";", "").strip():
        statements.append(pending)
    return statements


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the file's ``user_version``; return the new version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
