"""Point 4: the API semantics the official clients rely on, in the order their suites call."""

from __future__ import annotations

import fc2
import pytest

from tests.conformance.conftest import code_dir


def test_the_python_sdk_teardown_deletes_versions_before_aliases(
    client: fc2.Client, service: str
) -> None:
    """aliyun/fc-python-sdk test/version_test.py: test_alias leaves aliases on version 1 and
    tearDown deletes every version, then every alias, then the service."""
    v1 = client.publish_version(service, "test service v1").data["versionId"]
    for i in range(2, 4):
        client.update_service(service, f"service description{i}")
        client.publish_version(service, f"test service v{i}")
        client.create_alias(service, f"test{i}", v1, f"test alias{i}", {"1": 0.9})
    for version in client.list_versions(service).data["versions"]:
        client.delete_version(service, version["versionId"])
    for alias in client.list_aliases(service).data["aliases"]:
        client.delete_alias(service, alias["aliasName"])
    client.delete_service(service)


def test_an_alias_on_a_deleted_version_answers_version_not_found(
    client: fc2.Client, service: str
) -> None:
    client.create_function(
        service, "hello", "python3", "index.handler", codeDir=code_dir("legacy_python")
    )
    v1 = client.publish_version(service, "v1").data["versionId"]
    client.create_alias(service, "live", v1)
    assert client.invoke_function(service, "hello", qualifier="live").data.startswith(b"hello")
    client.delete_version(service, v1)
    with pytest.raises(fc2.FcError) as gone:
        client.invoke_function(service, "hello", qualifier="live")
    assert (gone.value.status_code, gone.value.err_code) == (404, "VersionNotFound")


def test_a_recreated_service_numbers_versions_from_1(client: fc2.Client, service: str) -> None:
    """The Node SDK's suite re-creates one service name per block and aliases version '1'."""
    client.create_function(
        service, "hello", "python3", "index.handler", codeDir=code_dir("legacy_python")
    )
    client.publish_version(service, "test version 1")
    client.update_function(service, "hello", description="updated function desc")
    assert client.publish_version(service, "test version 2").data["versionId"] == "2"
    client.delete_version(service, "1")
    client.delete_version(service, "2")
    client.delete_function(service, "hello")
    client.delete_service(service)
    client.create_service(service)
    assert client.publish_version(service).data["versionId"] == "1"
    client.create_alias(service, "new-version", "1")


def test_get_service_with_a_qualifier_answers_the_version_description(
    client: fc2.Client, service: str
) -> None:
    """aliyun/fc-python-sdk test/version_test.py test_get_service."""
    v1 = client.publish_version(service, "test service v1 desc").data["versionId"]
    assert client.get_service(service, qualifier=v1).data["description"] == "test service v1 desc"
    assert client.get_service(service).data["description"] == "conformance"
    client.create_alias(service, "test", v1, "test alias", {"1": 0.9})
    assert client.get_service(service, qualifier="test").data["description"] == (
        "test service v1 desc"
    )
