"""Async destinations: the record FC sends, where it goes, and the POST to an http(s) URL.

The record follows FC's result-callback event (the shape Lambda's destinations use too):
``{"timestamp": <epoch ms>, "requestContext": {"requestId", "functionArn", "condition",
"approximateInvokeCount"}, "requestPayload": <the event as text>, "responseContext":
{"statusCode", "functionError"}, "responsePayload": <the answer as text>}``. ``condition`` is
``""`` on success, ``RetriesExhausted``, ``EventAgeExceeded`` or ``FunctionNotFound``.

A function destination is an async invocation of that function (enqueued by the queue in the
same transaction that ends the source row). An http(s) destination is fcd's extension: the
record is POSTed once, with a short timeout; a non-2xx answer or an error marks the row's
``destinationStatus`` ``Failed``.

The POST never goes to the host itself or to loopback, link-local and similar addresses
(:mod:`fcd.egress`) unless the operator allows them: the name is resolved here, every address
is checked, and the connection goes to a checked address (never a second lookup, so DNS
rebinding gains nothing). A refused destination ends ``Failed`` like a closed port or a non-2xx
answer, so the status tells a function owner nothing about which local ports speak HTTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import ssl
import urllib.parse

import psutil

from fcd import egress
from fcd.invocations.invoker import Invocation
from fcd.isolation.netns import NETWORK as SANDBOX_NETWORK

# Networks the host makes itself, refused like its own addresses.
INTERNAL: tuple[egress.IPNetwork, ...] = (SANDBOX_NETWORK,)

log = logging.getLogger(__name__)

POST_TIMEOUT_S = 10.0
# A function destination. FC writes an empty region or account (``acs:fc:::services/S/
# functions/F``, as its templates do) for "the caller's own".
_FC = re.compile(
    r"acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):services/"
    r"(?P<service>[A-Za-z_][A-Za-z0-9_-]*)(\.(?P<qualifier>[A-Za-z0-9_-]+))?"
    r"/functions/(?P<function>[A-Za-z_][A-Za-z0-9_-]*)"
)


def function_arn(region: str, account_id: str, service: str, qualifier: str, fn: str) -> str:
    return f"acs:fc:{region}:{account_id}:services/{service}.{qualifier}/functions/{fn}"


def is_function_arn(destination: str) -> bool:
    """Whether ``destination`` names an FC function (of this fcd or not)."""
    return _FC.fullmatch(destination) is not None


def parse_function(destination: str, region: str, account_id: str) -> tuple[str, str, str] | None:
    """``(service, qualifier, function)`` of a function destination of this fcd, else None.

    An empty region or account in the ARN stands for this fcd's own (FC's short form).
    """
    match = _FC.fullmatch(destination)
    if match is None or (match["region"] or region) != region:
        return None
    if (match["account"] or account_id) != account_id:
        return None
    return match["service"], match["qualifier"] or "LATEST", match["function"]


def is_http(destination: str) -> bool:
    return destination.startswith(("http://", "https://"))


def record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    payload: bytes,
    done: Invocation | None,
    now: float,
) -> bytes:
    """The destination record of one finished async invocation, as JSON bytes."""
    response: dict[str, object] = {"statusCode": 200 if done else 0, "functionError": ""}
    if done is not None and done.error_type:
        response["functionError"] = done.error_type
    return json.dumps(
        {
            "timestamp": int(now * 1000),
            "requestContext": {
                "requestId": request_id,
                "functionArn": function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "requestPayload": payload.decode(errors="replace"),
            "responseContext": response,
            "responsePayload": done.body.decode(errors="replace") if done else "",
        }
    ).encode()


def host_addresses() -> frozenset[egress.IPAddress]:
    """Every address of the host's interfaces now (they come and go: veths, DHCP)."""
    found: set[egress.IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(ipaddress.ip_address(entry.address.split("%", 1)[0]))
                except ValueError:
                    continue
    return frozenset(found)


class Refused(OSError):
    """The destination resolves only to addresses the daemon must not connect to."""


async def post(url: str, body: bytes, allow: tuple[egress.Rule, ...] = ()) -> bool:
    """POST ``body`` as JSON to ``url``; True on a 2xx answer.

    Error handling: a refused address, an unreachable or closed port, a timeout and an answer
    that is not HTTP all return False, logged for the operator only.
    """
    try:
        async with asyncio.timeout(POST_TIMEOUT_S):
            return await _post(url, body, allow)
    except (OSError, TimeoutError, ValueError) as e:
        log.warning("destination %s: %s", url, e)
        return False


async def _checked_addresses(
    host: str, port: int, allow: tuple[egress.Rule, ...]
) -> list[egress.IPAddress]:
    """The addresses of ``host`` the daemon may connect to, in the resolver's order.

    Raises:
        Refused: none (the message says how to allow one); OSError: the name does not resolve.
    """
    literal = egress.literal_address(host)
    if literal is not None:
        resolved = [literal]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        resolved = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    local = host_addresses()
    usable: list[egress.IPAddress] = []
    reasons: list[str] = []
    for address in dict.fromkeys(resolved):
        why = egress.refusal(address, port, allow=allow, host_addresses=local, internal=INTERNAL)
        if why is None:
            usable.append(address)
        else:
            reasons.append(f"{address} is {why}; to allow it: {egress.how_to_allow(address, port)}")
    if not usable:
        raise Refused("refused: " + "; ".join(reasons or ["no address"]))
    return usable


async def _post(url: str, body: bytes, allow: tuple[egress.Rule, ...]) -> bool:
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    context = ssl.create_default_context() if secure else None
    addresses = await _checked_addresses(host, port, allow)
    reader, writer = await _connect(addresses, port, context, host)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
        # The body is not read: only the status matters, and its size is the server's choice.
        status = int(fields[1])
        if not 200 <= status < 300:
            log.warning("destination %s answered %d", url, status)
        return 200 <= status < 300
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def _connect(
    addresses: list[egress.IPAddress], port: int, context: ssl.SSLContext | None, host: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first checked address that answers (TLS names the host, not the IP)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(
                str(address), port, ssl=context, server_hostname=host if context else None
            )
        except OSError as e:
            error = e
    assert error is not None
    raise error
