"""Small request/response helpers shared by the resource modules."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from quart import Response, request

from fcd import errors, wire

T = TypeVar("T")


def json_response(value: Any, status: int = 200, etag: str | None = None) -> Response:
    """A JSON success response; FC sends an ``ETag`` on create/get/update of most resources."""
    response = Response(wire.encode(value), status=status, content_type="application/json")
    if etag is not None:
        response.headers["ETag"] = etag
    return response


def no_content() -> Response:
    """DELETE's answer: 204, no body and no JSON content type (Node parses JSON-typed bodies)."""
    return Response(b"", status=204, content_type="text/plain")


async def body(into: type[T]) -> T:
    """The request body decoded with FC's case-insensitive, null-tolerant rules."""
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    return wire.decode(raw, into)


def if_match_header() -> str | None:
    """``If-Match``, read on the loop: transactions run on the writer thread, with no request."""
    return request.headers.get("If-Match")


def check_if_match(wanted: str | None, current_etag: str) -> None:
    """Optimistic concurrency: a request with ``If-Match`` must name the current ETag.

    Raises:
        errors.PreconditionFailed: ``If-Match`` is present and differs.
    """
    if wanted is not None and wanted.strip('"') != current_etag:
        raise errors.PreconditionFailed("the resource being modified has been changed")


def query_str(name: str) -> str:
    """A query parameter, with absent and empty alike (Go sends empty strings for unset)."""
    return request.args.get(name, "") or ""


def query_int(name: str, default: int | None = None) -> int | None:
    """An integer query parameter.

    Raises:
        errors.InvalidArgument: the value is not an integer.
    """
    raw = query_str(name)
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.InvalidArgument(f"query parameter '{name}' must be an integer") from None


def list_query() -> dict[str, Any]:
    """``prefix``, ``startKey``, ``nextToken`` and ``limit`` as keyword arguments for docs.page."""
    return {
        "prefix": query_str("prefix"),
        "start_key": query_str("startKey"),
        "next_token": query_str("nextToken"),
        "limit": query_int("limit"),
    }


def split_qualifier(service_and_qualifier: str) -> tuple[str, str | None]:
    """``svc.q`` → ``("svc", "q")``; ``svc`` → ``("svc", None)`` (names cannot contain dots)."""
    service, dot, qualifier = service_and_qualifier.partition(".")
    return service, (qualifier if dot else None)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def check_name(field: str, value: str | None, max_length: int) -> str:
    """FC resource names: ``[A-Za-z_][A-Za-z0-9_-]*``, 1..max_length characters.

    Raises:
        errors.InvalidArgument: naming ``field``.
    """
    if not value:
        raise errors.InvalidArgument(f"{field} is required")
    if len(value) > max_length or not _NAME.fullmatch(value):
        raise errors.InvalidArgument(
            f"{field} '{value}' is invalid: it must start with a letter or underscore, contain "
            f"only letters, digits, '_' and '-', and be at most {max_length} characters"
        )
    return value
