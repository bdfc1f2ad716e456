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

SECONDS = 1
MINUTES = 60 * SECONDS
HOURS = 60 * MINUTES
DAYS = 24 * HOURS
KIB = 1024
MIB = 1024 * KIB


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


class Instances(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How instances are kept and capped host-wide."""

    # An idle instance is reclaimed after this long (FC keeps idle instances for minutes).
    keep_alive: int = 15 * MINUTES
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


class Runtimes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Interpreters behind the FC runtime names: real binaries, never a shim such as pyenv's."""

    python: str = "/usr/bin/python3"
    node: str = "/usr/bin/node"


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
    retention: Retention = msgspec.field(default_factory=Retention)
    function_logs: FunctionLogs = msgspec.field(default_factory=FunctionLogs)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


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


def _merge(into: dict[str, Any], overlay: Mapping[str, Any], where: str = "") -> None:
    """Lay ``overlay`` over ``into`` section by section, refusing keys the defaults do not have."""
    for key, value in overlay.items():
        if key not in into:
            raise ConfigError(f"unknown config key '{where}{key}'")
        if isinstance(into[key], dict):
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
    if not config.account_id.isdigit():
        raise ConfigError(f"config key 'account_id' must be digits, got {config.account_id!r}")
    for key, value in msgspec.structs.asdict(config.function_logs).items():
        if value < 1:
            raise ConfigError(f"config key 'function_logs.{key}' must be at least 1, got {value}")
    if config.retention.logs_bytes < 1:
        raise ConfigError("config key 'retention.logs_bytes' must be at least 1")
