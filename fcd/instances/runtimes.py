"""FC runtime names → how to start them, and the environment a function sees (spec §7.2). Pure.

Every ``python3*`` name runs on the one configured Python 3 (Debian's ``/usr/bin/python3`` by
default) and every ``nodejs*`` name on the configured node: fcd does not keep several language
versions. ``custom`` runs the user's server, driven by a small stdlib agent
(``runtimes/custom/agent.py``) that speaks the daemon's frame protocol on one side and FC's
custom-runtime HTTP protocol on the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from fcd.model import InstanceSpec

Kind = Literal["python", "nodejs", "custom"]

PYTHON_NAMES = frozenset(
    {"python3", "python3.6", "python3.9", "python3.10", "python3.11", "python3.12"}
)
NODE_NAMES = frozenset(
    {"nodejs", "nodejs10", "nodejs12", "nodejs14", "nodejs16", "nodejs18", "nodejs20"}
)
CUSTOM_NAMES = frozenset({"custom", "custom.debian10", "custom.debian11"})
SUPPORTED = PYTHON_NAMES | NODE_NAMES | CUSTOM_NAMES

# Keys the platform sets; a user's environmentVariables never override them.
RESERVED_PREFIX = "FC_"


def kind_of(runtime: str) -> Kind | None:
    """The runtime family of an FC runtime name; None when fcd cannot run it."""
    if runtime in PYTHON_NAMES:
        return "python"
    if runtime in NODE_NAMES:
        return "nodejs"
    if runtime in CUSTOM_NAMES:
        return "custom"
    return None


def node_argv(node: str, runtime_path: str) -> list[str]:
    """The command line of the nodejs runtime (``runtime_path``: runtimes/ seen from inside).

    The python runtime and the custom agent need none: they run in a process forked from the
    zygote, which has imported them already.
    """
    return [node, f"{runtime_path}/nodejs/bootstrap.js"]


def environment(
    spec: InstanceSpec, kind: Kind, *, code_path: str, runtime_path: str
) -> dict[str, str]:
    """The complete, explicit environment of an instance: nothing leaks in from the daemon's."""
    ctx = spec.context
    code = code_path.rstrip("/")
    env: dict[str, str] = {
        "PATH": f"/usr/local/bin:/usr/bin:/bin:{code}:{code}/bin:/opt/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "LD_LIBRARY_PATH": f"{code}:{code}/lib:/usr/local/lib:/opt/lib",
    }
    if kind == "nodejs":
        env["NODE_PATH"] = f"{runtime_path}/nodejs/node_modules:/opt/nodejs/node_modules"
    if kind == "custom":
        env["PYTHONPATH"] = code
    env.update(_user_variables(spec.environment))
    env.update(
        {
            "FC_FUNC_CODE_PATH": code + "/",
            "FC_RUNTIME": spec.runtime,
            "FC_SERVER_PATH": f"{runtime_path}",
            "FC_SERVER_PORT": "9000",
            "FC_CUSTOM_LISTEN_PORT": str(spec.ca_port),
            "FC_INSTANCE_ID": spec.instance_id,
            "FC_ACCOUNT_ID": ctx.account_id,
            "FC_REGION": ctx.region,
            "FC_SERVICE_NAME": ctx.service_name,
            "FC_FUNCTION_NAME": ctx.function_name,
            "FC_FUNCTION_HANDLER": ctx.handler,
            "FC_HANDLER": ctx.handler,
            "FC_FUNCTION_MEMORY_SIZE": str(ctx.memory_mb),
            "FC_MEMORY_SIZE": str(ctx.memory_mb),
            "FC_TIMEOUT": str(ctx.timeout_s),
            "FC_INITIALIZER": ctx.initializer,
            "FC_INITIALIZATION_TIMEOUT": str(ctx.initialization_timeout_s),
            "FC_QUALIFIER": ctx.qualifier or "LATEST",
            "FC_VER_ID": ctx.version_id,
            "FC_FUNCTION_VERSION": ctx.version_id,
            "FC_SERVICE_LOG_PROJECT": ctx.log_project,
            "FC_SERVICE_LOG_STORE": ctx.log_store,
            "FC_ACCESS_KEY_ID": ctx.access_key_id,
            "FC_ACCESS_KEY_SECRET": ctx.access_key_secret,
            "FC_SECURITY_TOKEN": ctx.security_token,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ctx.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ctx.access_key_secret,
            "ALIBABA_CLOUD_SECURITY_TOKEN": ctx.security_token,
            "FC_FUNC_LOG_PATH": "/tmp",
        }
    )
    return env


def _user_variables(variables: Mapping[str, str]) -> dict[str, str]:
    return {k: str(v) for k, v in variables.items() if not k.startswith(RESERVED_PREFIX)}


def static_context(spec: InstanceSpec) -> dict[str, object]:
    """The per-instance part of the handler's ``context`` (snake_case; node renames)."""
    ctx = spec.context
    return {
        "function": {
            "name": ctx.function_name,
            "handler": ctx.handler,
            "memory": ctx.memory_mb,
            "timeout": ctx.timeout_s,
            "initializer": ctx.initializer,
            "initialization_timeout": ctx.initialization_timeout_s,
        },
        "service": {
            "name": ctx.service_name,
            "log_project": ctx.log_project,
            "log_store": ctx.log_store,
            "qualifier": ctx.qualifier or "LATEST",
            "version_id": ctx.version_id,
        },
        "region": ctx.region,
        "account_id": ctx.account_id,
        "instance_id": spec.instance_id,
    }
