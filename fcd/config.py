"""Configuration: embedded defaults, then a TOML file, then ``FCD_*`` environment overrides.

There is one loader, :func:`load`, and it takes the environment as an argument so tests and the
CLI can hand it any mapping. Unknown keys are an error that names the key: a typo in an
operator's config must not silently fall back to a default. ``conf/fcd.toml`` documents every key
and equals :data:`DEFAULTS`; a test keeps the two in step.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from fcd import egress

SECONDS = 1
MINUTES = 60 * SECONDS
HOURS = 60 * MINUTES
DAYS = 24 * HOURS
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key."""


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Sizes the API enforces (FC 2.0 values; spec §8)."""

    # CodeSizeLimit of an FC account: 100 MiB of zip, before base64.
    code_size: int = 100 * MIB
    # Unzipped size of one code package; beyond it a zip is treated as a bomb.
    code_unzipped_size: int = 500 * MIB
    # Largest compression ratio a code zip member may claim (zip bombs reach 1000:1 and more).
    code_max_ratio: int = 200
    # A management API body: a 100 MiB zip is ~134 MiB as base64 plus the JSON around it.
    api_body: int = 140 * MIB
    sync_payload: int = 32 * MIB
    async_payload: int = 128 * KIB
    # The request line and headers of one request, on every listener, before anything else is
    # read: past either bound the client gets 431 and the connection is closed.
    header_bytes: int = 64 * KIB
    header_count: int = 100
    # Seconds a client has to send a request line and headers, counted from the connection's
    # start or the request's first byte: past it, 408 and the connection is closed.
    header_timeout: int = 20 * SECONDS
    # Seconds a client has to send a request body to the invoke route or an HTTP trigger, from
    # its first chunk: past it, 408 and the connection is closed (a slow sender holds a
    # connection and up to limits.sync_payload of memory; 32 MB at 300 KB/s takes ~110 s).
    body_timeout: int = 120 * SECONDS


class Instances(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How instances are kept and capped host-wide."""

    # An idle instance is reclaimed after this long (FC keeps idle instances for minutes).
    keep_alive: int = 15 * MINUTES
    # "fixed": every idle instance is kept keep_alive. "adaptive": per function, a window learnt
    # from its own idle times, with pre-warm (fcd/instances/keepalive.py); keep_alive where they
    # say nothing.
    keep_alive_policy: Literal["fixed", "adaptive"] = "fixed"
    # Seconds per bin of the adaptive policy's idle-time histogram (240 bins). 60 is the policy's;
    # a smaller width only compresses time for tests and benchmarks.
    keep_alive_bin: float = 1.0 * MINUTES
    # Host-wide cap on running instances; beyond it sync invokes get 429 ResourceExhausted.
    max_total: int = 2000
    # Default per-function cap when no on-demand config sets maximumInstanceCount.
    max_per_function: int = 100


class Retention(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How long function log lines and per-invocation metering rows are kept, in seconds."""

    logs: int = 7 * DAYS
    invocations: int = 90 * DAYS
    # Size cap of the stored function log lines (each counted with its row's overhead, see
    # fcd.logs.store.ROW_OVERHEAD); past it the oldest lines are pruned first.
    logs_bytes: int = 1024 * MIB


class FunctionLogs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Caps on what a function may log, enforced by the daemon (a function can bypass its
    runtime and write to its descriptors, but not the daemon that reads them)."""

    # Bytes one invocation may log; the rest is dropped and counted in one marker line.
    invocation_bytes: int = 10 * MIB
    # A longer line is cut at this length (a line without a newline included).
    line_bytes: int = 32 * KIB
    # What one instance may log per second, all its requests together (a token bucket that
    # holds a few seconds' worth, fcd.instances.logcap.BURST_SECONDS).
    instance_bytes_per_second: int = 1 * MIB
    instance_lines_per_second: int = 10_000


class Sandbox(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What every sandbox of this daemon shares: its uid range and the caps on all of them."""

    # Unprivileged uids handed to sandboxes, one each, from uid_first to uid_first+uid_count-1.
    # Two daemons on one host take disjoint ranges. There must be one per instance
    # (instances.max_total) plus the pre-made sandboxes: a smaller range is refused at start.
    uid_first: int = 10000
    uid_count: int = 4000
    # Processes and threads of all sandboxes together (their common parent cgroup's pids.max).
    # 0: three quarters of the host's smaller kernel limit (pid_max, threads-max); the daemon is
    # outside that group, so it and the rest of the host keep the last quarter.
    pids_total: int = 0
    # Memory of all sandboxes together in bytes (the parent cgroup's memory limit). 0: the
    # host's memory less an eighth (at least 1 GiB) kept for the daemon and the rest of the host.
    memory_total: int = 0


class Runtimes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Interpreters behind the FC runtime names: real binaries, never a shim such as pyenv's."""

    python: str = "/usr/bin/python3"
    node: str = "/usr/bin/node"


class Nas(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """NAS exports a service's ``nasConfig.mountPoints`` may name, mapped to host directories."""

    # serverAddr ("<server>:<path>", as FC writes it) -> absolute host directory. A mount point
    # whose serverAddr is not a key here is refused at CreateService/UpdateService.
    exports: dict[str, str] = msgspec.field(default_factory=dict)


class Async(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bounds of the async queue and where its http(s) destinations may connect."""

    # Invocations of one function accepted and not finished; beyond it async invokes get 429
    # ResourceExhausted (timer firings are skipped and logged).
    max_queued_per_function: int = 10_000
    # Bytes of async payloads and results the database holds, finished invocations included;
    # the oldest finished ones are pruned early to make room, else async invokes get 429.
    max_stored_bytes: int = 512 * MIB
    # Addresses http(s) destinations may reach although they are loopback, link-local, the
    # host's own, ...: "ADDRESS", "ADDRESS:PORT", "[V6]:PORT" or a CIDR.
    destination_allow: tuple[str, ...] = ()


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the daemon reads at start; frozen, so no component changes it under another."""

    listen: str = "127.0.0.1:9000"
    # host:port of a second listener serving only HTTP triggers and custom domains ("" = none).
    http_listen: str = ""
    # host:port of a TLS listener for custom domains with a certConfig, chosen by SNI ("" = none).
    https_listen: str = ""
    data_dir: str = "/var/lib/fcd"
    region: str = "cn-hangzhou"
    account_id: str = "1000000000000000"
    # One key pair with full access. Empty: generated once and stored under data_dir.
    access_key_id: str = ""
    access_key_secret: str = ""
    # "namespaces": real sandboxes (needs root); "none": plain processes, logged on every invoke.
    isolation: Literal["namespaces", "none"] = "namespaces"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    limits: Limits = msgspec.field(default_factory=Limits)
    instances: Instances = msgspec.field(default_factory=Instances)
    runtimes: Runtimes = msgspec.field(default_factory=Runtimes)
    sandbox: Sandbox = msgspec.field(default_factory=Sandbox)
    retention: Retention = msgspec.field(default_factory=Retention)
    nas: Nas = msgspec.field(default_factory=Nas)
    async_: Async = msgspec.field(default_factory=Async, name="async")
    function_logs: FunctionLogs = msgspec.field(default_factory=FunctionLogs)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def listen_hosts(self) -> tuple[str, ...]:
        """The host of each listener that is set: ``listen``, ``http_listen``, ``https_listen``."""
        values = (self.listen, self.http_listen, self.https_listen)
        return tuple(value.rsplit(":", 1)[0] for value in values if value)


DEFAULTS = Config()

# Environment variable → top-level key. Operators and scripts set these without editing a file.
ENV_OVERRIDES = {
    "FCD_LISTEN": "listen",
    "FCD_HTTP_LISTEN": "http_listen",
    "FCD_HTTPS_LISTEN": "https_listen",
    "FCD_DATA_DIR": "data_dir",
    "FCD_REGION": "region",
    "FCD_ACCOUNT_ID": "account_id",
    "FCD_ACCESS_KEY_ID": "access_key_id",
    "FCD_ACCESS_KEY_SECRET": "access_key_secret",
    "FCD_ISOLATION": "isolation",
    "FCD_LOG_LEVEL": "log_level",
}


def load(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Build the config from the defaults, the TOML file at ``path`` and ``FCD_*`` variables.

    Raises:
        ConfigError: the file is unreadable or not TOML, a key is unknown, or a value has the
            wrong type or fails validation. The message names the key.
    """
    merged: dict[str, Any] = msgspec.to_builtins(DEFAULTS)
    if path is not None:
        try:
            with open(path, "rb") as f:
                from_file = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
        _merge(merged, from_file)
    for var, key in ENV_OVERRIDES.items():
        if var in environ:
            merged[key] = environ[var]
    try:
        config = msgspec.convert(merged, Config)
    except msgspec.ValidationError as e:
        raise ConfigError(f"invalid configuration: {e}") from e
    _validate(config)
    return config


# Tables whose keys are the operator's own (not config keys): replaced whole, never merged.
FREE_TABLES = frozenset({"nas.exports"})


def _merge(into: dict[str, Any], overlay: Mapping[str, Any], where: str = "") -> None:
    """Lay ``overlay`` over ``into`` section by section, refusing keys the defaults do not have."""
    for key, value in overlay.items():
        if key not in into:
            raise ConfigError(f"unknown config key '{where}{key}'")
        if f"{where}{key}" in FREE_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{where}{key}' must be a table")
            into[key] = value
        elif isinstance(into[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{where}{key}' must be a table")
            _merge(into[key], value, f"{where}{key}.")
        else:
            into[key] = value


def _is_host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def _validate(config: Config) -> None:
    if not _is_host_port(config.listen):
        raise ConfigError(f"config key 'listen' must be host:port, got {config.listen!r}")
    for key in ("http_listen", "https_listen"):
        value = getattr(config, key)
        if value and not _is_host_port(value):
            raise ConfigError(f"config key '{key}' must be host:port or empty, got {value!r}")
    if bool(config.access_key_id) != bool(config.access_key_secret):
        raise ConfigError(
            "config keys 'access_key_id' and 'access_key_secret' must be set together"
        )
    for key in ("header_bytes", "header_count", "header_timeout", "body_timeout"):
        if getattr(config.limits, key) < 1:
            raise ConfigError(f"config key 'limits.{key}' must be at least 1")
    if not 0 < config.instances.keep_alive_bin <= HOURS:
        raise ConfigError(
            "config key 'instances.keep_alive_bin' must be seconds in (0, 3600],"
            f" got {config.instances.keep_alive_bin!r}"
        )
    try:
        egress.parse_allow(config.async_.destination_allow)
    except ValueError as e:
        raise ConfigError(f"config key 'async.destination_allow': {e}") from None
    for key in ("max_queued_per_function", "max_stored_bytes"):
        if getattr(config.async_, key) < 1:
            raise ConfigError(f"config key 'async.{key}' must be at least 1")
    box = config.sandbox
    # Below 1000 are the system's own accounts (they own files and daemons on the host).
    if box.uid_first < 1000 or box.uid_count < 1 or box.uid_first + box.uid_count > 1 << 31:
        raise ConfigError(
            "config keys 'sandbox.uid_first' and 'sandbox.uid_count' must name a range of"
            f" uids from 1000 up, got {box.uid_first} and {box.uid_count}"
        )
    for key in ("pids_total", "memory_total"):
        if getattr(box, key) < 0:
            raise ConfigError(f"config key 'sandbox.{key}' must be 0 (automatic) or positive")
    if not config.account_id.isdigit():
        raise ConfigError(f"config key 'account_id' must be digits, got {config.account_id!r}")
    for address, directory in config.nas.exports.items():
        server, sep, path = address.partition(":")
        if not (server and sep and path.startswith("/")):
            raise ConfigError(
                f"config key 'nas.exports' has {address!r}: keys are '<server>:/<path>'"
            )
        if not directory.startswith("/"):
            raise ConfigError(
                f"config key 'nas.exports' maps {address!r} to {directory!r}: "
                "it must be an absolute host directory"
            )
    for key, value in msgspec.structs.asdict(config.function_logs).items():
        if value < 1:
            raise ConfigError(f"config key 'function_logs.{key}' must be at least 1, got {value}")
    if config.retention.logs_bytes < 1:
        raise ConfigError("config key 'retention.logs_bytes' must be at least 1")
