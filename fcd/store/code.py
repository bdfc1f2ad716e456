"""Code packages: content-addressed zips, checked on the way in, unpacked read-only for instances.

A package is stored once per content as ``<data_dir>/code/<sha256>.zip`` and unpacked once as
``<data_dir>/unpacked/<sha256>/``. Function and layer documents only name the digest, so a
published version (which copies function documents verbatim) keeps its code for as long as the
file exists, and two functions with the same zip share one tree.

Zips come from clients and are hostile until proven otherwise (DESIGN.md §8). :func:`inspect`
reads the central directory and refuses, with ``InvalidArgument``:

* entries whose path is absolute, contains ``..`` or a drive letter (zip-slip);
* entries below a symlink (extracting them would write through it), duplicates, and a path that
  is both a file and a directory;
* bombs: a declared unzipped total over ``limits.code_unzipped_size``, or a large member whose
  declared size is more than ``limits.code_max_ratio`` times its compressed size;
* encrypted members and compression methods other than stored/deflate/bzip2/lzma.

:func:`extract` then trusts nothing the directory declared: it counts the bytes each member
really inflates to and stops at the declared size (``zipfile`` itself stops there and checks the
CRC-32), so a member that lies about its size is refused too. Extraction goes to a temporary
directory that is renamed into place, so a tree under ``unpacked/`` is always complete.

Symlinks are kept as written, whatever they point at, as FC unpacks them: ``bin/node ->
/usr/bin/node`` or ``lib -> ../shared`` is common in build output. Extraction creates them last and
never writes through one, and nothing in the daemon follows a link inside an unpacked tree: the
tree's root is bind-mounted at ``/code`` (or ``/opt``), so a link resolves inside the sandbox's own
root at run time, where ``/etc/passwd`` is the sandbox's and the host's data dir does not exist.

The store is synchronous (file I/O and inflating are CPU and disk work): the API calls it through
``asyncio.to_thread``.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import logging
import os
import shutil
import stat
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import crcmod

from fcd import errors
from fcd.config import MIB, Limits

log = logging.getLogger(__name__)

CODE_DIR = "code"
UNPACKED_DIR = "unpacked"
# Members smaller than this are never judged by their compression ratio: a 100 KiB file of
# zeros compresses 1000:1 and costs nothing to inflate; bombs are large by definition.
RATIO_FLOOR = 1 * MIB
# More entries than this is a central-directory bomb, not a code package (npm trees with
# thousands of files stay far below it).
MAX_ENTRIES = 100_000
# A symlink's target is its member's content; PATH_MAX bounds what the kernel would accept.
MAX_LINK_TARGET = 4096
# NAME_MAX and PATH_MAX of Linux file systems.
MAX_COMPONENT = 255
MAX_PATH = 4096
CHUNK = 1 * MIB
SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}

# What a broken zip makes zipfile raise, besides BadZipFile: the module parses binary structures
# and lets the parsers' own errors through.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    struct.error,
    NotImplementedError,
    OverflowError,
    KeyError,
    IndexError,
    RuntimeError,
)

# CRC-64/XZ (ECMA-182 polynomial, reflected, all-ones init and xor-out): what OSS reports as
# x-oss-hash-crc64ecma and FC as codeChecksum; "123456789" -> 11051210869376104954. crcmod-plus
# runs it in C (~380 MB/s on this box, 0.13 s for 50 MiB).
_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


def crc64(data: bytes) -> int:
    """The CRC-64 FC puts in ``codeChecksum`` (as a decimal string)."""
    return int(_crc64(data))


@dataclass(frozen=True)
class CodeInfo:
    """What a function or layer document records about its package."""

    sha256: str
    size: int
    # CRC-64/XZ as a decimal string, FC's codeChecksum.
    checksum: str


@dataclass(frozen=True)
class Entry:
    """One member of a checked zip: a normalised relative path and what it becomes on disk."""

    path: str
    kind: Literal["file", "dir", "symlink"]
    info: zipfile.ZipInfo
    executable: bool = False
    target: str = ""


def _invalid(reason: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"code.zipFile is not an acceptable zip: {reason}")


def normalise_path(name: str) -> str:
    """A member name as a relative POSIX path without ``.`` parts; ``""`` is the root itself.

    Backslashes count as separators, as Windows tools write them.

    Raises:
        errors.InvalidArgument: absolute, drive-lettered, ``..`` or over-long names (zipfile
            already cuts a name at a NUL).
    """
    unified = name.replace("\\", "/")
    if len(unified) > 1 and unified[1] == ":" and unified[0].isalpha():
        raise _invalid(f"entry {name!r} has an absolute path")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if unified.startswith("/") and parts:
        raise _invalid(f"entry {name!r} has an absolute path")
    if ".." in parts:
        raise _invalid(f"entry {name!r} points outside the package (..)")
    if any(len(p.encode()) > MAX_COMPONENT for p in parts) or len(unified.encode()) > MAX_PATH:
        raise _invalid(f"entry {name[:64]!r}... has a name that is too long")
    return "/".join(parts)


def _kind(info: zipfile.ZipInfo) -> tuple[Literal["file", "dir", "symlink"], bool]:
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "symlink", False
    if info.filename.endswith(("/", "\\")) or (mode and stat.S_ISDIR(mode)):
        return "dir", False
    return "file", bool(mode & 0o111)


def inspect(data: bytes, limits: Limits) -> list[Entry]:
    """Check a zip against every rule in the module docstring, from its central directory.

    Symlink targets are read (they are the members' content, at most 4 KiB each); nothing else
    is inflated here.

    Raises:
        errors.InvalidArgument: not a zip, or a rule is broken; the message says which entry.
    """
    if len(data) > limits.code_size:
        raise errors.InvalidArgument(
            f"code size {len(data)} exceeds the maximum allowed size ({limits.code_size} bytes)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return _inspect(zf, limits)
    except errors.FcError:
        raise
    except (*_ZIP_ERRORS, OSError) as e:  # all in memory: an OSError is a parse error here
        raise _invalid(f"{type(e).__name__}: {e}") from None


def _inspect(zf: zipfile.ZipFile, limits: Limits) -> list[Entry]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _invalid(f"it has {len(infos)} entries, more than {MAX_ENTRIES}")
    entries: dict[str, Entry] = {}
    declared = 0
    for info in infos:
        path = normalise_path(info.filename)
        kind, executable = _kind(info)
        if not path:
            if kind == "dir":
                continue  # "/" or "./": the root itself (fc2's zip_dir of an empty directory)
            raise _invalid(f"entry {info.filename!r} has no name")
        if info.flag_bits & 0x1:
            raise _invalid(f"entry {path!r} is encrypted")
        if info.compress_type not in SUPPORTED_COMPRESSION:
            raise _invalid(f"entry {path!r} uses unsupported compression {info.compress_type}")
        if path in entries:
            raise _invalid(f"entry {path!r} appears twice")
        declared += info.file_size
        if declared > limits.code_unzipped_size:
            raise _invalid(
                f"its unzipped size exceeds the maximum ({limits.code_unzipped_size} bytes)"
            )
        if info.file_size >= RATIO_FLOOR and info.file_size > limits.code_max_ratio * max(
            info.compress_size, 1
        ):
            raise _invalid(
                f"entry {path!r} claims a compression ratio over {limits.code_max_ratio}:1"
            )
        target = ""
        if kind == "symlink":
            target = _link_target(zf, info, path)
        entries[path] = Entry(path, kind, info, executable, target)
    _check_tree(entries)
    return list(entries.values())


def _link_target(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> str:
    if info.file_size > MAX_LINK_TARGET:
        raise _invalid(f"symlink {path!r} has a target longer than {MAX_LINK_TARGET} bytes")
    with zf.open(info) as member:
        raw = member.read(MAX_LINK_TARGET + 1)
    try:
        target = raw.decode()
    except UnicodeDecodeError:
        raise _invalid(f"symlink {path!r} has a target that is not UTF-8") from None
    if not target or "\x00" in target or len(raw) > MAX_LINK_TARGET:
        raise _invalid(f"symlink {path!r} has an empty or invalid target")
    return target


def _check_tree(entries: dict[str, Entry]) -> None:
    """Parents must be directories: nothing is extracted below a file or through a symlink.

    Where a symlink points is not checked: it is resolved only inside the sandbox (module doc).
    """
    for path in entries:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = entries.get("/".join(parts[:depth]))
            if parent is not None and parent.kind != "dir":
                kind = "a symlink" if parent.kind == "symlink" else "a file"
                raise _invalid(f"entry {path!r} lies below {kind} ({parent.path!r})")


def extract(data: bytes, entries: list[Entry], dest: Path, limits: Limits) -> None:
    """Write the checked ``entries`` of ``data`` under ``dest`` (which must not exist).

    Files become 0444 (0555 when the zip marks them executable), directories 0555: the tree is
    read-only for everyone, the daemon included, so nothing rewrites shared code by accident.

    Raises:
        errors.InvalidArgument: a member inflates to more than it declared, fails its CRC, or
            the real total passes ``limits.code_unzipped_size``.
    """
    dest.mkdir(mode=0o700)
    dirs: set[Path] = {dest}
    written = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for entry in entries:
                target = dest / entry.path
                parent = target.parent if entry.kind != "dir" else target
                _make_dirs(parent, dest, dirs)
                if entry.kind == "file":
                    written += _write_member(zf, entry, target, limits.code_unzipped_size - written)
            for entry in entries:
                if entry.kind == "symlink":
                    os.symlink(entry.target, dest / entry.path)
    except errors.FcError:
        raise
    except _ZIP_ERRORS as e:
        raise _invalid(f"{type(e).__name__}: {e}") from None
    for directory in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        directory.chmod(0o555)


def _make_dirs(path: Path, root: Path, made: set[Path]) -> None:
    missing: list[Path] = []
    while path not in made and path != root:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        made.add(directory)


def _write_member(zf: zipfile.ZipFile, entry: Entry, target: Path, budget: int) -> int:
    declared = entry.info.file_size
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    mode = 0o555 if entry.executable else 0o444
    fd = os.open(target, flags, mode)
    os.fchmod(fd, mode)  # the umask may have masked bits off; the open descriptor stays writable
    count = 0
    with os.fdopen(fd, "wb") as out, zf.open(entry.info) as member:
        while chunk := member.read(CHUNK):
            count += len(chunk)
            if count > declared or count > budget:
                raise _invalid(f"entry {entry.path!r} inflates to more than it declares")
            out.write(chunk)
    if count != declared:
        raise _invalid(f"entry {entry.path!r} is shorter than it declares")
    return count


def _remove_tree(path: Path) -> None:
    """Remove a (possibly read-only) tree that this store made."""
    if not path.exists() and not path.is_symlink():
        return
    for root, dirnames, _ in os.walk(path):
        for name in dirnames:
            sub = os.path.join(root, name)
            if not os.path.islink(sub):
                os.chmod(sub, 0o700)
    path.chmod(0o700)
    shutil.rmtree(path)


class CodeStore:
    """Zips under ``<data_dir>/code/``, their trees under ``<data_dir>/unpacked/``.

    Stateless apart from the directory: any number of instances over one data dir agree.
    """

    def __init__(self, data_dir: Path, limits: Limits) -> None:
        self.code_dir = data_dir / CODE_DIR
        self.unpacked_dir = data_dir / UNPACKED_DIR
        self.limits = limits
        self.code_dir.mkdir(parents=True, exist_ok=True)
        self.unpacked_dir.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"<CodeStore {self.code_dir.parent}>"

    def remove_leftovers(self) -> int:
        """Remove the scratch trees and files (``.tmp-*``) of unpacks and zip writes that a
        crash interrupted; return how many. Call at start only: a running upload's scratch has
        the same names."""
        removed = 0
        for directory in (self.unpacked_dir, self.code_dir):
            for path in directory.glob(".tmp-*"):
                if path.is_dir() and not path.is_symlink():
                    _remove_tree(path)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.warning("removed %d temporary code files left by an interrupted write", removed)
        return removed

    def zip_path(self, sha256: str) -> Path:
        """Where the zip with this digest lives (it may not exist)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.code_dir / f"{sha256}.zip"

    def exists(self, sha256: str) -> bool:
        return self.zip_path(sha256).is_file()

    def put(self, data: bytes) -> CodeInfo:
        """Check, unpack and store a zip; return its digest, size and checksum.

        The package is unpacked here rather than on the first invoke, so a cold start never
        pays for inflating, and a broken member is refused at upload.

        Raises:
            errors.InvalidArgument: the zip breaks a rule (see the module docstring) or is over
                ``limits.code_size``.
        """
        entries = inspect(data, self.limits)
        sha256 = hashlib.sha256(data).hexdigest()
        self._unpack_into_place(sha256, data, entries)
        path = self.zip_path(sha256)
        if not path.is_file():
            _write_atomically(path, data)
        return CodeInfo(sha256=sha256, size=len(data), checksum=str(crc64(data)))

    def unpack(self, sha256: str) -> Path:
        """The read-only tree of a stored zip, unpacking it first if it is not there yet.

        Raises:
            FileNotFoundError: no zip with this digest is stored.
            errors.InvalidArgument: the stored zip no longer passes the checks (limits lowered).
        """
        dest = self.unpacked_dir / sha256
        if dest.is_dir():
            return dest
        data = self.zip_path(sha256).read_bytes()
        self._unpack_into_place(sha256, data, inspect(data, self.limits))
        return dest

    def _unpack_into_place(self, sha256: str, data: bytes, entries: list[Entry]) -> None:
        dest = self.unpacked_dir / sha256
        if dest.is_dir():
            return
        scratch = self.unpacked_dir / f".tmp-{sha256}-{uuid.uuid4().hex}"
        try:
            extract(data, entries, scratch, self.limits)
            scratch.chmod(0o555)
            try:
                os.rename(scratch, dest)
            except OSError:
                if not dest.is_dir():
                    raise
                # Another thread unpacked the same zip first: its tree is as good as ours.
        finally:
            _remove_tree(scratch)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write, fsync and rename: the metadata that names this file is committed right after."""
    scratch = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex}")
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)


def decode_zip_file(encoded: str, limits: Limits) -> bytes:
    """The bytes of ``code.zipFile`` (base64), refusing oversize packages before decoding.

    Raises:
        errors.InvalidArgument: not base64, or the zip is over ``limits.code_size``.
    """
    # 4 base64 characters carry 3 bytes: refuse without allocating the decoded copy (10 % of
    # slack for line breaks; the exact check follows the decoding).
    if len(encoded) > limits.code_size * 4 // 3 * 11 // 10 + 8:
        raise errors.InvalidArgument(
            f"code size exceeds the maximum allowed size ({limits.code_size} bytes)"
        )
    try:
        data = _b64decode(encoded)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        try:
            data = _b64decode("".join(encoded.split()))  # MIME-style base64 wraps its lines
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise errors.InvalidArgument("code.zipFile is not valid base64") from None
    if len(data) > limits.code_size:
        raise errors.InvalidArgument(
            f"code size {len(data)} exceeds the maximum allowed size ({limits.code_size} bytes)"
        )
    return data


def _b64decode(encoded: str) -> bytes:
    return binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True)
