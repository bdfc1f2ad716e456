"""One function instance: a sandboxed runtime process and the requests it is serving.

The instance starts the sandbox and runtime, loads the handler, runs the initializer once, and
then multiplexes requests over the control socket (frames of ``fcd.instances.protocol``). It
never raises for a function's own failure: errors, timeouts, crashes and OOM kills are
:class:`~fcd.model.InvokeResult` values, and those that end the instance say so with
``instance_fatal`` so the caller drops it. It knows nothing of pools: the manager decides.

Error handling:
    - handler error → ``UnhandledInvocationError`` with the runtime's JSON (Node's
      ``callback(err)`` → ``HandledInvocationError``); the instance stays.
    - timeout → the FC timeout error, the instance is destroyed (``fatal_reason="timeout"``).
    - the runtime dies → every in-flight request gets "Process exited unexpectedly…"
      (``"oom"`` when the cgroup's OOM killer fired, else ``"exited"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Literal, cast

from fcd import ids
from fcd.config import FunctionLogs
from fcd.instances import protocol, runtimes
from fcd.instances.logcap import LineJoiner, LogBudget, Throttle
from fcd.isolation.sandbox import Isolation, IsolationUnavailable, Sandbox, SandboxSpec
from fcd.model import ColdStart, InstanceSpec, InvokeRequest, InvokeResult, TraceContext

__all__ = ["Instance", "Isolation", "IsolationUnavailable", "StartFailure"]

log = logging.getLogger(__name__)

UNHANDLED = "UnhandledInvocationError"
# A built-in runtime that has not loaded its handler by then is broken (interpreter start is
# ~10-30 ms; imports of large packages can take seconds).
LOAD_TIMEOUT_S = 60.0
# FC gives custom runtimes 120 s to listen on CAPort (spec §7.5).
CUSTOM_START_TIMEOUT_S = 120.0
STOP_GRACE_S = 1.0
# Payloads up to this size are copied behind their header (one buffer is the cheapest write);
# larger ones are written beside it.
COPY_LIMIT = 64 << 10
# Of each request's log the instance keeps the last this many bytes in memory, for its result
# (X-Fc-Log-Result shows the last 4 KB); the whole log is in the store.
LOG_KEEP = 16 << 10

OnLog = Callable[[str, bytes], None]


class StartFailure(Exception):
    """The instance could not start; ``code`` is the FC error code.

    ``code`` is one of ``FunctionNotStarted``, ``CAFileNotFound``, ``CAFilePermission``,
    ``CAExited`` or ``InitializationError``. ``body`` is the error JSON to return as an
    ``UnhandledInvocationError`` when the failure is the user's code (import error or
    initializer failure in a built-in runtime); it is empty otherwise. ``logs`` holds what the
    runtime printed while starting.
    """

    def __init__(
        self,
        code: str,
        message: str,
        body: bytes = b"",
        logs: bytes = b"",
        *,
        max_memory_mb: float = 0.0,
        init_ms: float = 0.0,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.body = body
        self.logs = logs
        # What the failed start used: the sandbox's peak memory and the time from the sandbox's
        # start to the failure (FC's summary line reports both); 0 when no sandbox was made.
        self.max_memory_mb = max_memory_mb
        self.init_ms = init_ms


class _Exited:
    """Sentinel result of requests whose runtime went away."""


_EXITED = _Exited()


class _TimedOut:
    """Sentinel result of a request that ran past its timeout."""


_TIMED_OUT = _TimedOut()
Outcome = tuple[protocol.Result, bytes | protocol.Dropped] | _Exited | _TimedOut


def _expire(future: asyncio.Future[Outcome]) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


class Instance:
    """A started instance; see the module docstring for the contract."""

    def __init__(
        self,
        spec: InstanceSpec,
        sandbox: Sandbox,
        on_log: OnLog,
        log_limits: FunctionLogs | None = None,
    ) -> None:
        self.id = spec.instance_id
        self.spec = spec
        self.cold_start = ColdStart(0.0, 0.0, 0.0, 0.0)
        self._sandbox = sandbox
        self._transport: asyncio.Transport | None = None
        self._closed: asyncio.Future[None] | None = None
        self._on_log = on_log
        self._budget = LogBudget(log_limits or FunctionLogs(), time.monotonic())
        self._line_bytes = self._budget.limits.line_bytes
        # While its output is dropped whole, the instance's output is read less often.
        self._throttle = Throttle()
        self._pipes: tuple[asyncio.BaseTransport, ...] = ()
        self._pending: dict[str, asyncio.Future[Outcome]] = {}
        self._logs: dict[str, bytearray] = {}
        self._loaded: asyncio.Future[tuple[protocol.Loaded, bytes]] | None = None
        self._alive = True
        self._stopping: asyncio.Task[None] | None = None
        self._start_log = bytearray()
        self._env: dict[str, str] = {}
        self._flooding = False  # a log frame of the current read was dropped whole
        # Sent with every frame that runs user code; empty (left out of the frame) without keys.
        self._credentials = _credentials(spec)

    # -- starting -----------------------------------------------------------------------------
    @classmethod
    async def start(
        cls,
        spec: InstanceSpec,
        isolation: Isolation,
        on_log: OnLog,
        *,
        request_id: str = "",
        log_limits: FunctionLogs | None = None,
    ) -> Instance:
        """Start the sandbox and runtime, load the handler and run the initializer once.

        ``request_id`` is the invocation that caused the cold start; the initializer's log
        lines carry it (a fresh id is used when empty). ``log_limits`` caps what the function
        may log (:mod:`fcd.instances.logcap`; the defaults when ``None``).

        Raises:
            StartFailure: the runtime is unknown, the sandbox or runtime did not start, the
                handler did not load, or the initializer failed or timed out.
        """
        kind = runtimes.kind_of(spec.runtime)
        if kind is None:
            raise StartFailure("FunctionNotStarted", f"runtime {spec.runtime!r} is not supported")
        box_spec = SandboxSpec(
            name=spec.instance_id,
            memory_mb=spec.context.memory_mb,
            code_dir=spec.code_dir,
            layer_dirs=spec.layer_dirs,
            mounts=spec.mounts,
            run_as=spec.run_as,
            resolv_conf=spec.resolv_conf,
            cpu=spec.cpu,
            tmp_size_mb=spec.tmp_size_mb,
            internet=spec.internet_access,
        )
        runtime_path = isolation.runtime_path()
        env = runtimes.environment(
            spec,
            kind,
            code_path=isolation.code_path(box_spec),
            runtime_path=runtime_path,
            commands_path=isolation.commands_path(),
        )
        mode: Literal["python", "custom", "exec"] = "exec" if kind == "nodejs" else kind
        argv = runtimes.node_argv(isolation.node, runtime_path) if kind == "nodejs" else []
        try:
            sandbox = await isolation.spawn(box_spec, mode, argv, env)
        except OSError as e:
            raise StartFailure("FunctionNotStarted", f"cannot start sandbox: {e}") from e
        instance = cls(spec, sandbox, on_log, log_limits)
        instance._env = env
        request_id = request_id or ids.request_id()
        try:
            await instance._boot(kind, request_id)
        except StartFailure as failure:
            instance._record_failure(failure, request_id)
            await asyncio.shield(instance._destroy())
            raise
        except BaseException:
            await asyncio.shield(instance._destroy())
            raise
        return instance

    def _record_failure(self, failure: StartFailure, request_id: str) -> None:
        """Fill in what the failed start used, and put its error in the function's logs (FC
        logs a failed start like a failed invocation, not only in the reply)."""
        failure.max_memory_mb = self._sandbox.peak_memory_mb()
        failure.init_ms = max(0.0, (time.monotonic() - self._sandbox.started) * 1000)
        text = failure.body or failure.message.encode()
        if text not in failure.logs:  # an initializer's error is already in its log lines
            line = text.rstrip(b"\n") + b"\n"
            failure.logs += line
            self._log(request_id, line)

    async def _boot(self, kind: str, request_id: str) -> None:
        loop = asyncio.get_running_loop()
        self._loaded = loop.create_future()
        self._closed = loop.create_future()
        self._transport, _ = await loop.create_unix_connection(
            lambda: _Channel(self), sock=self._sandbox.control
        )
        spec = self.spec
        load = protocol.Load(
            handler=spec.context.handler,
            initializer=spec.context.initializer,
            pre_stop=spec.pre_stop_handler,
            pre_freeze=spec.pre_freeze_handler,
            concurrency=spec.concurrency,
            ca_port=spec.ca_port,
            command=list(spec.custom_command),
            context=runtimes.static_context(spec),
            env=self._env if kind == "nodejs" else {},
            health=list(spec.health or ()),
        )
        self._send(load)
        # The output pipes are attached while the runtime loads (they buffer until then).
        self._pipes = await self._sandbox.open_pipes(lambda: _Output(self))
        timeout = CUSTOM_START_TIMEOUT_S if kind == "custom" else LOAD_TIMEOUT_S
        try:
            async with asyncio.timeout(timeout):
                loaded, body = await self._loaded
        except TimeoutError:
            raise StartFailure(
                "FunctionNotStarted",
                f"the runtime did not start within {timeout:.0f} s",
                logs=_tail(self._start_log),
            ) from None
        except _RuntimeGone:
            await self._wait_exit()
            raise StartFailure(
                "CAExited" if kind == "custom" else "FunctionNotStarted",
                "the runtime exited while starting",
                logs=_tail(self._start_log),
            ) from None
        if not loaded.ok:
            raise StartFailure(
                loaded.code or "FunctionNotStarted",
                body.decode(errors="replace"),
                body,
                _tail(self._start_log),
            )
        note = runtimes.version_note(spec.runtime, loaded.version)
        if note is not None:
            self._log(request_id, note.encode())
        t_sandbox = loaded.sandbox_ready or self._sandbox.ready_at
        runtime_ready = loaded.runtime_ready or t_sandbox
        sandbox_ms = max(0.0, (t_sandbox - self._sandbox.started) * 1000) if t_sandbox else 0.0
        runtime_ms = max(0.0, (runtime_ready - (t_sandbox or self._sandbox.started)) * 1000)
        code_ms = max(0.0, (loaded.loaded - runtime_ready) * 1000) if loaded.loaded else 0.0
        init_ms = 0.0
        if spec.context.initializer:
            t0 = time.monotonic()
            result = await self._call(
                protocol.Init(id=request_id, credentials=self._credentials),
                b"",
                request_id,
                float(spec.context.initialization_timeout_s),
            )
            init_ms = (time.monotonic() - t0) * 1000
            if result.error_type is not None:
                raise StartFailure(
                    "InitializationError",
                    result.body.decode(errors="replace"),
                    result.body,
                    result.logs,
                )
        self.cold_start = ColdStart(
            sandbox_ms, runtime_ms, code_ms, init_ms, pool_hit=self._sandbox.pool_hit
        )

    # -- invoking -----------------------------------------------------------------------------
    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        """Run one request; every outcome is a result (see the module docstring)."""
        http: dict[str, object] | None = None
        if request.http is not None:
            h = request.http
            http = {
                "method": h.method,
                "path": h.path,
                "request_uri": h.request_uri,
                "client_ip": h.client_ip,
                "host": h.host,
                "queries": dict(h.queries),
                "headers": dict(h.headers),
            }
        message = protocol.Invoke(
            id=request.request_id,
            credentials=self._credentials,
            retry_count=request.retry_count,
            http=http,
            tracing=_tracing(request.tracing),
        )
        return await self._call(
            message,
            request.payload,
            request.request_id,
            request.timeout_s,
            request.max_result_bytes or protocol.MAX_PAYLOAD,
        )

    async def _call(
        self,
        message: protocol.Init | protocol.Invoke | protocol.Hook,
        payload: bytes,
        request_id: str,
        timeout_s: float,
        max_result: int = protocol.MAX_PAYLOAD,
    ) -> InvokeResult:
        started = time.monotonic()
        if not self._alive:
            return self._exited_result(started, b"")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending[request_id] = future
        logs = self._logs[request_id] = bytearray()
        self._budget.begin(request_id)
        try:
            try:
                self._send(message, payload)
            except (ConnectionError, RuntimeError):  # the runtime went away meanwhile
                self._alive = False
                future.set_result(_EXITED)
            # A bare timer handle: asyncio.timeout() costs several times as much per request.
            timer = loop.call_later(timeout_s, _expire, future)
            try:
                outcome = await future
            finally:
                timer.cancel()
            self._end_log(request_id)
            if isinstance(outcome, _TimedOut):
                return await self._timed_out(started, timeout_s, logs)
        finally:
            self._end_log(request_id)
            self._pending.pop(request_id, None)
            self._logs.pop(request_id, None)
        if isinstance(outcome, _Exited):
            await self._wait_exit()
            return self._exited_result(started, _tail(logs))
        result, body = outcome
        if isinstance(body, protocol.Dropped) or len(body) > max_result:
            return self._too_large(started, bytes(logs), body, max_result)
        headers = tuple((k, v) for k, v in result.http_headers)
        return InvokeResult(
            body=body,
            error_type=result.error,
            duration_ms=(time.monotonic() - started) * 1000,
            max_memory_mb=self._sandbox.peak_memory_mb(),
            logs=_tail(logs),
            http_status=result.http_status,
            http_headers=headers,
        )

    def _too_large(
        self, started: float, logs: bytes, body: bytes | protocol.Dropped, limit: int
    ) -> InvokeResult:
        """A function error naming the limit: the instance is fine, its answer was too big."""
        size = body.size if isinstance(body, protocol.Dropped) else len(body)
        message = (
            f"the function's result is {size} bytes, more than the {limit} bytes a synchronous "
            "invocation may return (the daemon's limits.sync_payload)"
        )
        error = {"errorMessage": message, "errorType": "ResultTooLargeError"}
        return InvokeResult(
            json.dumps(error).encode(),
            UNHANDLED,
            (time.monotonic() - started) * 1000,
            self._sandbox.peak_memory_mb(),
            logs,
        )

    async def _timed_out(self, started: float, timeout_s: float, logs: bytearray) -> InvokeResult:
        """End the instance (the request still runs in it) and answer FC's timeout error."""
        duration = (time.monotonic() - started) * 1000
        memory = self._sandbox.peak_memory_mb()
        self._alive = False
        await asyncio.shield(self._destroy())
        body = json.dumps(
            {
                "errorMessage": f"Function timed out after {timeout_s:g} seconds "
                f"(maxMemoryUsage: {memory:.2f}MB)"
            }
        ).encode()
        return InvokeResult(
            body,
            UNHANDLED,
            duration,
            memory,
            _tail(logs),
            instance_fatal=True,
            fatal_reason="timeout",
        )

    def _exited_result(self, started: float, logs: bytes) -> InvokeResult:
        duration = (time.monotonic() - started) * 1000
        memory = self._sandbox.peak_memory_mb()
        oom = self._sandbox.oom_killed()
        message = (
            f"Process exited unexpectedly before completing request "
            f"(duration: {duration:.0f}ms, maxMemoryUsage: {memory:.2f}MB)"
        )
        if oom:
            limit = self.spec.context.memory_mb
            message += f"; out of memory: the instance exceeded its {limit} MB"
        body = json.dumps({"errorMessage": message}).encode()
        return InvokeResult(
            body,
            UNHANDLED,
            duration,
            memory,
            logs,
            instance_fatal=True,
            fatal_reason="oom" if oom else "exited",
        )

    async def pre_freeze(self) -> None:
        """Run the preFreeze hook (if configured) within its timeout; failures are logged."""
        await self._hook("pre_freeze", self.spec.pre_freeze_handler, self.spec.pre_freeze_timeout_s)

    async def _hook(self, name: str, handler: str, timeout_s: int) -> None:
        if not handler or not self._alive:
            return
        rid = ids.request_id()
        hook = protocol.Hook(id=rid, name=name, credentials=self._credentials)  # type: ignore[arg-type]
        result = await self._call(hook, b"", rid, float(timeout_s))
        if result.error_type is not None:
            log.info("%s hook of %s failed: %s", name, self.id, result.body[:200])

    # -- stopping -----------------------------------------------------------------------------
    async def stop(self) -> None:
        """preStop hook (if any), then exit → grace → kill the whole cgroup. Idempotent."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        try:
            if self._alive:
                await self._hook(
                    "pre_stop", self.spec.pre_stop_handler, self.spec.pre_stop_timeout_s
                )
            if self._alive:
                with contextlib.suppress(ConnectionError):
                    self._send(protocol.Exit())
                await self._sandbox.wait(STOP_GRACE_S)
        finally:
            await self._destroy()

    async def _destroy(self) -> None:
        self._alive = False
        await self._sandbox.destroy()
        for pipe in self._pipes:
            pipe.close()
        outside = self._budget.close()
        if outside is not None:
            self._keep("", outside)
        if self._transport is not None and self._closed is not None:
            self._transport.close()
            await asyncio.shield(self._closed)
        for future in self._pending.values():
            if not future.done():
                future.set_result(_EXITED)

    async def _wait_exit(self) -> None:
        await self._sandbox.wait(STOP_GRACE_S)

    # -- state --------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self._alive

    def memory_mb(self) -> float:
        return self._sandbox.peak_memory_mb()

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    def __repr__(self) -> str:
        ctx = self.spec.context
        state = "alive" if self._alive else "dead"
        qualifier = ctx.qualifier or "LATEST"
        return (
            f"<Instance {self.id} {ctx.service_name}/{ctx.function_name}@{qualifier}"
            f" {self.spec.runtime} [busy {self.in_flight}/{self.spec.concurrency}] {state}>"
        )

    # -- I/O loops ----------------------------------------------------------------------------
    def _send(self, message: protocol.ToRuntime, payload: bytes = b"") -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the runtime's control socket is closed")
        head = protocol.encode_head(message, len(payload))
        if len(payload) > COPY_LIMIT:
            transport.writelines((head, payload))  # one writev, the payload not copied
        else:
            transport.write(head + payload)

    def _log(self, request_id: str, data: bytes) -> bool:
        """Output of ``request_id``: what the log caps keep of it is kept (and stored).

        Returns whether all of it was dropped (the reader then slows down).
        """
        pieces = self._budget.admit(request_id, data, time.monotonic())
        for piece in pieces:
            self._keep(request_id, piece)
        return not pieces

    def _keep(self, request_id: str, data: bytes) -> None:
        buffer = self._logs.get(request_id)
        if buffer is None and self._loaded is not None and not self._loaded.done():
            buffer = self._start_log
        if buffer is not None:
            buffer += data
            if len(buffer) > 2 * LOG_KEEP:  # trimmed now and then, not on every line
                del buffer[:-LOG_KEEP]
        try:
            self._on_log(request_id, data)
        except Exception:
            log.exception("on_log callback failed")

    def _output(self, lines: bytes, cut_lines: int, cut_bytes: int) -> bool:
        """Whole lines read from a pipe; returns whether all of them were dropped."""
        owner = next(iter(self._pending)) if len(self._pending) == 1 else ""
        if cut_bytes:
            self._budget.cut(owner, cut_lines, cut_bytes)
        return bool(lines) and self._log(owner, lines)

    def _end_log(self, request_id: str) -> None:
        """The request is over: its marker line, when the caps dropped some of its output."""
        marker = self._budget.finish(request_id)
        if marker is not None:
            self._keep(request_id, marker)

    def _on_frame(self, header: bytes, payload: bytes | protocol.Dropped) -> None:
        """A runtime's frame, handled in the transport's callback (no task per frame).

        Raises:
            protocol.ProtocolError: the header is not one of the runtime's messages.
        """
        match protocol.decode_header(header):
            case protocol.Log(id=rid):
                if isinstance(payload, protocol.Dropped):
                    payload = f"[fcd: a log record of {payload.size} bytes was dropped]\n".encode()
                if self._log(rid, payload):
                    self._flooding = True
            case protocol.Result(id=rid) as result:
                future = self._pending.get(rid)
                if future is not None and not future.done():
                    future.set_result((result, payload))
            case protocol.Loaded() as loaded:
                if self._loaded is not None and not self._loaded.done():
                    self._loaded.set_result((loaded, _bytes(payload)))

    def _channel_closed(self) -> None:
        self._alive = False
        if self._loaded is not None and not self._loaded.done():
            self._loaded.set_exception(_RuntimeGone())
        for future in self._pending.values():
            if not future.done():
                future.set_result(_EXITED)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)


class _Channel(asyncio.Protocol):
    """The daemon's end of the control socket: frames go to the instance as they arrive."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._frames = protocol.FrameSplitter()
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        started = time.perf_counter()
        instance = self._instance
        try:
            for header, payload in self._frames.feed(data):
                instance._on_frame(header, payload)
        except protocol.ProtocolError as e:
            log.warning("instance %s: control channel broken: %s", instance.id, e)
            if self._transport is not None:
                self._transport.close()
            return
        if instance._flooding:
            instance._flooding = False
            _pause_reading(self._transport, instance._throttle, time.perf_counter() - started)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or self._frames.partial:
            reason = exc or "the stream ended inside a frame"
            log.warning("instance %s: control channel broken: %s", self._instance.id, reason)
        self._instance._channel_closed()


def _bytes(payload: bytes | protocol.Dropped) -> bytes:
    """A payload that is only read for diagnostics: a dropped one says so."""
    if isinstance(payload, protocol.Dropped):
        return f"[{payload.size} bytes dropped]".encode()
    return payload


class _Output(asyncio.Protocol):
    """The daemon's end of the sandbox's stdout or stderr pipe: what anything in the sandbox
    wrote to the descriptors (child processes, or a function bypassing its runtime).

    The bytes are cut into lines that never hold more than ``line_bytes`` of an unfinished
    one, and belong to the lone request in flight (else to none); what the log caps do not
    keep is dropped as it is read, so a flood costs the daemon no memory.
    """

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._lines = LineJoiner(instance._line_bytes)
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        started = time.perf_counter()
        lines, cut_lines, cut_bytes = self._lines.feed(data)
        if self._instance._output(lines, cut_lines, cut_bytes):
            busy = time.perf_counter() - started
            _pause_reading(self._transport, self._instance._throttle, busy)

    def connection_lost(self, exc: Exception | None) -> None:
        self._instance._output(self._lines.end(), 0, 0)


def _pause_reading(
    transport: asyncio.BaseTransport | None, throttle: Throttle, busy: float
) -> None:
    """A read of dropped output took ``busy`` s: stop reading for the throttle's pause, if any
    (the writers in the sandbox block meanwhile)."""
    pause = throttle.charge(busy)
    # A stream or pipe transport (uvloop's do not register as asyncio.ReadTransport).
    reader = cast(asyncio.ReadTransport | None, transport)
    if not pause or reader is None or reader.is_closing():
        return
    reader.pause_reading()
    asyncio.get_running_loop().call_later(pause, _resume_reading, reader)


def _resume_reading(reader: asyncio.ReadTransport) -> None:
    if not reader.is_closing():
        reader.resume_reading()


class _RuntimeGone(Exception):
    """The runtime closed its control socket before it had loaded."""


def _tracing(trace: TraceContext | None) -> dict[str, object] | None:
    if trace is None:
        return None
    return {
        "span_context": trace.span_context,
        "span_baggages": dict(trace.baggages),
        "jaeger_endpoint": trace.jaeger_endpoint,
    }


def _credentials(spec: InstanceSpec) -> dict[str, str]:
    """The function's temporary keys, or ``{}`` when it has none: the runtimes read an absent
    field as empty keys, and an empty dict is not encoded into the frame at all."""
    ctx = spec.context
    if not (ctx.access_key_id or ctx.access_key_secret or ctx.security_token):
        return {}
    return {
        "access_key_id": ctx.access_key_id,
        "access_key_secret": ctx.access_key_secret,
        "security_token": ctx.security_token,
    }


def _tail(log: bytearray) -> bytes:
    return bytes(log[-LOG_KEEP:])
