"""Provision and on-demand configs of a function (spec §3 routes 36-42, §4.7).

Both are stored per ``service.qualifier/function`` (kinds ``provision`` and ``on_demand``, see
:mod:`fcd.api.lookup`) and validated as FC validates them. The invoke path reads the
``on_demand`` documents to cap a function's instances. Provision configs are kept for the
instance manager, which does not keep provisioned instances yet: ``current``, what fcd actually
runs, is 0 until it does.
"""

from __future__ import annotations

import datetime
import sqlite3

import msgspec
from croniter import croniter
from quart import Blueprint, Response

from fcd import errors, wire
from fcd.api import lookup
from fcd.api.context import ctx
from fcd.api.http import (
    body,
    check_if_match,
    check_name,
    if_match_header,
    json_response,
    list_query,
    no_content,
    query_int,
    query_str,
    split_qualifier,
)
from fcd.store import docs
from fcd.wire.configs import (
    OnDemandConfig,
    OnDemandInput,
    OnDemandList,
    ProvisionConfig,
    ProvisionInput,
    ProvisionList,
    ScheduledAction,
    TargetTrackingPolicy,
)

routes = Blueprint("provision", __name__, url_prefix="/2016-08-15")

# FC's limits on a provision config (spec §8, the Java SDK's tests).
MAX_TARGET = 10000
# Scheduled actions, and tracking policies likewise, per config.
MAX_ENTRIES = 100
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
UTC_EXAMPLE = "2020-10-10T10:10:10Z"
METRIC_TYPES = (
    "ProvisionedConcurrencyUtilization",
    "CPUUtilization",
    "GPUMemUtilization",
    "GPUSMUtilization",
)
# Qualifiers are alias names (128 characters at most) or LATEST.
MAX_QUALIFIER = 128

_provision_decoder = msgspec.json.Decoder(ProvisionConfig)
_on_demand_decoder = msgspec.json.Decoder(OnDemandConfig)


# pure decisions -----------------------------------------------------------------------------
def config_qualifier(qualifier: str | None) -> str:
    """The qualifier a provision or on-demand config is kept under: an alias name or LATEST.

    Raises:
        errors.InvalidArgument: a version id or a malformed name.
    """
    if qualifier is None or qualifier in ("", lookup.LATEST):
        return lookup.LATEST
    if qualifier.isdigit():
        raise errors.InvalidArgument(
            f"qualifier '{qualifier}' is a version: provision and on-demand configs take an "
            "alias or LATEST"
        )
    return check_name("qualifier", qualifier, MAX_QUALIFIER)


def provision_key(service: str, qualifier: str, function: str) -> str:
    """The document name; ``#`` never occurs in names, so ``svc#`` prefixes are exact."""
    return f"{service}#{qualifier}#{function}"


def check_utc(field: str, value: str | None) -> None:
    """Raises: errors.InvalidArgument with FC's message (Java SDK test scheduledActionValidate2)."""
    if value is None:
        return
    try:
        datetime.datetime.strptime(value, UTC_FORMAT)
    except ValueError:
        raise errors.InvalidArgument(
            f"The {field} is not in UTC time format (example: '{UTC_EXAMPLE}', actual: '{value}')"
        ) from None


def valid_schedule(expression: str) -> bool:
    """``at(<UTC time>)`` or ``cron(<6 fields, seconds first>)``."""
    if expression.startswith("at(") and expression.endswith(")"):
        try:
            datetime.datetime.strptime(expression[3:-1], UTC_FORMAT)
        except ValueError:
            return False
        return True
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1]
        return len(fields.split()) == 6 and bool(
            croniter.is_valid(fields, second_at_beginning=True)
        )
    return False


def check_target(field: str, value: int) -> None:
    """Raises: errors.InvalidArgument when ``value`` is outside 0..10000."""
    if not 0 <= value <= MAX_TARGET:
        raise errors.InvalidArgument(f"{field} must be between 0 and {MAX_TARGET}, got {value}")


def check_entries(
    entries: list[ScheduledAction] | list[TargetTrackingPolicy], field: str, noun: str
) -> None:
    """The checks every scheduled action and tracking policy shares, in FC's order: how many,
    unique names, UTC times. ``field`` is the list's wire name (``ScheduledActions``), ``noun``
    what the Java SDK's test messages call one entry (``action``).

    Raises:
        errors.InvalidArgument
    """
    if len(entries) > MAX_ENTRIES:
        raise errors.InvalidArgument(
            f"{field} contains too many values (max: {MAX_ENTRIES}, actual: {len(entries)})"
        )
    seen: set[str] = set()
    for entry in entries:
        if not entry.name:
            raise errors.InvalidArgument(f"every {noun} in {field} needs a name")
        if entry.name in seen:
            raise errors.InvalidArgument(
                f"Duplicate {noun} name '{entry.name}' in {field} is not allowed"
            )
        seen.add(entry.name)
        check_utc("StartTime", entry.start_time)
        check_utc("EndTime", entry.end_time)


def check_scheduled_actions(actions: list[ScheduledAction]) -> None:
    """FC's checks with the messages the Java SDK's tests pin (scheduledActionValidate1-4).

    Raises:
        errors.InvalidArgument
    """
    check_entries(actions, "ScheduledActions", "action")
    for action in actions:
        if not valid_schedule(action.schedule_expression):
            raise errors.InvalidArgument(
                "The ScheduleExpression should be atTime or cron expression (example: "
                "['at(2020-10-10T10:10:10Z)', 'cron(0 */30 * * * *)'], "
                f"actual: '{action.schedule_expression}')"
            )
        check_target(f"The Target of ScheduledAction '{action.name}'", action.target)


def check_tracking_policies(policies: list[TargetTrackingPolicy]) -> None:
    """Raises: errors.InvalidArgument naming the policy and the field."""
    check_entries(policies, "TargetTrackingPolicies", "policy")
    for policy in policies:
        if policy.metric_type not in METRIC_TYPES:
            raise errors.InvalidArgument(
                f"The MetricType of TargetTrackingPolicy '{policy.name}' should be one of "
                f"{list(METRIC_TYPES)}, actual: '{policy.metric_type}'"
            )
        if not 0 < policy.metric_target <= 1:
            raise errors.InvalidArgument(
                f"The MetricTarget of TargetTrackingPolicy '{policy.name}' should be in (0, 1], "
                f"actual: {policy.metric_target}"
            )
        check_target(
            f"The MinCapacity of TargetTrackingPolicy '{policy.name}'", policy.min_capacity
        )
        check_target(
            f"The MaxCapacity of TargetTrackingPolicy '{policy.name}'", policy.max_capacity
        )
        if policy.min_capacity > policy.max_capacity:
            raise errors.InvalidArgument(
                f"The MinCapacity of TargetTrackingPolicy '{policy.name}' "
                f"({policy.min_capacity}) is greater than its MaxCapacity ({policy.max_capacity})"
            )


def apply_provision(
    current: ProvisionConfig | None, change: ProvisionInput, resource: str
) -> ProvisionConfig:
    """The config after a put: absent (or null) lists and flags keep their stored value.

    Raises:
        errors.InvalidArgument: a value out of range, or a malformed action or policy.
    """
    config = current or ProvisionConfig(resource=resource)
    if change.target is None and current is None:
        raise errors.InvalidArgument("target is required")
    updates: dict[str, object] = {}
    if change.target is not None:
        check_target("target", change.target)
        updates["target"] = change.target
    if change.scheduled_actions is not None:
        check_scheduled_actions(change.scheduled_actions)
        updates["scheduled_actions"] = change.scheduled_actions
    if change.target_tracking_policies is not None:
        check_tracking_policies(change.target_tracking_policies)
        updates["target_tracking_policies"] = change.target_tracking_policies
    if change.always_allocate_cpu is not None:
        updates["always_allocate_cpu"] = change.always_allocate_cpu
    return msgspec.structs.replace(config, resource=resource, **updates)


def is_empty(config: ProvisionConfig) -> bool:
    """``target: 0`` with nothing scheduled is how FC removes a provision config."""
    return (
        config.target == 0 and not config.scheduled_actions and not config.target_tracking_policies
    )


# provision routes ---------------------------------------------------------------------------
def _resource(service: str, qualifier: str, function: str) -> str:
    return f"{ctx().config.account_id}#{service}#{qualifier}#{function}"


def _check_provision_target(
    conn: sqlite3.Connection, service: str, qualifier: str, fn: str
) -> None:
    """The function must exist as the qualifier sees it.

    Raises:
        errors.ServiceNotFound, errors.AliasNotFound, errors.FunctionNotFound
    """
    lookup.function_body(conn, service, None if qualifier == lookup.LATEST else qualifier, fn)


@routes.put("/services/<service_and_qualifier>/functions/<function>/provision-config")
async def put_provision_config(service_and_qualifier: str, function: str) -> Response:
    service, raw_qualifier = split_qualifier(service_and_qualifier)
    qualifier = config_qualifier(raw_qualifier)
    change = await body(ProvisionInput)
    resource = _resource(service, qualifier, function)
    name = provision_key(service, qualifier, function)

    def tx(conn: sqlite3.Connection) -> ProvisionConfig:
        _check_provision_target(conn, service, qualifier, function)
        stored = docs.get(conn, lookup.PROVISION, "", name)
        current = _provision_decoder.decode(stored.body) if stored else None
        config = apply_provision(current, change, resource)
        if is_empty(config):
            docs.delete(conn, lookup.PROVISION, "", name)
        else:
            docs.put(conn, lookup.PROVISION, "", name, wire.encode(config))
        return config

    return json_response(await ctx().store.write(tx))


@routes.get("/services/<service_and_qualifier>/functions/<function>/provision-config")
async def get_provision_config(service_and_qualifier: str, function: str) -> Response:
    """A function with no provision config reads as ``target: 0`` (what a put of 0 leaves)."""
    service, raw_qualifier = split_qualifier(service_and_qualifier)
    qualifier = config_qualifier(raw_qualifier)
    resource = _resource(service, qualifier, function)

    def read(conn: sqlite3.Connection) -> ProvisionConfig:
        _check_provision_target(conn, service, qualifier, function)
        stored = docs.get(conn, lookup.PROVISION, "", provision_key(service, qualifier, function))
        if stored is None:
            return ProvisionConfig(resource=resource)
        return msgspec.structs.replace(_provision_decoder.decode(stored.body), resource=resource)

    return json_response(ctx().store.read(read))


@routes.get("/provision-configs")
async def list_provision_configs() -> Response:
    service = query_str("serviceName")
    qualifier = query_str("qualifier")
    if qualifier and not service:
        raise errors.InvalidArgument("serviceName is required when qualifier is given")
    prefix = ""
    if service:
        prefix = f"{service}#" + (f"{qualifier}#" if qualifier else "")
    next_token = query_str("nextToken")
    limit = query_int("limit")
    found = ctx().store.read(
        lambda conn: docs.page(
            conn, lookup.PROVISION, "", prefix=prefix, next_token=next_token, limit=limit
        )
    )
    account = ctx().config.account_id
    configs = [
        msgspec.structs.replace(_provision_decoder.decode(d.body), resource=f"{account}#{d.name}")
        for d in found.docs
    ]
    return json_response(ProvisionList(configs, found.next_token))


# on-demand routes ---------------------------------------------------------------------------
def on_demand_key(service: str, qualifier: str, function: str) -> str:
    """The document name, which is also the ``resource`` FC returns and lists by prefix."""
    return f"services/{service}.{qualifier}/functions/{function}"


def _on_demand_not_found(resource: str) -> errors.OnDemandConfigNotFound:
    return errors.OnDemandConfigNotFound(f"on-demand config of '{resource}' does not exist")


@routes.put("/services/<service_and_qualifier>/functions/<function>/on-demand-config")
async def put_on_demand_config(service_and_qualifier: str, function: str) -> Response:
    """The alias itself need not exist yet (the Java SDK's test configures unborn aliases);
    the function must."""
    service, raw_qualifier = split_qualifier(service_and_qualifier)
    resource = on_demand_key(service, config_qualifier(raw_qualifier), function)
    change = await body(OnDemandInput)
    count = change.maximum_instance_count
    if count is None:
        raise errors.InvalidArgument("maximumInstanceCount is required")
    cap = ctx().config.instances.max_total
    if not 0 <= count <= cap:
        raise errors.InvalidArgument(
            f"maximumInstanceCount must be between 0 and {cap} (this host's instance cap), "
            f"got {count}"
        )
    config = OnDemandConfig(resource=resource, maximum_instance_count=count)
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> str:
        lookup.function_doc(conn, service, function)
        stored = docs.get(conn, lookup.ON_DEMAND, "", resource)
        if wanted is not None:
            check_if_match(wanted, stored.etag if stored else "")
        return docs.put(conn, lookup.ON_DEMAND, "", resource, wire.encode(config))

    etag = await ctx().store.write(tx)
    return json_response(config, etag=etag)


@routes.get("/services/<service_and_qualifier>/functions/<function>/on-demand-config")
async def get_on_demand_config(service_and_qualifier: str, function: str) -> Response:
    service, raw_qualifier = split_qualifier(service_and_qualifier)
    resource = on_demand_key(service, config_qualifier(raw_qualifier), function)

    def read(conn: sqlite3.Connection) -> docs.Doc:
        stored = docs.get(conn, lookup.ON_DEMAND, "", resource)
        if stored is None:
            lookup.function_doc(conn, service, function)
            raise _on_demand_not_found(resource)
        return stored

    stored = ctx().store.read(read)
    return json_response(_on_demand_decoder.decode(stored.body), etag=stored.etag)


@routes.delete("/services/<service_and_qualifier>/functions/<function>/on-demand-config")
async def delete_on_demand_config(service_and_qualifier: str, function: str) -> Response:
    """Works after the function is gone too, so a stale config can always be removed."""
    service, raw_qualifier = split_qualifier(service_and_qualifier)
    resource = on_demand_key(service, config_qualifier(raw_qualifier), function)
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        stored = docs.get(conn, lookup.ON_DEMAND, "", resource)
        if stored is None:
            raise _on_demand_not_found(resource)
        check_if_match(wanted, stored.etag)
        docs.delete(conn, lookup.ON_DEMAND, "", resource)

    await ctx().store.write(tx)
    return no_content()


@routes.get("/on-demand-configs")
async def list_on_demand_configs() -> Response:
    query = list_query()
    found = ctx().store.read(lambda conn: docs.page(conn, lookup.ON_DEMAND, "", **query))
    if not found.docs:
        return json_response(OnDemandList())
    configs = [_on_demand_decoder.decode(d.body) for d in found.docs]
    return json_response(OnDemandList(configs, found.next_token))
