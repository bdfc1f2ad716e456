"""What an invocation runs: service.qualifier/function resolved to one version's config, cached.

The invoke path must not touch SQLite or a thread on a warm hit (DESIGN §6), so the resolved,
decoded configuration of every function version invoked is kept in memory. The cache is dropped
whenever the store commits a notifying write (``Store.on_write``): resource writes are rare and a
miss costs one indexed read on the loop thread, while a stale entry would keep running old code
after a deploy.

Qualifiers (spec §5.1): none or ``LATEST`` is the current config; a version id is that version's
snapshot; an alias is its ``versionId`` or, with the probability of its weight, one of its
``additionalVersionWeight`` versions. The weighted draw happens on every invocation (the alias
and all its versions' configs are cached together), with :func:`fcd.invocations.routing.
choose_version` deciding.

The documents are read with the kinds and shapes of :mod:`fcd.store.resources` (which
:mod:`fcd.api.lookup` re-exports): this layer may not import the API.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from fcd import errors
from fcd.config import Config
from fcd.invocations.routing import choose_version
from fcd.store import Store, docs
from fcd.store.resources import (
    ALIAS,
    FUNCTION,
    LATEST,
    ON_DEMAND,
    SERVICE,
    VERSION,
    alias_target,
    decode_snapshot,
    is_version_id,
    version_key,
)
from fcd.wire.functions import LifecycleHook, decode_stored, health_check, resolv_conf
from fcd.wire.services import LogConfig, NasConfig

# LATEST is imported from here by the invoker and the async queue.
__all__ = ["LATEST", "Catalog", "FunctionVersion"]


class _OnDemand(msgspec.Struct, rename="camel"):
    maximum_instance_count: int


class _TracingParams(msgspec.Struct, rename="camel"):
    endpoint: str | None = None


class _TracingConfig(msgspec.Struct, rename="camel"):
    params: _TracingParams | None = None


class _Service(msgspec.Struct, rename="camel"):
    internet_access: bool | None = None
    tracing_config: _TracingConfig | None = None
    nas_config: NasConfig | None = None
    log_config: LogConfig | None = None


_on_demand = msgspec.json.Decoder(_OnDemand)
_service = msgspec.json.Decoder(_Service)


@dataclass(frozen=True, slots=True)
class FunctionVersion:
    """One function version's config, ready to start instances of it.

    ``fingerprint`` changes whenever anything an instance depends on changes (a redeploy of
    LATEST): the manager then drains the old instances and starts new ones.
    """

    service: str
    function: str
    version_id: str  # "LATEST" or a version id
    fingerprint: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_s: int
    initializer: str
    initialization_timeout_s: int
    concurrency: int
    environment: dict[str, str]
    code_sha256: str
    code_checksum: str
    ca_port: int
    custom_command: tuple[str, ...]
    pre_stop: tuple[str, int]
    pre_freeze: tuple[str, int]
    internet_access: bool
    layers: tuple[str, ...]  # package digests, first layer first
    jaeger_endpoint: str = ""  # the service's tracingConfig, given to context.tracing
    # The service's nasConfig: (serverAddr, mountDir) pairs and the (userId, groupId) the
    # functions run with (-1: the sandbox's own uid).
    nas_mounts: tuple[tuple[str, str], ...] = ()
    nas_ids: tuple[int, int] = (-1, -1)
    # The service's logConfig, shown to functions as context.service.logProject/logStore.
    log_project: str = ""
    log_store: str = ""
    soft_concurrency: int | None = None  # instanceSoftConcurrency
    resolv_conf: str | None = None  # from customDNS; None: the default
    cpu: float | None = None  # vCPUs of CPU quota; None: none
    # customHealthCheckConfig: (url, initial delay, period, timeout, failures, successes)
    health: tuple[str, int, int, int, int, int] | None = None
    disk_mb: int = 512  # diskSize: the size of the instance's /tmp

    @property
    def name(self) -> str:
        """``svc/f@3``, for logs and reprs."""
        return f"{self.service}/{self.function}@{self.version_id}"


@dataclass(slots=True)
class _Entry:
    """A cached qualifier: its main version, the alias weights, and each version's config."""

    main: str
    weights: dict[str, float]
    versions: dict[str, FunctionVersion]
    max_instances: int


@dataclass
class Catalog:
    """Resolves ``(service, qualifier, function)`` to the :class:`FunctionVersion` to run."""

    store: Store
    config: Config
    draw: Callable[[], float] = random.random
    _entries: dict[tuple[str, str, str], _Entry] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Catalog cached={len(self._entries)}>"

    def invalidate(self) -> None:
        """Forget everything: a resource changed."""
        self._entries.clear()

    def resolve(self, service: str, qualifier: str, function: str) -> tuple[FunctionVersion, int]:
        """The version an invocation runs and the function's max instances for that qualifier.

        Raises:
            errors.ServiceNotFound, errors.FunctionNotFound, errors.VersionNotFound,
            errors.AliasNotFound
        """
        key = (service, qualifier or LATEST, function)
        entry = self._entries.get(key)
        if entry is None:
            entry = self.store.read(lambda conn: self._load(conn, *key))
            self._entries[key] = entry
        chosen = entry.main
        if entry.weights:
            chosen = choose_version(entry.main, entry.weights, self.draw())
        return entry.versions[chosen], entry.max_instances

    # reading the store (cache misses only) --------------------------------------------------
    def _load(self, conn: sqlite3.Connection, service: str, qualifier: str, fn: str) -> _Entry:
        if docs.get(conn, SERVICE, "", service) is None:
            raise errors.ServiceNotFound(f"service '{service}' does not exist")
        max_instances = self._max_instances(conn, service, qualifier, fn)
        if qualifier == LATEST:
            latest = _latest(conn, service, fn)
            return _Entry(LATEST, {}, {LATEST: latest}, max_instances)
        if is_version_id(qualifier):
            version = _published(conn, service, str(int(qualifier)), fn)
            return _Entry(version.version_id, {}, {version.version_id: version}, max_instances)
        alias = docs.get(conn, ALIAS, service, qualifier)
        if alias is None:
            raise errors.AliasNotFound(f"alias '{qualifier}' of service '{service}' does not exist")
        target = alias_target(alias.body)
        weights = {v: w for v, w in target.additional_version_weight.items() if w > 0}
        versions = {v: _published(conn, service, v, fn) for v in {target.version_id, *weights}}
        return _Entry(target.version_id, weights, versions, max_instances)

    def _max_instances(
        self, conn: sqlite3.Connection, service: str, qualifier: str, fn: str
    ) -> int:
        resource = f"services/{service}.{qualifier}/functions/{fn}"
        doc = docs.get(conn, ON_DEMAND, "", resource)
        if doc is None:
            return self.config.instances.max_per_function
        return max(0, _on_demand.decode(doc.body).maximum_instance_count)


def _latest(conn: sqlite3.Connection, service: str, function: str) -> FunctionVersion:
    service_doc = docs.get(conn, SERVICE, "", service)
    function_doc = docs.get(conn, FUNCTION, service, function)
    if service_doc is None:
        raise errors.ServiceNotFound(f"service '{service}' does not exist")
    if function_doc is None:
        raise errors.FunctionNotFound(
            f"function '{function}' does not exist in service '{service}'"
        )
    fingerprint = f"{service_doc.etag}:{function_doc.etag}"
    return _decode(service, function, LATEST, fingerprint, service_doc.body, function_doc.body)


def _published(
    conn: sqlite3.Connection, service: str, version_id: str, function: str
) -> FunctionVersion:
    doc = docs.get(conn, VERSION, service, version_key(version_id))
    if doc is None:
        raise errors.VersionNotFound(
            f"version '{version_id}' of service '{service}' does not exist"
        )
    frozen = decode_snapshot(doc.body)
    if function not in frozen.functions:
        raise errors.FunctionNotFound(
            f"function '{function}' does not exist in service '{service}'"
        )
    # A published version never changes; its document's etag still names this exact snapshot.
    fingerprint = f"v{version_id}:{doc.etag}"
    return _decode(
        service, function, version_id, fingerprint, frozen.service, frozen.functions[function]
    )


def _decode(
    service: str, function: str, version_id: str, fingerprint: str, svc: bytes, fn: bytes
) -> FunctionVersion:
    stored = decode_stored(fn)
    service_config = _service.decode(svc)
    lifecycle = stored.instance_lifecycle_config
    pre_stop = (lifecycle.pre_stop if lifecycle else None) or LifecycleHook()
    pre_freeze = (lifecycle.pre_freeze if lifecycle else None) or LifecycleHook()
    nas = service_config.nas_config or NasConfig()
    logs = service_config.log_config or LogConfig()
    custom = stored.custom_runtime_config
    command = (*(custom.command or ()), *(custom.args or ())) if custom else ()
    return FunctionVersion(
        service=service,
        function=function,
        version_id=version_id,
        fingerprint=hashlib.sha1(fingerprint.encode() + fn).hexdigest()[:16],
        runtime=stored.runtime,
        handler=stored.handler,
        memory_mb=stored.memory_size,
        timeout_s=stored.timeout,
        initializer=stored.initializer,
        initialization_timeout_s=stored.initialization_timeout,
        concurrency=min(100, max(1, stored.instance_concurrency)),
        environment=dict(stored.environment_variables),
        code_sha256=stored.code_sha256,
        code_checksum=stored.code_checksum,
        ca_port=stored.ca_port,
        custom_command=command,
        pre_stop=(pre_stop.handler or "", pre_stop.timeout or 3),
        pre_freeze=(pre_freeze.handler or "", pre_freeze.timeout or 3),
        internet_access=service_config.internet_access is not False,
        layers=tuple(layer.sha256 for layer in stored.layer_code),
        jaeger_endpoint=(
            (tracing.params.endpoint or "")
            if (tracing := service_config.tracing_config) and tracing.params
            else ""
        ),
        nas_mounts=tuple((p.server_addr, p.mount_dir) for p in nas.mount_points),
        nas_ids=(nas.user_id, nas.group_id),
        log_project=logs.project,
        log_store=logs.logstore,
        soft_concurrency=stored.instance_soft_concurrency,
        resolv_conf=resolv_conf(stored.custom_dns),
        cpu=stored.cpu,
        health=health_check(stored.custom_health_check_config),
        disk_mb=stored.disk_size,
    )
