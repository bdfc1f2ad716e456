"""Resources as JSON documents: ``(kind, scope, name) → (body, etag)``.

Every FC resource is a named child of a scope (functions of a service, triggers of a function,
…) and is read and written whole, so one table with a JSON body serves them all and gives every
list route the same ordering and pagination (spec §1.6). These functions take a connection and
do no locking of their own: call them inside a transaction function on the store's writer
thread, or through ``Store.read``.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import NamedTuple

# FC list limits: 20 when absent, at most 100 (spec §1.6).
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Doc(NamedTuple):
    name: str
    body: bytes
    etag: str


class Page(NamedTuple):
    docs: list[Doc]
    next_token: str | None


def new_etag() -> str:
    """32 hex characters, like FC's ETags."""
    return uuid.uuid4().hex


def get(conn: sqlite3.Connection, kind: str, scope: str, name: str) -> Doc | None:
    row = conn.execute(
        "SELECT name, body, etag FROM resources WHERE kind=? AND scope=? AND name=?",
        (kind, scope, name),
    ).fetchone()
    return Doc(row[0], row[1], row[2]) if row else None


def insert(conn: sqlite3.Connection, kind: str, scope: str, name: str, body: bytes) -> str:
    """Add a new document; return its ETag.

    Raises:
        sqlite3.IntegrityError: a document with that name exists (callers map it to
            ``*AlreadyExists``).
    """
    etag = new_etag()
    conn.execute(
        "INSERT INTO resources(kind, scope, name, body, etag) VALUES (?, ?, ?, ?, ?)",
        (kind, scope, name, body, etag),
    )
    return etag


def put(conn: sqlite3.Connection, kind: str, scope: str, name: str, body: bytes) -> str:
    """Create or replace a document; return its new ETag."""
    etag = new_etag()
    conn.execute(
        "INSERT INTO resources(kind, scope, name, body, etag) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(kind, scope, name) DO UPDATE SET body=excluded.body, etag=excluded.etag",
        (kind, scope, name, body, etag),
    )
    return etag


def delete(conn: sqlite3.Connection, kind: str, scope: str, name: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM resources WHERE kind=? AND scope=? AND name=?", (kind, scope, name)
    )
    return cursor.rowcount > 0


def delete_scope(conn: sqlite3.Connection, kind: str, scope: str) -> int:
    """Delete every document of ``kind`` in ``scope``; return how many."""
    return conn.execute("DELETE FROM resources WHERE kind=? AND scope=?", (kind, scope)).rowcount


def count(conn: sqlite3.Connection, kind: str, scope: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM resources WHERE kind=? AND scope=?", (kind, scope)
    ).fetchone()
    return int(row[0])


def all_in(conn: sqlite3.Connection, kind: str, scope: str) -> list[Doc]:
    """Every document of ``kind`` in ``scope``, by name."""
    rows = conn.execute(
        "SELECT name, body, etag FROM resources WHERE kind=? AND scope=? ORDER BY name",
        (kind, scope),
    ).fetchall()
    return [Doc(r[0], r[1], r[2]) for r in rows]


def all_of_kind(conn: sqlite3.Connection, kind: str) -> list[tuple[str, Doc]]:
    """Every document of ``kind`` in every scope, as ``(scope, doc)``, by scope then name."""
    rows = conn.execute(
        "SELECT scope, name, body, etag FROM resources WHERE kind=? ORDER BY scope, name", (kind,)
    ).fetchall()
    return [(r[0], Doc(r[1], r[2], r[3])) for r in rows]


def clamp_limit(limit: int | None) -> int:
    """FC's limit rules: absent or <= 0 means the default; never more than the maximum."""
    if limit is None or limit <= 0:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


def page(
    conn: sqlite3.Connection,
    kind: str,
    scope: str,
    *,
    prefix: str = "",
    start_key: str = "",
    next_token: str = "",
    limit: int | None = None,
    descending: bool = False,
) -> Page:
    """One page of a list route, with FC's semantics (spec §1.6).

    Names are sorted bytewise; ``start_key`` is an inclusive lower bound; ``prefix`` filters;
    ``next_token`` (the first name of the next page) replaces ``start_key`` when given.
    ``descending`` reverses the order, and the bound becomes an inclusive upper one (versions
    list newest first).
    """
    size = clamp_limit(limit)
    bound = next_token or start_key
    if descending:
        where, order = ("AND name <= ? " if bound else "AND ? = '' "), "DESC"
    else:
        where, order = "AND name >= ? ", "ASC"
    rows = conn.execute(
        f"SELECT name, body, etag FROM resources WHERE kind=? AND scope=? {where}"
        f"AND substr(name, 1, ?) = ? ORDER BY name {order} LIMIT ?",
        (kind, scope, bound, len(prefix), prefix, size + 1),
    ).fetchall()
    docs = [Doc(r[0], r[1], r[2]) for r in rows]
    if len(docs) > size:
        return Page(docs[:size], docs[size].name)
    return Page(docs, None)


def reset_counter(conn: sqlite3.Connection, kind: str, scope: str) -> None:
    """Forget a counter: the next :func:`next_counter` of the scope returns 1 again (a deleted
    and re-created service numbers its versions from 1, as on FC)."""
    conn.execute("DELETE FROM counters WHERE kind = ? AND scope = ?", (kind, scope))


def next_counter(conn: sqlite3.Connection, kind: str, scope: str) -> int:
    """Increment and return a per-scope counter (version ids, layer versions): never reused."""
    row = conn.execute(
        "INSERT INTO counters(kind, scope, value) VALUES (?, ?, 1) "
        "ON CONFLICT(kind, scope) DO UPDATE SET value = value + 1 RETURNING value",
        (kind, scope),
    ).fetchone()
    return int(row[0])
