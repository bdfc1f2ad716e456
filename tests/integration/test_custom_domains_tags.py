"""Custom domains and tags through the official Python SDK (PYT:custom_domain_test.py,
PYT:tag_test.py, NODET customDomain/tag tests), plus raw HTTP for every error case."""

from __future__ import annotations

from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.daemon import ACCOUNT_ID, REGION, RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.signed_http import api_call

# Not a real certificate: fcd checks the PEM framing, not the contents.
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
CERT_CONFIG = {"certName": "test-ssl", "privateKey": KEY, "certificate": CERT}
ROUTES = {
    "routes": [
        {"serviceName": "s1", "functionName": "f1", "path": "/a", "qualifier": None},
        {"serviceName": "s2", "functionName": "f2", "path": "/b", "qualifier": None},
    ]
}


# Custom domains ---------------------------------------------------------------------------------
def test_custom_domain_lifecycle(client: fc2.Client, unique: str) -> None:
    """PYT test_custom_domain, step by step."""
    domain = f"pythonSDK{unique}.cn-hongkong.{ACCOUNT_ID}.cname-test.fc.aliyun-inc.com"
    created = client.create_custom_domain(domain)
    assert created.headers["etag"]
    data = created.data
    assert data["domainName"] == domain
    assert data["protocol"] == "HTTP"
    assert data["accountId"] == ACCOUNT_ID
    assert data["apiVersion"] == "2016-08-15"
    assert data["createdTime"]
    assert data["lastModifiedTime"]
    assert data["routeConfig"] == {"routes": []}

    with pytest.raises(FcError) as dup:
        client.create_custom_domain(domain)
    assert (dup.value.status_code, dup.value.err_code) == (409, "DomainNameAlreadyExists")
    assert client.get_custom_domain(domain).data == data

    both = client.update_custom_domain(domain, "HTTP,HTTPS", ROUTES, certConfig=CERT_CONFIG).data
    assert both["protocol"] == "HTTP,HTTPS"
    assert [(r["serviceName"], r["path"]) for r in both["routeConfig"]["routes"]] == [
        ("s1", "/a"),
        ("s2", "/b"),
    ]
    assert both["certConfig"] == {"certName": "test-ssl", "certificate": CERT, "privateKey": None}
    assert both["createdTime"] == data["createdTime"]

    plain = client.update_custom_domain(domain, "HTTP", ROUTES).data
    assert plain["protocol"] == "HTTP"
    assert plain["routeConfig"]["routes"][1]["functionName"] == "f2"
    assert plain["certConfig"]["privateKey"] is None

    listed = client.list_custom_domains(prefix=f"pythonSDK{unique}").data
    assert len(listed) == 1  # exactly the key customDomains: no nextToken when finished
    assert [d["domainName"] for d in listed["customDomains"]] == [domain]

    client.delete_custom_domain(domain)
    with pytest.raises(FcError) as gone:
        client.get_custom_domain(domain)
    assert (gone.value.status_code, gone.value.err_code) == (404, "DomainNameNotFound")

    again = client.create_custom_domain(domain, "HTTP,HTTPS", certConfig=CERT_CONFIG).data
    assert again["certConfig"]["certName"] == "test-ssl"
    assert again["certConfig"]["certificate"] == CERT
    assert again["certConfig"]["privateKey"] is None
    client.delete_custom_domain(domain)


def test_custom_domain_names_ignore_case(
    client: fc2.Client, daemon: RunningDaemon, unique: str
) -> None:
    domain = f"Mixed{unique}.Example.com"
    client.create_custom_domain(domain)
    assert client.get_custom_domain(domain.lower()).data["domainName"] == domain
    response = api_call(daemon, "POST", "/custom-domains", {"domainName": domain.upper()})
    assert_fc_error(response, 409, "DomainNameAlreadyExists")
    listed = client.list_custom_domains(prefix=f"MIXED{unique}").data["customDomains"]
    assert [d["domainName"] for d in listed] == [domain]
    client.delete_custom_domain(domain.upper())


def test_custom_domain_pagination(client: fc2.Client, unique: str) -> None:
    names = [f"page{unique}{i}.example.com" for i in range(5)]
    for name in names:
        client.create_custom_domain(name)
    seen: list[str] = []
    data = client.list_custom_domains(prefix=f"page{unique}", limit=2).data
    calls = 1
    seen += [d["domainName"] for d in data["customDomains"]]
    while data.get("nextToken"):
        data = client.list_custom_domains(
            prefix=f"page{unique}", limit=2, nextToken=data["nextToken"]
        ).data
        seen += [d["domainName"] for d in data["customDomains"]]
        calls += 1
    assert (seen, calls) == (names, 3)
    from_key = client.list_custom_domains(prefix=f"page{unique}", startKey=names[3]).data
    assert [d["domainName"] for d in from_key["customDomains"]] == names[3:]
    for name in names:
        client.delete_custom_domain(name)


def test_custom_domain_keeps_private_key_on_update(
    client: fc2.Client, daemon: RunningDaemon, unique: str
) -> None:
    """A get-modify-put sends ``privateKey: null`` back: the stored key stays."""
    domain = f"keep{unique}.example.com"
    client.create_custom_domain(domain, "HTTPS", certConfig=CERT_CONFIG)
    got = client.get_custom_domain(domain).data
    got["certConfig"]["certName"] = "renamed"
    response = api_call(
        daemon, "PUT", f"/custom-domains/{domain}", {"certConfig": got["certConfig"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["certConfig"]["certName"] == "renamed"
    assert response.json()["certConfig"]["privateKey"] is None
    client.delete_custom_domain(domain)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "domainName"),
        ({"domainName": "bad domain.com"}, "domainName"),
        ({"domainName": "-bad.example.com"}, "domainName"),
        ({"domainName": "x.example.com", "protocol": "FTP"}, "protocol"),
        ({"domainName": "x.example.com", "protocol": "HTTPS"}, "certConfig"),
        (
            {
                "domainName": "x.example.com",
                "certConfig": {"certName": "c", "certificate": "x", "privateKey": KEY},
            },
            "certificate",
        ),
        (
            {"domainName": "x.example.com", "certConfig": {"certName": "c", "certificate": CERT}},
            "privateKey",
        ),
        (
            {"domainName": "x.example.com", "certConfig": {"certificate": CERT, "privateKey": KEY}},
            "certName",
        ),
        (
            {
                "domainName": "x.example.com",
                "routeConfig": {"routes": [{"path": "a", "serviceName": "s", "functionName": "f"}]},
            },
            "routes[0].path",
        ),
        (
            {
                "domainName": "x.example.com",
                "routeConfig": {
                    "routes": [{"path": "/a*b", "serviceName": "s", "functionName": "f"}]
                },
            },
            "routes[0].path",
        ),
        (
            {
                "domainName": "x.example.com",
                "routeConfig": {
                    "routes": [
                        {"path": "/a", "serviceName": "s", "functionName": "f"},
                        {"path": "/a", "serviceName": "s", "functionName": "g"},
                    ]
                },
            },
            "routes[1].path",
        ),
        (
            {
                "domainName": "x.example.com",
                "routeConfig": {"routes": [{"path": "/a", "functionName": "f"}]},
            },
            "routes[0].serviceName",
        ),
        (
            {
                "domainName": "x.example.com",
                "routeConfig": {
                    "routes": [
                        {
                            "path": "/a",
                            "serviceName": "s",
                            "functionName": "f",
                            "methods": ["FETCH"],
                        }
                    ]
                },
            },
            "routes[0].methods",
        ),
        ({"domainName": "x.example.com", "routeConfig": {"routes": "all"}}, "routes"),
    ],
)
def test_custom_domain_validation(daemon: RunningDaemon, payload: Any, field: str) -> None:
    body = assert_fc_error(
        api_call(daemon, "POST", "/custom-domains", payload), 400, "InvalidArgument"
    )
    assert field in body["ErrorMessage"]


def test_custom_domain_missing(daemon: RunningDaemon) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = api_call(daemon, method, "/custom-domains/nowhere.example.com", {})
        assert_fc_error(response, 404, "DomainNameNotFound")


def test_custom_domain_go_style_cert_keys_and_wildcard_routes(
    daemon: RunningDaemon, unique: str
) -> None:
    """Go's CertConfig has malformed tags and sends CertName/PrivateKey/Certificate (spec §1.3)."""
    domain = f"go{unique}.example.com"
    payload = {
        "DomainName": domain,
        "Protocol": "HTTP,HTTPS",
        "CertConfig": {"CertName": "c", "Certificate": CERT, "PrivateKey": KEY},
        "RouteConfig": {
            "Routes": [
                {
                    "Path": "/api/*",
                    "ServiceName": "s",
                    "FunctionName": "f",
                    "Qualifier": "prod",
                    "Methods": ["GET"],
                }
            ]
        },
        "tlsConfig": None,
    }
    response = api_call(daemon, "POST", "/custom-domains", payload)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["certConfig"] == {"certName": "c", "certificate": CERT, "privateKey": None}
    assert data["routeConfig"]["routes"][0]["qualifier"] == "prod"
    assert data["routeConfig"]["routes"][0]["path"] == "/api/*"
    assert api_call(daemon, "DELETE", f"/custom-domains/{domain}").status_code == 204


# Tags -------------------------------------------------------------------------------------------
def test_all_tag_operations(client: fc2.Client, unique: str) -> None:
    """PYT test_all_tag_op."""
    prefix = f"tag_{unique}_"
    for i in range(3):
        client.create_service(prefix + str(i))
        arn = f"acs:fc:{REGION}:{ACCOUNT_ID}:services/{prefix}{i}"
        client.tag_resource(arn, {"k3": "v3"})
        client.tag_resource(arn, {"k1": "v1"} if i % 2 == 0 else {"k2": "v2"})
        resp = client.get_resource_tags(arn).data
        assert resp["resourceArn"] == arn
        assert resp["tags"] == (
            {"k1": "v1", "k3": "v3"} if i % 2 == 0 else {"k2": "v2", "k3": "v3"}
        )
        client.untag_resource(arn, ["k3"])
        resp = client.get_resource_tags(arn).data
        assert resp["tags"] == ({"k1": "v1"} if i % 2 == 0 else {"k2": "v2"})
    listed = client.list_services(prefix=prefix, tags={"k1": "v1"}).data["services"]
    assert [s["serviceName"] for s in listed] == [prefix + "0", prefix + "2"]
    for i in range(3):
        arn = f"acs:fc:{REGION}:{ACCOUNT_ID}:services/{prefix}{i}"
        client.untag_resource(arn, [], True)
        resp = client.get_resource_tags(arn).data
        assert resp["resourceArn"] == arn
        assert len(resp["tags"]) == 0
        client.delete_service(prefix + str(i))


def test_partial_arn_in_full_arn_out(
    client: fc2.Client, daemon: RunningDaemon, unique: str
) -> None:
    """NODET tag test: partial ARNs; tags do not move lastModifiedTime."""
    name = f"tagp_{unique}"
    created = client.create_service(name).data
    tagged = api_call(
        daemon,
        "POST",
        "/tag",
        {"resourceArn": f"services/{name}", "tags": {"k1": "v1", "k2": "v2"}},
    )
    assert tagged.status_code == 200
    assert tagged.json() == {"requestId": tagged.headers["X-Fc-Request-Id"]}
    got = api_call(daemon, "GET", f"/tag?resourceArn=services/{name}").json()
    assert got == {
        "resourceArn": f"acs:fc:{REGION}:{ACCOUNT_ID}:services/{name}",
        "tags": {"k1": "v1", "k2": "v2"},
    }
    service = client.get_service(name).data
    assert service["tags"] == {"k1": "v1", "k2": "v2"}
    assert service["lastModifiedTime"] == created["lastModifiedTime"]
    untagged = api_call(
        daemon,
        "DELETE",
        "/tag",
        {"resourceArn": f"services/{name}", "tagKeys": ["k1", "absent"], "all": False},
    )
    assert untagged.status_code == 200
    assert untagged.json()["requestId"]
    assert client.get_resource_tags(f"services/{name}").data["tags"] == {"k2": "v2"}
    client.untag_resource(f"services/{name}", [], True)
    client.delete_service(name)


def test_list_tagged_resources(client: fc2.Client, daemon: RunningDaemon, unique: str) -> None:
    names = [f"tagl_{unique}_{i}" for i in range(4)]
    for i, name in enumerate(names):
        client.create_service(name)
        if i != 1:
            client.tag_resource(f"services/{name}", {"team": str(i)})
    seen: dict[str, dict[str, str]] = {}
    token = ""
    while True:
        data = api_call(daemon, "GET", f"/tags?limit=1&nextToken={token}").json()
        assert len(data["resources"]) <= 1
        seen.update({r["resourceArn"]: r["tags"] for r in data["resources"]})
        token = data.get("nextToken", "")
        if not token:
            break
    mine = {arn.rsplit("/", 1)[1]: tags for arn, tags in seen.items() if unique in arn}
    assert mine == {names[0]: {"team": "0"}, names[2]: {"team": "2"}, names[3]: {"team": "3"}}
    for name in names:
        client.untag_resource(f"services/{name}", [], True)
        client.delete_service(name)


def test_tag_errors(client: fc2.Client, daemon: RunningDaemon, unique: str) -> None:
    name = f"tage_{unique}"
    client.create_service(name)
    arn = f"services/{name}"
    cases: list[tuple[str, str, Any, int, str, str]] = [
        ("POST", "/tag", {"tags": {"k": "v"}}, 400, "InvalidArgument", "resourceArn"),
        ("POST", "/tag", {"resourceArn": arn}, 400, "InvalidArgument", "tags"),
        ("POST", "/tag", {"resourceArn": arn, "tags": {}}, 400, "InvalidArgument", "tags"),
        (
            "POST",
            "/tag",
            {"resourceArn": arn, "tags": {f"k{i}": "v" for i in range(21)}},
            400,
            "InvalidArgument",
            "at most 20",
        ),
        ("POST", "/tag", {"resourceArn": arn, "tags": {"": "v"}}, 400, "InvalidArgument", "key"),
        ("POST", "/tag", {"resourceArn": arn, "tags": {"k": 1}}, 400, "InvalidArgument", "tags"),
        (
            "POST",
            "/tag",
            {"resourceArn": f"{arn}/functions/f", "tags": {"k": "v"}},
            400,
            "InvalidArgument",
            "only services",
        ),
        (
            "POST",
            "/tag",
            {"resourceArn": f"acs:fc:{REGION}:999:services/{name}", "tags": {"k": "v"}},
            400,
            "InvalidArgument",
            "account",
        ),
        (
            "POST",
            "/tag",
            {"resourceArn": "acs:oss:x:y:bucket", "tags": {"k": "v"}},
            400,
            "InvalidArgument",
            "only services",
        ),
        (
            "POST",
            "/tag",
            {"resourceArn": "services/nope_x", "tags": {"k": "v"}},
            404,
            "ServiceNotFound",
            "nope_x",
        ),
        ("DELETE", "/tag", {"resourceArn": arn}, 400, "InvalidArgument", "tagKeys"),
        (
            "DELETE",
            "/tag",
            {"resourceArn": arn, "tagKeys": [f"k{i}" for i in range(21)]},
            400,
            "InvalidArgument",
            "at most 20",
        ),
        (
            "DELETE",
            "/tag",
            {"resourceArn": "services/nope_x", "all": True},
            404,
            "ServiceNotFound",
            "nope_x",
        ),
        ("GET", "/tag", None, 400, "InvalidArgument", "resourceArn"),
        ("GET", "/tag?resourceArn=services/nope_x", None, 404, "ServiceNotFound", "nope_x"),
        ("GET", "/tags?limit=x", None, 400, "InvalidArgument", "limit"),
    ]
    for method, path, payload, status, code, words in cases:
        body = assert_fc_error(api_call(daemon, method, path, payload), status, code)
        assert words in body["ErrorMessage"], (method, path, body)
    assert client.get_resource_tags(arn).data["tags"] == {}
    client.delete_service(name)
