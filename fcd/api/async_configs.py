"""Async invoke configs and stateful async invocations (spec §3 routes 43-49, §4.8, §5.4).

An async invoke config is stored per function and qualifier (kind ``async_config``, scope
``svc/fn``, name = qualifier) for the async queue to read: retries, event age, destinations and
whether invocations are recorded statefully. The stateful-invocation routes read and stop the
async queue's rows (:mod:`fcd.invocations.async_records`).
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse

import msgspec
from quart import Blueprint, Response

from fcd import egress, errors, wire
from fcd.api import lookup
from fcd.api.context import ctx
from fcd.api.http import (
    body,
    json_response,
    no_content,
    query_int,
    query_str,
    split_qualifier,
)
from fcd.invocations import async_records, destinations
from fcd.store import docs
from fcd.wire.async_invocations import StatefulInvocation, StatefulInvocationPage
from fcd.wire.configs import (
    AsyncConfig,
    AsyncConfigInput,
    AsyncConfigList,
    Destination,
    DestinationConfig,
)

routes = Blueprint("async_configs", __name__, url_prefix="/2016-08-15/services")

# Valid ranges of FC's async config (PutAsyncInvokeConfigInput docs).
MAX_EVENT_AGE_SECONDS = 604800
MAX_RETRY_ATTEMPTS = 8

# MNS queues/topics and EventBridge buses: fcd has no such service to deliver to, so they are
# refused at write time rather than stored and never delivered.
_FOREIGN_DESTINATION = re.compile(r"acs:(?P<service>mns|eventbridge):\S*")
_HTTP_DESTINATION = re.compile(r"https?://[^\s/]+\S*")

_config_decoder = msgspec.json.Decoder(AsyncConfig)


# pure decisions -----------------------------------------------------------------------------
def check_destination(
    destination: str,
    region: str,
    account_id: str,
    *,
    allow: tuple[egress.Rule, ...] = (),
    local: frozenset[egress.IPAddress] = frozenset(),
) -> None:
    """A destination fcd can name: a function of this region and account, an http(s) URL
    (fcd's extension: the invocation record is POSTed there).

    An http(s) URL whose host is a literal address the daemon must not connect to (loopback,
    link-local, one of ``local``, the host's addresses; :mod:`fcd.egress`) is refused here
    unless ``allow`` lets it through; names are checked when the record is sent.

    Raises:
        errors.InvalidArgument: anything else (an MNS or EventBridge ARN: no such service
            here), a function ARN of another region or account, or a forbidden literal address
            (the message names the config line that allows it).
    """
    if destinations.is_function_arn(destination):
        if destinations.parse_function(destination, region, account_id) is None:
            raise errors.InvalidArgument(
                f"destination '{destination}' is not in this fcd: functions here are "
                f"acs:fc:{region}:{account_id}:services/<service>[.<qualifier>]/functions/<name>"
                " (or acs:fc:::services/<service>[.<qualifier>]/functions/<name>)"
            )
        return
    if _HTTP_DESTINATION.fullmatch(destination):
        _check_http_target(destination, allow, local)
        return
    foreign = _FOREIGN_DESTINATION.match(destination)
    if foreign is not None:
        name = "MNS" if foreign["service"] == "mns" else "EventBridge"
        raise errors.InvalidArgument(
            f"destination '{destination}' is not supported: fcd has no {name} to deliver to; "
            f"use a function (acs:fc:{region}:{account_id}:services/<service>[.<qualifier>]"
            "/functions/<name>) that forwards the record, or an http(s) URL"
        )
    raise errors.InvalidArgument(
        f"destination '{destination}' is invalid: expected "
        f"acs:fc:{region}:{account_id}:services/<service>[.<qualifier>]/functions/<name> "
        "or an http(s) URL"
    )


def _check_http_target(
    url: str, allow: tuple[egress.Rule, ...], local: frozenset[egress.IPAddress]
) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise errors.InvalidArgument(f"destination '{url}' is not a valid URL") from None
    address = egress.literal_address(parts.hostname or "")
    if address is None:
        return
    why = egress.refusal(
        address, port, allow=allow, host_addresses=local, internal=destinations.INTERNAL
    )
    if why is not None:
        raise errors.InvalidArgument(
            f"destination '{url}' is {why}: fcd does not send records to this host or its "
            f"local networks; the operator can allow it with {egress.how_to_allow(address, port)}"
        )


def _clean_destinations(
    config: DestinationConfig,
    region: str,
    account_id: str,
    allow: tuple[egress.Rule, ...],
    local: frozenset[egress.IPAddress],
) -> DestinationConfig:
    """Empty destinations count as unset; the rest must be valid."""
    kept: dict[str, Destination | None] = {}
    for field in ("on_success", "on_failure"):
        target: Destination | None = getattr(config, field)
        if target is not None and target.destination:
            check_destination(target.destination, region, account_id, allow=allow, local=local)
            kept[field] = target
        else:
            kept[field] = None
    return DestinationConfig(**kept)


def apply_async_config(
    current: AsyncConfig,
    change: AsyncConfigInput,
    region: str,
    account_id: str,
    *,
    allow: tuple[egress.Rule, ...] = (),
    local: frozenset[egress.IPAddress] = frozenset(),
) -> AsyncConfig:
    """A put: given fields replace the stored ones, absent ones are kept (FC's documented rule).

    Raises:
        errors.InvalidArgument: a limit out of range or an invalid destination.
    """
    updates: dict[str, object] = {}
    age = change.max_async_event_age_in_seconds
    if age is not None:
        if not 1 <= age <= MAX_EVENT_AGE_SECONDS:
            raise errors.InvalidArgument(
                f"maxAsyncEventAgeInSeconds must be between 1 and {MAX_EVENT_AGE_SECONDS}, "
                f"got {age}"
            )
        updates["max_async_event_age_in_seconds"] = age
    retries = change.max_async_retry_attempts
    if retries is not None:
        if not 0 <= retries <= MAX_RETRY_ATTEMPTS:
            raise errors.InvalidArgument(
                f"maxAsyncRetryAttempts must be between 0 and {MAX_RETRY_ATTEMPTS}, got {retries}"
            )
        updates["max_async_retry_attempts"] = retries
    if change.destination_config is not None:
        updates["destination_config"] = _clean_destinations(
            change.destination_config, region, account_id, allow, local
        )
    if change.stateful_invocation is not None:
        updates["stateful_invocation"] = change.stateful_invocation
    return msgspec.structs.replace(current, **updates)


# async invoke config routes -----------------------------------------------------------------
def _target(service_and_qualifier: str) -> tuple[str, str]:
    """``svc`` → ``(svc, "LATEST")``: FC's default qualifier for async configs."""
    service, qualifier = split_qualifier(service_and_qualifier)
    return service, qualifier or lookup.LATEST


def _check_function(conn: sqlite3.Connection, service: str, qualifier: str, fn: str) -> None:
    """Raises: errors.ServiceNotFound, errors.VersionNotFound, errors.AliasNotFound,
    errors.FunctionNotFound (as the qualifier sees the function)."""
    lookup.function_body(conn, service, None if qualifier == lookup.LATEST else qualifier, fn)


def _not_exists(service: str, function: str) -> errors.AsyncConfigNotExists:
    return errors.AsyncConfigNotExists(f"AsyncConfig for {service}:{function} does not exist.")


@routes.put("/<service_and_qualifier>/functions/<function>/async-invoke-config")
async def put_async_config(service_and_qualifier: str, function: str) -> Response:
    service, qualifier = _target(service_and_qualifier)
    change = await body(AsyncConfigInput)
    context = ctx()
    now = wire.timestamp(context.clock())
    region, account_id = context.config.region, context.config.account_id
    scope = lookup.function_scope(service, function)
    allow = egress.parse_allow(context.config.async_.destination_allow)
    local = destinations.host_addresses()

    def tx(conn: sqlite3.Connection) -> AsyncConfig:
        _check_function(conn, service, qualifier, function)
        stored = docs.get(conn, lookup.ASYNC_CONFIG, scope, qualifier)
        current = (
            _config_decoder.decode(stored.body)
            if stored
            else AsyncConfig(service, function, qualifier, created_time=now, last_modified_time=now)
        )
        config = apply_async_config(current, change, region, account_id, allow=allow, local=local)
        config = msgspec.structs.replace(config, last_modified_time=now)
        docs.put(conn, lookup.ASYNC_CONFIG, scope, qualifier, wire.encode(config))
        return config

    return json_response(await context.store.write(tx))


@routes.get("/<service_and_qualifier>/functions/<function>/async-invoke-config")
async def get_async_config(service_and_qualifier: str, function: str) -> Response:
    service, qualifier = _target(service_and_qualifier)

    def read(conn: sqlite3.Connection) -> bytes:
        stored = docs.get(
            conn, lookup.ASYNC_CONFIG, lookup.function_scope(service, function), qualifier
        )
        if stored is None:
            _check_function(conn, service, qualifier, function)
            raise _not_exists(service, function)
        return stored.body

    return json_response(_config_decoder.decode(ctx().store.read(read)))


@routes.delete("/<service_and_qualifier>/functions/<function>/async-invoke-config")
async def delete_async_config(service_and_qualifier: str, function: str) -> Response:
    """Works after the function is gone too, so a stale config can always be removed."""
    service, qualifier = _target(service_and_qualifier)

    def tx(conn: sqlite3.Connection) -> None:
        if not docs.delete(
            conn, lookup.ASYNC_CONFIG, lookup.function_scope(service, function), qualifier
        ):
            raise _not_exists(service, function)

    await ctx().store.write(tx)
    return no_content()


@routes.get("/<service_and_qualifier>/functions/<function>/async-invoke-configs")
async def list_async_configs(service_and_qualifier: str, function: str) -> Response:
    """Every qualifier's config, by qualifier name; ``nextToken`` is ``""`` when finished."""
    service, _ = split_qualifier(service_and_qualifier)
    next_token = query_str("nextToken")
    limit = query_int("limit")

    def read(conn: sqlite3.Connection) -> docs.Page:
        found = docs.page(
            conn,
            lookup.ASYNC_CONFIG,
            lookup.function_scope(service, function),
            next_token=next_token,
            limit=limit,
        )
        if not found.docs:
            lookup.function_doc(conn, service, function)
        return found

    found = ctx().store.read(read)
    configs = [_config_decoder.decode(d.body) for d in found.docs] or None
    return json_response(AsyncConfigList(configs, found.next_token or ""))


# stateful async invocations -----------------------------------------------------------------
def _list_query(qualifier: str) -> async_records.ListQuery:
    """Route 48's query parameters.

    Raises:
        errors.InvalidArgument: a bad limit, sort order, status, time or token.
    """
    order = query_str("sortOrderByTime").lower() or "desc"
    if order not in async_records.SORT_ORDERS:
        raise errors.InvalidArgument(f"sortOrderByTime must be asc or desc, got '{order}'")
    status = query_str("status")
    if status and status not in _STATUSES:
        raise errors.InvalidArgument(
            f"status '{status}' is invalid: expected one of {', '.join(_STATUSES)}"
        )
    token = query_str("nextToken")
    if token and not (token.isascii() and token.isdigit()):
        raise errors.InvalidArgument(f"nextToken '{token}' is invalid")
    return async_records.ListQuery(
        qualifier=qualifier,
        status=status,
        started_begin_ms=query_int("startedTimeBegin"),
        started_end_ms=query_int("startedTimeEnd"),
        prefix=query_str("invocationIdPrefix"),
        descending=order == "desc",
        include_payload=query_str("includePayload").lower() == "true",
        limit=docs.clamp_limit(query_int("limit")),
        next_token=token,
    )


_STATUSES = (
    "Enqueued",
    "Dequeued",
    "Running",
    "Succeeded",
    "Failed",
    "Stopped",
    "Stopping",
    "Expired",
)


@routes.get("/<service_and_qualifier>/functions/<function>/stateful-async-invocations")
async def list_stateful_invocations(service_and_qualifier: str, function: str) -> Response:
    """Stateful records of the function (of the path's qualifier, when it names one)."""
    service, qualifier = split_qualifier(service_and_qualifier)
    query = _list_query(qualifier or "")

    def read(
        conn: sqlite3.Connection,
    ) -> tuple[list[StatefulInvocation], str]:
        lookup.function_body(conn, service, qualifier, function)
        return async_records.page(conn, service, function, query)

    found, next_token = ctx().store.read(read)
    return json_response(StatefulInvocationPage(found or None, next_token or None))


@routes.get(
    "/<service_and_qualifier>/functions/<function>/stateful-async-invocations/<invocation_id>"
)
async def get_stateful_invocation(
    service_and_qualifier: str, function: str, invocation_id: str
) -> Response:
    service, qualifier = split_qualifier(service_and_qualifier)

    def read(conn: sqlite3.Connection) -> StatefulInvocation:
        lookup.function_body(conn, service, qualifier, function)
        return async_records.get(conn, service, qualifier or "", function, invocation_id)

    return json_response(ctx().store.read(read))


@routes.put(
    "/<service_and_qualifier>/functions/<function>/stateful-async-invocations/<invocation_id>"
)
async def stop_stateful_invocation(
    service_and_qualifier: str, function: str, invocation_id: str
) -> Response:
    """Stop: 200 with an empty body; 400 when finished, 412 when already stopped."""
    service, qualifier = split_qualifier(service_and_qualifier)
    now = ctx().clock()

    def tx(conn: sqlite3.Connection) -> None:
        lookup.function_body(conn, service, qualifier, function)
        async_records.stop(conn, service, qualifier or "", function, invocation_id, now)

    await ctx().store.write(tx, notify=False)
    return Response(b"", status=200, content_type="text/plain")
