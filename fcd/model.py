"""Domain types shared by the invoke path and the sandboxes: pure data, no I/O.

These are the seam between the instance manager (which decides *which* instance serves a request)
and the instance itself (which starts a sandboxed runtime and runs requests in it). They are
frozen dataclasses so no component changes one under another; add fields with defaults, never
rename one (other modules and the runtime protocol depend on the names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class FunctionContext:
    """What the runtime exposes as ``context`` (spec §7.4) and as ``FC_*`` variables (spec §7.2).

    Keyword-only: build it with names, so adding a field never shifts the others.
    """

    service_name: str
    function_name: str
    qualifier: str
    version_id: str
    handler: str
    memory_mb: int
    timeout_s: int
    initializer: str
    initialization_timeout_s: int
    region: str
    account_id: str
    request_id: str = ""  # filled per invocation
    log_project: str = ""
    log_store: str = ""
    access_key_id: str = ""
    access_key_secret: str = ""
    security_token: str = ""


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to start one instance of one function version."""

    instance_id: str  # "c-<hex>"
    runtime: str  # FC runtime name ("python3", "python3.10", "nodejs18", "custom", ...)
    code_dir: Path  # unpacked code on the host (a read-only tree), mounted at /code
    layer_dirs: tuple[Path, ...]  # unpacked layers, merged at /opt (the first one wins)
    environment: Mapping[str, str]  # the user's environmentVariables only; FC_* are added later
    context: FunctionContext
    concurrency: int = 1  # instanceConcurrency
    internet_access: bool = True
    ca_port: int = 9000
    custom_command: tuple[str, ...] = ()  # customRuntimeConfig command + args; () = /code/bootstrap
    pre_stop_handler: str = ""
    pre_stop_timeout_s: int = 3
    pre_freeze_handler: str = ""
    pre_freeze_timeout_s: int = 3
    tmp_size_mb: int = 512
    # (host dir, sandbox path, read_only): NAS-style host directories.
    mounts: tuple[tuple[Path, str, bool], ...] = ()
    # (uid, gid) the runtime runs with instead of the sandbox's own uid (nasConfig); -1 = own.
    run_as: tuple[int, int] | None = None
    resolv_conf: str | None = None  # /etc/resolv.conf's text (customDNS); None: the default
    cpu: float | None = None  # the function's cpu: a CFS quota of that many vCPUs
    # customHealthCheckConfig: (url, initial delay, period, timeout, failures, successes)
    health: tuple[str, int, int, int, int, int] | None = None


@dataclass(frozen=True)
class HttpRequestInfo:
    """The HTTP request behind an HTTP-trigger invocation."""

    method: str
    path: str
    request_uri: str
    client_ip: str
    host: str
    queries: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class InvokeRequest:
    """One invocation handed to an instance."""

    request_id: str
    payload: bytes
    timeout_s: float  # the function's timeout; the instance enforces it
    http: HttpRequestInfo | None = None
    retry_count: int = 0
    tracing: TraceContext | None = None
    # A larger result is a function error naming this limit; 0: only the protocol's own.
    max_result_bytes: int = 0


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The caller's OpenTracing context (``X-Fc-Tracing-*`` headers) for ``context.tracing``."""

    span_context: str = ""
    baggages: tuple[tuple[str, str], ...] = ()
    jaeger_endpoint: str = ""


@dataclass(frozen=True)
class InvokeResult:
    """What an invocation produced; function failures are results, never exceptions."""

    body: bytes
    error_type: str | None  # None | "HandledInvocationError" | "UnhandledInvocationError"
    duration_ms: float
    max_memory_mb: float  # peak of the instance's cgroup (or RSS with isolation "none")
    logs: bytes  # exactly this request's log lines (for X-Fc-Log-Result and storage)
    http_status: int | None = None  # HTTP-trigger responses
    http_headers: tuple[tuple[str, str], ...] = ()
    instance_fatal: bool = False  # the instance is gone (crash, timeout, OOM): the caller drops it
    fatal_reason: str = ""  # "timeout" | "oom" | "exited" | ""


@dataclass(frozen=True)
class ColdStart:
    """Where one cold start's time went, in milliseconds."""

    sandbox_ms: float
    runtime_ms: float
    code_load_ms: float
    initializer_ms: float
    pool_hit: bool = False  # the sandbox was pre-made (namespaces, cgroup) before the request

    @property
    def total_ms(self) -> float:
        return self.sandbox_ms + self.runtime_ms + self.code_load_ms + self.initializer_ms
