"""The SQLite store: the writer thread, group commit with savepoints, migrations, pagination."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fcd import errors
from fcd.store import Store, docs, schema
from fcd.store.sqlite import connect
from tests.waiting import wait_until_async


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "fcd.sqlite3")
    yield opened
    opened.close()


def _names(store: Store, kind: str = "k", scope: str = "") -> list[str]:
    return [d.name for d in store.read(lambda c: docs.all_in(c, kind, scope))]


# Transactions are plain functions --------------------------------------------------------
def test_a_transaction_is_a_plain_function_of_a_connection(tmp_path: Path) -> None:
    """No event loop: the same function runs on a bare connection or through the store."""

    def tx(conn: sqlite3.Connection) -> str:
        return docs.insert(conn, "k", "", "a", b"{}")

    conn = connect(tmp_path / "bare.sqlite3")
    schema.migrate(conn)
    assert len(tx(conn)) == 32
    conn.close()

    opened = Store(tmp_path / "fcd.sqlite3")
    try:
        etag = opened.write_sync(tx)
        assert opened.read(lambda c: docs.get(c, "k", "", "a")) == docs.Doc("a", b"{}", etag)
    finally:
        opened.close()


async def test_write_returns_after_commit_and_a_reader_sees_it(store: Store) -> None:
    etag = await store.write(lambda c: docs.insert(c, "k", "", "a", b"1"))
    # A fresh connection (another process, in effect) sees the committed row.
    other = sqlite3.connect(store.path)
    try:
        row = other.execute("SELECT body, etag FROM resources WHERE name='a'").fetchone()
    finally:
        other.close()
    assert row == (b"1", etag)


async def test_exceptions_come_back_to_the_caller_unchanged(store: Store) -> None:
    def tx(conn: sqlite3.Connection) -> None:
        docs.insert(conn, "k", "", "a", b"1")
        raise errors.ServiceNotFound("service 'x' does not exist")

    with pytest.raises(errors.ServiceNotFound, match="service 'x'"):
        await store.write(tx)
    assert _names(store) == []


async def test_a_failing_transaction_in_a_batch_leaves_its_neighbours_committed(
    store: Store,
) -> None:
    """Hold the writer on a first transaction so that the next ones queue into one batch."""
    release = threading.Event()
    entered = threading.Event()

    def blocker(conn: sqlite3.Connection) -> str:
        entered.set()
        release.wait(10)
        return docs.insert(conn, "k", "", "0-blocker", b"")

    def insert(name: str):
        return lambda conn: docs.insert(conn, "k", "", name, b"")

    def half_then_fail(conn: sqlite3.Connection) -> None:
        docs.insert(conn, "k", "", "2-half", b"")
        raise ValueError("boom")

    def duplicate(conn: sqlite3.Connection) -> None:
        docs.insert(conn, "k", "", "1-before", b"")  # already inserted earlier in the batch

    first = asyncio.ensure_future(store.write(blocker))
    assert await asyncio.to_thread(entered.wait, 10)
    rest = [
        asyncio.ensure_future(store.write(fn))
        for fn in (insert("1-before"), half_then_fail, duplicate, insert("3-after"))
    ]
    # every write reaches the queue while the writer is held
    await wait_until_async(lambda: "queued=4>" in repr(store), 10, "four queued writes")
    release.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)

    assert isinstance(results[0], str)
    assert isinstance(results[1], str)
    assert isinstance(results[2], ValueError)
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert isinstance(results[4], str)
    assert _names(store) == ["0-blocker", "1-before", "3-after"]


async def test_many_concurrent_writes_all_commit(store: Store) -> None:
    names = [f"n{i:03d}" for i in range(300)]
    etags = await asyncio.gather(
        *(store.write(lambda c, n=n: docs.insert(c, "k", "", n, b"")) for n in names)  # type: ignore[misc]
    )
    assert len(set(etags)) == len(names)
    assert _names(store) == names


def test_close_finishes_queued_writes_then_refuses_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "fcd.sqlite3"
    opened = Store(path)
    opened.write_sync(lambda c: docs.insert(c, "k", "", "a", b""))
    opened.close()
    opened.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(opened.write(lambda c: None))

    reopened = Store(path)
    try:
        assert _names(reopened) == ["a"]
    finally:
        reopened.close()


def test_the_read_connection_cannot_write(store: Store) -> None:
    with pytest.raises(sqlite3.OperationalError):
        store.read(lambda c: docs.insert(c, "k", "", "a", b""))


def test_wal_and_synchronous_normal(store: Store) -> None:
    assert store.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    # 1 = NORMAL: a commit survives the process being killed, not the host losing power.
    assert store.read(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1


# Migrations -------------------------------------------------------------------------------
def test_migrations_are_idempotent(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.sqlite3")
    try:
        assert schema.migrate(conn) == len(schema.MIGRATIONS)
        conn.execute("INSERT INTO settings VALUES ('k', 'v')")
        assert schema.migrate(conn) == len(schema.MIGRATIONS)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
        assert conn.execute("SELECT value FROM settings").fetchone()[0] == "v"
    finally:
        conn.close()


def test_reopening_a_store_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "fcd.sqlite3"
    for _ in range(3):
        opened = Store(path)
        opened.write_sync(lambda c: docs.next_counter(c, "version", "s"))
        opened.close()
    opened = Store(path)
    try:
        assert opened.write_sync(lambda c: docs.next_counter(c, "version", "s")) == 4
    finally:
        opened.close()


def test_a_failing_migration_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect(tmp_path / "m.sqlite3")
    try:
        schema.migrate(conn)
        broken = "CREATE TABLE later_table (x INTEGER); INSERT INTO no_such_table VALUES (1)"
        monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
        with pytest.raises(sqlite3.OperationalError):
            schema.migrate(conn)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) - 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "later_table" not in tables
    finally:
        conn.close()


# Documents --------------------------------------------------------------------------------
def test_insert_put_delete_and_etags(store: Store) -> None:
    first = store.write_sync(lambda c: docs.insert(c, "k", "s", "a", b"1"))
    with pytest.raises(sqlite3.IntegrityError):
        store.write_sync(lambda c: docs.insert(c, "k", "s", "a", b"2"))
    second = store.write_sync(lambda c: docs.put(c, "k", "s", "a", b"3"))
    assert second != first
    assert store.read(lambda c: docs.get(c, "k", "s", "a")) == docs.Doc("a", b"3", second)
    # The same name in another scope or kind is another document.
    store.write_sync(lambda c: docs.insert(c, "k", "t", "a", b""))
    store.write_sync(lambda c: docs.insert(c, "j", "s", "a", b""))
    assert store.read(lambda c: docs.count(c, "k", "s")) == 1
    assert store.write_sync(lambda c: docs.delete(c, "k", "s", "a")) is True
    assert store.write_sync(lambda c: docs.delete(c, "k", "s", "a")) is False
    assert store.read(lambda c: docs.get(c, "k", "s", "a")) is None
    assert store.read(lambda c: docs.get(c, "k", "t", "a")) is not None


def test_counters_are_never_reused(store: Store) -> None:
    values = [store.write_sync(lambda c: docs.next_counter(c, "version", "s")) for _ in range(3)]
    assert values == [1, 2, 3]
    assert store.write_sync(lambda c: docs.next_counter(c, "version", "other")) == 1


# Pagination (spec §1.6) -------------------------------------------------------------------
NAMES = ["A", "B_x", "a", "a-b", "a_b", "ab", "abc", "abd", "abe", "b", "ba", "z"]


@pytest.fixture
def listed(store: Store) -> Store:
    def tx(conn: sqlite3.Connection) -> None:
        for name in reversed(NAMES):
            docs.insert(conn, "k", "", name, name.encode())
        docs.insert(conn, "k", "other-scope", "aa", b"")

    store.write_sync(tx)
    return store


def _page(store: Store, **query: object) -> tuple[list[str], str | None]:
    got = store.read(lambda c: docs.page(c, "k", "", **query))  # type: ignore[arg-type]
    return [d.name for d in got.docs], got.next_token


def test_names_are_sorted_bytewise(listed: Store) -> None:
    assert _page(listed) == (sorted(NAMES, key=str.encode), None)
    assert sorted(NAMES, key=str.encode) == NAMES


def test_prefix_filters(listed: Store) -> None:
    assert _page(listed, prefix="ab") == (["ab", "abc", "abd", "abe"], None)
    assert _page(listed, prefix="nothing") == ([], None)


def test_start_key_is_an_inclusive_lower_bound(listed: Store) -> None:
    assert _page(listed, start_key="abd") == (["abd", "abe", "b", "ba", "z"], None)
    assert _page(listed, start_key="abcc") == (["abd", "abe", "b", "ba", "z"], None)


def test_prefix_and_start_key_combine(listed: Store) -> None:
    assert _page(listed, prefix="ab", start_key="abd") == (["abd", "abe"], None)


def test_limit_and_next_token(listed: Store) -> None:
    assert _page(listed, prefix="ab", limit=2) == (["ab", "abc"], "abd")
    assert _page(listed, prefix="ab", limit=2, next_token="abd") == (["abd", "abe"], None)
    # Exactly a page's worth left: no token.
    assert _page(listed, prefix="ab", limit=4) == (["ab", "abc", "abd", "abe"], None)


def test_next_token_replaces_start_key_but_prefix_still_applies(listed: Store) -> None:
    assert _page(listed, prefix="a", start_key="z", next_token="abd", limit=10) == (
        ["abd", "abe"],
        None,
    )


def test_walking_every_page_sees_each_name_once(listed: Store) -> None:
    for limit in (1, 2, 3, 5, 100):
        seen: list[str] = []
        token = ""
        for _ in range(len(NAMES) + 1):
            names, next_token = _page(listed, limit=limit, next_token=token)
            seen += names
            if next_token is None:
                break
            token = next_token
        assert seen == NAMES, limit


@pytest.mark.parametrize(("limit", "size"), [(None, 20), (0, 20), (-5, 20), (1, 1), (1000, 100)])
def test_limit_defaults_and_maximum(store: Store, limit: int | None, size: int) -> None:
    def tx(conn: sqlite3.Connection) -> None:
        for i in range(150):
            docs.insert(conn, "k", "", f"n{i:03d}", b"")

    store.write_sync(tx)
    names, token = _page(store, limit=limit)
    assert len(names) == size
    assert token == f"n{size:03d}"
