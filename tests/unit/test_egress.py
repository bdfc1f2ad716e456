"""fcd.egress: which addresses the daemon refuses to connect to, and the allow-list entries."""

from __future__ import annotations

import ipaddress

import pytest

from fcd import egress

HOST = frozenset({ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("2001:db8::5")})


def refused(address: str, port: int = 80, allow: tuple[str, ...] = ()) -> str | None:
    return egress.refusal(
        ipaddress.ip_address(address),
        port,
        allow=egress.parse_allow(allow),
        host_addresses=HOST,
    )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "10.0.0.5",
        "2001:db8::5",
        "::ffff:10.0.0.5",
    ],
)
def test_local_addresses_are_refused(address: str) -> None:
    assert refused(address) is not None


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.6", "192.168.1.1", "2001:db8::6"])
def test_other_addresses_pass(address: str) -> None:
    assert refused(address) is None


def test_allow_entries_by_address_port_and_network() -> None:
    assert refused("127.0.0.1", 8080, ("127.0.0.1:8080",)) is None
    assert refused("127.0.0.1", 8081, ("127.0.0.1:8080",)) is not None
    assert refused("127.0.0.1", 1, ("127.0.0.1",)) is None
    assert refused("::1", 8080, ("[::1]:8080",)) is None
    assert refused("::ffff:127.0.0.1", 8080, ("127.0.0.1:8080",)) is None
    assert refused("127.3.0.1", 9, ("127.0.0.0/8",)) is None
    assert refused("169.254.169.254", 80, ("10.0.0.0/8",)) is not None


@pytest.mark.parametrize("entry", ["localhost:80", "127.0.0.1:0", "10.0.0.0/33", "[::1]:x", ""])
def test_bad_allow_entries_are_named(entry: str) -> None:
    with pytest.raises(ValueError, match="destination_allow entry"):
        egress.parse_allow([entry])


@pytest.mark.parametrize(
    ("host", "literal"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("api.localhost.", "127.0.0.1"),
        ("example.com", None),
        ("deadbeef", None),
    ],
)
def test_literal_addresses_need_no_lookup(host: str, literal: str | None) -> None:
    found = egress.literal_address(host)
    assert (str(found) if found else None) == literal


def test_the_sandbox_network_is_refused_when_named_internal() -> None:
    sandbox = ipaddress.ip_address("10.200.0.2")
    internal = (ipaddress.ip_network("10.200.0.0/16"),)
    assert egress.refusal(sandbox, 80, allow=(), host_addresses=HOST) is None
    assert egress.refusal(sandbox, 80, allow=(), host_addresses=HOST, internal=internal)
