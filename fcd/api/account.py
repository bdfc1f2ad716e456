"""Account-level routes, instance listing, and the FC routes a single host cannot serve.

Answered from what fcd has: account settings and configs from the config file, the functions with
stateful async invocation from their async configs, reserved capacity (none: nothing is sold
here) and instances (none until the instance manager reports them).

Answered with ``400 PathNotSupported`` naming the reason, never with a 500 (which the Python SDK
retries for half a minute): temporary OSS credentials (there is no OSS), VPC bindings (there is
no VPC), event sources (no cloud event buses) and instance exec.
"""

from __future__ import annotations

import sqlite3

import msgspec
from quart import Blueprint, Response, request

from fcd import errors
from fcd.api import lookup
from fcd.api.context import ctx
from fcd.api.http import json_response, query_int, query_str, split_qualifier
from fcd.store import docs
from fcd.wire.account import (
    AccountSettings,
    FunctionRef,
    FunctionRefList,
    InstanceList,
    ReservedCapacityList,
)

routes = Blueprint("account", __name__, url_prefix="/2016-08-15")


class _Stateful(msgspec.Struct, rename="camel"):
    """The part of an async config document this module reads."""

    stateful_invocation: bool = False


_stateful_decoder = msgspec.json.Decoder(_Stateful)


def _not_supported(reason: str) -> errors.PathNotSupported:
    return errors.PathNotSupported(
        f"'{request.method}' against '{request.path}' is not supported by fcd: {reason}"
    )


# account --------------------------------------------------------------------------------------
def availability_zones(region: str) -> list[str]:
    """One host is one zone; it is named as FC names zones (``cn-hangzhou-a``)."""
    return [f"{region}-a"]


def account_configs(names: list[str], code_size: int) -> dict[str, str]:
    """The account configs asked for, as FC returns them (decimal strings).

    fcd has one code size limit for every instance type, so the GPU and "enhanced" limits equal
    it. Names fcd does not know are left out rather than refused: the Node SDK's own test asks
    for several at once.
    """
    known = {
        "CodeSizeLimit": str(code_size),
        "EnhancedCodeSizeLimit": str(code_size),
        "GPUCodeSizeLimit": str(code_size),
    }
    if not names:
        return known
    return {name: known[name] for name in names if name in known}


@routes.get("/account-settings")
async def get_account_settings() -> Response:
    return json_response(AccountSettings(availability_zones(ctx().config.region)))


@routes.get("/accountConfigs")
async def get_account_configs() -> Response:
    names = [name for name in request.args.getlist("config") if name]
    return json_response(account_configs(names, ctx().config.limits.code_size))


@routes.get("/reservedCapacities")
async def list_reserved_capacities() -> Response:
    """Reserved capacity is a billing product of FC; a host owns all of its capacity."""
    query_int("limit")
    return json_response(ReservedCapacityList([]))


@routes.get("/tempBucketToken")
async def get_temp_bucket_token() -> Response:
    raise _not_supported("there is no OSS bucket to upload to; send code inline as zipFile")


@routes.get("/services/<service>/tempCodeBucketToken")
async def get_temp_code_bucket_token(service: str) -> Response:
    raise _not_supported("there is no OSS bucket to upload to; send code inline as zipFile")


# stateful async invocation functions ----------------------------------------------------------
def _ref_key(scope: str, qualifier: str) -> str:
    """The list token: names contain no ``#``, so it splits back unambiguously."""
    return f"{scope}#{qualifier}"


def stateful_functions(
    configs: list[tuple[str, docs.Doc]], after: str, limit: int
) -> tuple[list[FunctionRef], str]:
    """One page of the functions whose async config enables stateful invocations.

    ``configs`` are ``(scope, doc)`` pairs in (scope, name) order; ``after`` is a token from a
    previous page (the key of the first entry to return).
    """
    start = tuple(after.rpartition("#")[::2]) if after else ("", "")
    refs: list[FunctionRef] = []
    for scope, doc in configs:
        if (scope, doc.name) < start or not _stateful_decoder.decode(doc.body).stateful_invocation:
            continue
        if len(refs) == limit:
            return refs, _ref_key(scope, doc.name)
        service, _, function = scope.partition("/")
        refs.append(FunctionRef(service, function, doc.name))
    return refs, ""


@routes.get("/stateful-async-invocation-functions")
async def list_stateful_invocation_functions() -> Response:
    limit = docs.clamp_limit(query_int("limit"))
    after = query_str("nextToken")
    configs = ctx().store.read(lambda conn: docs.all_of_kind(conn, lookup.ASYNC_CONFIG))
    refs, next_token = stateful_functions(configs, after, limit)
    return json_response(FunctionRefList(refs or None, next_token))


# instances --------------------------------------------------------------------------------------
@routes.get("/services/<service_and_qualifier>/functions/<function>/instances")
async def list_instances(service_and_qualifier: str, function: str) -> Response:
    """No instance is reported until the instance manager exists; the function must."""
    service, qualifier = split_qualifier(service_and_qualifier)
    query_int("limit")

    def read(conn: sqlite3.Connection) -> None:
        lookup.function_body(conn, service, qualifier, function)

    ctx().store.read(read)
    return json_response(InstanceList([]))


@routes.get("/services/<service_and_qualifier>/functions/<function>/instances/<instance>/exec")
async def instance_exec(service_and_qualifier: str, function: str, instance: str) -> Response:
    raise _not_supported("running commands inside instances is not available")


# VPC bindings and event sources -----------------------------------------------------------------
_NO_VPC = "a single host has no VPC to bind"
_NO_EVENT_SOURCES = "there are no cloud event sources; use triggers"


@routes.get("/services/<service>/bindings")
@routes.post("/services/<service>/bindings")
@routes.post("/services/<service>/binding")
@routes.delete("/services/<service>/binding")
async def vpc_bindings(service: str) -> Response:
    raise _not_supported(_NO_VPC)


@routes.delete("/services/<service>/bindings/<vpc_id>")
async def delete_vpc_binding(service: str, vpc_id: str) -> Response:
    raise _not_supported(_NO_VPC)


@routes.get("/services/<service>/functions/<function>/event-sources")
@routes.post("/services/<service>/functions/<function>/event-sources")
async def event_sources(service: str, function: str) -> Response:
    raise _not_supported(_NO_EVENT_SOURCES)


@routes.get("/services/<service>/functions/<function>/event-sources/<path:source_arn>")
@routes.delete("/services/<service>/functions/<function>/event-sources/<path:source_arn>")
async def event_source(service: str, function: str, source_arn: str) -> Response:
    raise _not_supported(_NO_EVENT_SOURCES)
