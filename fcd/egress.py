"""Where the daemon itself may connect on a function owner's behalf: pure address rules.

An http(s) async destination makes the *daemon* open a connection to a URL that a key holder
chose, and the record it POSTs carries what a function returned. Without a rule, that is a
server-side request forgery: a destination on ``127.0.0.1:<port>`` POSTs to services that
trust loopback, and the destination status tells which local ports speak HTTP. So the daemon
never connects to the host itself or to addresses that only make sense on it: loopback,
link-local (cloud metadata services live there), unspecified, multicast, reserved, the
IPv4 "this network" block, and every address of the host's interfaces. IPv4 addresses inside
IPv6 (mapped ``::ffff:a.b.c.d`` and NAT64 ``64:ff9b::a.b.c.d``) are judged as the IPv4 address.

The operator lifts the rule for chosen addresses with ``[async] destination_allow``: entries
``ADDRESS``, ``ADDRESS:PORT``, ``[V6ADDRESS]:PORT`` or ``CIDR``.

The checks take an *address*: the caller resolves a name once and connects to the very
address it checked, so a name that resolves differently the second time (DNS rebinding) gains
nothing. Nothing here resolves names or reads interfaces (see
:mod:`fcd.invocations.destinations` for that I/O).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # connecting to 0.x.y.z reaches this host
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Rule:
    """One ``destination_allow`` entry: a network, and a port or any port (None)."""

    network: IPNetwork
    port: int | None = None

    def matches(self, address: IPAddress, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)


def parse_allow(entries: Iterable[str]) -> tuple[Rule, ...]:
    """The rules of ``[async] destination_allow``.

    Raises:
        ValueError: an entry is not ``ADDRESS``, ``ADDRESS:PORT``, ``[V6]:PORT`` or ``CIDR``;
            the message names it.
    """
    return tuple(_parse_rule(entry) for entry in entries)


def _parse_rule(entry: str) -> Rule:
    text = entry.strip()
    try:
        if "/" in text:
            return Rule(ipaddress.ip_network(text, strict=False))
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = _port(rest.removeprefix(":")) if rest else None
            return Rule(_single(host), port)
        if text.count(":") == 1:  # IPv4:port (an IPv6 address has two colons or more)
            host, _, port_text = text.partition(":")
            return Rule(_single(host), _port(port_text))
        return Rule(_single(text))
    except ValueError:
        raise ValueError(
            f"destination_allow entry {entry!r} is not an address, address:port, "
            "[IPv6 address]:port or CIDR"
        ) from None


def _single(text: str) -> IPNetwork:
    address = ipaddress.ip_address(text)
    return ipaddress.ip_network(f"{address}/{address.max_prefixlen}")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(text)
    return int(text)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names without any lookup, else None (a name to resolve).

    Besides the usual forms this reads what the C library reads as IPv4 too (``2130706433``,
    ``0x7f.1``, ``127.1``), and ``localhost`` names (RFC 6761: always loopback).
    """
    text = host.strip("[]").split("%", 1)[0]
    if text.lower().rstrip(".") == "localhost" or text.lower().rstrip(".").endswith(".localhost"):
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _embedded_v4(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(
    address: IPAddress,
    port: int,
    *,
    allow: tuple[Rule, ...],
    host_addresses: frozenset[IPAddress],
    internal: tuple[IPNetwork, ...] = (),
) -> str | None:
    """Why the daemon must not connect to ``address:port`` (None: it may).

    ``host_addresses`` are the addresses of the host's interfaces at the time of the check;
    ``internal`` are networks of the host's own making (the sandboxes' veth pairs).
    """
    judged = _embedded_v4(address)
    if any(rule.matches(address, port) or rule.matches(judged, port) for rule in allow):
        return None
    if judged in host_addresses or address in host_addresses:
        return "an address of this host"
    if any(judged in network for network in internal):
        return "an address of the host's sandbox network"
    if judged.is_loopback:
        return "a loopback address"
    if judged.is_link_local:
        return "a link-local address"
    if judged.is_unspecified or (
        isinstance(judged, ipaddress.IPv4Address) and judged in _THIS_NETWORK
    ):
        return "an unspecified address"
    if judged.is_multicast:
        return "a multicast address"
    if judged.is_reserved:
        return "a reserved address"
    return None


def how_to_allow(address: IPAddress, port: int) -> str:
    """The config line an operator adds to allow this destination."""
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f'[async] destination_allow = ["{shown}:{port}"] (or a CIDR)'
