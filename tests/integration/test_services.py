"""Services through the official Python SDK (aliyun-fc2)."""

from __future__ import annotations

import fc2
import pytest
from fc2.fc_exceptions import FcError


def test_create_get_update_delete(client: fc2.Client, unique: str) -> None:
    name = f"svc_{unique}"
    created = client.create_service(name, description="first")
    assert created.headers["etag"]
    for key in ("createdTime", "lastModifiedTime", "logConfig", "role", "serviceId"):
        assert created.data[key] is not None
    assert created.data["internetAccess"] is True
    assert created.data["description"] == "first"

    got = client.get_service(name)
    assert got.data == created.data
    assert got.headers["etag"] == created.headers["etag"]

    updated = client.update_service(name, description="second", internetAccess=False)
    assert updated.data["description"] == "second"
    assert updated.data["internetAccess"] is False
    assert updated.data["createdTime"] == created.data["createdTime"]

    with pytest.raises(FcError) as bad:
        client.delete_service(name, headers={"if-match": "invalid etag"})
    assert bad.value.status_code == 412
    client.delete_service(name, headers={"if-match": updated.headers["etag"]})
    with pytest.raises(FcError) as gone:
        client.get_service(name)
    assert gone.value.status_code == 404
    assert gone.value.err_code == "ServiceNotFound"
    assert len(gone.value.request_id) == 36


def test_duplicate_and_invalid_names(client: fc2.Client, unique: str) -> None:
    name = f"dup_{unique}"
    client.create_service(name)
    with pytest.raises(FcError) as dup:
        client.create_service(name)
    assert dup.value.status_code == 409
    with pytest.raises(FcError) as bad:
        client.create_service("1starts-with-digit")
    assert bad.value.status_code == 400
    client.delete_service(name)


def test_tracing_config_jaeger_is_kept_other_types_refused(client: fc2.Client, unique: str) -> None:
    """A Jaeger endpoint reaches functions as context.tracing.jaegerEndpoint (the conformance
    corpus checks that); FC traces to Jaeger only, so another type is refused."""
    name = f"trace_{unique}"
    jaeger = {"type": "Jaeger", "params": {"endpoint": "http://jaeger:14268"}}
    created = client.create_service(name, tracingConfig=jaeger)
    assert created.data["tracingConfig"] == jaeger
    with pytest.raises(FcError) as bad:
        client.update_service(name, tracingConfig={"type": "Zipkin", "params": {}})
    assert bad.value.status_code == 400
    cleared = client.update_service(name, tracingConfig={})
    assert cleared.data["tracingConfig"] == {"type": None, "params": None}
    client.delete_service(name)


def test_vpc_config_is_refused(client: fc2.Client, unique: str) -> None:
    name = f"vpc_{unique}"
    with pytest.raises(FcError) as bad:
        client.create_service(name, vpcConfig={"vpcId": "vpc-1", "vSwitchIds": ["vsw-1"]})
    assert bad.value.status_code == 400
    assert "internetAccess" in bad.value.message


def test_list_prefix_start_key_and_tokens(client: fc2.Client, unique: str) -> None:
    base = f"lst_{unique}_"
    names = [base + suffix for suffix in ("aa", "ab", "abc", "abd", "b")]
    for name in names:
        client.create_service(name)
    page = client.list_services(prefix=base + "ab", startKey=base + "abd").data
    assert [s["serviceName"] for s in page["services"]] == [base + "abd"]

    seen, token, calls = [], None, 0
    while True:
        kwargs = {"prefix": base, "limit": 2}
        if token:
            kwargs["nextToken"] = token
        data = client.list_services(**kwargs).data
        calls += 1
        seen += [s["serviceName"] for s in data["services"]]
        token = data.get("nextToken")
        if not token:
            break
    assert seen == sorted(names)
    assert calls == 3
    for name in names:
        client.delete_service(name)
