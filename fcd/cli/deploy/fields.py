"""Which settings of a function or service fcctl deploy sends, and why it leaves others out.

Both formats end in FC's camelCase wire names; a setting not listed here is reported as a
warning naming the reason, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FUNCTION_FIELDS = frozenset(
    {
        "description",
        "runtime",
        "handler",
        "memorySize",
        "timeout",
        "environmentVariables",
        "initializer",
        "initializationTimeout",
        "instanceConcurrency",
        "caPort",
        "layers",
        "instanceType",
        "diskSize",
        "cpu",
        "customDNS",
        "customRuntimeConfig",
        "customHealthCheckConfig",
        "instanceLifecycleConfig",
    }
)
SERVICE_FIELDS = frozenset({"description", "internetAccess", "role"})
# Settings fcd cannot honour on one host, with what to do instead.
REASONS = {
    "logConfig": "fcd keeps function logs itself (fcctl logs), not in a Log Service project",
    "vpcConfig": "one host has no VPC; internetAccess decides a function's network",
    "nasConfig": "fcd mounts no NAS; use layers or the code package for shared files",
    "ossMountConfig": "fcd mounts no OSS buckets",
    "tracingConfig": "fcd has no tracing backend",
    "customContainerConfig": "fcd runs no container images (python3, nodejs and custom runtimes)",
    "gpuMemorySize": "fcd has no GPU instances",
    "asyncConfiguration": "not translated: set it with PutFunctionAsyncInvokeConfig (the API)",
    "Policies": "fcd creates no RAM roles; give an existing role ARN in Role",
}


def pick(
    given: Mapping[str, Any], allowed: frozenset[str], where: str, warnings: list[str]
) -> dict[str, Any]:
    """The allowed settings of ``given``; a warning for each other one."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        if key in allowed:
            out[key] = value
        else:
            reason = REASONS.get(key, "fcctl deploy does not translate it")
            warnings.append(f"{where}: '{key}' left out: {reason}")
    return out


SUPPORTED_TRIGGERS = frozenset({"http", "timer", "oss"})


def trigger_reason(trigger_type: str) -> str:
    return (
        f"fcd fires http, timer and oss triggers only; '{trigger_type}' events come from a cloud"
        " service this host does not have"
    )
