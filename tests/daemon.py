"""Start ``python -m fcd`` as a real process for tests, and wait until it serves.

Fails at once with the child's output when it exits early, rather than timing out blind
(datasette's ``wait_for_server``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY_ID = "testAccessKeyID"
ACCESS_KEY_SECRET = "testAccessKeySecret"
ACCOUNT_ID = "1234567890123456"
REGION = "cn-hangzhou"
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningDaemon:
    """A daemon process on loopback, its data dir and the key pair it accepts."""

    data_dir: Path
    port: int
    env: dict[str, str]
    # A TOML config file passed with --config (None: the embedded defaults and FCD_* only).
    config: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    umask: int = 0o022
    # What to run: the daemon itself, or a wrapper around fcd.daemon.main (fault injection).
    argv: list[str] = field(default_factory=lambda: [sys.executable, "-m", "fcd", "serve"])
    log_path: Path = field(init=False)
    # A command the daemon runs under, e.g. tests/systemd_confine.py with the unit file.
    prefix: tuple[str, ...] = ()
    # Arguments after ``fcd serve``, e.g. ("--config", path).
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"fcd-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningDaemon:
        argv = [sys.executable, "-m", "fcd", "serve"]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        with open(self.log_path, "ab") as log:
            options = [] if self.config is None else ["--config", str(self.config)]
            self.process = subprocess.Popen(
                [*self.prefix, *self.argv, *options, *self.args],
                env=self.env,
                umask=self.umask,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fcd exited with {self.process.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"fcd did not become ready in {READY_TIMEOUT}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the crash path."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def daemon_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCD_")}
    env.update(
        FCD_LISTEN=f"127.0.0.1:{port}",
        FCD_DATA_DIR=str(data_dir),
        FCD_ACCESS_KEY_ID=ACCESS_KEY_ID,
        FCD_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        FCD_ACCOUNT_ID=ACCOUNT_ID,
        FCD_REGION=REGION,
        FCD_LOG_LEVEL="info",
        # Sandboxes need root (namespaces, cgroups); elsewhere the daemon would refuse to start.
        FCD_ISOLATION="namespaces" if os.geteuid() == 0 else "none",
    )
    env.update(extra)
    return env


def start_daemon(
    data_dir: Path,
    config: Path | str | None = None,
    args: tuple[str, ...] = (),
    argv: list[str] | None = None,
    **extra_env: str,
) -> RunningDaemon:
    """A daemon on a free port. ``config`` is a TOML file, or TOML text written beside the data
    dir, passed with ``--config`` (settings that have no ``FCD_*`` variable); ``argv`` replaces
    ``python -m fcd serve`` (a wrapper that plants a fault, for instance)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = config if isinstance(config, Path) else None
    if isinstance(config, str) and config:
        path = data_dir.parent / f"fcd-{port}.toml"
        path.write_text(config)
    env = daemon_env(data_dir, port, **extra_env)
    running = RunningDaemon(data_dir, port, env, path, args=args)
    if argv is not None:
        running.argv = argv
    return running.start()
