"""Tags: TagResource, UnTagResource, GetResourceTags, ListTaggedResources (spec §3 routes 32-35,
§4.10).

Only services are taggable (as on FC 2.0); their tags live in the service document's ``tags``
map, which ListServices also filters on. A resource is named by its ARN, full
(``acs:fc:<region>:<account>:services/<name>``) or partial (``services/<name>``); a full ARN must
name this daemon's region and account. Answers always carry the full ARN. Tagging changes the
service's ETag but not its ``lastModifiedTime``: tags are not configuration (and do not count as
a change when publishing a version).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from functools import partial

import msgspec
from quart import Blueprint, Response, g

from fcd import errors, wire
from fcd.api import lookup
from fcd.api.context import ctx
from fcd.api.http import body, json_response, query_int, query_str
from fcd.api.services import decode_service
from fcd.store import docs
from fcd.wire.tags import (
    ResourceTags,
    TaggedResourceList,
    TagResourceInput,
    TagResult,
    UntagResourceInput,
)

routes = Blueprint("tags", __name__, url_prefix="/2016-08-15")

# At most 20 tags (or tag keys) per call (PY tag_resource docstring; Go checks it on untag).
MAX_TAGS_PER_CALL = 20
# Alibaba Cloud tag limits: keys 1..128 characters, values up to 128.
MAX_KEY = 128
MAX_VALUE = 128
_ARN = re.compile(r"(?:acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):)?(?P<path>.+)")
_SERVICE_PATH = re.compile(r"services/(?P<service>[^/]+)")


def service_of(arn: str | None) -> str:
    """The service an ARN names.

    Raises:
        errors.InvalidArgument: no ARN, not an FC ARN of this region and account, or not a
            service (only services are taggable).
    """
    if not arn:
        raise errors.InvalidArgument("resourceArn is required")
    match = _ARN.fullmatch(arn)
    assert match is not None  # ".+" matches any non-empty text
    config = ctx().config
    if match.group("region") is not None and (
        match.group("region") != config.region or match.group("account") != config.account_id
    ):
        raise errors.InvalidArgument(
            f"resourceArn '{arn}' does not belong to region '{config.region}' and account "
            f"'{config.account_id}'"
        )
    service = _SERVICE_PATH.fullmatch(match.group("path"))
    if service is None:
        raise errors.InvalidArgument(
            f"resourceArn '{arn}' is not taggable: only services "
            "(acs:fc:<region>:<account>:services/<name>) can carry tags"
        )
    return service.group("service")


def full_arn(service: str) -> str:
    config = ctx().config
    return f"acs:fc:{config.region}:{config.account_id}:services/{service}"


def _check_tags(tags: dict[str, str]) -> None:
    """Raises: errors.InvalidArgument naming the bad tag."""
    if not tags:
        raise errors.InvalidArgument("tags must contain at least one tag")
    if len(tags) > MAX_TAGS_PER_CALL:
        raise errors.InvalidArgument(
            f"tags contains {len(tags)} tags; at most {MAX_TAGS_PER_CALL} per call"
        )
    for key, value in tags.items():
        if not key or len(key) > MAX_KEY:
            raise errors.InvalidArgument(f"tag key '{key}' must be 1 to {MAX_KEY} characters")
        if len(value) > MAX_VALUE:
            raise errors.InvalidArgument(
                f"the value of tag '{key}' must be at most {MAX_VALUE} characters"
            )


def _result() -> Response:
    return json_response(TagResult(request_id=str(g.get("request_id", ""))))


async def _edit_tags(service: str, edit: Callable[[dict[str, str]], dict[str, str]]) -> None:
    """Replace the service's tags with ``edit(tags)``.

    Raises:
        errors.ServiceNotFound
    """

    def tx(conn: sqlite3.Connection) -> None:
        current = decode_service(lookup.service_doc(conn, service).body)
        updated = msgspec.structs.replace(current, tags=edit(dict(current.tags)))
        docs.put(conn, lookup.SERVICE, "", service, wire.encode(updated))

    await ctx().store.write(tx)


@routes.post("/tag")
async def tag_resource() -> Response:
    change = await body(TagResourceInput)
    service = service_of(change.resource_arn)
    tags = change.tags or {}
    _check_tags(tags)
    await _edit_tags(service, lambda current: {**current, **tags})
    return _result()


@routes.delete("/tag")
async def untag_resource() -> Response:
    change = await body(UntagResourceInput)
    service = service_of(change.resource_arn)
    keys = change.tag_keys or []
    if len(keys) > MAX_TAGS_PER_CALL:
        raise errors.InvalidArgument(
            f"tagKeys contains {len(keys)} keys; at most {MAX_TAGS_PER_CALL} per call"
        )
    if change.all:
        await _edit_tags(service, lambda current: {})
    elif not keys:
        raise errors.InvalidArgument("tagKeys must name at least one key unless all is true")
    else:
        await _edit_tags(
            service, lambda current: {k: v for k, v in current.items() if k not in keys}
        )
    return _result()


@routes.get("/tag")
async def get_resource_tags() -> Response:
    service = service_of(query_str("resourceArn"))
    raw = ctx().store.read(lambda conn: lookup.service_doc(conn, service).body)
    return json_response(ResourceTags(full_arn(service), decode_service(raw).tags))


def _services_from(token: str, conn: sqlite3.Connection) -> docs.Page:
    return docs.page(conn, lookup.SERVICE, "", next_token=token, limit=docs.MAX_LIMIT)


@routes.get("/tags")
async def list_tagged_resources() -> Response:
    """Every service with at least one tag, by name; ``limit``/``nextToken`` page them."""
    size = docs.clamp_limit(query_int("limit"))
    token = query_str("nextToken")
    found: list[ResourceTags] = []
    next_token: str | None = None
    while next_token is None:
        page = ctx().store.read(partial(_services_from, token))
        for doc in page.docs:
            service = decode_service(doc.body)
            if not service.tags:
                continue
            if len(found) == size:
                next_token = service.service_name
                break
            found.append(ResourceTags(full_arn(service.service_name), service.tags))
        if page.next_token is None:
            break
        token = page.next_token
    return json_response(TaggedResourceList(found, next_token))
