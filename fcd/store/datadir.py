"""The data dir belongs to the operator alone: its owner and modes, checked and fixed at start.

The directory holds the admin secret (``admin-credentials`` and the ``access_keys`` table),
every function's code and the async payloads. The systemd unit starts fcd with ``UMask=0077``
and ``StateDirectoryMode=0700``, but anything else (a shell with umask 022, an older fcd) leaves
0755 directories and 0644 files that every local user can read. So the daemon does not trust
the umask: at every start it makes the data dir 0700 and its files 0600, directories 0700,
down the trees only the daemon reads. The unpacked code trees (``unpacked/``, read-only for
everyone so that a sandbox's unprivileged uid can read its code) and the sandbox root mount
are left as they are: the 0700 data dir above them keeps local users out.

A data dir owned by another user is refused: whoever owns it can read or swap what the daemon
trusts (code, the database).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Trees the sandboxes read through bind mounts; their modes are set where they are made.
SANDBOX_READABLE = frozenset({"unpacked", "sandbox-root"})


class DataDirError(Exception):
    """The data dir cannot be used; the message says why and what to do, on one line."""


def prepare(path: Path) -> None:
    """Create the data dir (0700) or check an existing one, then fix the modes under it.

    Raises:
        DataDirError: it is not a directory, or it is owned by another user than the one the
            daemon runs as.
    """
    try:
        info = path.stat()  # a symlinked data dir is judged by the directory it names
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise DataDirError(f"data_dir {path} is not a directory")
    if info.st_uid != os.geteuid():
        raise DataDirError(
            f"data_dir {path} is owned by uid {info.st_uid}, not by uid {os.geteuid()} that "
            "fcd runs as: refusing to start (chown it to that user, or choose another data_dir)"
        )
    os.chmod(path, 0o700)
    for entry in os.scandir(path):
        if entry.name in SANDBOX_READABLE:
            continue
        _restrict(Path(entry.path))


def _restrict(path: Path) -> None:
    """Directories 0700 and files 0600 from ``path`` down; links are not followed."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)
        for entry in os.scandir(path):
            _restrict(Path(entry.path))
    elif stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
