"""OSS triggers: which functions an object event fires, and the FC OSS event they receive.

An object event comes from fcd's own bucket store (:mod:`fcd.buckets`) or from an external
S3-compatible store's bucket notification (a MinIO webhook target, :func:`s3_notification_events`).
Either way it becomes an :class:`ObjectEvent` and :meth:`OssTriggers.fire` submits one async
invocation per matching trigger, through the durable queue, with the FC OSS event JSON
(``{"events": [{eventName, eventSource, eventTime, eventVersion, oss: {bucket, object, …},
region, requestParameters, responseElements, userIdentity}]}``, the shape of FC's Go runtime
``events.OssEvent``) as payload.

A trigger matches when (spec §4.3):

* its ``sourceArn`` names the bucket (``acs:oss:{region}:{uid}:{bucket}``; region and uid are not
  compared, there is one account on a box);
* one of its ``triggerConfig.events`` names the event (``oss:ObjectCreated:*`` matches every
  ``ObjectCreated:…`` event, ``oss:ObjectRemoved:DeleteObject`` only that one);
* the key starts with ``filter.key.prefix`` and ends with ``filter.key.suffix`` (absent or empty:
  any key).

The trigger's ``qualifier`` decides what runs (LATEST, a version or an alias).
"""

from __future__ import annotations

import calendar
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_plus

import msgspec

from fcd import errors, ids
from fcd.invocations.queue import AsyncRequest
from fcd.store import Store, docs
from fcd.wire.triggers import OSS, Trigger, config_value

log = logging.getLogger(__name__)

# The document kind and scope form fcd.api.lookup stores triggers under (scope "svc/fn").
TRIGGER_KIND = "trigger"
EVENT_SOURCE = "acs:oss"
EVENT_VERSION = "1.0"
SCHEMA_VERSION = "1.0"
_trigger = msgspec.json.Decoder(Trigger)

# S3 notification event names (MinIO sends these) → the OSS event names FC functions see.
S3_TO_OSS = {
    "s3:ObjectCreated:Put": "ObjectCreated:PutObject",
    "s3:ObjectCreated:Post": "ObjectCreated:PostObject",
    "s3:ObjectCreated:Copy": "ObjectCreated:CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "ObjectRemoved:DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "ObjectRemoved:DeleteObject",
}


@dataclass(frozen=True)
class ObjectEvent:
    """One object created or removed; ``name`` is the OSS form, ``ObjectCreated:PutObject``."""

    bucket: str
    key: str
    name: str
    size: int = 0
    etag: str = ""
    mime_type: str = ""
    at: float = 0.0
    source_ip: str = ""
    request_id: str = ""
    region: str = ""
    account_id: str = ""


class Submitter(Protocol):
    async def submit(self, request: AsyncRequest) -> str: ...


# Pure decisions ------------------------------------------------------------------------------
def event_matches(patterns: Iterable[str], name: str) -> bool:
    """Does one of a trigger's ``events`` (``oss:ObjectCreated:*``) name event ``name``?"""
    kind = name.split(":", 1)[0]
    for pattern in patterns:
        wanted = pattern.removeprefix("oss:")
        if wanted == name or wanted == f"{kind}:*":
            return True
    return False


def key_matches(config: dict[str, Any], key: str) -> bool:
    """``filter.key.prefix``/``suffix`` of a trigger config against an object key."""
    filter_ = config_value(config, "filter")
    key_filter = config_value(filter_, "key") if isinstance(filter_, dict) else None
    if not isinstance(key_filter, dict):
        return True
    prefix = config_value(key_filter, "prefix") or ""
    suffix = config_value(key_filter, "suffix") or ""
    return key.startswith(prefix) and key.endswith(suffix)


def arn_bucket(source_arn: str | None) -> str | None:
    """The bucket of ``acs:oss:{region}:{uid}:{bucket}``, or None for another ARN."""
    if not source_arn:
        return None
    parts = source_arn.split(":")
    if len(parts) != 5 or parts[0] != "acs" or parts[1] != "oss" or not parts[4]:
        return None
    return parts[4]


def fires(trigger: Trigger, event: ObjectEvent) -> bool:
    """Whether an oss trigger fires for ``event``."""
    config = trigger.trigger_config
    if trigger.trigger_type != OSS or not isinstance(config, dict):
        return False
    events = config_value(config, "events")
    return (
        arn_bucket(trigger.source_arn) == event.bucket
        and isinstance(events, list)
        and event_matches((e for e in events if isinstance(e, str)), event.name)
        and key_matches(config, event.key)
    )


def event_time(epoch: float) -> str:
    """``2022-06-10T06:21:35.000Z``: FC's OSS event time, milliseconds, UTC."""
    whole = int(epoch)
    millis = round((epoch - whole) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def event_record(event: ObjectEvent, trigger_id: str) -> dict[str, Any]:
    """One record of the FC OSS event (``events[i]``); ``ruleId`` is the trigger's id."""
    created = event.name.startswith("ObjectCreated:")
    return {
        "eventName": event.name,
        "eventSource": EVENT_SOURCE,
        "eventTime": event_time(event.at),
        "eventVersion": EVENT_VERSION,
        "oss": {
            "bucket": {
                "arn": f"acs:oss:{event.region}:{event.account_id}:{event.bucket}",
                "name": event.bucket,
                "ownerIdentity": event.account_id,
                "virtualBucket": "",
            },
            "object": {
                "deltaSize": event.size if created else -event.size,
                "eTag": event.etag,
                "key": event.key,
                "objectMeta": {"mimeType": event.mime_type},
                "size": event.size,
            },
            "ossSchemaVersion": SCHEMA_VERSION,
            "ruleId": trigger_id,
        },
        "region": event.region,
        "requestParameters": {"sourceIPAddress": event.source_ip},
        "responseElements": {"requestId": event.request_id},
        "userIdentity": {"principalId": event.account_id},
    }


def event_payload(event: ObjectEvent, trigger_id: str) -> bytes:
    """The bytes a fired function receives: ``{"events": [record]}``."""
    return json.dumps({"events": [event_record(event, trigger_id)]}).encode()


@dataclass(frozen=True)
class Firing:
    """A decided invocation: which function (and qualifier) gets which payload."""

    service: str
    function: str
    qualifier: str
    trigger: str
    payload: bytes


def plan(triggers: Iterable[tuple[str, Trigger]], event: ObjectEvent) -> list[Firing]:
    """The invocations ``event`` causes, given every ``(scope, trigger)`` stored."""
    out: list[Firing] = []
    for scope, trigger in triggers:
        if not fires(trigger, event):
            continue
        service, _, function = scope.partition("/")
        out.append(
            Firing(
                service,
                function,
                trigger.qualifier or "LATEST",
                trigger.trigger_name,
                event_payload(event, trigger.trigger_id),
            )
        )
    return out


class NotificationError(ValueError):
    """An S3 bucket notification body that cannot be read."""


def s3_notification_events(body: bytes, *, region: str, account_id: str) -> list[ObjectEvent]:
    """The object events of an S3-format bucket notification (``{"Records": [...]}``).

    MinIO's webhook target POSTs this shape (``EventName``, ``Key`` and ``Records``); AWS S3's
    event records have the same ``Records``. Keys arrive URL-encoded (``+`` for spaces) and
    are decoded. Events fcd has no OSS name for (``s3:ObjectAccessed:*`` …) are dropped.

    Raises:
        NotificationError: the body is not JSON with a ``Records`` list of objects.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise NotificationError(f"the notification body is not JSON: {e}") from None
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise NotificationError("the notification has no Records list")
    out: list[ObjectEvent] = []
    for record in records:
        if not isinstance(record, dict):
            raise NotificationError("a notification record is not an object")
        name = S3_TO_OSS.get(str(record.get("eventName", "")))
        s3 = _dict(record.get("s3"))
        bucket = _dict(s3.get("bucket")).get("name")
        obj = _dict(s3.get("object"))
        key = obj.get("key")
        if name is None or not isinstance(bucket, str) or not isinstance(key, str):
            continue
        size = obj.get("size")
        out.append(
            ObjectEvent(
                bucket=bucket,
                key=unquote_plus(key),
                name=name,
                size=size if isinstance(size, int) else 0,
                etag=str(obj.get("eTag") or "").strip('"'),
                mime_type=str(obj.get("contentType") or ""),
                at=_parse_time(record.get("eventTime")),
                source_ip=str(_dict(record.get("requestParameters")).get("sourceIPAddress") or ""),
                request_id=str(_dict(record.get("responseElements")).get("x-amz-request-id") or ""),
                region=str(record.get("awsRegion") or region),
                account_id=account_id,
            )
        )
    return out


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parse_time(value: object) -> float:
    """``2024-01-02T03:04:05.678Z`` → epoch seconds; now when absent or unreadable."""
    if isinstance(value, str):
        whole, _, fraction = value.rstrip("Z").partition(".")
        try:
            seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            return time.time()
        return seconds + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)
    return time.time()


# I/O ------------------------------------------------------------------------------------------
class OssTriggers:
    """Fires the oss triggers that match object events, through the async queue.

    Error handling: a trigger whose function or qualifier is gone, or whose payload is refused,
    is logged and skipped; the other triggers of the event still fire. The object operation
    itself has already succeeded and is not undone.
    """

    def __init__(self, store: Store, queue: Submitter) -> None:
        self.store = store
        self.queue = queue

    def __repr__(self) -> str:
        return f"<OssTriggers {self.queue!r}>"

    def _triggers(self) -> list[tuple[str, Trigger]]:
        rows = self.store.read(lambda conn: docs.all_of_kind(conn, TRIGGER_KIND))
        out: list[tuple[str, Trigger]] = []
        for scope, doc in rows:
            trigger = _trigger.decode(doc.body)
            if trigger.trigger_type == OSS:
                out.append((scope, trigger))
        return out

    async def fire(self, events: Iterable[ObjectEvent]) -> list[str]:
        """Submit one async invocation per (event, matching trigger); return the request ids."""
        events = list(events)
        if not events:
            return []
        triggers = self._triggers()
        accepted: list[str] = []
        for event in events:
            for firing in plan(triggers, event):
                request = AsyncRequest(
                    service=firing.service,
                    qualifier=firing.qualifier,
                    function=firing.function,
                    payload=firing.payload,
                    request_id=ids.request_id(),
                    source=f"oss:{firing.trigger}",
                )
                try:
                    accepted.append(await self.queue.submit(request))
                except errors.FcError as e:
                    log.warning(
                        "oss trigger %s of %s/%s not fired for %s %s/%s: %s",
                        firing.trigger,
                        firing.service,
                        firing.function,
                        event.name,
                        event.bucket,
                        event.key,
                        e.message,
                    )
        return accepted
