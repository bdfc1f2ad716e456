"""Funcraft ``template.yml`` (``Transform: Aliyun::Serverless-2018-04-03``) → :class:`Spec`.

Services are ``Aliyun::Serverless::Service`` resources with their functions as nested
``Aliyun::Serverless::Function`` entries, whose ``Events`` are the triggers; custom domains are
``Aliyun::Serverless::CustomDomain`` resources named by the domain. Property names are
PascalCase and case-sensitive, as the specification says.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fcd.cli.deploy import fields as f
from fcd.cli.deploy.model import (
    DeployFileError,
    DomainSpec,
    FunctionSpec,
    ServiceSpec,
    Spec,
    TriggerSpec,
)
from fcd.cli.deploy.sdevs import oss_config

TRANSFORM = "Aliyun::Serverless-2018-04-03"
SERVICE = "Aliyun::Serverless::Service"
FUNCTION = "Aliyun::Serverless::Function"
DOMAIN = "Aliyun::Serverless::CustomDomain"
SERVICE_PROPERTIES = {
    "Description": "description",
    "InternetAccess": "internetAccess",
    "Role": "role",
    "LogConfig": "logConfig",
    "VpcConfig": "vpcConfig",
    "NasConfig": "nasConfig",
    "TracingConfig": "tracingConfig",
    "Policies": "Policies",
}
FUNCTION_PROPERTIES = {
    "Description": "description",
    "Handler": "handler",
    "Runtime": "runtime",
    "MemorySize": "memorySize",
    "Timeout": "timeout",
    "EnvironmentVariables": "environmentVariables",
    "Initializer": "initializer",
    "InitializationTimeout": "initializationTimeout",
    "InstanceConcurrency": "instanceConcurrency",
    "CAPort": "caPort",
    "Layers": "layers",
    "InstanceType": "instanceType",
    "CustomContainerConfig": "customContainerConfig",
    "AsyncConfiguration": "asyncConfiguration",
    "GpuMemorySize": "gpuMemorySize",
}
# A certificate or key file larger than this is not a PEM of one certificate.
MAX_PEM_BYTES = 64 * 1024
EVENT_TYPES = {"http": "http", "timer": "timer", "oss": "oss"}


def is_funcraft(doc: Any) -> bool:
    return isinstance(doc, dict) and "Resources" in doc and "Transform" in doc


def parse(doc: Mapping[str, Any], base: Path) -> Spec:
    """The plan model of a template.yml document; ``base`` is the file's directory.

    Raises:
        DeployFileError: another Transform, or a function without Handler/Runtime/CodeUri.
    """
    if doc.get("Transform") != TRANSFORM:
        raise DeployFileError(f"Transform must be '{TRANSFORM}', got {doc.get('Transform')!r}")
    warnings: list[str] = []
    services: list[ServiceSpec] = []
    domains: list[DomainSpec] = []
    for name, resource in (doc.get("Resources") or {}).items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if kind == SERVICE:
            services.append(_service(name, resource, base, warnings))
        elif kind == DOMAIN:
            domains.append(_domain(name, resource.get("Properties") or {}, base, warnings))
        else:
            warnings.append(
                f"Resources.{name}: type {kind!r} skipped: fcctl deploy creates FC resources only"
            )
    for key in doc:
        if key not in ("ROSTemplateFormatVersion", "Transform", "Resources"):
            warnings.append(f"'{key}' left out: fcctl deploy does not translate it")
    return Spec(tuple(services), tuple(domains), (), tuple(warnings))


def _renamed(properties: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in properties.items()}


def _service(
    name: str, resource: Mapping[str, Any], base: Path, warnings: list[str]
) -> ServiceSpec:
    where = f"Resources.{name}"
    props = _renamed(resource.get("Properties") or {}, SERVICE_PROPERTIES)
    chosen = f.pick(props, f.SERVICE_FIELDS, f"{where}.Properties", warnings)
    functions = []
    for child, value in resource.items():
        if child in ("Type", "Properties"):
            continue
        if isinstance(value, dict) and value.get("Type") == FUNCTION:
            functions.append(_function(child, value, f"{where}.{child}", base, warnings))
        else:
            warnings.append(f"{where}.{child} skipped: not an {FUNCTION}")
    return ServiceSpec(name, chosen, tuple(functions))


def _function(
    name: str, resource: Mapping[str, Any], where: str, base: Path, warnings: list[str]
) -> FunctionSpec:
    properties = dict(resource.get("Properties") or {})
    for required in ("Handler", "Runtime", "CodeUri"):
        if required not in properties:
            raise DeployFileError(f"{where}.Properties.{required} is required")
    code_uri = str(properties.pop("CodeUri"))
    code: Path | None = None
    if code_uri.startswith("oss://"):
        warnings.append(
            f"{where}.Properties.CodeUri: '{code_uri}' left out: only local code is deployed"
        )
    else:
        code = (base / code_uri).resolve()
    chosen = f.pick(
        _renamed(properties, FUNCTION_PROPERTIES),
        f.FUNCTION_FIELDS,
        f"{where}.Properties",
        warnings,
    )
    if "environmentVariables" in chosen:
        chosen["environmentVariables"] = {
            str(k): str(v) for k, v in (chosen["environmentVariables"] or {}).items()
        }
    triggers = []
    for event, spec in (resource.get("Events") or {}).items():
        trigger = _event(event, spec or {}, f"{where}.Events.{event}", warnings)
        if trigger:
            triggers.append(trigger)
    return FunctionSpec(name, chosen, code, tuple(triggers))


def _event(
    name: str, event: Mapping[str, Any], where: str, warnings: list[str]
) -> TriggerSpec | None:
    kind = str(event.get("Type", "")).lower()
    properties = dict(event.get("Properties") or {})
    if kind not in EVENT_TYPES:
        warnings.append(f"{where} skipped: {f.trigger_reason(kind)}")
        return None
    role = properties.pop("InvocationRole", None)
    qualifier = properties.pop("Qualifier", None)
    source_arn = None
    config: dict[str, Any]
    if kind == "http":
        config = {
            "authType": str(properties.pop("AuthType", "anonymous")).lower(),
            "methods": [str(m).upper() for m in properties.pop("Methods", ["GET"])],
        }
    elif kind == "timer":
        config = {"cronExpression": properties.pop("CronExpression", None)}
        if "Enable" in properties:
            config["enable"] = bool(properties.pop("Enable"))
        if "Payload" in properties:
            config["payload"] = str(properties.pop("Payload"))
    else:
        bucket = properties.pop("BucketName", None)
        source_arn = f"acs:oss:::{bucket}" if bucket else None
        config = oss_config(
            {"events": properties.pop("Events", []), "filter": properties.pop("Filter", None)}
        )
        if config.get("filter") is None:
            config.pop("filter", None)
    for extra in properties:
        warnings.append(f"{where}.Properties.{extra} left out: fcctl deploy does not translate it")
    return TriggerSpec(
        name=name,
        type=EVENT_TYPES[kind],
        config=config,
        qualifier=qualifier,
        invocation_role=role,
        source_arn=source_arn,
    )


def _pem(value: Any, base: Path) -> Any:
    """A PEM given inline, or read from the file a relative or absolute path names."""
    if isinstance(value, str) and "-----BEGIN" not in value:
        path = base / value
        if path.is_file() and path.stat().st_size <= MAX_PEM_BYTES:
            return path.read_text(encoding="utf-8")
    return value


def _domain(
    name: str, properties: Mapping[str, Any], base: Path, warnings: list[str]
) -> DomainSpec:
    routes = []
    route_config = properties.get("RouteConfig") or {}
    for path, target in (route_config.get("routes") or route_config.get("Routes") or {}).items():
        entry = {
            "path": path,
            "serviceName": target.get("ServiceName"),
            "functionName": target.get("FunctionName"),
        }
        if target.get("Qualifier") is not None:
            entry["qualifier"] = target["Qualifier"]
        if target.get("Methods") is not None:
            entry["methods"] = target["Methods"]
        routes.append(entry)
    body: dict[str, Any] = {
        "protocol": properties.get("Protocol", "HTTP"),
        "routeConfig": {"routes": routes},
    }
    cert = properties.get("CertConfig")
    if cert:
        body["certConfig"] = {
            "certName": cert.get("CertName"),
            "certificate": _pem(cert.get("Certificate"), base),
            "privateKey": _pem(cert.get("PrivateKey"), base),
        }
    for extra in properties:
        if extra not in ("Protocol", "RouteConfig", "CertConfig"):
            warnings.append(f"Resources.{name}.Properties.{extra} left out: not translated")
    return DomainSpec(name, body)
