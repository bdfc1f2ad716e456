"""Trigger shapes (spec §4.3) and the rules a ``triggerConfig`` must follow.

``triggerConfig`` is an opaque JSON object owned by the client: it is stored and echoed exactly
as sent (official tests compare it with ``==``), so it is typed ``Any`` and never goes through
the case-insensitive key matching of :func:`fcd.wire.decode`. Validation reads its keys
case-insensitively (Go sends ``AuthType`` where Python sends ``authType``) without rewriting
them, and checks only what fcd will later act on: HTTP auth types and methods, timer schedules,
and the OSS event list and filter. The types whose events come from a cloud service fcd does not
have (log, tablestore, cdn_events, mns_topic, eventbridge, rds) are refused: stored, they would
never fire.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

import msgspec
from croniter import croniter

from fcd import errors
from fcd.wire import jwt_auth

HTTP = "http"
TIMER = "timer"
OSS = "oss"
# Every type an official SDK can create (spec §4.3); fcd fires http and timer itself.
TRIGGER_TYPES = frozenset(
    {"oss", "log", "timer", "http", "tablestore", "cdn_events", "mns_topic", "eventbridge", "rds"}
)
# The event sources of the types fcd cannot fire: each is an Alibaba Cloud service that one host
# does not have, so a trigger of that type would be stored and never fire. Refused at write time.
UNFIRED_SOURCES = {
    "log": "Alibaba Cloud Log Service (SLS)",
    "tablestore": "Tablestore",
    "cdn_events": "Alibaba Cloud CDN",
    "mns_topic": "Message Service (MNS)",
    "eventbridge": "EventBridge",
    "rds": "ApsaraDB RDS",
}
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")
HTTP_AUTH_TYPES = ("anonymous", "function", "jwt")


class TriggerInput(msgspec.Struct, rename="camel"):
    """Create and update body; Python always sends every key, with ``"qualifier": null``."""

    trigger_name: str | None = None
    description: str | None = None
    trigger_type: str | None = None
    trigger_config: Any = None
    source_arn: str | None = None
    invocation_role: str | None = None
    qualifier: str | None = None


class Trigger(msgspec.Struct, rename="camel"):
    """A stored trigger and the response of Create/Get/Update/List.

    ``urlInternet``/``urlIntranet`` are not stored: they are filled in per response for HTTP
    triggers from the host the client used.
    """

    trigger_name: str
    trigger_id: str
    trigger_type: str
    trigger_config: Any
    created_time: str
    last_modified_time: str
    description: str = ""
    # Always null for HTTP triggers, whatever the client sent (PYT:trigger_test.py).
    source_arn: str | None = None
    invocation_role: str = ""
    qualifier: str = "LATEST"
    url_internet: str | None = None
    url_intranet: str | None = None


class TriggerList(msgspec.Struct, rename="camel", omit_defaults=True):
    triggers: list[Trigger]
    next_token: str | None = None


# Validation ------------------------------------------------------------------------------------
def validate_config(trigger_type: str, config: Any) -> None:
    """Check ``config`` for ``trigger_type``; leave it untouched.

    Raises:
        errors.InvalidArgument: naming the offending field (``triggerConfig.methods`` …).
    """
    if trigger_type in UNFIRED_SOURCES:
        raise errors.InvalidArgument(
            f"triggerType {trigger_type!r} is not supported by fcd: its events come from "
            f"{UNFIRED_SOURCES[trigger_type]}, which a single host does not have. fcd fires "
            "http, timer and oss triggers (oss from its built-in bucket store or MinIO "
            "notifications); poll with a timer trigger, or invoke the function from the source"
        )
    if not isinstance(config, dict):
        raise errors.InvalidArgument("triggerConfig must be a JSON object")
    if trigger_type == HTTP:
        _validate_http(config)
    elif trigger_type == TIMER:
        _validate_timer(config)
    elif trigger_type == OSS:
        _validate_oss(config)


def config_value(config: dict[str, Any], key: str) -> Any:
    """``config[key]`` matched case-insensitively, with ``null`` as absent."""
    wanted = key.lower()
    for name, value in config.items():
        if name.lower() == wanted and value is not None:
            return value
    return None


def _validate_http(config: dict[str, Any]) -> None:
    auth_type = config_value(config, "authType")
    if auth_type not in HTTP_AUTH_TYPES:
        raise errors.InvalidArgument(
            f"triggerConfig.authType must be one of {', '.join(HTTP_AUTH_TYPES)}, got {auth_type!r}"
        )
    methods = config_value(config, "methods")
    if not isinstance(methods, list) or not methods:
        raise errors.InvalidArgument("triggerConfig.methods must be a non-empty list")
    for method in methods:
        if method not in HTTP_METHODS:
            raise errors.InvalidArgument(
                f"triggerConfig.methods contains {method!r}; allowed: {', '.join(HTTP_METHODS)}"
            )
    disable = config_value(config, "disableURLInternet")
    if disable is not None and not isinstance(disable, bool):
        raise errors.InvalidArgument("triggerConfig.disableURLInternet must be a boolean")
    if disable:
        raise errors.InvalidArgument(
            "triggerConfig.disableURLInternet is not supported: fcd has no internal network "
            "apart from the public one, so the trigger would stay reachable on every listener; "
            "use authType function or jwt to restrict who may call it"
        )
    auth_config = config_value(config, "authConfig")
    if auth_type == "jwt":
        jwt_auth.parse(auth_config)
    elif auth_config not in (None, "", {}):
        raise errors.InvalidArgument(
            f"triggerConfig.authConfig applies to authType jwt only, not {auth_type!r}"
        )


def _validate_timer(config: dict[str, Any]) -> None:
    expression = config_value(config, "cronExpression")
    if not isinstance(expression, str):
        raise errors.InvalidArgument("triggerConfig.cronExpression is required")
    parse_schedule(expression)
    payload = config_value(config, "payload")
    if payload is not None and not isinstance(payload, str):
        raise errors.InvalidArgument("triggerConfig.payload must be a string")
    enable = config_value(config, "enable")
    if enable is not None and not isinstance(enable, bool):
        raise errors.InvalidArgument("triggerConfig.enable must be a boolean")


# oss:ObjectCreated:*, oss:ObjectRemoved:DeleteObject, oss:ObjectModified:UpdateObjectMeta …
_OSS_EVENT = re.compile(r"oss:[A-Za-z]+:(\*|[A-Za-z]+)")


def _validate_oss(config: dict[str, Any]) -> None:
    events = config_value(config, "events")
    if not isinstance(events, list) or not events:
        raise errors.InvalidArgument("triggerConfig.events must be a non-empty list")
    for event in events:
        if not isinstance(event, str) or not _OSS_EVENT.fullmatch(event):
            raise errors.InvalidArgument(
                f"triggerConfig.events contains {event!r}; events look like "
                "'oss:ObjectCreated:*' or 'oss:ObjectRemoved:DeleteObject'"
            )
    filter_ = config_value(config, "filter")
    if filter_ is None:
        return
    if not isinstance(filter_, dict):
        raise errors.InvalidArgument("triggerConfig.filter must be an object")
    key = config_value(filter_, "key")
    if key is None:
        return
    if not isinstance(key, dict):
        raise errors.InvalidArgument("triggerConfig.filter.key must be an object")
    for part in ("prefix", "suffix"):
        value = config_value(key, part)
        if value is not None and not isinstance(value, str):
            raise errors.InvalidArgument(f"triggerConfig.filter.key.{part} must be a string")


# Timer schedules -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """A parsed ``cronExpression``: either a fixed period or a 6-field cron (seconds first)."""

    every_seconds: float | None = None
    cron: str | None = None
    timezone: str = "UTC"


_EVERY = re.compile(r"@every\s+((?:\d+(?:\.\d+)?[hms])+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_CRON_WRAPPED = re.compile(r"cron\((.*)\)", re.DOTALL)
_CRON_TZ = re.compile(r"CRON_TZ=(\S+)\s+(.*)", re.DOTALL)
CRON_FIELDS = 6


def parse_schedule(expression: str) -> Schedule:
    """Parse a timer trigger's ``cronExpression``.

    Accepted forms (FC's): ``@every 5m`` / ``@every 1h30m`` (units h, m, s), a 6-field cron with
    seconds first (``0 0 4 * * *``), the same wrapped as ``cron(0 0 4 * * *)``, and either cron
    form prefixed with ``CRON_TZ=<IANA zone> ``. fcd sets no minimum period (FC's is one minute)
    so that local schedules can be tested quickly.

    Raises:
        errors.InvalidArgument: naming ``triggerConfig.cronExpression`` and what is wrong.
    """
    text = expression.strip()
    every = _EVERY.fullmatch(text)
    if every is not None:
        seconds = sum(
            float(amount) * _UNIT_SECONDS[unit]
            for amount, unit in _DURATION_PART.findall(every.group(1))
        )
        if seconds <= 0:
            raise _bad_schedule(expression, "the period must be greater than zero")
        return Schedule(every_seconds=seconds)
    timezone = "UTC"
    zoned = _CRON_TZ.fullmatch(text)
    if zoned is not None:
        timezone, text = zoned.group(1), zoned.group(2).strip()
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _bad_schedule(expression, f"unknown time zone {timezone!r}") from None
    wrapped = _CRON_WRAPPED.fullmatch(text)
    if wrapped is not None:
        text = wrapped.group(1).strip()
    fields = text.split()
    if len(fields) != CRON_FIELDS:
        raise _bad_schedule(
            expression,
            "expected '@every <duration>' or a cron expression with 6 fields "
            "(second minute hour day-of-month month day-of-week)",
        )
    cron = " ".join(fields)
    if not croniter.is_valid(cron, second_at_beginning=True):
        raise _bad_schedule(expression, "it is not a valid cron expression")
    return Schedule(cron=cron, timezone=timezone)


def _bad_schedule(expression: str, why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"triggerConfig.cronExpression {expression!r} is invalid: {why}")
