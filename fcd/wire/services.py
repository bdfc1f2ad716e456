"""Service shapes (spec §4.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from fcd import errors


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


# nasConfig (FC: ids in -1..65534, 0 refused; -1 = the platform's default; at most 5 mount
# points, each mountDir under /home, /mnt or /data). fcd runs the service's functions with these
# ids, so it also refuses host system ids: below the first sandbox uid (the default
# [sandbox] uid_first, fcd.isolation.sandbox.UIDS.start; a unit test keeps the two equal)
# and nobody (65534).
NAS_ID_DEFAULT = -1
NAS_ID_MIN, NAS_ID_MAX = 10000, 65533
MAX_MOUNT_POINTS = 5
NAS_MOUNT_ROOTS = ("/home/", "/mnt/", "/data/")
MAX_MOUNT_DIR = 256
_MOUNT_DIR = re.compile(r"(/[A-Za-z0-9._-]+)+")


def export_key(server_addr: str) -> str:
    """A serverAddr as the ``[nas] exports`` table names it: ``server:/path``, no trailing '/'."""
    server, _, path = server_addr.strip().partition(":")
    path = "/" + path.strip("/")
    return f"{server}:{path}"


def check_service(
    change: ServiceInput, *, exports: Mapping[str, str], mounts_possible: bool
) -> None:
    """Refuse, at write time, what fcd cannot do on one host (each given field must be honoured).

    ``exports`` is the operator's ``[nas] exports`` table; ``mounts_possible`` is false when the
    daemon runs without isolation (no mount namespace to mount a NAS in).

    Raises:
        errors.InvalidArgument: naming the field, why, and what to use instead.
    """
    vpc = change.vpc_config
    if vpc is not None and (vpc.vpc_id or vpc.v_switch_ids or vpc.security_group_id):
        raise errors.InvalidArgument(
            "vpcConfig is not supported: fcd runs on one host and has no VPC to attach a "
            "function to; use internetAccess (outbound access through the host's network) and "
            "leave vpcConfig empty"
        )
    if change.nas_config is not None:
        check_nas(change.nas_config, exports=exports, mounts_possible=mounts_possible)
    oss = change.oss_mount_config
    if oss is not None and oss.mount_points:
        raise errors.InvalidArgument(
            "ossMountConfig is not supported: fcd cannot mount buckets into a function; read "
            "and write objects through the bucket store's S3 API instead (docs/buckets.md)"
        )
    tracing = change.tracing_config
    if tracing is not None and tracing.type not in (None, "", "Jaeger"):
        raise errors.InvalidArgument(
            f"tracingConfig.type {tracing.type!r} is not supported: FC traces to Jaeger only"
        )


def check_nas(nas: NasConfig, *, exports: Mapping[str, str], mounts_possible: bool) -> None:
    """FC's nasConfig rules plus fcd's: ids above the host's, addresses the operator mapped.

    Raises:
        errors.InvalidArgument: naming the field.
    """
    for field, value in (("userId", nas.user_id), ("groupId", nas.group_id)):
        if value != NAS_ID_DEFAULT and not NAS_ID_MIN <= value <= NAS_ID_MAX:
            raise errors.InvalidArgument(
                f"nasConfig.{field} {value} is invalid: functions run with it, so it must be -1 "
                f"(the default) or in {NAS_ID_MIN}..{NAS_ID_MAX}, above the host's own ids"
            )
    points = nas.mount_points
    if len(points) > MAX_MOUNT_POINTS:
        raise errors.InvalidArgument(
            f"nasConfig.mountPoints has {len(points)} entries: at most {MAX_MOUNT_POINTS}"
        )
    if points and not mounts_possible:
        raise errors.InvalidArgument(
            'nasConfig.mountPoints needs sandboxes: this daemon runs with isolation = "none" '
            'and cannot mount into a function; set isolation = "namespaces"'
        )
    seen: set[str] = set()
    for point in points:
        directory = point.mount_dir.rstrip("/")
        if (
            len(directory) > MAX_MOUNT_DIR
            or not _MOUNT_DIR.fullmatch(directory)
            or not directory.startswith(NAS_MOUNT_ROOTS)
            or any(part in (".", "..") for part in directory.split("/"))
        ):
            raise errors.InvalidArgument(
                f"nasConfig.mountPoints mountDir '{point.mount_dir}' is invalid: it must be a "
                "sub-directory of /home, /mnt or /data (letters, digits, '.', '_', '-')"
            )
        if any(
            directory == other
            or (directory + "/").startswith(other + "/")
            or (other + "/").startswith(directory + "/")
            for other in seen
        ):
            raise errors.InvalidArgument(
                f"nasConfig.mountPoints mountDir '{directory}' is the same as, or nested in, "
                "another mount point's: each mountDir must be apart from the others"
            )
        seen.add(directory)
        if point.enable_tls:
            raise errors.InvalidArgument(
                "nasConfig.mountPoints enableTLS is not supported: fcd mounts host "
                "directories, not NFS over the network; leave it false"
            )
        if export_key(point.server_addr) not in {export_key(k) for k in exports}:
            raise errors.InvalidArgument(
                f"nasConfig.mountPoints serverAddr '{point.server_addr}' is not an export this "
                "host maps: the operator adds it to the [nas] exports table of fcd's config, "
                'e.g. exports = { "<server>:/<path>" = "/srv/nas/dir" }'
            )


def resolve_export(server_addr: str, exports: Mapping[str, str]) -> str | None:
    """The host directory mapped to ``server_addr``, or None when the operator maps none."""
    wanted = export_key(server_addr)
    for key, directory in exports.items():
        if export_key(key) == wanted:
            return directory
    return None


def nas_run_as(user_id: int, group_id: int) -> tuple[int, int] | None:
    """The (uid, gid) a service's functions run with; -1 keeps the sandbox's own uid.

    FC: with no groupId the group is the user's; None when neither is set.
    """
    if user_id == NAS_ID_DEFAULT and group_id == NAS_ID_DEFAULT:
        return None
    return user_id, group_id if group_id != NAS_ID_DEFAULT else user_id
