"""FC's length limits on free-text fields, enforced at write with 400 ``InvalidArgument``
naming the field and the limit (FC's API metadata: descriptions 256 characters; role,
invocationRole and sourceArn 300; handlers and initializers 128; certificate 20480, private
key 4096 and certificate name 128). Each limit is also accepted exactly at its value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.integration.test_invoke import ECHO, write_code

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"


def refused(call: Callable[[], Any], field: str, limit: int) -> None:
    with pytest.raises(FcError) as error:
        call()
    assert (error.value.status_code, error.value.err_code) == (400, "InvalidArgument")
    message = str(error.value.message)
    assert field in message
    assert str(limit) in message


@pytest.fixture
def function(client: fc2.Client, unique: str, tmp_path: Path) -> tuple[str, str]:
    service = f"limits_{unique}"
    client.create_service(service)
    client.create_function(
        service, "f", "python3", "index.handler", codeDir=write_code(tmp_path, ECHO)
    )
    return service, "f"


def test_service_description_and_role(client: fc2.Client, unique: str) -> None:
    name = f"limits_svc_{unique}"
    refused(lambda: client.create_service(name, description="d" * 257), "description", 256)
    refused(lambda: client.create_service(name, role="r" * 301), "role", 300)
    client.create_service(name, description="d" * 256, role="r" * 300)
    refused(lambda: client.update_service(name, description="d" * 257), "description", 256)
    assert client.get_service(name).data["description"] == "d" * 256


def test_function_description_and_initializer(
    client: fc2.Client, function: tuple[str, str]
) -> None:
    service, name = function
    update = client.update_function
    refused(lambda: update(service, name, description="d" * 257), "description", 256)
    refused(lambda: update(service, name, initializer="i" * 125 + ".init"), "initializer", 128)
    update(service, name, description="d" * 256, initializer="i" * 123 + ".init")


def test_trigger_description_role_and_source(client: fc2.Client, function: tuple[str, str]) -> None:
    service, name = function
    config = {"authType": "anonymous", "methods": ["GET"]}

    def create(**extra: Any) -> Any:
        fields = {"sourceArn": None, "invocationRole": None, "description": ""}
        fields.update(extra)
        return client.create_trigger(
            service,
            name,
            "t",
            "http",
            config,
            fields["sourceArn"],
            fields["invocationRole"],
            description=fields["description"],
        )

    refused(lambda: create(description="d" * 257), "description", 256)
    refused(lambda: create(invocationRole="r" * 301), "invocationRole", 300)
    timer = {"cronExpression": "@every 1h", "enable": False}
    refused(
        lambda: client.create_trigger(service, name, "tm", "timer", timer, "s" * 301, ""),
        "sourceArn",
        300,
    )
    create(description="d" * 256, invocationRole="r" * 300)
    refused(
        lambda: client.update_trigger(service, name, "t", description="d" * 257),
        "description",
        256,
    )


def test_version_and_alias_descriptions(client: fc2.Client, function: tuple[str, str]) -> None:
    service, _ = function
    refused(lambda: client.publish_version(service, description="d" * 257), "description", 256)
    version = client.publish_version(service, description="d" * 256).data["versionId"]
    refused(
        lambda: client.create_alias(service, "live", version, description="d" * 257),
        "description",
        256,
    )
    client.create_alias(service, "live", version, description="d" * 256)
    refused(
        lambda: client.update_alias(service, "live", version, description="d" * 257),
        "description",
        256,
    )


def test_certificate_sizes(client: fc2.Client, unique: str) -> None:
    domain = f"limits-{unique}.example.test"

    def create(cert: dict[str, str]) -> Any:
        return client.create_custom_domain(domain, protocol="HTTP,HTTPS", certConfig=cert)

    big_cert = CERT + "A" * 20480
    refused(
        lambda: create({"certName": "c", "certificate": big_cert, "privateKey": KEY}),
        "certConfig.certificate",
        20480,
    )
    big_key = KEY + "A" * 4096
    refused(
        lambda: create({"certName": "c", "certificate": CERT, "privateKey": big_key}),
        "certConfig.privateKey",
        4096,
    )
    refused(
        lambda: create({"certName": "c" * 129, "certificate": CERT, "privateKey": KEY}),
        "certConfig.certName",
        128,
    )
