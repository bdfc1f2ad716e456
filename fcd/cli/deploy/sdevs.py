"""Serverless Devs ``s.yaml`` (``edition: 1.0.0``, component ``fc``/``devsapp/fc``) → :class:`Spec`.

Each entry of ``services:`` is one function of an FC service (``props.service.name``); entries
naming the same service are merged. Variables: ``${env.X}``/``${env(X)}``, ``${vars.x}``,
``${this.props.x}``, ``${OTHER.props.x}`` and ``${OTHER.output.x}`` (read from OTHER's props,
which is what its output echoes: region, service, function, triggers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fcd.cli.deploy import fields as f
from fcd.cli.deploy.model import (
    DeployFileError,
    DomainSpec,
    FunctionSpec,
    Hook,
    ServiceSpec,
    Spec,
    TriggerSpec,
)

COMPONENTS = frozenset({"fc", "devsapp/fc"})
_VARIABLE = re.compile(r"\$\{([^{}]+)\}")
_ENV_CALL = re.compile(r"""^env\(\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?\s*\)$""")
# Nesting of variables through other variables; more is a cycle.
MAX_DEPTH = 20


def is_sdevs(doc: Any) -> bool:
    return isinstance(doc, dict) and "services" in doc and "edition" in doc


class _Resolver:
    def __init__(self, doc: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.environ = environ
        self.services = doc.get("services") or {}

    def value(self, raw: Any, owner: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise DeployFileError(f"services.{owner}: variables refer to each other in a cycle")
        if isinstance(raw, dict):
            return {k: self.value(v, owner, depth) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v, owner, depth) for v in raw]
        if not isinstance(raw, str):
            return raw
        whole = _VARIABLE.fullmatch(raw.strip())
        if whole:  # a lone variable keeps the type of what it names
            return self.lookup(whole.group(1).strip(), owner, depth)
        return _VARIABLE.sub(lambda m: str(self.lookup(m.group(1).strip(), owner, depth)), raw)

    def lookup(self, expression: str, owner: str, depth: int) -> Any:
        called = _ENV_CALL.match(expression)
        if called or expression.startswith("env."):
            name = called.group(1) if called else expression[4:]
            if name not in self.environ:
                raise DeployFileError(f"${{{expression}}}: environment variable {name} is not set")
            return self.environ[name]
        head, _, rest = expression.partition(".")
        if head == "vars":
            return self._walk(self.doc.get("vars") or {}, rest, expression, owner, depth + 1)
        if head == "this":
            head = owner
        if head in self.services:
            kind, _, path = rest.partition(".")
            if kind not in ("props", "output"):
                raise DeployFileError(f"${{{expression}}}: only .props and .output are known")
            props = (self.services[head] or {}).get("props") or {}
            return self._walk(props, path, expression, head, depth + 1)
        raise DeployFileError(f"${{{expression}}}: unknown variable")

    def _walk(self, root: Any, path: str, expression: str, owner: str, depth: int) -> Any:
        """Follow ``path`` from ``root``, resolving the variables met on the way (only those)."""
        here = root
        for part in [p for p in path.split(".") if p]:
            if isinstance(here, str):
                here = self.value(here, owner, depth + 1)
            if isinstance(here, dict) and part in here:
                here = here[part]
            elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
                here = here[int(part)]
            else:
                raise DeployFileError(f"${{{expression}}}: '{part}' not found")
        return self.value(here, owner, depth + 1)


def parse(doc: Mapping[str, Any], base: Path, environ: Mapping[str, str]) -> Spec:
    """The plan model of an s.yaml document; ``base`` is the file's directory.

    Raises:
        DeployFileError: not an fc component file, or an unresolvable variable.
    """
    warnings: list[str] = []
    resolver = _Resolver(doc, environ)
    services: dict[str, dict[str, Any]] = {}
    functions: dict[str, list[FunctionSpec]] = {}
    domains: list[DomainSpec] = []
    hooks: list[Hook] = []
    for key, entry in (doc.get("services") or {}).items():
        if not isinstance(entry, dict):
            raise DeployFileError(f"services.{key} is not a mapping")
        component = str(entry.get("component", ""))
        if component.split("@")[0] not in COMPONENTS:
            warnings.append(f"services.{key}: component '{component}' skipped: only fc is deployed")
            continue
        props = resolver.value(entry.get("props") or {}, key)
        hooks += _hooks(entry.get("actions") or {}, key, base, resolver, warnings)
        service = props.get("service") or {}
        name = service.get("name")
        if not name:
            raise DeployFileError(f"services.{key}.props.service.name is required")
        where = f"services.{key}.props.service"
        chosen = f.pick(
            {k: v for k, v in service.items() if k != "name"}, f.SERVICE_FIELDS, where, warnings
        )
        if name in services and services[name] != chosen and chosen:
            warnings.append(
                f"{where}: service '{name}' is set differently elsewhere; this one wins"
            )
        services[name] = {**services.get(name, {}), **chosen}
        functions.setdefault(name, [])
        function = props.get("function")
        if function:
            functions[name].append(
                _function(function, props.get("triggers") or [], key, base, props, warnings)
            )
        for domain in props.get("customDomains") or []:
            spec = _domain(domain, name, function.get("name") if function else None, key, warnings)
            if spec:
                domains.append(spec)
    return Spec(
        services=tuple(
            ServiceSpec(name, fields, tuple(functions[name])) for name, fields in services.items()
        ),
        domains=tuple(domains),
        hooks=tuple(hooks),
        warnings=tuple(warnings),
    )


def _hooks(
    actions: Mapping[str, Any], key: str, base: Path, resolver: _Resolver, warnings: list[str]
) -> list[Hook]:
    out: list[Hook] = []
    for phase, steps in actions.items():
        if phase not in ("pre-deploy", "post-deploy"):
            warnings.append(f"services.{key}.actions.{phase} skipped: only pre-/post-deploy run")
            continue
        for step in steps or []:
            step = resolver.value(step, key)
            if not isinstance(step, dict) or "run" not in step:
                warnings.append(
                    f"services.{key}.actions.{phase}: a plugin/component step is not run"
                )
                continue
            out.append(Hook(phase, str(step["run"]), (base / str(step.get("path", "."))).resolve()))
    return out


def _function(
    function: Mapping[str, Any],
    triggers: list[Any],
    key: str,
    base: Path,
    props: Mapping[str, Any],
    warnings: list[str],
) -> FunctionSpec:
    where = f"services.{key}.props.function"
    name = function.get("name")
    if not name:
        raise DeployFileError(f"{where}.name is required")
    code_uri = function.get("codeUri")
    code: Path | None = None
    if isinstance(code_uri, str):
        code = (base / code_uri).resolve()
    elif code_uri is not None:
        warnings.append(f"{where}.codeUri: only a local directory or zip is deployed")
    rest = {k: v for k, v in function.items() if k not in ("name", "codeUri")}
    chosen = f.pick(rest, f.FUNCTION_FIELDS, where, warnings)
    if "environmentVariables" in chosen:
        chosen["environmentVariables"] = {
            str(k): str(v) for k, v in (chosen["environmentVariables"] or {}).items()
        }
    specs = []
    for index, trigger in enumerate(triggers):
        spec = _trigger(trigger, f"services.{key}.props.triggers[{index}]", props, warnings)
        if spec:
            specs.append(spec)
    return FunctionSpec(name, chosen, code, tuple(specs))


def _trigger(
    trigger: Mapping[str, Any], where: str, props: Mapping[str, Any], warnings: list[str]
) -> TriggerSpec | None:
    kind = str(trigger.get("type", "")).lower()
    name = trigger.get("name")
    if not name or not kind:
        raise DeployFileError(f"{where}: name and type are required")
    if kind not in f.SUPPORTED_TRIGGERS:
        warnings.append(f"{where} '{name}' skipped: {f.trigger_reason(kind)}")
        return None
    config = dict(trigger.get("config") or {})
    source_arn = trigger.get("sourceArn")
    if kind == "oss":
        config = oss_config(config)
        bucket = config.pop("bucketName", None)
        if bucket and not source_arn:
            source_arn = f"acs:oss:{props.get('region', '')}::{bucket}"
    return TriggerSpec(
        name=str(name),
        type=kind,
        config=config,
        qualifier=trigger.get("qualifier"),
        invocation_role=trigger.get("role"),
        source_arn=source_arn,
        description=trigger.get("description"),
    )


def oss_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """An OSS trigger config with FC's lower-case ``filter.key.prefix/suffix`` spelling."""
    out = {k: v for k, v in config.items() if k.lower() != "filter"}
    filter_ = next((v for k, v in config.items() if k.lower() == "filter"), None)
    if isinstance(filter_, dict):
        key = next((v for k, v in filter_.items() if k.lower() == "key"), None) or {}
        out["filter"] = {"key": {k.lower(): v for k, v in key.items()}}
    return out


def _domain(
    domain: Mapping[str, Any],
    service: str,
    function: str | None,
    key: str,
    warnings: list[str],
) -> DomainSpec | None:
    where = f"services.{key}.props.customDomains"
    name = str(domain.get("domainName", ""))
    if not name or name.lower() == "auto":
        warnings.append(
            f"{where}: domainName '{name}' skipped: fcd assigns no test domains; name one"
        )
        return None
    routes = []
    for route in domain.get("routeConfigs") or []:
        entry = {
            "path": route.get("path", "/*"),
            "serviceName": route.get("serviceName") or service,
            "functionName": route.get("functionName") or function,
        }
        for optional in ("qualifier", "methods"):
            if route.get(optional) is not None:
                entry[optional] = route[optional]
        routes.append(entry)
    body: dict[str, Any] = {
        "protocol": domain.get("protocol", "HTTP"),
        "routeConfig": {"routes": routes},
    }
    if domain.get("certConfig"):
        body["certConfig"] = domain["certConfig"]
    for extra in domain:
        if extra not in ("domainName", "protocol", "routeConfigs", "certConfig"):
            warnings.append(
                f"{where} '{name}': '{extra}' left out: fcctl deploy does not translate it"
            )
    return DomainSpec(name, body)
