"""JWT authentication of HTTP triggers: the authConfig rules and the per-request decision."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fcd import errors
from fcd.gateway.jwt_check import authenticate, pass_claims
from fcd.wire import jwt_auth
from fcd.wire.triggers import validate_config

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private: rsa.RSAPrivateKey, kid: str = "k1") -> dict[str, Any]:
    public = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return {**public, "alg": "RS256", "use": "sig", "kid": kid}


def token(private: rsa.RSAPrivateKey = KEY, kid: str = "k1", **claims: Any) -> str:
    claims.setdefault("exp", int(time.time()) + 600)
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


def config(**fields: Any) -> jwt_auth.JwtAuthConfig:
    raw = {"jwks": {"keys": [jwk(KEY)]}, "tokenLookup": "header:Authorization:Bearer "}
    raw.update(fields)
    return jwt_auth.parse(json.dumps(raw))  # the API sends authConfig as a JSON string


def check(cfg: jwt_auth.JwtAuthConfig, path: str = "/", form: bytes | None = None, **where: Any):
    headers = {k.lower(): v for k, v in where.get("headers", {}).items()}
    return authenticate(cfg, path, headers, where.get("query", {}), form)


def refused(cfg: jwt_auth.JwtAuthConfig, **where: Any) -> str:
    with pytest.raises(errors.Unauthorized) as e:
        check(cfg, **where)
    assert e.value.status == 401
    return e.value.message


def test_a_valid_bearer_token_gives_its_claims() -> None:
    claims = check(config(), headers={"Authorization": "Bearer " + token(uid="u1")})
    assert claims is not None
    assert claims["uid"] == "u1"


def test_missing_expired_foreign_and_malformed_tokens_are_401() -> None:
    cfg = config()
    assert "required" in refused(cfg)
    assert "required" in refused(cfg, headers={"Authorization": "Basic abc"})  # wrong prefix
    expired = token(exp=int(time.time()) - 60)
    assert "expired" in refused(cfg, headers={"Authorization": "Bearer " + expired})
    assert "nbf" in refused(
        cfg, headers={"Authorization": "Bearer " + token(nbf=int(time.time()) + 600)}
    )
    foreign = token(OTHER)
    assert "signature" in refused(cfg, headers={"Authorization": "Bearer " + foreign})
    assert "kid" in refused(cfg, headers={"Authorization": "Bearer " + token(kid="nope")})
    assert "malformed" in refused(cfg, headers={"Authorization": "Bearer not.a.jwt"})


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode({"uid": "u"}, None, algorithm="none", headers={"kid": "k1"})  # type: ignore[arg-type]
    assert refused(config(), headers={"Authorization": "Bearer " + unsigned})


def test_lookup_order_cookie_query_and_form() -> None:
    cfg = config(tokenLookup="cookie:tok,query:jwt,form:token")
    good = token(uid="c")
    assert check(cfg, headers={"Cookie": f"a=1; tok={good}"})["uid"] == "c"
    assert check(cfg, query={"jwt": [good]})["uid"] == "c"
    assert check(cfg, form=f"token={good}&x=1".encode())["uid"] == "c"
    # The first token found is the one checked, even when a later one would pass.
    bad = token(OTHER)
    assert refused(cfg, headers={"Cookie": f"tok={bad}"}, query={"jwt": [good]})


def test_whitelist_and_blacklist_paths() -> None:
    open_paths = config(whitelist=["/login", "/public/*"])
    assert check(open_paths, "/login") is None
    assert check(open_paths, "/public/a/b") is None
    assert refused(open_paths, path="/login/")  # exact match only
    guarded = config(blacklist=["/admin/*"])
    assert check(guarded, "/anything") is None
    assert refused(guarded, path="/admin/x")


def test_claims_replace_what_the_client_sent() -> None:
    cfg = config(claimPassBy="header:uid:X-User-Id,query:role:role,cookie:uid:uid")
    claims = {"uid": "u1", "role": ["a", "b"]}
    headers, query = pass_claims(
        cfg, claims, [(b"x-user-id", b"forged"), (b"cookie", b"uid=forged; k=v")], b"role=admin&x=1"
    )
    assert (b"x-user-id", b"u1") in headers
    assert (b"x-user-id", b"forged") not in headers
    assert (b"cookie", b"uid=u1; k=v") in headers
    assert sorted(query.decode().split("&")) == ["role=%5B%22a%22%2C%22b%22%5D", "x=1"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"jwks": {"keys": []}}, "at least one key"),
        ({"jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}}, "alg"),
        ({"tokenLookup": ""}, "tokenLookup is required"),
        ({"tokenLookup": "body:x"}, "position"),
        ({"claimPassBy": "form:uid:uid"}, "not supported by fcd"),
        ({"whitelist": ["/a"], "blacklist": ["/b"]}, "both"),
        ({"whitelist": ["/a*/b"]}, "only at its end"),
    ],
)
def test_bad_auth_configs_are_refused_at_write_time(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        config(**fields)
    assert why in e.value.message


def test_trigger_config_needs_auth_config_for_jwt_only() -> None:
    http = {"authType": "jwt", "methods": ["GET"]}
    with pytest.raises(errors.InvalidArgument, match="authConfig is required"):
        validate_config("http", http)
    validate_config(
        "http",
        {
            **http,
            "authConfig": json.dumps({"jwks": {"keys": [jwk(KEY)]}, "tokenLookup": "query:jwt"}),
        },
    )
    with pytest.raises(errors.InvalidArgument, match="jwt only"):
        validate_config("http", {"authType": "anonymous", "methods": ["GET"], "authConfig": "{}"})
