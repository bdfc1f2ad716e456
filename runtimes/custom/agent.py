"""The fcd custom-runtime agent: starts the user's HTTP server and drives it as FC does (spec §7.5).

Stdlib only and independent of fcd; it reuses the frame channel of the python runtime. It runs
in the sandbox beside the user's server (same network namespace), so it reaches CAPort on
127.0.0.1 and nothing is exposed outside the sandbox. Requests:

- ``load``: start ``customRuntimeConfig`` command (default ``/code/bootstrap``), wait for CAPort
  to accept; ``CAFileNotFound`` / ``CAFilePermission`` / ``CAExited`` when it cannot.
- ``init`` → ``POST /initialize``; ``invoke`` → ``POST /invoke`` (or the original request for
  HTTP triggers, with ``x-fc-control-path: /http-invoke``); hooks → ``GET /pre-stop`` and
  ``GET /pre-freeze``; all with the ``x-fc-*`` headers.
- A response with HTTP 404 or ``x-fc-status: 404`` is an ``UnhandledInvocationError`` whose body
  is passed through unchanged.

The server's own output reaches the daemon through the instance's stdout/stderr pipes; custom
runtimes print their ``FC Invoke Start/End`` lines themselves.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (5 ms at every start)


def _bootstrap() -> object:
    """The python runtime's module (already loaded by the zygote under a private name)."""
    module = sys.modules.get("_fcd_bootstrap")
    if module is None:
        import importlib.util

        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "python", "bootstrap.py")
        spec = importlib.util.spec_from_file_location("_fcd_bootstrap", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["_fcd_bootstrap"] = module
        spec.loader.exec_module(module)
    return module


_runtime = _bootstrap()
UNHANDLED: str = _runtime.UNHANDLED  # type: ignore[attr-defined]
if TYPE_CHECKING:  # mypy checks runtimes/python/bootstrap.py as the module "bootstrap"
    from bootstrap import Channel
else:
    Channel = _runtime.Channel

UNIX_NOT_FOUND = (2, 20)  # ENOENT, ENOTDIR
# The first this many seconds of a custom server's start are polled every 0.5 ms.
FAST_POLL_S = 0.2


class Agent:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.server: subprocess.Popen[bytes] | None = None
        self.port = 9000
        self.static: dict[str, object] = {}
        self.load_msg: dict[str, object] = {}
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    # -- start --------------------------------------------------------------------------------
    def load(self, msg: dict[str, object]) -> None:
        ready = time.monotonic()
        sandbox_ready = float(os.environ.pop("FCD_T_SANDBOX", "0") or 0)
        self.load_msg = msg
        self.static = msg.get("context", {})  # type: ignore[assignment]
        self.port = int(msg.get("ca_port", 9000))  # type: ignore[call-overload]
        code_dir = os.environ.get("FC_FUNC_CODE_PATH", "/code/").rstrip("/") or "/"
        command = list(msg.get("command") or ["/code/bootstrap"])  # type: ignore[call-overload]
        if code_dir != "/code":  # isolation "none": the code is not at /code
            command = [code_dir + a[5:] if a.startswith("/code/") else a for a in command]
        times = {"sandbox_ready": sandbox_ready, "runtime_ready": ready}
        env = {k: v for k, v in os.environ.items() if not k.startswith("FCD_")}
        try:
            self.server = subprocess.Popen(command, cwd=code_dir, env=env, stdin=subprocess.DEVNULL)
        except PermissionError as e:
            return self._failed("CAFilePermission", f"{command[0]}: {e.strerror}", times)
        except OSError as e:
            code = "CAFileNotFound" if e.errno in UNIX_NOT_FOUND else "CAExited"
            return self._failed(code, f"{command[0]}: {e.strerror}", times)
        # Poll every 0.5 ms while most servers start (a longer backoff overshot the accept by
        # ~2-5 ms), every 5 ms after that.
        fast_until = time.monotonic() + FAST_POLL_S
        while True:
            status = self.server.poll()
            if status is not None:
                message = f"the custom runtime exited with code {status} before listening"
                return self._failed("CAExited", message, times)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.0005 if time.monotonic() < fast_until else 0.005)
        health = list(msg.get("health") or ())  # type: ignore[call-overload]
        if health:
            url, delay, period, timeout, failures, successes = health
            time.sleep(int(delay))  # initialDelaySeconds, as FC waits before the first probe
            failed = self._probe(str(url), int(period), int(timeout), int(failures), int(successes))
            if failed:
                message = f"the custom runtime failed its health check GET {url}: {failed}"
                return self._failed("FunctionNotStarted", message, times)
            threading.Thread(
                target=self._keep_probing,
                args=(str(url), int(period), int(timeout), int(failures)),
                daemon=True,
            ).start()
        threading.Thread(target=self._watch, daemon=True).start()
        self.channel.send({"t": "loaded", "ok": True, **times, "loaded": time.monotonic()})

    def _check(self, url: str, timeout: int) -> str:
        """One probe: "" when the server answers 2xx or 3xx, else why not."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", url)
            status = conn.getresponse().status
            return "" if 200 <= status < 400 else f"status {status}"
        except (OSError, http.client.HTTPException) as e:
            return type(e).__name__
        finally:
            conn.close()

    def _probe(self, url: str, period: int, timeout: int, failures: int, successes: int) -> str:
        """Probe every ``period`` s until ``successes`` in a row ("") or ``failures`` in a row."""
        ok = bad = 0
        while True:
            failed = self._check(url, timeout)
            ok, bad = (0, bad + 1) if failed else (ok + 1, 0)
            if bad >= failures:
                return failed
            if ok >= successes:
                return ""
            time.sleep(period)

    def _keep_probing(self, url: str, period: int, timeout: int, failures: int) -> None:
        """While the instance lives: ``failures`` failed probes in a row end it (FC replaces an
        unhealthy instance; here the daemon sees the runtime exit and retires it)."""
        bad = 0
        while True:
            time.sleep(period)
            failed = self._check(url, timeout)
            bad = bad + 1 if failed else 0
            if bad >= failures:
                os.write(
                    2, f"custom runtime failed its health check GET {url}: {failed}\n".encode()
                )
                if self.server is not None:  # the instance ends with its server
                    self.server.kill()
                    self.server.wait()
                os._exit(1)

    def _failed(self, code: str, message: str, times: dict[str, float]) -> None:
        import json

        body = json.dumps({"errorMessage": message}).encode()
        header = {"t": "loaded", "ok": False, "code": code, **times, "loaded": time.monotonic()}
        self.channel.send(header, body)

    def _watch(self) -> None:
        """The server is the instance: when it exits, so does the agent (the daemon sees EOF)."""
        assert self.server is not None
        status = self.server.wait()
        os.write(2, f"custom runtime exited with code {status}\n".encode())
        os._exit(1)

    # -- requests -----------------------------------------------------------------------------
    def headers(self, msg: dict[str, object], control_path: str) -> dict[str, str]:
        fn: dict[str, object] = self.static.get("function", {})  # type: ignore[assignment]
        svc: dict[str, object] = self.static.get("service", {})  # type: ignore[assignment]
        creds: dict[str, str] = msg.get("credentials", {})  # type: ignore[assignment]
        return {
            **_tracing_headers(msg.get("tracing")),  # type: ignore[arg-type]
            "x-fc-request-id": str(msg["id"]),
            "x-fc-access-key-id": creds.get("access_key_id", ""),
            "x-fc-access-key-secret": creds.get("access_key_secret", ""),
            "x-fc-security-token": creds.get("security_token", ""),
            "x-fc-function-handler": str(fn.get("handler", "")),
            "x-fc-function-memory": str(fn.get("memory", "")),
            "x-fc-function-timeout": str(fn.get("timeout", "")),
            "x-fc-function-initializer": str(fn.get("initializer", "")),
            "x-fc-initialization-timeout": str(fn.get("initialization_timeout", "")),
            "x-fc-instance-lifecycle-pre-stop-handler": str(self.load_msg.get("pre_stop", "")),
            "x-fc-instance-lifecycle-pre-freeze-handler": str(self.load_msg.get("pre_freeze", "")),
            "x-fc-region": str(self.static.get("region", "")),
            "x-fc-account-id": str(self.static.get("account_id", "")),
            "x-fc-qualifier": str(svc.get("qualifier", "")),
            "x-fc-version-id": str(svc.get("version_id", "")),
            "x-fc-function-name": str(fn.get("name", "")),
            "x-fc-service-name": str(svc.get("name", "")),
            "x-fc-service-logproject": str(svc.get("log_project", "")),
            "x-fc-service-logstore": str(svc.get("log_store", "")),
            "x-fc-retry-count": str(msg.get("retry_count", 0)),
            "x-fc-control-path": control_path,
        }

    def run(self, msg: dict[str, object], payload: bytes) -> None:
        kind = msg["t"]
        http: dict[str, object] | None = msg.get("http")  # type: ignore[assignment]
        if kind == "invoke" and http is not None:
            control, method = "/http-invoke", str(http.get("method", "GET"))
            target = str(http.get("request_uri") or http.get("path") or "/")
        elif kind == "invoke":
            control, method, target = "/invoke", "POST", "/invoke"
        elif kind == "init":
            control, method, target = "/initialize", "POST", "/initialize"
        else:
            path = "/pre-stop" if msg.get("name") == "pre_stop" else "/pre-freeze"
            control, method, target = path, "GET", path
        headers = self.headers(msg, control)
        if http is not None:
            original: dict[str, list[str]] = http.get("headers", {})  # type: ignore[assignment]
            for name, values in original.items():
                headers.setdefault(name, ",".join(values))
        elif kind == "invoke":
            headers["content-type"] = "application/octet-stream"
        header: dict[str, object] = {"t": "result", "id": msg["id"]}
        try:
            status, response_headers, body = self._request(method, target, headers, payload)
        except OSError as e:
            import json

            header["error"] = UNHANDLED
            body = json.dumps({"errorMessage": f"custom runtime request failed: {e}"}).encode()
            self.channel.send(header, body)
            return
        fc_status = dict((k.lower(), v) for k, v in response_headers).get("x-fc-status")
        if kind == "invoke" and http is not None:
            header["http_status"] = status
            header["http_headers"] = [
                [k, v] for k, v in response_headers if k.lower() not in ("content-length",)
            ]
        failed = status == 404 or (kind != "invoke" and not 200 <= status < 300)
        # An HTTP trigger's 404 is the app's answer; only x-fc-status marks a failure there.
        if fc_status == "404" or (failed and http is None):
            header["error"] = UNHANDLED
        self.channel.send(header, body)

    def _request(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request on a kept-alive connection (retried once on a stale one)."""
        for attempt in (0, 1):
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port)
                conn.connect()
                assert conn.sock is not None
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                conn.request(
                    method, target, body=body if body or method != "GET" else None, headers=headers
                )
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                if attempt:
                    raise ConnectionError("the custom runtime closed the connection") from None
                continue
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return response.status, response.getheaders(), data
        raise ConnectionError("unreachable")

    # -- the loop -----------------------------------------------------------------------------
    def serve(self) -> None:
        concurrency = 1
        while True:
            frame = self.channel.receive()
            if frame is None:
                break
            msg, payload = frame
            if msg["t"] == "load":
                concurrency = int(msg.get("concurrency", 1))  # type: ignore[call-overload]
                self.load(msg)
            elif msg["t"] == "exit":
                break
            elif concurrency <= 1:
                self.run(msg, payload)
            else:
                threading.Thread(target=self.run, args=(msg, payload), daemon=True).start()
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)


def _tracing_headers(tracing: dict[str, object] | None) -> dict[str, str]:
    """The caller's tracing context as FC hands it to custom runtimes (spec §7.4): the span
    context, the baggage items as base64 JSON, the service's Jaeger endpoint."""
    if not tracing:
        return {}
    import base64
    import json

    baggages = json.dumps(tracing.get("span_baggages") or {}, separators=(",", ":"))
    return {
        "x-fc-tracing-opentracing-span-context": str(tracing.get("span_context", "")),
        "x-fc-tracing-opentracing-span-baggages": base64.b64encode(baggages.encode()).decode(),
        "x-fc-tracing-jaeger-endpoint": str(tracing.get("jaeger_endpoint", "")),
    }


def main(control_fd: int | None = None) -> None:
    fd = control_fd if control_fd is not None else int(os.environ.pop("FCD_CONTROL_FD", "3"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fd)
    Agent(Channel(sock)).serve()
    os._exit(0)


if __name__ == "__main__":
    main()
