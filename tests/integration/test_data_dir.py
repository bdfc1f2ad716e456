"""The data dir is the operator's alone, whatever umask starts the daemon (docs/security.md).

Each test starts a daemon of its own with umask 022 in a directory every local user may
traverse (under /tmp, 0755), so the only barrier left is the one the daemon sets itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, daemon_env, free_port, start_daemon

pytestmark = pytest.mark.root

# Functions keep the usual umask although the daemon runs with 077.
HELLO = """
import os

def handler(event, context):
    mask = os.umask(0)
    os.umask(mask)
    return oct(mask)
"""
SECRET_FILES = ("fcd.sqlite3", "fcd.sqlite3-wal", "fcd.sqlite3-shm", "admin-credentials")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any local user can traverse: the data dir goes inside it."""
    path = Path(tempfile.mkdtemp(prefix="fcd-modes-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_generated_key(data_dir: Path) -> RunningDaemon:
    """A daemon with no configured key: it generates one into admin-credentials."""
    port = free_port()
    env = daemon_env(data_dir, port)
    del env["FCD_ACCESS_KEY_ID"], env["FCD_ACCESS_KEY_SECRET"]
    return RunningDaemon(data_dir, port, env, umask=0o022).start()


def read_as_nobody(path: Path) -> str:
    """Try to read ``path`` as user nobody in a forked child; say what happened."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, try, report one word
        os.close(read)
        outcome = b"read"
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            with open(path, "rb") as f:
                f.read(1)
        except PermissionError:
            outcome = b"denied"
        except OSError as e:
            outcome = f"error {e.errno}".encode()
        os.write(write, outcome)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        said = f.read().decode()
    os.waitpid(pid, 0)
    return said


def modes(data_dir: Path) -> dict[str, int]:
    """Permission bits of everything under the data dir outside the unpacked code trees
    (read-only for everyone on purpose: sandboxes read them) and the sandbox root mount."""
    found = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for root, dirs, files in os.walk(data_dir):
        rel = Path(root).relative_to(data_dir)
        if rel.parts and rel.parts[0] in ("unpacked", "sandbox-root"):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_umask_022_leaves_nothing_readable_by_other_users(open_dir: Path, tmp_path: Path) -> None:
    data_dir = open_dir / "data"
    daemon = start_generated_key(data_dir)
    try:
        key_id, secret = (
            line.split(" = ", 1)[1]
            for line in (data_dir / "admin-credentials").read_text().split("\n")[:2]
        )
        client = fc2.Client(endpoint=daemon.endpoint, accessKeyID=key_id, accessKeySecret=secret)
        client.create_service("modes")
        code = tmp_path / "code"
        code.mkdir()
        (code / "index.py").write_text(HELLO)
        client.create_function("modes", "hello", "python3", "index.handler", codeDir=str(code))
        assert client.invoke_function("modes", "hello").data == b"0o22"
        found = modes(data_dir)
        assert found["."] == 0o700, found
        for name in SECRET_FILES:
            if name in found:
                assert found[name] == 0o600, (name, found)
        assert "fcd.sqlite3" in found
        assert "admin-credentials" in found
        zips = [k for k in found if k.startswith("code/") and k.endswith(".zip")]
        assert zips, found
        for name, mode in found.items():
            assert mode & 0o077 == 0, f"{name} is {oct(mode)}: other users can reach it"
        for name in ("admin-credentials", "fcd.sqlite3", zips[0]):
            assert read_as_nobody(data_dir / name) == "denied", name
    finally:
        assert daemon.stop() == 0, daemon.logs()


def test_modes_of_an_older_data_dir_are_fixed_at_start(open_dir: Path) -> None:
    data_dir = open_dir / "data"
    first = start_generated_key(data_dir)
    assert first.stop() == 0, first.logs()
    # What an older fcd started with umask 022 left behind.
    data_dir.chmod(0o755)
    for path in data_dir.iterdir():
        if path.is_file():
            path.chmod(0o644)
    (data_dir / "code").chmod(0o755)
    again = start_generated_key(data_dir)
    try:
        found = modes(data_dir)
        assert found["."] == 0o700
        for name, mode in found.items():
            assert mode & 0o077 == 0, f"{name} is {oct(mode)} after the start"
        assert read_as_nobody(data_dir / "admin-credentials") == "denied"
    finally:
        assert again.stop() == 0, again.logs()


def test_a_data_dir_owned_by_another_user_is_refused(open_dir: Path) -> None:
    data_dir = open_dir / "data"
    data_dir.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "fcd", "serve"],
        env=daemon_env(data_dir, port),
        capture_output=True,
        timeout=60,
        umask=0o022,
    )
    assert done.returncode == 2, done
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "owned by" in lines[0], lines
    assert str(data_dir) in lines[0], lines
    assert list(data_dir.iterdir()) == []


def test_an_interrupted_unpack_leaves_no_temporary_tree_after_a_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_daemon(data_dir)
    assert first.stop() == 0
    # What a crash in the middle of unpacking or writing a zip leaves (fcd/store/code.py).
    leftover = data_dir / "unpacked" / (".tmp-" + "ab" * 32 + "-0123")
    (leftover / "sub").mkdir(parents=True)
    (leftover / "sub" / "index.py").write_text("x")
    (leftover / "sub").chmod(0o555)
    leftover.chmod(0o555)
    zip_scratch = data_dir / "code" / (".tmp-" + "cd" * 32 + ".zip-4567")
    zip_scratch.write_bytes(b"PK")
    again = start_daemon(data_dir)
    try:
        assert not leftover.exists()
        assert not zip_scratch.exists()
        make_client(again.endpoint).list_services()
    finally:
        assert again.stop() == 0
