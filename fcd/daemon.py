"""The composition root: read the config, open the store, build the components, run them.

The daemon owns one ``asyncio.TaskGroup``; every long-lived component runs in it as
``async def run(self, *, ready)``, under a :class:`~fcd.supervise.Supervisor` that restarts it
when it fails. Shutdown on SIGTERM/SIGINT goes in the order uvicorn and
hypercorn use: stop accepting, let in-flight requests finish within a deadline, cancel what is
left, close the store last so every acknowledged write is on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sqlite3
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import uvicorn

from fcd import __version__
from fcd.api import routes as api_routes
from fcd.api.app import create_app
from fcd.api.context import ApiContext
from fcd.buckets.app import BucketFront
from fcd.buckets.store import BucketStore
from fcd.config import Config, ConfigError, Limits, load
from fcd.gateway.app import Gateway
from fcd.gateway.domains import DomainIndex
from fcd.gateway.http11 import HeadLimits, protocol_class
from fcd.gateway.http_trigger import HttpTriggerServer, TriggerIndex, TriggersOnly
from fcd.gateway.tls import DomainCertificates
from fcd.instances.instance import Isolation, IsolationUnavailable
from fcd.instances.manager import InstanceManager
from fcd.invocations.catalog import Catalog
from fcd.invocations.invoker import Invoker
from fcd.invocations.queue import AsyncQueue
from fcd.invocations.recorder import Recorder
from fcd.store import Store, datadir
from fcd.store.code import CodeStore
from fcd.supervise import Supervisor
from fcd.triggers.oss import OssTriggers
from fcd.triggers.timer import Timers

log = logging.getLogger("fcd")

# In-flight requests get this long to finish after SIGTERM before they are cancelled.
GRACEFUL_SHUTDOWN_SECONDS = 10
CREDENTIALS_FILE = "admin-credentials"


class AccessKeys:
    """Access key id → secret: the configured pair plus those stored in the data dir."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._secrets = dict(pairs)

    def secret_for(self, key_id: str) -> str | None:
        return self._secrets.get(key_id)

    def __repr__(self) -> str:
        return f"<AccessKeys {len(self._secrets)} keys>"


def ensure_admin_key(store: Store, config: Config, data_dir: Path) -> AccessKeys:
    """The keys the daemon accepts; with none configured, one pair is generated once and stored.

    The generated pair is also written to ``<data_dir>/admin-credentials`` (mode 0600) so an
    operator can read it, and its path is logged.
    """

    def tx(conn: sqlite3.Connection) -> dict[str, str]:
        rows = conn.execute("SELECT key_id, secret FROM access_keys").fetchall()
        if rows or config.access_key_id:
            return {row[0]: row[1] for row in rows}
        key_id = "FCD" + secrets.token_hex(8).upper()
        secret = secrets.token_urlsafe(30)
        conn.execute(
            "INSERT INTO access_keys(key_id, secret, created_at) VALUES (?, ?, ?)",
            (key_id, secret, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        )
        return {key_id: secret}

    stored = store.write_sync(tx)
    credentials_file = data_dir / CREDENTIALS_FILE
    if stored and not config.access_key_id and not credentials_file.exists():
        key_id, secret = next(iter(stored.items()))
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"access_key_id = {key_id}\naccess_key_secret = {secret}\n")
    if not config.access_key_id:
        log.info("admin access key is in %s", credentials_file)
    pairs = dict(stored)
    if config.access_key_id:
        pairs[config.access_key_id] = config.access_key_secret
    return AccessKeys(pairs)


class Component(Protocol):
    """A long-lived part of the daemon: it serves until stopped, setting ``ready`` once up."""

    async def run(self, *, ready: asyncio.Event) -> None: ...


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Daemon:
    """Builds every component from the config and runs them under one TaskGroup."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        datadir.prepare(self.data_dir)  # main() did it already; kept for callers that embed
        code = CodeStore(self.data_dir, config.limits)
        code.remove_leftovers()  # scratch of an unpack or zip write a crash interrupted
        self.store = Store(self.data_dir / "fcd.sqlite3")
        self.keys = ensure_admin_key(self.store, config, self.data_dir)
        self.context = ApiContext(
            config=config, store=self.store, data_dir=self.data_dir, secret_for=self.keys.secret_for
        )
        self.app = create_app(self.context, api_routes.blueprints(self.context))
        # The invoke path: gateway → invoker → catalog + instance manager → isolation; metering
        # and function logs are buffered by the recorder and written in batches.
        self.isolation = Isolation.from_config(config, self.data_dir)
        self.recorder = Recorder(self.store, config.retention)
        self.catalog = Catalog(self.store, config)
        self.store.on_write(self.catalog.invalidate)
        self.instances = InstanceManager(
            self.isolation, config.instances, self.recorder.log, log_limits=config.function_logs
        )
        self.invoker = Invoker(
            self.catalog,
            self.instances,
            self.recorder,
            config,
            code.unpack,
            isolated=self.isolation.isolated,
        )
        # A deleted or reconfigured function's instances are drained at once, not at keep-alive.
        self.store.on_write(self.invoker.retire_stale)
        # Async invocations: committed to SQLite by the gateway (and triggers), run by workers.
        self.queue = AsyncQueue(self.store, self.catalog, self.invoker, config)
        self.store.on_write(self.queue.invalidate)
        # HTTP triggers and custom domains: their configs cached until the next resource write.
        self.http_triggers = TriggerIndex(self.store)
        self.domains = DomainIndex(self.store, config.listen_hosts)
        self.store.on_write(self.http_triggers.invalidate)
        self.store.on_write(self.domains.invalidate)
        self.http = HttpTriggerServer(
            self.invoker,
            self.http_triggers,
            secret_for=self.keys.secret_for,
            limits=config.limits,
            domains=self.domains,
            queue=self.queue,
        )
        # Timer triggers fire through the async queue; trigger changes wake the scheduler.
        self.timers = Timers(self.store, self.queue)
        self.store.on_write(self.timers.invalidate)
        self.gateway = Gateway(
            self.app,
            self.invoker,
            secret_for=self.keys.secret_for,
            limits=config.limits,
            queue=self.queue,
            http=self.http,
        )
        # The S3 API of the bucket store (SigV4-signed requests) in front; object events fire
        # oss triggers through the async queue.
        self.front = BucketFront(
            self.gateway,
            BucketStore(self.data_dir / "buckets"),
            secret_for=self.keys.secret_for,
            fire=OssTriggers(self.store, self.queue).fire,
            region=config.region,
            account_id=config.account_id,
        )
        # Restarts a component's background loop when it fails, instead of ending the daemon.
        self.supervisor = Supervisor()
        self._stop = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Daemon {self.config.listen} data={self.data_dir}>"

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        limits = self.config.limits
        server = http_server(self.front, self.config.host, self.config.port, limits=limits)
        # The optional second listener: HTTP triggers and custom domains only.
        extra: list[tuple[_EmbeddedServer, socket.socket]] = []
        if self.config.http_listen:
            host, _, port = self.config.http_listen.rpartition(":")
            only = TriggersOnly(self.http)
            plain = http_server(only, host, int(port), limits=limits)
            extra.append((plain, _listen(host, int(port))))
        if self.config.https_listen:
            # Custom domains over TLS, each with its certificate (SNI).
            host, _, port = self.config.https_listen.rpartition(":")
            certs = DomainCertificates(self.domains, self.data_dir / "tls-scratch")
            tls = http_server(
                TriggersOnly(self.http), host, int(port), certs.context, limits=limits
            )
            extra.append((tls, _listen(host, int(port))))
        try:
            async with asyncio.TaskGroup() as group:
                components: dict[str, Component] = {
                    "isolation": self.isolation,
                    "recorder": self.recorder,
                    "instances": self.instances,
                    "async-queue": self.queue,
                    "timers": self.timers,
                }
                tasks: dict[str, asyncio.Task[None]] = {}
                for name, component in components.items():
                    ready = asyncio.Event()
                    supervised = self.supervisor.run(name, _runner(component, ready))
                    tasks[name] = group.create_task(supervised, name=name)
                    await ready.wait()
                listener = _listen(self.config.host, self.config.port)
                serving = group.create_task(server.serve(sockets=[listener]), name="http-server")
                more = [
                    group.create_task(other.serve(sockets=[sock]), name="http-triggers-server")
                    for other, sock in extra
                ]
                log.info("fcd %s listening on http://%s", __version__, self.config.listen)
                if extra:
                    log.info("HTTP triggers also on http://%s", self.config.http_listen)
                await self._stop.wait()
                log.info("stopping: no new connections, draining in-flight requests")
                server.should_exit = True
                for other, _ in extra:
                    other.should_exit = True
                await serving
                for task in more:
                    await task
                tasks["timers"].cancel()
                # Async attempts still running are cancelled; their rows run again at start.
                tasks["async-queue"].cancel()
                await self.queue.close()
                # No invocation is in flight now: stop the instances, then write the last rows.
                await self.instances.close()
                self.recorder.close()
                tasks["isolation"].cancel()
        finally:
            await self.isolation.close()
            self.store.close()
            log.info("stopped")


def _runner(component: Component, ready: asyncio.Event) -> Callable[[], Awaitable[None]]:
    """What the supervisor starts (again): the component's loop, with the same ``ready``."""
    return lambda: component.run(ready=ready)


def http_server(
    app: Any,
    host: str,
    port: int,
    tls: Callable[[], ssl.SSLContext] | None = None,
    *,
    limits: Limits | None = None,
) -> _EmbeddedServer:
    """uvicorn as fcd runs it (httptools, the caller's loop); bench/ measures its floors on it.

    Every connection's request head is bounded in size, fields and time (``limits.header_*``,
    :mod:`fcd.gateway.http11`).
    """
    limits = limits or Limits()
    head = HeadLimits(limits.header_bytes, limits.header_count, limits.header_timeout)
    return _EmbeddedServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            http=protocol_class(head),
            loop="none",
            lifespan="off",
            access_log=False,
            # fcd is the edge: X-Forwarded-For names no one it can trust, and the middleware
            # costs a frame per request.
            proxy_headers=False,
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            # FC clients keep connections open between calls.
            timeout_keep_alive=75,
            ssl_context_factory=None if tls is None else lambda _config, _default: tls(),
        )
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port fails the start instead of a background task."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fcd", description="The fcd function compute daemon.")
    parser.add_argument("--version", action="version", version=f"fcd {__version__}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--config", type=Path, help="TOML config file (default: embedded defaults)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """``fcd serve [--config PATH]``: run the daemon until SIGTERM or SIGINT."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load(args.config, os.environ if environ is None else environ)
    except ConfigError as e:
        print(f"fcd: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    # What systemd's UMask=0077 gives, whatever started the daemon: every file it (and the
    # sandboxes it forks) creates is the owner's alone unless made otherwise on purpose.
    os.umask(0o077)
    try:
        datadir.prepare(Path(config.data_dir))
    except (datadir.DataDirError, OSError) as e:
        print(f"fcd: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; this keeps odd hosts going
        runner = asyncio.run
    runner(_serve(config))


async def _serve(config: Config) -> None:
    try:
        daemon = Daemon(config)
    except (IsolationUnavailable, ConfigError) as e:
        log.error("%s", e)
        raise SystemExit(2) from None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, daemon.request_stop)
    await daemon.run()
