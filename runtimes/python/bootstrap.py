"""The fcd python3 runtime: runs FC handlers (spec §7.4) for the daemon over one control socket.

Stdlib only and independent of fcd: it runs inside the sandbox under the system interpreter.
The daemon speaks length-prefixed frames (``>II`` header length, payload length; a JSON header;
raw payload bytes) on the socket whose descriptor is in ``FCD_CONTROL_FD``; the messages mirror
``fcd/instances/protocol.py``.

Output: ``sys.stdout``/``sys.stderr`` are replaced by streams that send each line to the daemon
tagged with the request that wrote it (a thread-local set while a handler runs), so the logs of
concurrent requests stay apart. The root logger prints ``<UTC time> <request id> [LEVEL] msg``.
Anything written to the file descriptors directly (child processes) reaches the daemon through
the instance's stdout/stderr pipes instead.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

_PREFIX = struct.Struct(">II")
_local = threading.local()
HANDLED = "HandledInvocationError"
_VERSION = ".".join(str(n) for n in sys.version_info[:3])
UNHANDLED = "UnhandledInvocationError"


class Channel:
    """The framed control socket; sends are serialised because handler threads share it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._in = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, header: dict[str, object], payload: bytes = b"") -> None:
        self.send_frames([(header, payload)])

    def send_frames(self, frames: list[tuple[dict[str, object], bytes]]) -> None:
        """Several frames in one system call (a request's last log line with its result)."""
        parts: list[bytes] = []
        for header, payload in frames:
            data = json.dumps(header, separators=(",", ":")).encode()
            parts += (_PREFIX.pack(len(data), len(payload)), data, payload)
        with self._lock:
            self._sock.sendall(b"".join(parts))

    def receive(self) -> tuple[dict[str, object], bytes] | None:
        prefix = self._in.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            return None
        header_len, payload_len = _PREFIX.unpack(prefix)
        header = json.loads(self._in.read(header_len))
        payload = self._in.read(payload_len) if payload_len else b""
        return header, payload


class LogStream(io.TextIOBase):
    """A text stream that sends whole lines to the daemon, tagged with the current request."""

    def __init__(self, channel: Channel, name: str) -> None:
        self._channel = channel
        self._name = name
        self._partial: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        rid = getattr(_local, "request_id", "")
        with self._lock:
            pending = self._partial.pop(rid, "") + text
            head, sep, tail = pending.rpartition("\n")
            if tail:
                self._partial[rid] = tail
        if sep:
            self._channel.send({"t": "log", "id": rid}, (head + sep).encode("utf-8", "replace"))
        return len(text)

    def flush(self, request_id: str | None = None) -> None:
        for frame in self.take(request_id):
            self._channel.send(*frame)

    def take(self, request_id: str | None = None) -> list[tuple[dict[str, object], bytes]]:
        """The unfinished lines (of one request) as log frames, for the caller to send."""
        with self._lock:
            if request_id is None:
                pending = list(self._partial.items())
                self._partial.clear()
            elif request_id in self._partial:
                pending = [(request_id, self._partial.pop(request_id))]
            else:
                return []
        return [({"t": "log", "id": rid}, text.encode("utf-8", "replace")) for rid, text in pending]


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.fc_request_id = getattr(_local, "request_id", "")
        return True


class _UtcFormatter(logging.Formatter):
    """``2017-07-05T05:13:35.920Z <request id> [INFO] message`` as FC's python runtime prints."""

    converter: Callable[[float | None], time.struct_time] = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_UtcFormatter("%(asctime)s %(fc_request_id)s [%(levelname)s] %(message)s"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class Attrs:
    """A plain attribute bag: the FC context's nested objects (credentials, function, ...)."""

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class Credentials(Attrs):
    pass


class FunctionMeta(Attrs):
    pass


class ServiceMeta(Attrs):
    pass


class Tracing(Attrs):
    pass


class FCContext(Attrs):
    """The ``context`` argument of handlers, initializers and hooks (spec §7.4)."""


def make_context(
    static: dict[str, object],
    request_id: str,
    credentials: dict[str, str],
    retry_count: int = 0,
    http: dict[str, object] | None = None,
    tracing: dict[str, object] | None = None,
) -> FCContext:
    fn = static.get("function", {})
    svc = static.get("service", {})
    assert isinstance(fn, dict)
    assert isinstance(svc, dict)
    return FCContext(
        request_id=request_id,
        credentials=Credentials(
            access_key_id=credentials.get("access_key_id", ""),
            access_key_secret=credentials.get("access_key_secret", ""),
            security_token=credentials.get("security_token", ""),
        ),
        function=FunctionMeta(**fn),
        service=ServiceMeta(**svc),
        region=static.get("region", ""),
        account_id=static.get("account_id", ""),
        instance_id=static.get("instance_id", ""),
        retry_count=retry_count,
        tracing=Tracing(
            span_context=str((tracing or {}).get("span_context", "")),
            jaeger_endpoint=str((tracing or {}).get("jaeger_endpoint", "")),
            span_baggages=dict((tracing or {}).get("span_baggages", {})),  # type: ignore[call-overload]
        ),
        logger=logging.getLogger(),
        http_params=http,
    )


def search_path(code_dir: str, runtime_dir: str, current: list[str]) -> list[str]:
    """The module search path of a function: its code, its layers, the standard library, then
    the packages FC preinstalls (``runtime_dir``/python/site); never the host's site-packages.

    The preinstalled set comes after the standard library because it holds backports (enum34)
    that would shadow the standard modules of the same name.
    """
    stdlib = [
        p for p in current if p and os.path.basename(p) not in ("site-packages", "dist-packages")
    ]
    layers = ["/opt/python", f"/opt/python/lib/python3.{sys.version_info[1]}/site-packages"]
    preinstalled = [os.path.join(runtime_dir, "python", "site")] if runtime_dir else []
    ordered = [code_dir, *layers, *stdlib, *preinstalled]
    return [p for i, p in enumerate(ordered) if p not in ordered[:i]]


def resolve(spec: str, code_dir: str) -> object:
    """``index.handler``, ``pkg.mod.handler`` or ``dir/mod.handler`` → the callable it names.

    Raises:
        ValueError: the string has no ``module.attr`` shape.
        ImportError: the module cannot be imported.
        AttributeError: the module has no such attribute.
    """
    module_path, dot, attr = spec.rpartition(".")
    if not dot or not module_path or not attr:
        raise ValueError(f"Invalid handler '{spec}': expected 'module.function'")
    module_name = module_path.replace("/", ".").strip(".")
    import importlib

    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"Handler '{attr}' is missing on module '{module_name}'") from None


def error_body(exc: BaseException) -> bytes:
    """FC's python error JSON: message, type, and the user's frames as [file, line, func, text]."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.abspath(__file__)
    stack = [
        [f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""]
        for f in frames
        if os.path.abspath(f.filename) != here and "importlib" not in f.filename
    ]
    return json.dumps(
        {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": stack}
    ).encode()


def marshal(value: object) -> bytes:
    """A handler's return value as the response body (spec §5.2)."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    try:
        return json.dumps(value).encode()
    except (TypeError, ValueError):
        return str(value).encode()


def _chunk(chunk: object) -> bytes:
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    raise TypeError(f"a WSGI app's body must yield bytes, not {type(chunk).__name__}")


def wsgi_body(written: list[bytes], result: object) -> bytes:
    """The body of a WSGI response, as FC's python runtime reads it.

    ``written`` holds what the app pushed through ``write()``; ``result`` is what it returned:
    ``bytes``/``bytearray`` are sent whole and a ``str`` as UTF-8 (iterating them would yield
    ints or characters); any other iterable is joined chunk by chunk, each chunk bytes or a str.
    ``result.close()`` is called when it exists, whether or not the iteration succeeded
    (PEP 3333).

    Raises:
        TypeError: ``result`` is not iterable, or a chunk is neither bytes nor str.
    """
    parts = [_chunk(chunk) for chunk in written]
    try:
        if isinstance(result, bytes | bytearray | memoryview | str):
            parts.append(_chunk(result))
        elif result is None:
            raise TypeError("a WSGI app must return an iterable of bytes, not None")
        else:
            try:
                chunks = iter(result)  # type: ignore[call-overload]
            except TypeError:
                raise TypeError(
                    f"a WSGI app must return an iterable of bytes, not {type(result).__name__}"
                ) from None
            parts.extend(_chunk(chunk) for chunk in chunks)
    finally:
        close = getattr(result, "close", None)
        if callable(close):
            close()
    return b"".join(parts)


class Workers:
    """Threads for concurrent requests, reused: starting a thread per request costs more than
    a hello handler. One is started whenever the requests in flight outnumber the threads, so
    no request waits for another (the daemon sends at most ``concurrency`` at once)."""

    def __init__(self, run: Callable[[dict[str, object], bytes], None]) -> None:
        self._run = run
        self._queue: queue.SimpleQueue[tuple[dict[str, object], bytes]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._busy = 0
        self._threads = 0

    def submit(self, msg: dict[str, object], payload: bytes) -> None:
        with self._lock:
            self._busy += 1
            start = self._busy > self._threads
            self._threads += start
        self._queue.put((msg, payload))
        if start:
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            msg, payload = self._queue.get()
            try:
                self._run(msg, payload)
            except BaseException:  # as a thread of its own would: reported, and it goes on
                threading.excepthook(
                    threading.ExceptHookArgs([*sys.exc_info(), threading.current_thread()])
                )
            finally:
                with self._lock:
                    self._busy -= 1


class Runtime:
    """One instance's runtime: loads the handler once, then serves frames until ``exit``/EOF."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.static: dict[str, object] = {}
        self.handler: object = None
        self.hooks: dict[str, str] = {}
        self.initializer = ""
        self.code_dir = os.environ.get("FC_FUNC_CODE_PATH", "/code/").rstrip("/") or "/"
        self.stdout = LogStream(channel, "<stdout>")
        self.stderr = LogStream(channel, "<stderr>")

    # -- loading ---------------------------------------------------------------------------
    def load(self, msg: dict[str, object]) -> None:
        ready = time.monotonic()
        sandbox_ready = float(os.environ.pop("FCD_T_SANDBOX", "0") or 0)
        self.static = msg.get("context", {})  # type: ignore[assignment]
        self.initializer = str(msg.get("initializer", ""))
        self.hooks = {
            "pre_stop": str(msg.get("pre_stop", "")),
            "pre_freeze": str(msg.get("pre_freeze", "")),
        }
        sys.path[:] = search_path(self.code_dir, os.environ.get("FC_SERVER_PATH", ""), sys.path)
        try:
            os.chdir(self.code_dir)
        except OSError:
            pass
        try:
            self.handler = resolve(str(msg["handler"]), self.code_dir)
        except Exception as e:  # the user's module raised while importing
            self.channel.send(
                {
                    "t": "loaded",
                    "ok": False,
                    "version": _VERSION,
                    "code": "InitializationError",
                    "sandbox_ready": sandbox_ready,
                    "runtime_ready": ready,
                    "loaded": time.monotonic(),
                },
                error_body(e),
            )
            return
        self.channel.send(
            {
                "t": "loaded",
                "ok": True,
                "version": _VERSION,
                "sandbox_ready": sandbox_ready,
                "runtime_ready": ready,
                "loaded": time.monotonic(),
            }
        )

    # -- requests --------------------------------------------------------------------------
    def run(self, msg: dict[str, object], payload: bytes) -> None:
        kind = msg["t"]
        rid = str(msg["id"])
        _local.request_id = rid
        ctx = make_context(
            self.static,
            rid,
            msg.get("credentials", {}),  # type: ignore[arg-type]
            int(msg.get("retry_count", 0)),  # type: ignore[call-overload]
            msg.get("http"),  # type: ignore[arg-type]
            msg.get("tracing"),  # type: ignore[arg-type]
        )
        fn: object = self.handler
        hook = ""
        if kind == "invoke":
            phase = "Invoke"
        elif kind == "init":
            phase, hook = "Initialize", self.initializer
        else:
            name = str(msg["name"])
            phase = "PreStop" if name == "pre_stop" else "PreFreeze"
            hook = self.hooks.get(name, "")
        self.channel.send({"t": "log", "id": rid}, f"FC {phase} Start RequestId: {rid}\n".encode())
        header: dict[str, object] = {"t": "result", "id": rid}
        try:
            if kind != "invoke":
                fn = self._hook(hook)
            if fn is None:
                raise ValueError(f"{phase} handler is not configured")
            if kind == "invoke" and msg.get("http") is not None:
                body, status, headers = self._wsgi(fn, ctx, payload, msg["http"])  # type: ignore[arg-type]
                header["http_status"] = status
                header["http_headers"] = headers
            elif kind == "invoke":
                body = marshal(fn(payload, ctx))  # type: ignore[operator]
            else:
                fn(ctx)  # type: ignore[operator]
                body = b""
            end = f"FC {phase} End RequestId: {rid}\n"
        except BaseException as e:  # SystemExit from user code is an error too
            body = error_body(e)
            header["error"] = UNHANDLED
            end = f"FC {phase} End RequestId: {rid}, Error: Unhandled function error\n"
            try:
                self.stderr.write(body.decode() + "\n")
            except Exception:
                pass
        finally:
            _local.request_id = ""
        # One send for the rest: the daemon wakes once for the end of the request.
        self.channel.send_frames(
            [
                *self.stdout.take(rid),
                *self.stderr.take(rid),
                ({"t": "log", "id": rid}, end.encode()),
                (header, body),
            ]
        )

    def _hook(self, spec: str) -> object:
        if not spec:
            return None
        return resolve(spec, self.code_dir)

    def _wsgi(
        self, app: object, ctx: FCContext, body: bytes, http: dict[str, object]
    ) -> tuple[bytes, int, list[list[str]]]:
        """Call a WSGI app (PEP 3333) for an HTTP-trigger request."""
        from urllib.parse import urlencode

        headers: dict[str, list[str]] = http.get("headers", {})  # type: ignore[assignment]
        queries: dict[str, list[str]] = http.get("queries", {})  # type: ignore[assignment]
        environ: dict[str, object] = {
            "REQUEST_METHOD": http.get("method", "GET"),
            "PATH_INFO": http.get("path", "/"),
            "QUERY_STRING": urlencode([(k, v) for k, vs in queries.items() for v in vs]),
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "",
            "REMOTE_ADDR": http.get("client_ip", ""),
            "SERVER_NAME": http.get("host", "localhost"),
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SCRIPT_NAME": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "fc.context": ctx,
            "fc.request_uri": http.get("request_uri", ""),
        }
        for name, values in headers.items():
            key = name.upper().replace("-", "_")
            value = ",".join(values)
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ["HTTP_" + key] = value
        state: dict[str, object] = {"status": 200, "headers": []}
        written: list[bytes] = []  # PEP 3333's write() callable, for apps that push output

        def start_response(
            status: str, response_headers: list[tuple[str, str]], exc_info: object = None
        ) -> object:
            state["status"] = int(status.split(" ", 1)[0])
            state["headers"] = [[k, v] for k, v in response_headers]
            return written.append

        result = app(environ, start_response)  # type: ignore[operator]
        out = wsgi_body(written, result)
        return out, state["status"], state["headers"]  # type: ignore[return-value]

    # -- the loop --------------------------------------------------------------------------
    def serve(self) -> None:
        sys.stdout = self.stdout
        sys.stderr = self.stderr
        configure_logging()
        workers = Workers(self.run)
        concurrency = 1
        while True:
            frame = self.channel.receive()
            if frame is None:
                break
            msg, payload = frame
            kind = msg["t"]
            if kind == "load":
                concurrency = int(msg.get("concurrency", 1))  # type: ignore[call-overload]
                self.load(msg)
            elif kind == "exit":
                break
            elif concurrency <= 1:
                self.run(msg, payload)
            else:
                workers.submit(msg, payload)
        self.stdout.flush()
        self.stderr.flush()


def main(control_fd: int | None = None) -> None:
    """Serve the control socket given as ``control_fd`` (or ``$FCD_CONTROL_FD``, default 3)."""
    fd = control_fd if control_fd is not None else int(os.environ.pop("FCD_CONTROL_FD", "3"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fd)
    Runtime(Channel(sock)).serve()
    os._exit(0)  # no interpreter teardown: user threads must not keep the instance alive


if __name__ == "__main__":
    main()
