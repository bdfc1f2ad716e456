"""What a custom domain may not take on this daemon (fcd.wire.custom_domains): pure rules."""

from __future__ import annotations

import pytest

from fcd.wire.custom_domains import is_daemon_path, name_refusal

OWN = ("127.0.0.1", "fcd.example.test", "[::]")


@pytest.mark.parametrize(
    "name",
    [
        "127.0.0.1",
        "0.0.0.0",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0x7F.1",
        "*.0.1",
        "1.2.3.4.",
        "::1",
        "[::1]",
        "fe80::1",
        "localhost",
        "LOCALHOST",
        "a.b.localhost",
        "*.localhost",
        "fcd.example.test",
        "FCD.Example.Test",
        "*.example.test",  # covers the listen host fcd.example.test
    ],
)
def test_refused(name: str) -> None:
    assert name_refusal(name, OWN) is not None


@pytest.mark.parametrize(
    "name",
    [
        "example.com",
        "*.example.com",
        "api.example.test",  # a sibling of the listen host, not the host itself
        "1.example.com",
        "x1.y2",
        "localhost.example.com",
        "mylocalhost",
        "*.fcd.example.test",  # sub-domains of the listen host are other hosts
    ],
)
def test_allowed(name: str) -> None:
    assert name_refusal(name, OWN) is None


def test_the_reason_names_the_listen_host() -> None:
    assert name_refusal("fcd.example.test", OWN) == (
        "is a host this daemon listens on ('fcd.example.test')"
    )


@pytest.mark.parametrize(
    ("path", "own"),
    [
        ("/2016-08-15", True),
        ("/2016-08-15/services", True),
        ("/2016-08-15/proxy/s/f/x", True),
        ("/healthz", True),
        ("/", False),
        ("/2016-08-150", False),
        ("/healthz/x", False),
        ("/api/2016-08-15/x", False),
    ],
)
def test_daemon_paths(path: str, own: bool) -> None:
    assert is_daemon_path(path) is own
