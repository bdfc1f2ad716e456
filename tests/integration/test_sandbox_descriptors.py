"""A sandbox's open descriptors are its own (DESIGN §8): nothing of the daemon's leaks in.

The daemon runs as a real process (uvloop, its log on stderr, as under systemd), so whatever
its subprocess handling leaves open in the zygote would show here. Each runtime's function
lists the descriptors of every process it can see in its sandbox and writes a forged log line
to each one that is not a pipe or socket; the test then checks the listing against what a
sandbox may hold, compares every sandbox process's descriptors (pid 1 too, from the host)
with the daemon's, and looks for the forged line in the daemon's log.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon

pytestmark = pytest.mark.root

FORGED = "FORGED-BY-A-FUNCTION"

# Lists /proc/<pid>/fd of every process it may read, and writes FORGED to any descriptor
# that is neither a pipe nor a socket of its own (a file inherited from the host).
LISTER = """
import json, os

def listing():
    seen = {}
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        fds = {}
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in names:
            try:
                fds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
        seen[pid] = fds
    return seen

def forge(seen):
    for fds in seen.values():
        for fd, target in fds.items():
            if target.startswith("/") and target != "/dev/null" and int(fd) > 2:
                try:
                    os.write(int(fd), b"%s\\n" % MARK)
                except OSError:
                    pass

MARK = b"FORGED-BY-A-FUNCTION"
"""

PYTHON = (
    LISTER
    + """
def handler(event, context):
    seen = listing()
    forge({str(os.getpid()): seen[str(os.getpid())]})
    return json.dumps({"self": str(os.getpid()), "seen": seen})
"""
)

NODE = """
const fs = require("fs");
exports.handler = async () => {
  const seen = {};
  for (const pid of fs.readdirSync("/proc").filter((p) => /^[0-9]+$/.test(p))) {
    let names;
    try { names = fs.readdirSync(`/proc/${pid}/fd`); } catch (e) { continue; }
    const fds = {};
    for (const fd of names) {
      try { fds[fd] = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch (e) {}
    }
    seen[pid] = fds;
  }
  for (const [fd, target] of Object.entries(seen[String(process.pid)])) {
    if (target.startsWith("/") && target !== "/dev/null" && Number(fd) > 2) {
      try { fs.writeSync(Number(fd), "FORGED-BY-A-FUNCTION\\n"); } catch (e) {}
    }
  }
  return JSON.stringify({ self: String(process.pid), seen });
};
"""

CUSTOM = (
    "#!/usr/bin/python3\n"
    + LISTER
    + textwrap.dedent(
        """
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen = listing()
                forge(seen)  # the agent's descriptors are the same uid's: reachable
                body = json.dumps({"self": str(os.getpid()), "seen": seen}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        HTTPServer(("0.0.0.0", 9000), Handler).serve_forever()
        """
    )
)

# What a process in a sandbox may hold besides its own pipes and sockets: the runtime's own
# kernel objects and files inside the sandbox's root.
ALLOWED_PATHS = re.compile(
    r"^(/dev/(null|urandom|random)|/code/.*|/tmp/.*|/opt/.*|/usr/.*|/var/fc/runtime/.*"
    r"|/proc/\d+/fd)$"
)
OWN_KINDS = re.compile(r"^(pipe|socket|anon_inode):\[?\S*\]?$")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon of this test's own, so its log holds only this test's lines."""
    running = start_daemon(tmp_path / "data")
    yield running
    running.stop()


def fd_table(pid: int) -> dict[int, str]:
    table = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            table[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            pass
    return table


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def check_own(fds: dict[str, str], where: str) -> None:
    """Only /dev/null on stdin, pipes on stdout/stderr, and the runtime's own objects."""
    for fd, target in fds.items():
        if int(fd) == 0:
            assert target == "/dev/null", f"{where}: stdin is {target}"
        elif int(fd) in (1, 2):
            assert target.startswith("pipe:"), f"{where}: fd {fd} is {target}"
        else:
            assert OWN_KINDS.match(target) or ALLOWED_PATHS.match(target), (
                f"{where}: fd {fd} is {target}"
            )


def test_a_sandbox_holds_no_descriptor_of_the_daemon(daemon: RunningDaemon, tmp_path: Path) -> None:
    client: fc2.Client = make_client(daemon.endpoint)
    client.create_service("fds")
    functions = {
        "py": ("python3", "index.handler", {"index.py": PYTHON}),
        "node": ("nodejs20", "index.handler", {"index.js": NODE}),
        "custom": ("custom", "index.handler", {"bootstrap": CUSTOM}),
    }
    reports = {}
    for name, (runtime, handler, files) in functions.items():
        code = tmp_path / name
        code.mkdir()
        for file, text in files.items():
            (code / file).write_text(text)
            (code / file).chmod(0o755)
        client.create_function("fds", name, runtime, handler, codeDir=str(code), caPort=9000)
        reports[name] = json.loads(client.invoke_function("fds", name, payload=b"{}").data)

    for name, report in reports.items():
        assert report["self"] in report["seen"], name
        for pid, fds in report["seen"].items():
            check_own(fds, f"{name} pid {pid}")

    # From the host: no process of any sandbox (pid 1, pre-made ones, the runtimes) shares a
    # file, socket or pipe with the daemon, except the stdout/stderr pipes it reads them from.
    assert daemon.process is not None
    own = fd_table(daemon.process.pid)
    harmless = ("anon_inode:", "/dev/null")
    shared = {t for t in own.values() if not t.startswith(harmless)}
    daemon_stdio = {own[fd] for fd in (0, 1, 2) if fd in own} - {"/dev/null"}
    zygotes = [
        pid
        for pid in descendants(daemon.process.pid)
        if "zygote.py" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]
    assert zygotes
    for zygote in zygotes:
        for fd, target in fd_table(zygote).items():
            assert fd < 3 or target not in daemon_stdio, f"zygote fd {fd} is {target}"
        for pid in descendants(zygote):
            for fd, target in fd_table(pid).items():
                where = f"sandbox process {pid} fd {fd}"
                assert target not in daemon_stdio, f"{where} is the daemon's {target}"
                if fd in (1, 2) and target.startswith("pipe:"):
                    continue  # the daemon holds the read end
                assert target not in shared, f"{where}: {target} is the daemon's too"

    # The writes returned before the invocations did: a forged line would be there now.
    assert FORGED not in daemon.logs()
