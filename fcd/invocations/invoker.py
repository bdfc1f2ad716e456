"""One sync invocation end to end: resolve the version, run it on an instance, meter and log it.

The gateway parses HTTP and renders the answer; the manager finds an instance; this module joins
them: it picks the version (alias weights included) from the in-memory catalog, builds instance
specs on cold starts, turns an instance that could not start into FC's answer, appends FC's
summary line to the request's log, and hands the metering record and log lines to the recorder
without waiting for the store.

Error handling:
    * unknown service/function/version/alias → the catalog's ``*NotFound`` errors;
    * no capacity → ``errors.ResourceExhausted`` (429) from the manager;
    * user code that fails to load or initialize (the start failure carries an error body) → an
      ``UnhandledInvocationError`` *result* (status 200), as FC answers (spec §5.3); any other
      start failure → 412 with its code (``CAExited``, ``CAFileNotFound``, ``CAFilePermission``,
      ``FunctionNotStarted``);
    * a function error, timeout, crash or OOM → a result, never an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fcd import errors
from fcd.config import Config
from fcd.instances.manager import InstanceManager, PoolSpec, StartFailure
from fcd.invocations import results as shape
from fcd.invocations.catalog import LATEST, Catalog, FunctionVersion
from fcd.invocations.recorder import Recorder
from fcd.metering import usage
from fcd.model import (
    FunctionContext,
    HttpRequestInfo,
    InstanceSpec,
    InvokeRequest,
    InvokeResult,
    TraceContext,
)
from fcd.wire.services import nas_run_as, resolve_export

log = logging.getLogger(__name__)


class StartError(errors.FcError):
    """A custom runtime that could not be started; ``code`` is the runtime's failure code."""

    status = 412

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the gateway renders: the body, how it ended, and where it ran."""

    request_id: str
    body: bytes
    error_type: str | None
    version: str  # the version that ran: "LATEST" or a version id
    instance_id: str
    code_checksum: str
    result: InvokeResult
    summary: bytes  # FC's summary line of this request

    @property
    def log(self) -> bytes:
        """This request's log lines and FC's summary line (``X-Fc-Log-Type: Tail``): joined
        only when asked for."""
        return self.result.logs + b"\n" + self.summary


class Invoker:
    """Sync invocations of any function version."""

    def __init__(
        self,
        catalog: Catalog,
        manager: InstanceManager,
        recorder: Recorder,
        config: Config,
        unpack: Callable[[str], Path],
        *,
        isolated: bool,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.manager = manager
        self.recorder = recorder
        self.config = config
        self.unpack = unpack
        self.isolated = isolated
        self.wall = wall
        self._specs: dict[tuple[str, str, int], PoolSpec] = {}
        self._retire_scheduled = False

    def __repr__(self) -> str:
        return f"<Invoker {self.manager!r} {self.catalog!r}>"

    async def invoke(
        self,
        service: str,
        qualifier: str,
        function: str,
        payload: bytes,
        *,
        request_id: str,
        http: HttpRequestInfo | None = None,
        tracing: TraceContext | None = None,
    ) -> Invocation:
        """Run ``service.qualifier/function`` on ``payload`` (an HTTP-trigger request: ``http``).

        Raises:
            errors.FcError: see the module docstring.
        """
        version, max_instances = self.catalog.resolve(service, qualifier, function)
        pool_spec = self._pool_spec(version, qualifier or LATEST, max_instances)
        if tracing is not None or version.jaeger_endpoint:
            tracing = dataclasses.replace(
                tracing or TraceContext(), jaeger_endpoint=version.jaeger_endpoint
            )
        request = InvokeRequest(
            request_id=request_id,
            payload=payload,
            timeout_s=version.timeout_s,
            http=http,
            tracing=tracing,
            max_result_bytes=self.config.limits.sync_payload,
        )
        started_at = self.wall()
        try:
            outcome = await self.manager.invoke(pool_spec, request)
        except StartFailure as failure:
            if not failure.body:
                raise StartError(failure.code, failure.message) from None
            # The user's code failed to load or initialize: FC answers like a function error.
            result = InvokeResult(
                body=failure.body,
                error_type=shape.UNHANDLED,
                duration_ms=(self.wall() - started_at) * 1000,
                max_memory_mb=failure.max_memory_mb,
                logs=failure.logs,
            )
            return self._finish(
                version, qualifier, request_id, started_at, result, "", failure.init_ms, True
            )
        return self._finish(
            version,
            qualifier,
            request_id,
            started_at,
            outcome.result,
            outcome.instance_id,
            outcome.cold_start_ms,
            outcome.cold,
        )

    def _finish(
        self,
        version: FunctionVersion,
        qualifier: str,
        request_id: str,
        started_at: float,
        result: InvokeResult,
        instance_id: str,
        cold_start_ms: float,
        cold: bool,
    ) -> Invocation:
        body, error_type = result.body, result.error_type
        if result.instance_fatal and not body:
            body = shape.fatal_body(
                result, timeout_s=version.timeout_s, memory_mb=version.memory_mb
            )
            error_type = shape.UNHANDLED
        record = usage.meter(
            request_id=request_id,
            service=version.service,
            function=version.function,
            qualifier=qualifier or LATEST,
            version_id=version.version_id,
            started_at=started_at,
            duration_ms=result.duration_ms,
            memory_mb=version.memory_mb,
            max_memory_mb=result.max_memory_mb,
            cold=cold,
            cold_start_ms=cold_start_ms,
            status=shape.status_of(result),
        )
        self.recorder.usage(record)
        summary = shape.summary_line(
            request_id=request_id,
            duration_ms=result.duration_ms,
            billed_ms=record.billed_ms,
            memory_mb=version.memory_mb,
            max_memory_mb=result.max_memory_mb,
            cold_start_ms=cold_start_ms if cold else None,
            isolated=self.isolated,
        )
        self.recorder.log(version.service, version.function, request_id, summary[:-1])
        return Invocation(
            request_id=request_id,
            body=body,
            error_type=error_type,
            version=version.version_id,
            instance_id=instance_id,
            code_checksum=version.code_checksum,
            result=result,
            summary=summary,
        )

    # retiring instances of changed functions ----------------------------------------------
    def retire_stale(self) -> None:
        """A resource write committed (``Store.on_write``, after the catalog was dropped):
        drain the pools of function versions that are gone or configured otherwise now.

        Deferred to the next turn of the loop, once for a burst of writes.
        """
        if self._retire_scheduled:
            return
        self._retire_scheduled = True
        asyncio.get_running_loop().call_soon(self._retire)

    def _retire(self) -> None:
        self._retire_scheduled = False
        retired = self.manager.retire(self._stale)
        if retired:
            log.debug("retired %d pools after a resource write", retired)

    def _stale(self, lineage: tuple[str, str, str], fingerprint: str) -> bool:
        service, function, version_id = lineage
        try:
            version, _ = self.catalog.resolve(service, version_id, function)
        except errors.NotFound:
            return True
        except Exception:  # a config the catalog cannot read: keep serving, say so
            log.exception("cannot check %s/%s@%s after a write", service, function, version_id)
            return False
        return version.fingerprint != fingerprint

    # pool specs -----------------------------------------------------------------------------
    def _pool_spec(self, version: FunctionVersion, qualifier: str, max_instances: int) -> PoolSpec:
        key = (version.fingerprint, qualifier, max_instances)
        spec = self._specs.get(key)
        if spec is None:
            if len(self._specs) > 10_000:  # configs come and go with deploys; keep this bounded
                self._specs.clear()

            async def make_spec(instance_id: str) -> InstanceSpec:
                return await self._instance_spec(version, qualifier, instance_id)

            spec = self._specs[key] = PoolSpec(
                lineage=(version.service, version.function, version.version_id),
                fingerprint=version.fingerprint,
                concurrency=version.concurrency,
                max_instances=max_instances,
                make_spec=make_spec,
                soft_concurrency=version.soft_concurrency,
            )
        return spec

    async def _instance_spec(
        self, version: FunctionVersion, qualifier: str, instance_id: str
    ) -> InstanceSpec:
        """An instance's spec; unpacking code (if not done at upload) happens off the loop.

        Raises:
            StartFailure: the code package is missing.
        """
        try:
            code_dir = await asyncio.to_thread(self.unpack, version.code_sha256)
            layer_dirs = tuple(
                [await asyncio.to_thread(self.unpack, digest) for digest in version.layers]
            )
        except (OSError, ValueError, errors.FcError) as e:
            raise StartFailure(
                "FunctionNotStarted", f"the code of {version.name} cannot be unpacked: {e}"
            ) from e
        context = FunctionContext(
            service_name=version.service,
            function_name=version.function,
            qualifier=qualifier,
            version_id="" if version.version_id == LATEST else version.version_id,
            handler=version.handler,
            memory_mb=version.memory_mb,
            timeout_s=version.timeout_s,
            initializer=version.initializer,
            initialization_timeout_s=version.initialization_timeout_s,
            region=self.config.region,
            account_id=self.config.account_id,
            log_project=version.log_project,
            log_store=version.log_store,
        )
        mounts = []
        for server_addr, mount_dir in version.nas_mounts:
            directory = resolve_export(server_addr, self.config.nas.exports)
            if directory is None:
                raise StartFailure(
                    "FunctionNotStarted",
                    f"the NAS export '{server_addr}' of service {version.service} is no longer "
                    "mapped in the [nas] exports table of fcd's config",
                )
            mounts.append((Path(directory), mount_dir.rstrip("/"), False))
        return InstanceSpec(
            instance_id=instance_id,
            runtime=version.runtime,
            code_dir=code_dir,
            layer_dirs=layer_dirs,
            environment=version.environment,
            context=context,
            concurrency=version.concurrency,
            internet_access=version.internet_access,
            ca_port=version.ca_port,
            custom_command=version.custom_command,
            pre_stop_handler=version.pre_stop[0],
            pre_stop_timeout_s=version.pre_stop[1],
            pre_freeze_handler=version.pre_freeze[0],
            pre_freeze_timeout_s=version.pre_freeze[1],
            mounts=tuple(mounts),
            run_as=nas_run_as(*version.nas_ids),
            resolv_conf=version.resolv_conf,
            cpu=version.cpu,
            health=version.health,
            tmp_size_mb=version.disk_mb,
        )
