"""Custom domain rewriteConfig: FC's documented examples, the order of the rule kinds, checks."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from fcd import errors
from fcd.wire.rewrite import RewriteConfig, check, rewrite


def config(**rules: list[tuple[str, str]]) -> RewriteConfig:
    body = {k: [{"match": m, "replacement": r} for m, r in v] for k, v in rules.items()}
    return msgspec.convert(body, RewriteConfig)


@pytest.mark.parametrize(
    ("rules", "path", "seen"),
    [
        # equal: the whole path only
        ({"equalRules": [("/old", "/new")]}, "/old", "/new"),
        ({"equalRules": [("/old", "/new")]}, "/test/old", "/test/old"),
        # wildcard: unanchored at the start unless '^'; '*' captured as $1, $2…
        ({"wildcardRules": [("/old", "/new")]}, "/test/old", "/new"),
        ({"wildcardRules": [("^/old", "/new")]}, "/test/old", "/test/old"),
        ({"wildcardRules": [("^/old", "/new")]}, "/old", "/new"),
        ({"wildcardRules": [("/api/*", "/$1")]}, "/api/getFunctionName", "/getFunctionName"),
        (
            {"wildcardRules": [("/css/*", "/public/static/css/$1")]},
            "/css/a.css",
            "/public/static/css/a.css",
        ),
        (
            {"wildcardRules": [("/S/*/F/*/Q/*", "/$1.$3/$2")]},
            "/S/svc-a/F/func-a/Q/1",
            "/svc-a.1/func-a",
        ),
        ({"wildcardRules": [("/a.b", "/x")]}, "/aXb", "/aXb"),  # '.' is literal
        # regex (RE2): groups as $n
        ({"regexRules": [("^/api/.+?/(.*)", "/api/v2/$1")]}, "/api/v1/users", "/api/v2/users"),
        ({"regexRules": [("^/x$", "/y")]}, "/x/z", "/x/z"),
        # equal before wildcard before regex
        (
            {
                "regexRules": [("^/a", "/regex")],
                "wildcardRules": [("^/a*", "/wildcard")],
                "equalRules": [("/a", "/equal")],
            },
            "/a",
            "/equal",
        ),
        ({"regexRules": [("^/a", "/regex")], "wildcardRules": [("^/a*", "/w")]}, "/ab", "/w"),
    ],
)
def test_rules(rules: dict[str, Any], path: str, seen: str) -> None:
    assert rewrite(config(**rules), path) == seen


def test_no_config_keeps_the_path() -> None:
    assert rewrite(None, "/p") == "/p"
    assert rewrite(RewriteConfig(), "/p") == "/p"


def test_a_backtracking_regex_runs_in_linear_time() -> None:
    # Catastrophic for a backtracking engine (2^n steps); RE2 answers at once.
    assert rewrite(config(regexRules=[("(a+)+$", "/x")]), "/" + "a" * 5000 + "!") != "/x"


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        ({"regexRules": [("(", "/x")]}, "RE2"),
        ({"regexRules": [("^/(a)", "/$2")]}, r"\$2"),
        ({"wildcardRules": [("/a/*", "/$2")]}, r"\$2"),
        ({"equalRules": [("/a", "/$1")]}, r"\$1"),
        ({"equalRules": [("/a", "relative")]}, "replacement"),
        ({"equalRules": [("", "/a")]}, "match"),
    ],
)
def test_unusable_rules_are_refused_at_write_time(rules: dict[str, Any], says: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=says):
        check(config(**rules), "routeConfig.routes[0].rewriteConfig")
