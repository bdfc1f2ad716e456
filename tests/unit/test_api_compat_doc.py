"""docs/api-compat.md and the management API's routes stay in step.

The app is built as the daemon builds it (every blueprint in fcd.api.routes) over a throwaway
store; its url_map is compared with the doc's table. Paths are compared with every placeholder
reduced to ``{}`` (Quart writes ``<name>``, the spec ``{name}``; the spec's ``{svc}.{q}`` segment
is one ``<service_and_qualifier>`` in Quart).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from fcd.api import routes
from fcd.api.app import create_app
from fcd.api.context import ApiContext
from fcd.config import Config
from fcd.store import Store

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api-compat.md"
PREFIX = "/2016-08-15"
# Routes the spec's table numbers (spec/fc-api.md §3.0).
SPEC_ROUTES = range(1, 69)
# fcd's own routes (logs, usage) are numbered from here, in a table of their own.
EXTENSIONS_FROM = 101
STATUSES = {"supported", "stored only", "not supported"}
SERVERS = {"api", "gateway"}

_ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*?)\|(.*?)\|(.*?)\|(.*)\|\s*$")
_ROUTE = re.compile(r"`(GET|POST|PUT|DELETE|ANY) (/[^`]*)`")
_PLACEHOLDER = re.compile(r"<[^>]*>|\{[^}]*\}")


class Row(NamedTuple):
    number: int
    routes: list[tuple[str, str]]
    served_by: str
    status: str


def normalize(path: str) -> str:
    """Drop the version prefix and any query; every placeholder becomes ``{}``."""
    path = path.split("?", 1)[0]
    if path.startswith(PREFIX):
        path = path[len(PREFIX) :]
    path = _PLACEHOLDER.sub("{}", path)
    return path.replace("{}.{}", "{}")


def doc_rows(text: str) -> list[Row]:
    rows = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        number, cell, served_by, status, _notes = match.groups()
        found = [(method, normalize(path)) for method, path in _ROUTE.findall(cell)]
        rows.append(Row(int(number), found, served_by.strip(), status.strip()))
    return rows


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return doc_rows(DOC.read_text())


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[tuple[str, str]]]:
    """(method, normalized path) of every rule the app registers under /2016-08-15."""
    data_dir = tmp_path_factory.mktemp("compat")
    store = Store(data_dir / "fcd.sqlite3")
    try:
        context = ApiContext(
            config=Config(data_dir=str(data_dir)),
            store=store,
            data_dir=data_dir,
            secret_for=lambda _key: None,
        )
        app = create_app(context, routes.blueprints(context))
        found = set()
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith(PREFIX + "/"):
                continue
            for method in rule.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    found.add((method, normalize(rule.rule)))
        yield found
    finally:
        store.close()


def test_normalize_matches_quart_and_spec_spellings() -> None:
    assert normalize("/2016-08-15/services/<service_and_qualifier>/functions/<fn>") == (
        "/services/{}/functions/{}"
    )
    assert normalize("/services/{svc}.{q}/functions/{fn}/provision-config") == (
        "/services/{}/functions/{}/provision-config"
    )
    assert normalize("/accountConfigs?config=CodeSizeLimit") == "/accountConfigs"
    assert normalize("/x/<path:source_arn>") == "/x/{}"


def test_every_spec_route_has_one_row(rows: list[Row]) -> None:
    numbers = [row.number for row in rows if row.number < EXTENSIONS_FROM]
    assert sorted(numbers) == list(SPEC_ROUTES), "rows must be numbered 1-68, once each"
    for row in rows:
        assert row.routes, f"row {row.number} names no `METHOD /path`"
        assert row.status in STATUSES, f"row {row.number}: unknown status {row.status!r}"
        assert row.served_by in SERVERS, f"row {row.number}: unknown server {row.served_by!r}"


def test_every_registered_route_is_documented(
    rows: list[Row], app_routes: set[tuple[str, str]]
) -> None:
    documented = {route for row in rows for route in row.routes}
    missing = sorted(app_routes - documented)
    assert not missing, f"routes the app serves but docs/api-compat.md does not list: {missing}"


def test_every_route_documented_as_served_is_registered(
    rows: list[Row], app_routes: set[tuple[str, str]]
) -> None:
    missing = [
        (row.number, method, path)
        for row in rows
        if row.served_by == "api" and row.status != "not supported"
        for method, path in row.routes
        if (method, path) not in app_routes
    ]
    assert not missing, f"docs/api-compat.md says these are served, the app has no route: {missing}"
