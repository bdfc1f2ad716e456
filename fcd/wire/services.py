"""Service shapes (spec §4.1)."""

from __future__ import annotations

from typing import Any

import msgspec


class LogConfig(msgspec.Struct, rename="camel", omit_defaults=False):
    project: str = ""
    # The wire key is "logstore" with a lower-case s (Go and Tea SDKs); camel would say logStore.
    logstore: str = ""
    enable_request_metrics: bool = False
    enable_instance_metrics: bool = False
    log_begin_rule: str | None = None


class VpcConfig(msgspec.Struct, rename="camel"):
    vpc_id: str = ""
    v_switch_ids: list[str] = msgspec.field(default_factory=list)
    security_group_id: str = ""
    role: str | None = None


class MountPoint(msgspec.Struct, rename="camel"):
    """A NAS mount; on fcd ``serverAddr`` names a host directory bind-mounted at ``mountDir``."""

    server_addr: str = ""
    mount_dir: str = ""
    enable_tls: bool = msgspec.field(default=False, name="enableTLS")


class NasConfig(msgspec.Struct, rename="camel"):
    user_id: int = -1
    group_id: int = -1
    mount_points: list[MountPoint] = msgspec.field(default_factory=list)


class TracingConfig(msgspec.Struct, rename="camel"):
    type: str | None = None
    params: dict[str, Any] | None = None


class OssMountPoint(msgspec.Struct, rename="camel"):
    bucket_name: str = ""
    bucket_path: str = ""
    endpoint: str = ""
    mount_dir: str = ""
    read_only: bool = False


class OssMountConfig(msgspec.Struct, rename="camel"):
    mount_points: list[OssMountPoint] = msgspec.field(default_factory=list)


class ServiceInput(msgspec.Struct, rename="camel"):
    """Create and update body; every field optional (``None`` = not given, keep the old value)."""

    service_name: str | None = None
    description: str | None = None
    role: str | None = None
    log_config: LogConfig | None = None
    vpc_config: VpcConfig | None = None
    internet_access: bool | None = None
    nas_config: NasConfig | None = None
    tracing_config: TracingConfig | None = None
    oss_mount_config: OssMountConfig | None = None


class Service(msgspec.Struct, rename="camel"):
    """A stored service, and the response shape of Create/Get/Update/List."""

    service_name: str
    service_id: str
    created_time: str
    last_modified_time: str
    description: str = ""
    role: str = ""
    log_config: LogConfig = msgspec.field(default_factory=LogConfig)
    vpc_config: VpcConfig = msgspec.field(default_factory=VpcConfig)
    internet_access: bool = True
    nas_config: NasConfig = msgspec.field(default_factory=NasConfig)
    tracing_config: TracingConfig = msgspec.field(default_factory=TracingConfig)
    oss_mount_config: OssMountConfig = msgspec.field(default_factory=OssMountConfig)
    use_slr_authentication: bool = msgspec.field(default=False, name="useSLRAuthentication")
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class ServiceList(msgspec.Struct, rename="camel", omit_defaults=True):
    services: list[Service]
    next_token: str | None = None
