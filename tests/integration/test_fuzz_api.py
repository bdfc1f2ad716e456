"""Hostile input at the whole management API: no 5xx, FC's JSON error shape, no crash, no leak.

Every request is signed correctly, so it gets past authentication and into the handlers. The
daemon is this module's own, so the data dir can be checked for stray files at the end. Each test
has a fixed number of examples (about a minute in all on a 2-core box) and every request a
timeout.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import string
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fcd.config import DEFAULTS
from fcd.store import code
from fcd.wire.triggers import HTTP_METHODS
from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import API, raw_request, sign_headers

pytestmark = pytest.mark.slow

SVC = "fz"
FN = "f"
# HTTP-trigger functions: one with an anonymous trigger, one whose trigger wants signatures.
WEB, WEB_SIGNED = "web", "webs"
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Files the daemon itself keeps at the top of its data dir; code lives in content-addressed
# subdirectories that are checked against the store.
DATA_FILES = {"fcd.sqlite3", "fcd.sqlite3-wal", "fcd.sqlite3-shm", "admin-credentials"}
# The mount point sandboxes build their root on (fcd/isolation/sandbox.py), and the object store
# of the bucket emulation (fcd/buckets/store.py), whose tmp/ directories must end up empty.
# "scratch": the templates of sandboxes' /tmp disks (fcd/isolation/scratch.py).
RUNTIME_DIRS = {"sandbox-root", "buckets", "scratch"}
CODE_DIRS = {"code", "unpacked"}
# sha256 of every zip the API accepted with a 200: each must be in the code store.
ACCEPTED_CODE: set[str] = set()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path_factory.mktemp("fuzz") / "data")
    _call(running, "POST", f"{API}/services", json.dumps({"serviceName": SVC}).encode())
    _call(running, "POST", f"{API}/services/{SVC}/functions", json.dumps(_function(FN)).encode())
    ACCEPTED_CODE.add(hashlib.sha256(_hello_zip()).hexdigest())
    for name, auth in ((WEB, "anonymous"), (WEB_SIGNED, "function")):
        web = _function(name, _wsgi_zip())
        _call(running, "POST", f"{API}/services/{SVC}/functions", json.dumps(web).encode())
        trigger = {
            "triggerName": "web",
            "triggerType": "http",
            "triggerConfig": {"authType": auth, "methods": list(HTTP_METHODS)},
        }
        path = f"{API}/services/{SVC}/functions/{name}/triggers"
        _call(running, "POST", path, json.dumps(trigger).encode())
    ACCEPTED_CODE.add(hashlib.sha256(_wsgi_zip()).hexdigest())
    yield running
    try:
        assert running.process is not None
        assert running.process.poll() is None, running.logs()
        _assert_no_stray_files(running.data_dir)
        assert running.stop() == 0, running.logs()
    finally:
        running.kill()
    assert "Traceback" not in running.logs(), running.logs()


def _function(name: str, zip_bytes: bytes | None = None) -> dict[str, Any]:
    return {
        "functionName": name,
        "runtime": "python3.10",
        "handler": "index.handler",
        "code": {
            "zipFile": base64.b64encode(_hello_zip() if zip_bytes is None else zip_bytes).decode()
        },
    }


def _hello_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 'hi'\n")
    return out.getvalue()


def _wsgi_zip() -> bytes:
    """An HTTP-trigger function that answers 200 with what it got, whatever it got."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("index.py", date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(
            info,
            "def handler(environ, start_response):\n"
            "    body = environ['wsgi.input'].read()\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [environ['PATH_INFO'].encode('utf-8', 'replace')[:64], body[:64]]\n",
        )
    return out.getvalue()


def _call(
    running: RunningDaemon,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Sign, send, and check the answer's shape."""
    signed = sign_headers(method, path, headers)
    status, response_headers, data = raw_request(running.port, method, path, body, signed)
    assert status < 500, (method, path, body[:200], status, data[:500])
    assert len(response_headers.get("x-fc-request-id", "")) == 36, (path, response_headers)
    if status >= 400 and method != "HEAD":
        assert response_headers["content-type"].startswith("application/json"), data[:200]
        error = json.loads(data)
        assert isinstance(error["ErrorCode"], str), error
        assert isinstance(error["ErrorMessage"], str), error
    return status, response_headers, data


# Paths ------------------------------------------------------------------------------------
_ROUTES = [
    "/account-settings",
    "/accountConfigs",
    "/services",
    "/services/{svc}",
    "/services/{svc}/functions",
    "/services/{svc}/functions/{fn}",
    "/services/{svc}/functions/{fn}/code",
    "/services/{svc}/functions/{fn}/invocations",
    "/services/{svc}/functions/{fn}/triggers",
    "/services/{svc}/functions/{fn}/triggers/{name}",
    "/services/{svc}/versions",
    "/services/{svc}/versions/{name}",
    "/services/{svc}/aliases",
    "/services/{svc}/aliases/{name}",
    "/custom-domains",
    "/custom-domains/{name}",
    "/tag",
    "/tags",
    "/services/{svc}/functions/{fn}/provision-config",
    "/provision-configs",
    "/services/{svc}/functions/{fn}/on-demand-config",
    "/on-demand-configs",
    "/services/{svc}/functions/{fn}/async-invoke-config",
    "/services/{svc}/functions/{fn}/async-invoke-configs",
    "/services/{svc}/functions/{fn}/stateful-async-invocations",
    "/services/{svc}/functions/{fn}/stateful-async-invocations/{name}",
    "/stateful-async-invocation-functions",
    "/layers",
    "/layers/{name}/versions",
    "/layers/{name}/versions/{name}",
    "/layerarn/{name}",
    "/services/{svc}/functions/{fn}/instances",
    "/reservedCapacities",
    "/services/{svc}/tempCodeBucketToken",
    "/tempBucketToken",
    "/proxy/{svc}/{fn}/{name}",
    "/{name}",
    "/{name}/{name}",
    "",
]
_SAFE = string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@"
_plain = st.text(_SAFE, min_size=0, max_size=20)
_percent = st.binary(min_size=1, max_size=8).map(lambda b: "".join(f"%{x:02X}" for x in b))
_odd = st.sampled_from(
    [
        "",
        ".",
        "..",
        "%",
        "%zz",
        "%00",
        "%2F",
        "%2f",
        "%252F",
        "%C3%A9",
        "%C0%AF",
        "%FF%FE",
        "%E2%80%AE",
        "a" * 300,
        "LATEST",
        "1",
        "0",
        "-1",
        "99999999999999999999",
        "fz.LATEST",
        "fz.1",
        "fz.nope",
        "fz.",
        ".fz",
        "f.g.h",
        "acs:fc:cn-hangzhou:1:layers/l/versions/1",
        "%7B%7D",
        "null",
        "__proto__",
        "%20",
        "+",
        "~",
    ]
)
_segment = st.one_of(_plain, _percent, _odd, st.lists(_odd | _plain, max_size=3).map("".join))
_query_key = (
    st.sampled_from(
        [
            "limit",
            "nextToken",
            "prefix",
            "startKey",
            "qualifier",
            "serviceName",
            "direction",
            "startVersion",
            "tag_k",
            "resourceArn",
            "config",
            "public",
            "instanceIds",
            "status",
            "includePayload",
            "functionName",
        ]
    )
    | _plain
)
_query_value = st.one_of(_plain, _percent, _odd, st.integers(-(2**70), 2**70).map(str), st.just(""))
_query = st.lists(st.tuples(_query_key, _query_value), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)


@st.composite
def _paths(draw: st.DrawFn) -> str:
    route = draw(st.sampled_from(_ROUTES))
    fill = {
        "svc": draw(st.sampled_from([SVC, f"{SVC}.LATEST", f"{SVC}.1"]) | _segment),
        "fn": draw(st.just(FN) | _segment),
        "name": draw(_segment),
    }
    path = API + route.format(**fill)
    if draw(st.booleans()):
        path += draw(st.sampled_from(["/", "//", "/x", "?"]))
    query = draw(_query)
    return f"{path}?{query}" if query else path


_methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])


@pytest.mark.timeout(180)
@settings(FUZZ, max_examples=500)
@given(method=_methods, path=_paths())
def test_random_paths_and_methods(fuzzed: RunningDaemon, method: str, path: str) -> None:
    _call(fuzzed, method, path)


@pytest.mark.timeout(180)
@settings(FUZZ, max_examples=300)
@given(
    method=st.sampled_from([*HTTP_METHODS, "PROPFIND"]),
    target=st.sampled_from(
        [f"{SVC}/{WEB}", f"{SVC}.LATEST/{WEB}", f"{SVC}/{WEB_SIGNED}", f"{SVC}/{FN}"]
    ),
    segments=st.lists(_segment, max_size=4),
    query=_query,
    headers=st.dictionaries(
        st.sampled_from(["x-fc-invocation-type", "x-fc-log-type", "Content-Type", "Cookie", "X-A"]),
        st.sampled_from(["Async", "Sync", "Tail", "text/plain", "a=b", ""]),
        max_size=3,
    ),
    body=st.binary(max_size=200),
)
def test_random_http_trigger_requests(
    fuzzed: RunningDaemon,
    method: str,
    target: str,
    segments: list[str],
    query: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    """Signed or not as the trigger wants (the signature covers the query, spec §2.1)."""
    path = f"{API}/proxy/{target}/" + "/".join(segments)
    status, _, _ = _call(fuzzed, method, f"{path}?{query}" if query else path, body, headers)
    event(f"{target} {status}")


# Bodies -----------------------------------------------------------------------------------
_FIELDS = [
    "serviceName",
    "functionName",
    "triggerName",
    "aliasName",
    "versionId",
    "description",
    "runtime",
    "handler",
    "timeout",
    "memorySize",
    "code",
    "zipFile",
    "environmentVariables",
    "triggerType",
    "triggerConfig",
    "qualifier",
    "additionalVersionWeight",
    "logConfig",
    "nasConfig",
    "vpcConfig",
    "internetAccess",
    "instanceConcurrency",
    "layers",
    "target",
    "maximumInstanceCount",
    "destinationConfig",
    "onSuccess",
    "destination",
    "tags",
    "resourceArn",
    "tagKeys",
    "all",
    "routeConfig",
    "routes",
    "path",
    "methods",
    "domainName",
    "protocol",
    "certConfig",
    "scheduledActions",
    "targetTrackingPolicies",
    "caPort",
    "customContainerConfig",
    "initializer",
    "cron",
    "payload",
    "authType",
    "events",
    "mountPoints",
    "userId",
    "params",
    "type",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=12),
    _odd,
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=25,
)
_BODY_ROUTES = [
    ("POST", "/services"),
    ("PUT", f"/services/{SVC}"),
    ("POST", f"/services/{SVC}/functions"),
    ("PUT", f"/services/{SVC}/functions/{FN}"),
    ("POST", f"/services/{SVC}/functions/{FN}/triggers"),
    ("PUT", f"/services/{SVC}/functions/{FN}/triggers/t"),
    ("POST", f"/services/{SVC}/versions"),
    ("POST", f"/services/{SVC}/aliases"),
    ("PUT", f"/services/{SVC}/aliases/a"),
    ("POST", "/custom-domains"),
    ("PUT", "/custom-domains/example.com"),
    ("POST", "/tag"),
    ("DELETE", "/tag"),
    ("PUT", f"/services/{SVC}.LATEST/functions/{FN}/provision-config"),
    ("PUT", f"/services/{SVC}.LATEST/functions/{FN}/on-demand-config"),
    ("PUT", f"/services/{SVC}/functions/{FN}/async-invoke-config"),
    ("POST", "/layers/l/versions"),
    ("POST", f"/services/{SVC}/functions/{FN}/invocations"),
]


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object", "any", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    value = draw(_json) if kind == "any" else draw(st.dictionaries(st.sampled_from(_FIELDS), _json))
    return json.dumps(value).encode()


@pytest.mark.timeout(180)
@settings(FUZZ, max_examples=400)
@given(route=st.sampled_from(_BODY_ROUTES), body=_bodies())
def test_random_json_bodies(fuzzed: RunningDaemon, route: tuple[str, str], body: bytes) -> None:
    method, path = route
    _call(fuzzed, method, API + path, body)


# Headers ----------------------------------------------------------------------------------
_HEADER_NAMES = [
    "If-Match",
    "Content-Type",
    "Content-MD5",
    "x-fc-invocation-type",
    "x-fc-log-type",
    "x-fc-trace-id",
    "x-fc-account-id",
    "x-fc-code-checksum",
    "x-fc-date",
    "x-fc-stateful-async-invocation-id",
    "x-fc-security-token",
    "X-Fc-Invocation-Code-Version",
    "Accept",
    "Transfer-Encoding-Not",
    "x-fc-",
]
_header_value = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
) | st.sampled_from(["", "Async", "Sync", "Tail", "None", "*", '"etag"', "application/json"])


@st.composite
def _headers(draw: st.DrawFn) -> dict[str, str]:
    names = draw(
        st.lists(
            st.sampled_from(_HEADER_NAMES)
            | st.text(string.ascii_lowercase, min_size=1).map(lambda s: "x-fc-" + s),
            max_size=5,
            unique_by=str.lower,
        )
    )
    return {name: draw(_header_value).strip() for name in names}


@pytest.mark.timeout(180)
@settings(FUZZ, max_examples=300)
@given(
    route=st.sampled_from([*_BODY_ROUTES, ("GET", f"/services/{SVC}/functions/{FN}")]),
    headers=_headers(),
    body=_bodies(),
)
def test_random_headers(
    fuzzed: RunningDaemon, route: tuple[str, str], headers: dict[str, str], body: bytes
) -> None:
    method, path = route
    _call(fuzzed, method, API + path, body, headers)


# Zip files ---------------------------------------------------------------------------------
_member_name = st.one_of(
    st.sampled_from(
        [
            "index.py",
            "../evil.py",
            "/etc/passwd",
            "a/../../b",
            "dir/",
            "C:\\x",
            "a\x00b",
            "link",
            "link/inside",
            "index.py",
            "",
            ".",
            "a" * 300,
        ]
    ),
    st.text(string.ascii_letters + "/._-", min_size=1, max_size=20),
)


@st.composite
def _zips(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["zip", "zip", "truncated", "bytes", "flipped"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for _ in range(draw(st.integers(0, 4))):
            name = draw(_member_name)
            info = zipfile.ZipInfo(name)
            info.compress_type = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            if draw(st.booleans()):  # a symlink to somewhere
                info.external_attr = (0o120777 << 16) | 0x20
                data: str | bytes = draw(
                    st.sampled_from(["/etc", "..", "../..", "index.py", "x/../.."])
                )
            else:
                data = draw(st.binary(max_size=100))
            with warnings.catch_warnings():  # duplicate names are part of the test
                warnings.simplefilter("ignore")
                z.writestr(info, data)
    raw = out.getvalue()
    if kind == "truncated":
        return raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    if kind == "flipped" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
    return raw


@pytest.mark.timeout(180)
@settings(FUZZ, max_examples=300)
@given(
    zip_bytes=_zips(),
    name=st.sampled_from(["z1", "z2", "z3"]),
    update=st.booleans(),
    encode=st.sampled_from(["base64", "garbage"]),
)
def test_random_zips_to_create_and_update_function(
    fuzzed: RunningDaemon, zip_bytes: bytes, name: str, update: bool, encode: str
) -> None:
    body = _function(name, zip_bytes)
    if encode == "garbage":
        body["code"]["zipFile"] = zip_bytes.decode("latin-1")
    if update:
        method, path = "PUT", f"{API}/services/{SVC}/functions/{name}"
    else:
        method, path = "POST", f"{API}/services/{SVC}/functions"
    status, _, _ = _call(fuzzed, method, path, json.dumps(body).encode())
    if status == 200:
        ACCEPTED_CODE.add(hashlib.sha256(zip_bytes).hexdigest())
        if not update:  # keep the name free for the next example
            _call(fuzzed, "DELETE", f"{API}/services/{SVC}/functions/{name}")


# The data dir afterwards ------------------------------------------------------------------
def _assert_no_stray_files(data_dir: Path) -> None:
    """Only the store's files at the top; under code/ and unpacked/, only whole packages that
    pass the code store's checks, named by their digest (a refused upload, a zip-slip or a bomb
    leaves nothing behind; no temporary file or half-extracted tree survives).

    A valid package whose function was then refused or deleted may stay: the code store is
    content-addressed and keeps packages for published versions (fcd/store/code.py)."""
    top = {p.name for p in data_dir.iterdir()}
    expected = DATA_FILES | CODE_DIRS | RUNTIME_DIRS
    assert top <= expected, top - expected
    stored = {p.name for p in (data_dir / "code").glob("*")}
    for name in stored:
        data = (data_dir / "code" / name).read_bytes()
        assert name == hashlib.sha256(data).hexdigest() + ".zip", name
        code.inspect(data, DEFAULTS.limits)
    assert {name.removesuffix(".zip") for name in stored} >= ACCEPTED_CODE
    unpacked = {p.name + ".zip" for p in (data_dir / "unpacked").glob("*")}
    assert unpacked <= stored, unpacked - stored
    half_written = list((data_dir / "buckets").glob("*/tmp/*"))
    assert not half_written, half_written
