"""A custom domain cannot take the daemon's own traffic.

A custom domain named ``127.0.0.1`` (or ``localhost``, or the daemon's listen host) used to
capture every request sent to that address: the API, invocations, and other clients' signed
requests, which reached a function with their ``Authorization`` headers. Now such names are
refused at create and update, a stored one is skipped at load, and the daemon's own paths
(``/2016-08-15/…``, ``/healthz``) never go to a function through any custom domain.

Each test uses a daemon of its own module: on unfixed code, a domain these tests create would
capture the session daemon's traffic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest
import requests
from fc2.fc_exceptions import FcError

from fcd import wire
from fcd.store import Store, docs
from fcd.wire.custom_domains import CustomDomain, PathConfig, RouteConfig
from tests.conftest import make_client
from tests.daemon import ACCOUNT_ID, RunningDaemon, start_daemon
from tests.fc_errors import assert_fc_error
from tests.signed_http import API, fc_request

# Routes everything to a function that does not exist: a captured request answers
# TriggerNotFound (the HTTP-trigger lookup), never what the API would answer.
ROUTE_ALL = {"routes": [{"path": "/*", "serviceName": "nosvc", "functionName": "nofn"}]}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path_factory.mktemp("capture") / "data", FCD_ISOLATION="none")
    yield running
    assert running.stop() == 0, running.logs()


@pytest.fixture
def sdk(own: RunningDaemon) -> fc2.Client:
    return make_client(own.endpoint)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("127.0.0.1", "IP address"),
        ("10.1.2.3", "IP address"),
        ("2130706433", "IP address"),  # 127.0.0.1 as one number
        ("0x7f.1", "IP address"),
        ("*.0.1", "IP address"),
        ("::1", "IPv6"),
        ("[::1]", "IPv6"),
        ("localhost", "localhost"),
        ("LocalHost", "localhost"),
        ("api.localhost", "localhost"),
        ("*.localhost", "localhost"),
    ],
)
def test_names_that_would_take_the_daemons_traffic_are_refused(
    sdk: fc2.Client, name: str, why: str
) -> None:
    with pytest.raises(FcError) as refused:
        sdk.create_custom_domain(name, protocol="HTTP", routeConfig=ROUTE_ALL)
    assert (refused.value.status_code, refused.value.err_code) == (400, "InvalidArgument")
    message = str(refused.value.message)
    assert why in message
    assert "daemon itself" in message
    assert sdk.list_custom_domains().data["customDomains"] == []


def test_the_api_and_health_check_are_never_routed_to_a_function(
    own: RunningDaemon, sdk: fc2.Client
) -> None:
    name = "capture.example.test"
    sdk.create_custom_domain(name, protocol="HTTP", routeConfig=ROUTE_ALL)
    try:
        host = {"Host": f"{name}:{own.port}"}
        listed = fc_request(own.endpoint, "GET", f"{API}/services", headers=host)
        assert listed.status_code == 200, listed.text
        assert "services" in listed.json()
        invoked = fc_request(
            own.endpoint, "POST", f"{API}/services/nosvc/functions/nofn/invocations", b"{}", host
        )
        assert_fc_error(invoked, 404, "ServiceNotFound")
        health = requests.get(f"{own.endpoint}/healthz", headers=host, timeout=30)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        # Any other path is the domain's, as before.
        other = requests.get(f"{own.endpoint}/page", headers=host, timeout=30)
        assert_fc_error(other, 404, "TriggerNotFound")
    finally:
        sdk.delete_custom_domain(name)


@pytest.mark.parametrize("path", ["/2016-08-15/*", "/2016-08-15/proxy/s/f/*", "/healthz"])
def test_routes_on_the_daemons_own_paths_are_refused(sdk: fc2.Client, path: str) -> None:
    routes = {"routes": [{"path": path, "serviceName": "s", "functionName": "f"}]}
    with pytest.raises(FcError) as refused:
        sdk.create_custom_domain("paths.example.test", protocol="HTTP", routeConfig=routes)
    assert (refused.value.status_code, refused.value.err_code) == (400, "InvalidArgument")
    assert "routeConfig.routes[0].path" in str(refused.value.message)


def store_domain(data_dir: Path, name: str) -> None:
    """Write a custom domain straight into a stopped daemon's store, as an older fcd could."""
    now = wire.timestamp(time.time())
    domain = CustomDomain(
        domain_name=name,
        account_id=ACCOUNT_ID,
        created_time=now,
        last_modified_time=now,
        route_config=RouteConfig([PathConfig("/*", "nosvc", "nofn")]),
    )
    store = Store(data_dir / "fcd.sqlite3")
    try:
        store.write_sync(
            lambda conn: docs.insert(conn, "custom_domain", "", name, wire.encode(domain))
        )
    finally:
        store.close()


def test_a_stored_ip_domain_captures_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store_domain(data_dir, "127.0.0.1")
    daemon = start_daemon(data_dir, FCD_ISOLATION="none")
    try:
        sdk = make_client(daemon.endpoint)  # its Host is 127.0.0.1:<port>
        assert "services" in sdk.list_services().data
        page = requests.get(f"{daemon.endpoint}/page", timeout=30)
        assert_fc_error(page, 404, "NotFound")  # the API's own 404, not the domain's route
        with pytest.raises(FcError) as refused:
            sdk.update_custom_domain("127.0.0.1", protocol="HTTP", routeConfig=ROUTE_ALL)
        assert (refused.value.status_code, refused.value.err_code) == (400, "InvalidArgument")
        sdk.delete_custom_domain("127.0.0.1")
        assert "custom domain '127.0.0.1' is not served" in daemon.logs()
    finally:
        daemon.kill()
