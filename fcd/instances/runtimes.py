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
    {
        "nodejs",
        "nodejs4.4",
        "nodejs6",
        "nodejs8",
        "nodejs10",
        "nodejs12",
        "nodejs14",
        "nodejs16",
        "nodejs18",
        "nodejs20",
    }
)
CUSTOM_NAMES = frozenset({"custom", "custom.debian10", "custom.debian11", "custom.debian12"})
SUPPORTED = PYTHON_NAMES | NODE_NAMES | CUSTOM_NAMES
# What to use instead of an FC runtime fcd cannot run, by the name's prefix.
_INSTEAD = (
    ("python2", "port the code to python3 (python3.9, python3.10 ...)"),
    ("custom-container", "a custom runtime (custom.debian10 ...) running the image's server"),
    ("java", "a custom runtime (custom.debian10 ...) starting the JVM from your code package"),
    ("go", "a custom runtime (custom.debian10 ...) running your binary as an HTTP server"),
)

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


def refusal(runtime: str) -> str | None:
    """Why fcd refuses to create a function with ``runtime`` (None: fcd runs it).

    A name fcd cannot run is refused when the function is written, not at its first invoke, with
    the names it runs and what to use instead.
    """
    if runtime in SUPPORTED:
        return None
    instead = next((hint for prefix, hint in _INSTEAD if runtime.startswith(prefix)), "")
    message = f"runtime {runtime} is not supported by this fcd host: it runs " + ", ".join(
        sorted(SUPPORTED)
    )
    return message + (f"; use {instead}" if instead else "")


def version_note(runtime: str, real_version: str) -> str | None:
    """The log line naming the interpreter that really runs a versioned FC runtime name.

    fcd runs every ``python3*`` name on one Python and every ``nodejs*`` name on one node, so a
    function written for ``python3.6`` or ``nodejs8`` is told at start which one it got. None
    when the name carries no version or the versions agree (``nodejs20`` on node 20.x).
    """
    kind = kind_of(runtime)
    if kind not in ("python", "nodejs") or not real_version:
        return None
    wanted = runtime.removeprefix("nodejs" if kind == "nodejs" else "python")
    if not wanted or real_version == wanted or real_version.startswith(wanted + "."):
        return None
    language = "Python" if kind == "python" else "Node.js"
    return f"FC runtime {runtime} runs on {language} {real_version} on this fcd host\n"


def node_argv(node: str, runtime_path: str) -> list[str]:
    """The command line of the nodejs runtime (``runtime_path``: runtimes/ seen from inside).

    The python runtime and the custom agent need none: they run in a process forked from the
    zygote, which has imported them already.
    """
    return [node, f"{runtime_path}/nodejs/bootstrap.js"]


def environment(
    spec: InstanceSpec,
    kind: Kind,
    *,
    code_path: str,
    runtime_path: str,
    commands_path: str = "",
) -> dict[str, str]:
    """The complete, explicit environment of an instance: nothing leaks in from the daemon's.

    ``commands_path`` (the sandbox's links to ``python``, ``node``…) comes last on ``PATH``, so
    the system's own commands and the function's win.
    """
    ctx = spec.context
    code = code_path.rstrip("/")
    path = f"/usr/local/bin:/usr/bin:/bin:{code}:{code}/bin:/opt/bin"
    env: dict[str, str] = {
        "PATH": f"{path}:{commands_path}" if commands_path else path,
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
