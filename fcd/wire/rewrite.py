"""A custom domain route's ``rewriteConfig``: FC's equal, wildcard and regex rules (pure).

FC rewrites the path a function sees, per route, with three kinds of rule:

* ``equalRules``: the path equals ``match`` exactly;
* ``wildcardRules``: ``*`` matches any string (``$1``, ``$2``… in the replacement are what each
  ``*`` matched), a leading ``^`` anchors the match at the start of the path, every other
  character is literal; without ``^`` the rule matches the end of the path (``/old`` rewrites
  ``/test/old``);
* ``regexRules``: a regular expression (RE2 syntax, as FC's Go gateway) searched in the path;
  ``$1``… are its groups.

The first rule that matches, equal rules first, then wildcard, then regex, each kind in its
order, replaces the whole path with its expanded replacement; at most one rule applies. The
query string is kept as sent. Regexes run on RE2 (``google-re2``), whose matching time is linear
in the path: a rule written by a key holder cannot make an anonymous request's path cost
exponential time on the gateway's event loop.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
import re2

from fcd import errors

MAX_RULES = 50  # per kind and route
MAX_RULE_CHARS = 1024
_GROUP_REF = re.compile(r"\$(\d+)")
# An invalid regex is the client's error (a 400), not something for the daemon's stderr.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


class RewriteRule(msgspec.Struct, rename="camel"):
    match: str = ""
    replacement: str = ""


class RewriteConfig(msgspec.Struct, rename="camel"):
    equal_rules: list[RewriteRule] | None = None
    wildcard_rules: list[RewriteRule] | None = None
    regex_rules: list[RewriteRule] | None = None


@functools.lru_cache(maxsize=1024)
def _wildcard(match: str) -> Any:
    anchored = match.startswith("^")
    body = match[1:] if anchored else match
    pattern = "(.*)".join(re2.escape(part) for part in body.split("*"))
    return re2.compile(("^" if anchored else "") + pattern + "$", options=_OPTIONS)


@functools.lru_cache(maxsize=1024)
def _regex(match: str) -> Any:
    return re2.compile(match, options=_OPTIONS)


def _expand(replacement: str, groups: tuple[str | None, ...]) -> str:
    return _GROUP_REF.sub(
        lambda m: (groups[int(m[1]) - 1] or "") if 0 < int(m[1]) <= len(groups) else "",
        replacement,
    )


def rewrite(config: RewriteConfig | None, path: str) -> str:
    """The path the function sees after ``config``'s first matching rule (or ``path``)."""
    if config is None:
        return path
    for rule in config.equal_rules or ():
        if rule.match == path:
            return rule.replacement
    for rule in config.wildcard_rules or ():
        found = _wildcard(rule.match).search(path)
        if found is not None:
            return _expand(rule.replacement, found.groups())
    for rule in config.regex_rules or ():
        found = _regex(rule.match).search(path)
        if found is not None:
            return _expand(rule.replacement, found.groups())
    return path


def check(config: RewriteConfig, field: str) -> None:
    """Every rule must be usable: a path match, a path replacement, a regex RE2 compiles,
    and ``$n`` only for groups the match has.

    Raises:
        errors.InvalidArgument: naming the rule (``routeConfig.routes[0].rewriteConfig...``).
    """
    kinds = (
        ("equalRules", config.equal_rules),
        ("wildcardRules", config.wildcard_rules),
        ("regexRules", config.regex_rules),
    )
    for kind, rules in kinds:
        if rules is not None and len(rules) > MAX_RULES:
            raise errors.InvalidArgument(f"{field}.{kind} has more than {MAX_RULES} rules")
        for index, rule in enumerate(rules or ()):
            where = f"{field}.{kind}[{index}]"
            if not rule.match or len(rule.match) > MAX_RULE_CHARS:
                raise errors.InvalidArgument(f"{where}.match must be 1..{MAX_RULE_CHARS} chars")
            if not rule.replacement.startswith("/") or len(rule.replacement) > MAX_RULE_CHARS:
                raise errors.InvalidArgument(
                    f"{where}.replacement must be a path starting with '/' "
                    f"(at most {MAX_RULE_CHARS} chars)"
                )
            if kind == "equalRules":
                groups = 0
            elif kind == "wildcardRules":
                groups = rule.match.count("*")
            else:
                try:
                    groups = int(_regex(rule.match).groups)
                except re2.error as e:
                    raise errors.InvalidArgument(
                        f"{where}.match is not a valid RE2 regular expression: {e}"
                    ) from None
            for ref in _GROUP_REF.findall(rule.replacement):
                if not 0 < int(ref) <= groups:
                    raise errors.InvalidArgument(
                        f"{where}.replacement refers to ${ref}, but the match has {groups} group(s)"
                    )
