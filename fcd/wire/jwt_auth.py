"""An HTTP trigger's JWT ``authConfig``: parsed and checked once, at write time.

FC 2.0's ``authType: jwt`` keeps its settings in ``triggerConfig.authConfig``, a JSON string in
the API (an object in Serverless Devs' s.yaml, which fcd accepts too):

* ``jwks``: ``{"keys": [JWK, ...]}``, the public keys tokens are verified with;
* ``tokenLookup``: where the token is, tried in order, the first one found is checked:
  ``"header:Authorization:Bearer ,cookie:token,query:jwt,form:token"`` (position, name and for a
  header an optional prefix to strip), or a list of ``{readPosition, parameterName, prefix}``;
* ``claimPassBy``: claims handed to the function: ``"query:uid:uid,header:name:X-Name"``
  (position, claim, parameter name), or a list of ``{claimName, mappingParameterName,
  mappingParameterPosition}``;
* ``whitelist`` (paths that need no token) or ``blacklist`` (the only paths that need one),
  never both; a path matches exactly, or by prefix when it ends in ``*``.

What fcd cannot do is refused here rather than stored and ignored: a claim passed by ``form``
(it would mean rewriting the request body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jwt

from fcd import errors

TOKEN_POSITIONS = ("header", "cookie", "query", "form")
CLAIM_POSITIONS = ("header", "query", "cookie")


@dataclass(frozen=True, slots=True)
class TokenSource:
    position: str  # one of TOKEN_POSITIONS
    name: str
    prefix: str = ""  # stripped from a header's value


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    claim: str
    position: str  # one of CLAIM_POSITIONS
    name: str


@dataclass(frozen=True, slots=True)
class JwtAuthConfig:
    keys: tuple[jwt.PyJWK, ...]
    lookups: tuple[TokenSource, ...]
    claims: tuple[ClaimMapping, ...] = ()
    whitelist: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()

    def needs_token(self, path: str) -> bool:
        """Whether a request for ``path`` must carry a valid token."""
        if self.blacklist:
            return any(_path_matches(pattern, path) for pattern in self.blacklist)
        return not any(_path_matches(pattern, path) for pattern in self.whitelist)

    @property
    def reads_form(self) -> bool:
        return any(source.position == "form" for source in self.lookups)


def _path_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def _bad(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"triggerConfig.authConfig {why}")


def parse(raw: Any) -> JwtAuthConfig:
    """The ``authConfig`` of an ``authType: jwt`` trigger.

    Raises:
        errors.InvalidArgument: missing or malformed fields, keys PyJWT cannot use, or a setting
            fcd cannot honour (named in the message, with what to use instead).
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _bad("must be a JSON object (or a string holding one)") from None
    if not isinstance(raw, dict):
        raise _bad("is required for authType jwt: {jwks, tokenLookup[, claimPassBy]}")
    fields = {str(k).lower(): v for k, v in raw.items()}
    whitelist = _paths(fields.get("whitelist"), "whitelist")
    blacklist = _paths(fields.get("blacklist"), "blacklist")
    if whitelist and blacklist:
        raise _bad("cannot have both a whitelist and a blacklist")
    return JwtAuthConfig(
        keys=_keys(fields.get("jwks")),
        lookups=_lookups(fields.get("tokenlookup")),
        claims=_claims(fields.get("claimpassby")),
        whitelist=whitelist,
        blacklist=blacklist,
    )


def _keys(jwks: Any) -> tuple[jwt.PyJWK, ...]:
    if isinstance(jwks, str):
        try:
            jwks = json.loads(jwks)
        except ValueError:
            raise _bad("jwks must be a JSON Web Key Set") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise _bad('jwks must be a JSON Web Key Set: {"keys": [...]} with at least one key')
    keys = []
    for index, key in enumerate(jwks["keys"]):
        if not isinstance(key, dict) or not key.get("alg"):
            raise _bad(f"jwks.keys[{index}] must be a JWK with its alg (for example RS256)")
        try:
            keys.append(jwt.PyJWK(key))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as e:
            raise _bad(f"jwks.keys[{index}] is not a usable key: {e}") from None
    return tuple(keys)


def _entries(value: Any, what: str) -> list[Any]:
    """A comma-separated string's parts split on ':', or a list of objects as it is."""
    if isinstance(value, str):
        return [part.split(":") for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return value
    raise _bad(f"{what} must be a string or a list")


def _lookups(value: Any) -> tuple[TokenSource, ...]:
    if value in (None, "", []):
        raise _bad("tokenLookup is required: where the token is, e.g. header:Authorization:Bearer")
    sources = []
    for entry in _entries(value, "tokenLookup"):
        if isinstance(entry, list):
            if len(entry) not in (2, 3):
                raise _bad(f"tokenLookup entry {':'.join(entry)!r} is not position:name[:prefix]")
            position, name, prefix = entry[0], entry[1], entry[2] if len(entry) == 3 else ""
        elif isinstance(entry, dict):
            lower = {str(k).lower(): v for k, v in entry.items()}
            position = lower.get("readposition")
            name = lower.get("parametername")
            prefix = lower.get("prefix") or ""
        else:
            raise _bad("tokenLookup entries must be objects")
        position = str(position or "").strip().lower()
        if position not in TOKEN_POSITIONS:
            raise _bad(f"tokenLookup position {position!r} is not one of {TOKEN_POSITIONS}")
        if not isinstance(name, str) or not name.strip():
            raise _bad("tokenLookup needs a parameter name for each position")
        sources.append(TokenSource(position, name.strip(), str(prefix)))
    return tuple(sources)


def _claims(value: Any) -> tuple[ClaimMapping, ...]:
    if value in (None, "", []):
        return ()
    mappings = []
    for entry in _entries(value, "claimPassBy"):
        if isinstance(entry, list):
            if len(entry) != 3:
                raise _bad(f"claimPassBy entry {':'.join(entry)!r} is not position:claim:name")
            position, claim, name = entry
        elif isinstance(entry, dict):
            lower = {str(k).lower(): v for k, v in entry.items()}
            position = lower.get("mappingparameterposition")
            name = lower.get("mappingparametername")
            claim = lower.get("claimname") or name
        else:
            raise _bad("claimPassBy entries must be objects")
        position = str(position or "").strip().lower()
        if position == "form":
            raise _bad(
                "claimPassBy position form is not supported by fcd (it would rewrite the "
                "request body); pass the claim by header, query or cookie instead"
            )
        if position not in CLAIM_POSITIONS:
            raise _bad(f"claimPassBy position {position!r} is not one of {CLAIM_POSITIONS}")
        if not isinstance(claim, str) or not claim or not isinstance(name, str) or not name:
            raise _bad("claimPassBy needs a claim name and a parameter name")
        mappings.append(ClaimMapping(claim, position, name))
    return tuple(mappings)


def _paths(value: Any, what: str) -> tuple[str, ...]:
    if value in (None, []):
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise _bad(f"{what} must be a list of paths")
    for path in value:
        if "*" in path[:-1]:
            raise _bad(f"{what} path {path!r} may have a '*' only at its end")
    return tuple(value)
