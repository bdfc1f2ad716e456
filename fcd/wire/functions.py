"""Function shapes (spec §4.2) and the rules a function's configuration must follow.

Stored documents are :class:`StoredFunction`: the response shape :class:`Function` plus fields
FC does not have and clients never see, kept inside the document because a published version
copies function documents verbatim and must still find its code:

* ``codeSha256`` — the digest naming the package in the code store (``<data_dir>/code/``);
* ``layerCode`` — for each entry of ``layers``, the layer version's ARN (v2) and package digest,
  resolved when the function was written, so invocations need no layer lookup and a deleted
  layer version keeps working for the functions that used it (as on FC).

Responses decode the stored bytes into :class:`Function`, which ignores the extra keys.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import msgspec

from fcd import errors
from fcd.wire import MAX_DESCRIPTION, check_length

# FC 2.0's runtime names (spec §4.2.1, TEA21 docstring) and the later ones FC added; the
# Debian 11/12 custom runtimes come from FC 3.0. "Runtime is set to an invalid value" otherwise.
RUNTIMES = frozenset(
    {
        "nodejs4.4",
        "nodejs6",
        "nodejs8",
        "nodejs10",
        "nodejs12",
        "nodejs14",
        "nodejs16",
        "nodejs18",
        "nodejs20",
        "python2.7",
        "python3",
        "python3.6",
        "python3.9",
        "python3.10",
        "python3.12",
        "java8",
        "java11",
        "go1",
        "php7.2",
        "dotnetcore2.1",
        "dotnetcore3.1",
        "custom",
        "custom.debian10",
        "custom.debian11",
        "custom.debian12",
        "custom-container",
    }
)
CUSTOM_CONTAINER = "custom-container"
INSTANCE_TYPES = frozenset({"e1", "c1", "fc.gpu.tesla.1", "fc.gpu.ampere.1", "g1"})
# FC's GPU instance types: fcd's sandboxes get no GPU, so these are refused at write time.
GPU_INSTANCE_TYPES = frozenset({"fc.gpu.tesla.1", "fc.gpu.ampere.1", "g1"})
DISK_SIZES = frozenset({512, 10240})

# Ranges from spec §8. memorySize: FC's largest instance (c1/GPU) offers 32 GiB, in 64 MB steps.
MEMORY_MIN, MEMORY_MAX, MEMORY_STEP = 128, 32768, 64
TIMEOUT_MIN, TIMEOUT_MAX = 1, 86400
INIT_TIMEOUT_MIN, INIT_TIMEOUT_MAX = 1, 300
# 1..100 is FC 2.0's documented range; later docs allow 200, which fcd accepts too: an
# instance's concurrency is bounded by its memory, not by a platform table.
CONCURRENCY_MIN, CONCURRENCY_MAX = 1, 200
CA_PORT_MIN, CA_PORT_MAX = 1, 65535
MAX_LAYERS = 5
# "the total size of environment variables cannot exceed 4 KB" (doc 164217): keys plus values.
MAX_ENV_BYTES = 4 * 1024
# handler and initializer (FC's API metadata: maxLength 128).
MAX_HANDLER = 128
MAX_FUNCTION_NAME = 64

DEFAULT_MEMORY = 128
DEFAULT_TIMEOUT = 60
DEFAULT_INIT_TIMEOUT = 3
DEFAULT_CONCURRENCY = 1
DEFAULT_CA_PORT = 9000
DEFAULT_INSTANCE_TYPE = "e1"

_ENV_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Names the platform sets itself (spec §7.2): users may not override them.
_RESERVED_ENV = frozenset({"accessKeyID", "accessKeySecret", "securityToken", "topic"})
# python/node/php: "file.function"; the file part may name a sub-directory (src/index.handler).
_FILE_DOT_FUNCTION = re.compile(r"[^\s.][^\s]*\.[A-Za-z_$][A-Za-z0-9_$]*")


class Code(msgspec.Struct, rename="camel"):
    """Exactly one of ``zipFile`` (base64) or the OSS bucket and object."""

    zip_file: str | None = None
    oss_bucket_name: str | None = None
    oss_object_name: str | None = None


class CustomContainerConfig(msgspec.Struct, rename="camel"):
    image: str | None = None
    command: str | None = None
    args: str | None = None
    acceleration_type: str | None = None
    instance_id: str | None = msgspec.field(default=None, name="instanceID")
    web_server_mode: bool | None = None


class DnsOption(msgspec.Struct, rename="camel"):
    name: str | None = None
    value: str | None = None


class CustomDns(msgspec.Struct, rename="camel"):
    name_servers: list[str] | None = None
    searches: list[str] | None = None
    dns_options: list[DnsOption] | None = None


class CustomRuntimeConfig(msgspec.Struct, rename="camel"):
    command: list[str] | None = None
    args: list[str] | None = None


class CustomHealthCheckConfig(msgspec.Struct, rename="camel"):
    http_get_url: str | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    timeout_seconds: int | None = None
    failure_threshold: int | None = None
    success_threshold: int | None = None


class LifecycleHook(msgspec.Struct, rename="camel"):
    handler: str | None = None
    timeout: int | None = None


class InstanceLifecycleConfig(msgspec.Struct, rename="camel"):
    pre_freeze: LifecycleHook | None = None
    pre_stop: LifecycleHook | None = None


class FunctionInput(msgspec.Struct, rename="camel"):
    """Create and update body; ``None`` = not given (keep the stored value on update)."""

    function_name: str | None = None
    description: str | None = None
    runtime: str | None = None
    handler: str | None = None
    initializer: str | None = None
    timeout: int | None = None
    initialization_timeout: int | None = None
    memory_size: int | None = None
    instance_concurrency: int | None = None
    code: Code | None = None
    environment_variables: dict[str, str] | None = None
    custom_container_config: CustomContainerConfig | None = None
    ca_port: int | None = None
    instance_type: str | None = None
    layers: list[str] | None = None
    cpu: float | None = None
    disk_size: int | None = None
    gpu_memory_size: int | None = None
    instance_soft_concurrency: int | None = None
    custom_dns: CustomDns | None = msgspec.field(default=None, name="customDNS")
    custom_runtime_config: CustomRuntimeConfig | None = None
    custom_health_check_config: CustomHealthCheckConfig | None = None
    instance_lifecycle_config: InstanceLifecycleConfig | None = None


class Function(msgspec.Struct, rename="camel"):
    """The response shape of Create/Get/Update/List (spec §4.2.2)."""

    function_id: str
    function_name: str
    runtime: str
    handler: str
    created_time: str
    last_modified_time: str
    description: str = ""
    initializer: str = ""
    timeout: int = DEFAULT_TIMEOUT
    initialization_timeout: int = DEFAULT_INIT_TIMEOUT
    memory_size: int = DEFAULT_MEMORY
    instance_concurrency: int = DEFAULT_CONCURRENCY
    code_size: int = 0
    code_checksum: str = ""
    environment_variables: dict[str, str] = msgspec.field(default_factory=dict)
    custom_container_config: CustomContainerConfig | None = None
    ca_port: int = DEFAULT_CA_PORT
    instance_type: str = DEFAULT_INSTANCE_TYPE
    layers: list[str] = msgspec.field(default_factory=list)
    layers_arn_v2: list[str] = msgspec.field(default_factory=list, name="layersArnV2")
    cpu: float | None = None
    disk_size: int = 512
    gpu_memory_size: int | None = None
    instance_soft_concurrency: int | None = None
    custom_dns: CustomDns | None = msgspec.field(default=None, name="customDNS")
    custom_runtime_config: CustomRuntimeConfig | None = None
    custom_health_check_config: CustomHealthCheckConfig | None = None
    instance_lifecycle_config: InstanceLifecycleConfig | None = None


class LayerCode(msgspec.Struct, rename="camel"):
    """A layer a function uses, resolved: its ARN (v2 form) and package digest."""

    arn: str
    sha256: str


class StoredFunction(Function):
    """A function document: the response fields plus the code and layer digests."""

    code_sha256: str = ""
    layer_code: list[LayerCode] = msgspec.field(default_factory=list)


class FunctionList(msgspec.Struct, rename="camel", omit_defaults=True):
    functions: list[Function]
    next_token: str | None = None


class FunctionCode(msgspec.Struct, rename="camel"):
    """GetFunctionCode (spec §4.2.4): a download URL and the package's CRC-64."""

    url: str
    checksum: str


_stored_decoder = msgspec.json.Decoder(StoredFunction)
_response_decoder = msgspec.json.Decoder(Function)


def decode_stored(raw: bytes) -> StoredFunction:
    return _stored_decoder.decode(raw)


def decode_response(raw: bytes) -> Function:
    """A stored document as clients see it: the internal fields are dropped."""
    return _response_decoder.decode(raw)


# Updates copy these input fields onto the stored function when given; code and layers are
# resolved by the API (they need the code store and the layer documents).
PLAIN_FIELDS = tuple(
    name
    for name in FunctionInput.__struct_fields__
    if name not in ("function_name", "code", "layers")
)


def apply_input(function: StoredFunction, change: FunctionInput) -> StoredFunction:
    """A partial update: absent fields keep their value; ``environmentVariables`` is replaced
    whole (``{}`` clears it)."""
    updates: dict[str, Any] = {
        name: value for name in PLAIN_FIELDS if (value := getattr(change, name)) is not None
    }
    return msgspec.structs.replace(function, **updates)


def check_input(change: FunctionInput) -> None:
    """Field-by-field checks of a create or update body (each given field must be valid).

    Raises:
        errors.InvalidArgument: naming the field.
    """
    if change.runtime is not None and change.runtime not in RUNTIMES:
        raise errors.InvalidArgument("Runtime is set to an invalid value")
    _check_range("memorySize", change.memory_size, MEMORY_MIN, MEMORY_MAX)
    if change.memory_size is not None and change.memory_size % MEMORY_STEP:
        raise errors.InvalidArgument(
            f"memorySize {change.memory_size} is invalid: it must be a multiple of {MEMORY_STEP}"
        )
    _check_range("timeout", change.timeout, TIMEOUT_MIN, TIMEOUT_MAX)
    _check_range(
        "initializationTimeout", change.initialization_timeout, INIT_TIMEOUT_MIN, INIT_TIMEOUT_MAX
    )
    _check_range(
        "instanceConcurrency", change.instance_concurrency, CONCURRENCY_MIN, CONCURRENCY_MAX
    )
    _check_range(
        "instanceSoftConcurrency",
        change.instance_soft_concurrency,
        CONCURRENCY_MIN,
        CONCURRENCY_MAX,
    )
    _check_range("caPort", change.ca_port, CA_PORT_MIN, CA_PORT_MAX)
    if change.instance_type is not None and change.instance_type not in INSTANCE_TYPES:
        raise errors.InvalidArgument(
            f"instanceType '{change.instance_type}' is invalid: it must be one of "
            + ", ".join(sorted(INSTANCE_TYPES))
        )
    if change.disk_size is not None and change.disk_size not in DISK_SIZES:
        raise errors.InvalidArgument(
            f"diskSize {change.disk_size} is invalid: it must be 512 or 10240"
        )
    if change.cpu is not None and not 0.05 <= change.cpu <= 16:
        raise errors.InvalidArgument(f"cpu {change.cpu} is invalid: it must be in 0.05..16")
    check_host_can_honour(change)
    check_length("description", change.description, MAX_DESCRIPTION)
    if change.environment_variables is not None:
        check_environment(change.environment_variables)
    if change.layers is not None:
        if len(change.layers) > MAX_LAYERS:
            raise errors.InvalidArgument(
                f"layers has {len(change.layers)} entries: at most {MAX_LAYERS} are allowed"
            )
        if len(set(change.layers)) != len(change.layers):
            raise errors.InvalidArgument("layers must not name the same layer twice")


def check_host_can_honour(change: FunctionInput) -> None:
    """Refuse, at write time, the settings one host without GPUs, images or probes cannot honour.

    Empty values (``{}``, ``null``, 0 for gpuMemorySize) are accepted: they ask for nothing.

    Raises:
        errors.InvalidArgument: naming the field, why, and what to use instead.
    """
    # A runtime name fcd cannot run (custom-container included) is refused before this, with
    # the names it runs (fcd.instances.runtimes.refusal); here: an image under another runtime.
    if change.custom_container_config is not None and change.custom_container_config.image:
        raise errors.InvalidArgument(
            "customContainerConfig.image is not supported: fcd runs no container images; "
            "package the program as runtime 'custom' with a bootstrap (or "
            "customRuntimeConfig.command) listening on caPort"
        )
    if change.instance_type in GPU_INSTANCE_TYPES or change.gpu_memory_size:
        raise errors.InvalidArgument(
            f"instanceType '{change.instance_type or ''}' / gpuMemorySize is not supported: "
            "this host gives functions no GPU; use instanceType e1 or c1"
        )
    if change.custom_dns is not None:
        check_dns(change.custom_dns)
    if change.custom_health_check_config is not None:
        check_health(change.custom_health_check_config)


# customDNS: glibc reads at most 3 name servers; the search list and options are kept short.
MAX_NAME_SERVERS, MAX_SEARCHES, MAX_DNS_OPTIONS = 3, 6, 10
_DNS_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?")
_DNS_OPTION = re.compile(r"[a-z][a-z0-9-]{0,31}")
_DNS_VALUE = re.compile(r"[0-9]{1,5}")


def check_dns(dns: CustomDns) -> None:
    """customDNS becomes the sandbox's /etc/resolv.conf: every line must be one resolv.conf
    understands, and nothing may add a line of its own.

    Raises:
        errors.InvalidArgument: naming the entry.
    """
    servers, searches, options = dns.name_servers or [], dns.searches or [], dns.dns_options or []
    if len(servers) > MAX_NAME_SERVERS or len(searches) > MAX_SEARCHES:
        raise errors.InvalidArgument(
            f"customDNS allows at most {MAX_NAME_SERVERS} nameServers and {MAX_SEARCHES} searches"
        )
    if len(options) > MAX_DNS_OPTIONS:
        raise errors.InvalidArgument(f"customDNS allows at most {MAX_DNS_OPTIONS} dnsOptions")
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise errors.InvalidArgument(
                f"customDNS.nameServers '{server}' is not an IP address"
            ) from None
    for domain in searches:
        if not _DNS_NAME.fullmatch(domain):
            raise errors.InvalidArgument(f"customDNS.searches '{domain}' is not a domain name")
    for option in options:
        if not _DNS_OPTION.fullmatch(option.name or "") or (
            option.value is not None
            and option.value != ""
            and not _DNS_VALUE.fullmatch(option.value)
        ):
            raise errors.InvalidArgument(
                f"customDNS.dnsOptions {option.name!r}:{option.value!r} is invalid: a resolv.conf "
                "option name (ndots, timeout, attempts, rotate, ...) and an optional number"
            )


def resolv_conf(dns: CustomDns | None) -> str | None:
    """The /etc/resolv.conf a function with ``dns`` gets (FC: it replaces the default one);
    None when customDNS sets nothing."""
    if dns is None or not (dns.name_servers or dns.searches or dns.dns_options):
        return None
    lines = [f"nameserver {server}" for server in dns.name_servers or ()]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.dns_options:
        lines.append(
            "options "
            + " ".join(f"{o.name}:{o.value}" if o.value else str(o.name) for o in dns.dns_options)
        )
    return "\n".join(lines) + "\n"


# FC's cpu rules: 0.05..16 vCPUs in steps of 0.05, and memorySize 1 to 4 GB per vCPU.
CPU_STEP = 0.05
MEMORY_GB_PER_CPU_MIN, MEMORY_GB_PER_CPU_MAX = 1, 4


def check_cpu(cpu: float, memory_mb: int) -> None:
    """Raises: errors.InvalidArgument: cpu off the 0.05 grid, or a memory ratio FC refuses."""
    if abs(cpu / CPU_STEP - round(cpu / CPU_STEP)) > 1e-6:
        raise errors.InvalidArgument(f"cpu {cpu} is invalid: it must be a multiple of 0.05")
    ratio = memory_mb / 1024 / cpu
    if not MEMORY_GB_PER_CPU_MIN - 1e-9 <= ratio <= MEMORY_GB_PER_CPU_MAX + 1e-9:
        raise errors.InvalidArgument(
            f"cpu {cpu} does not fit memorySize {memory_mb}: memorySize must be "
            f"{MEMORY_GB_PER_CPU_MIN} to {MEMORY_GB_PER_CPU_MAX} GB per vCPU "
            f"({int(cpu * 1024)}..{int(cpu * 4096)} MB for this cpu)"
        )


# customHealthCheckConfig (FC's ranges and defaults): the custom runtime's server is probed
# with GET httpGetUrl on caPort before its first request and every periodSeconds after.
MAX_HEALTH_URL = 2048
HEALTH_RANGES = {
    "initialDelaySeconds": (0, 120, 0),
    "periodSeconds": (1, 120, 3),
    "timeoutSeconds": (1, 3, 1),
    "failureThreshold": (1, 120, 3),
    "successThreshold": (1, 120, 1),
}


def check_health(probe: CustomHealthCheckConfig) -> None:
    """Raises: errors.InvalidArgument: a field out of FC's range, or a URL that is not a path."""
    url = probe.http_get_url
    if (
        url is not None
        and url != ""
        and (not url.startswith("/") or len(url) > MAX_HEALTH_URL or any(c.isspace() for c in url))
    ):
        raise errors.InvalidArgument(
            f"customHealthCheckConfig.httpGetUrl must be a path starting with '/' without "
            f"spaces, at most {MAX_HEALTH_URL} characters"
        )
    for field, (low, high, _) in HEALTH_RANGES.items():
        _check_range(f"customHealthCheckConfig.{field}", getattr(probe, _snake(field)), low, high)


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), name)


def health_check(
    probe: CustomHealthCheckConfig | None,
) -> tuple[str, int, int, int, int, int] | None:
    """(url, initial delay, period, timeout, failure and success thresholds) with FC's
    defaults, or None when no httpGetUrl is set."""
    if probe is None or not probe.http_get_url:
        return None
    values = [
        default if (value := getattr(probe, _snake(field))) is None else int(value)
        for field, (_, _, default) in HEALTH_RANGES.items()
    ]
    return (probe.http_get_url, *values)  # type: ignore[return-value]


def _check_range(field: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise errors.InvalidArgument(f"{field} {value} is invalid: it must be in {low}..{high}")


def check_environment(env: dict[str, str]) -> None:
    """FC's environment variable rules (spec §7.2).

    Raises:
        errors.InvalidArgument: a bad or reserved name, or more than 4 KB in total.
    """
    total = 0
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise errors.InvalidArgument(
                f"environmentVariables: '{name}' is not a valid name: it must start with a "
                "letter and contain only letters, digits and '_'"
            )
        if name.startswith("FC_") or name in _RESERVED_ENV:
            raise errors.InvalidArgument(
                f"environmentVariables: '{name}' is reserved by Function Compute"
            )
        total += len(name.encode()) + len(value.encode())
    if total > MAX_ENV_BYTES:
        raise errors.InvalidArgument(
            f"environmentVariables is {total} bytes: at most {MAX_ENV_BYTES} are allowed"
        )


def uses_file_dot_function(runtime: str) -> bool:
    """Runtimes whose handler names ``file.function``."""
    return runtime.startswith(("python", "nodejs", "php"))


def check_function(function: StoredFunction) -> None:
    """Rules that tie fields together, checked on the merged result of a create or update.

    Raises:
        errors.InvalidArgument: naming the field.
    """
    if function.runtime != CUSTOM_CONTAINER and not function.code_sha256:
        raise errors.InvalidArgument("code is required (code.zipFile)")
    if function.runtime != CUSTOM_CONTAINER and not function.handler:
        raise errors.InvalidArgument("handler is required")
    check_length("handler", function.handler, MAX_HANDLER)
    check_length("initializer", function.initializer, MAX_HANDLER)
    if uses_file_dot_function(function.runtime):
        for field, value in (("handler", function.handler), ("initializer", function.initializer)):
            if value and not _FILE_DOT_FUNCTION.fullmatch(value):
                raise errors.InvalidArgument(
                    f"{field} '{value}' is invalid for runtime {function.runtime}: it must be "
                    "of the form 'file.function', e.g. 'index.handler'"
                )
    if function.cpu is not None:
        check_cpu(function.cpu, function.memory_size)
    soft = function.instance_soft_concurrency
    if soft is not None and soft > function.instance_concurrency:
        raise errors.InvalidArgument(
            f"instanceSoftConcurrency {soft} is invalid: it must not exceed "
            f"instanceConcurrency ({function.instance_concurrency})"
        )
    if health_check(function.custom_health_check_config) and not function.runtime.startswith(
        "custom"
    ):
        raise errors.InvalidArgument(
            "customHealthCheckConfig applies to custom runtimes only: runtime "
            f"{function.runtime} has no server to probe"
        )
    if function.runtime == CUSTOM_CONTAINER and not (
        function.custom_container_config and function.custom_container_config.image
    ):
        raise errors.InvalidArgument(
            "customContainerConfig.image is required when runtime is custom-container"
        )
