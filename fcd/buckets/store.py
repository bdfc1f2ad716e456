"""The bucket store on disk: buckets are directories, objects are files written atomically.

Layout under ``<data_dir>/buckets``::

    <bucket>/objects/<h[:2]>/<h>     one object: its bytes, then its metadata JSON, then the
                                     JSON's length (4 bytes, big-endian); h = sha256(key)
    <bucket>/uploads/<upload id>/    a multipart upload: ``upload.json`` and one file per part,
                                     ``<part number:05d>.<md5 hex>``
    <bucket>/tmp/                    files being written; renamed into place when complete

Objects are named by the hash of their key, so no key (``../x``, ``a/../../b``, NUL, 1,024 bytes
of anything) can reach a path outside its bucket, and ``a`` and ``a/b`` can both exist. Every
write goes to ``tmp/`` first and is renamed over its final name after an fsync: a reader sees the
old object or the new one, never half of one, and a crash leaves at most a stray temp file
(removed at the next start). The keys of a bucket are indexed in memory (sorted, for
ListObjectsV2) when the bucket is first used.

ETags are S3's: the hex MD5 of the bytes; for a multipart upload the MD5 of the parts' binary
MD5s followed by ``-<number of parts>``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import shutil
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fcd.buckets.s3errors import S3Error

# S3's limits: keys up to 1,024 bytes of UTF-8; parts 1..10,000, each but the last ≥ 5 MiB.
MAX_KEY_BYTES = 1024
MAX_PARTS = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024
TRAILER = struct.Struct(">I")
# Bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit (S3's rules).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Requests under /2016-08-15/ are the FC API's, so a bucket of that name could not be reached.
RESERVED_BUCKETS = frozenset({"2016-08-15"})
COPY_CHUNK = 1024 * 1024


def check_bucket_name(name: str) -> None:
    """Raises: S3Error InvalidBucketName."""
    if (
        not _BUCKET_NAME.fullmatch(name)
        or ".." in name
        or name in RESERVED_BUCKETS
        or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name)
    ):
        raise S3Error.of("InvalidBucketName", f"the bucket name '{name}' is not valid", name)


def check_key(key: str) -> bytes:
    """The key's UTF-8 bytes.

    Raises:
        S3Error: KeyTooLongError past 1,024 bytes; InvalidArgument when empty or not encodable.
    """
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise S3Error.of("InvalidArgument", "the object key is not valid UTF-8", key) from None
    if not raw:
        raise S3Error.of("InvalidArgument", "the object key is empty", key)
    if len(raw) > MAX_KEY_BYTES:
        raise S3Error.of("KeyTooLongError", "Your key is too long", key)
    return raw


def object_name(key: str) -> str:
    """The file name of ``key`` inside ``objects/``: ``<h[:2]>/<h>``, h = sha256 of the key."""
    digest = hashlib.sha256(check_key(key)).hexdigest()
    return f"{digest[:2]}/{digest}"


def multipart_etag(part_md5s: list[bytes]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, then ``-N``."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "key": self.key,
                "size": self.size,
                "etag": self.etag,
                "lastModified": self.last_modified,
                "contentType": self.content_type,
                "metadata": self.metadata,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ObjectInfo:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            data["key"],
            data["size"],
            data["etag"],
            data["lastModified"],
            data.get("contentType") or "binary/octet-stream",
            data.get("metadata") or {},
        )


@dataclass
class Listing:
    """One page of ListObjectsV2."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_token: str | None


def list_page(
    keys: list[str],
    *,
    prefix: str = "",
    delimiter: str = "",
    after: str = "",
    after_prefix: bool = False,
    max_keys: int = 1000,
) -> tuple[list[str], list[str], str | None, bool]:
    """Pure ListObjectsV2 over sorted ``keys``: ``(keys, common prefixes, resume, resume is a
    prefix)``. ``after`` is the last key (or common prefix, ``after_prefix``) already returned.
    ``max_keys`` counts keys and common prefixes together; resume is None on the last page."""
    start = max(bisect.bisect_left(keys, prefix), bisect.bisect_right(keys, after) if after else 0)
    found: list[str] = []
    prefixes: list[str] = []
    i = start
    while i < len(keys):
        key = keys[i]
        if not key.startswith(prefix):
            break
        if after_prefix and after and key.startswith(after):
            i += 1
            continue
        if max_keys <= 0 or len(found) + len(prefixes) >= max_keys:
            last_prefix = bool(prefixes) and (not found or prefixes[-1] > found[-1])
            resume = prefixes[-1] if last_prefix else (found[-1] if found else after)
            return found, prefixes, resume, last_prefix
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[: cut + len(delimiter)]
            prefixes.append(common)
            # Skip every key under this common prefix.
            i = bisect.bisect_left(keys, common + "\U0010ffff", i)
            continue
        found.append(key)
        i += 1
    return found, prefixes, None, False


class Bucket:
    """One bucket directory and the sorted index of its keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = root.name
        self.objects = root / "objects"
        self.uploads = root / "uploads"
        self.tmp = root / "tmp"
        self._keys: list[str] = []
        self._info: dict[str, ObjectInfo] = {}
        self._load()

    def __repr__(self) -> str:
        return f"<Bucket {self.name} [{len(self._keys)} objects]>"

    def _load(self) -> None:
        for stray in self.tmp.glob("*"):
            stray.unlink(missing_ok=True)
        for path in self.objects.glob("*/*"):
            info = read_info(path)
            if info is not None:
                self._info[info.key] = info
        self._keys = sorted(self._info)

    @property
    def keys(self) -> list[str]:
        return self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def info(self, key: str) -> ObjectInfo | None:
        return self._info.get(key)

    def path(self, key: str) -> Path:
        return self.objects / object_name(key)

    def temp(self) -> Path:
        return self.tmp / uuid.uuid4().hex

    def finish(self, temp: Path, info: ObjectInfo) -> None:
        """Append ``info`` to the data in ``temp``, fsync, rename it over the object's file.
        Blocking and touching files only: run it in a thread, then :meth:`record` the object."""
        encoded = info.encode()
        with open(temp, "ab") as f:
            f.write(encoded)
            f.write(TRAILER.pack(len(encoded)))
            f.flush()
            os.fsync(f.fileno())
        final = self.path(info.key)
        final.parent.mkdir(exist_ok=True)
        os.replace(temp, final)

    def record(self, info: ObjectInfo) -> ObjectInfo | None:
        """Index an object :meth:`finish` wrote; return the one it replaced."""
        previous = self._info.get(info.key)
        if previous is None:
            bisect.insort(self._keys, info.key)
        self._info[info.key] = info
        return previous

    def remove(self, key: str) -> ObjectInfo | None:
        """Delete ``key``; return what was there (None: nothing, which S3 answers 204 too)."""
        previous = self._info.pop(key, None)
        if previous is None:
            return None
        self.path(key).unlink(missing_ok=True)
        index = bisect.bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            del self._keys[index]
        return previous

    def open(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The object's info and its file positioned at byte 0 (the caller reads ``size`` bytes).

        Raises:
            S3Error NoSuchKey
        """
        info = self._info.get(key)
        if info is None:
            raise S3Error.of("NoSuchKey", "The specified key does not exist.", key)
        try:
            return info, open(self.path(key), "rb")  # the caller closes it
        except FileNotFoundError:
            raise S3Error.of("NoSuchKey", "The specified key does not exist.", key) from None


def read_info(path: Path) -> ObjectInfo | None:
    """The metadata at the end of an object file, or None for a damaged file."""
    try:
        with open(path, "rb") as f:
            f.seek(-TRAILER.size, os.SEEK_END)
            (length,) = TRAILER.unpack(f.read(TRAILER.size))
            f.seek(-TRAILER.size - length, os.SEEK_END)
            return ObjectInfo.decode(f.read(length))
    except (OSError, ValueError, KeyError, struct.error):
        return None


@dataclass(frozen=True)
class Upload:
    upload_id: str
    key: str
    content_type: str
    metadata: dict[str, str]
    initiated: float


class BucketStore:
    """Every bucket under ``root``; buckets are loaded (indexed) on first use."""

    def __init__(self, root: Path, clock: Any = time.time) -> None:
        self.root = root
        self.clock = clock
        self.root.mkdir(parents=True, exist_ok=True)
        self._buckets: dict[str, Bucket] = {}

    def __repr__(self) -> str:
        return f"<BucketStore {self.root} [{len(self._buckets)} loaded]>"

    def names(self) -> list[tuple[str, float]]:
        """``(name, created)`` of every bucket, by name."""
        return sorted(
            (p.name, p.stat().st_mtime) for p in self.root.iterdir() if (p / "objects").is_dir()
        )

    def bucket(self, name: str) -> Bucket:
        """Raises: S3Error NoSuchBucket."""
        found = self._buckets.get(name)
        if found is not None:
            return found
        root = self.root / name
        if name in RESERVED_BUCKETS or not _BUCKET_NAME.fullmatch(name):
            raise S3Error.of("NoSuchBucket", "The specified bucket does not exist", name)
        if not (root / "objects").is_dir():
            raise S3Error.of("NoSuchBucket", "The specified bucket does not exist", name)
        found = self._buckets[name] = Bucket(root)
        return found

    def create(self, name: str) -> bool:
        """Create bucket ``name``; False when it already existed (S3: BucketAlreadyOwnedByYou).

        Raises:
            S3Error InvalidBucketName
        """
        check_bucket_name(name)
        root = self.root / name
        existed = (root / "objects").is_dir()
        for part in ("objects", "uploads", "tmp"):
            (root / part).mkdir(parents=True, exist_ok=True)
        return not existed

    def delete(self, name: str) -> None:
        """Raises: S3Error NoSuchBucket, BucketNotEmpty."""
        bucket = self.bucket(name)
        if len(bucket):
            raise S3Error.of("BucketNotEmpty", "The bucket you tried to delete is not empty", name)
        self._buckets.pop(name, None)
        shutil.rmtree(bucket.root)

    # Multipart uploads -------------------------------------------------------------------------
    def start_upload(
        self, bucket: Bucket, key: str, content_type: str, metadata: dict[str, str]
    ) -> Upload:
        check_key(key)
        upload = Upload(uuid.uuid4().hex, key, content_type, metadata, self.clock())
        directory = bucket.uploads / upload.upload_id
        directory.mkdir()
        (directory / "upload.json").write_text(
            json.dumps(
                {
                    "key": key,
                    "contentType": content_type,
                    "metadata": metadata,
                    "initiated": upload.initiated,
                }
            )
        )
        return upload

    def upload(self, bucket: Bucket, upload_id: str, key: str) -> Upload:
        """Raises: S3Error NoSuchUpload (unknown id, or another key's upload)."""
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise _no_such_upload(upload_id)
        try:
            data = json.loads((bucket.uploads / upload_id / "upload.json").read_text())
        except (OSError, ValueError):
            raise _no_such_upload(upload_id) from None
        if data["key"] != key:
            raise _no_such_upload(upload_id)
        return Upload(upload_id, key, data["contentType"], data["metadata"], data["initiated"])

    def parts(self, bucket: Bucket, upload: Upload) -> dict[int, tuple[str, Path]]:
        """Part number → (md5 hex, file) of the parts uploaded so far (the newest of each)."""
        found: dict[int, tuple[str, Path, float]] = {}
        for path in (bucket.uploads / upload.upload_id).glob("*.*"):
            number, _, md5 = path.name.partition(".")
            if not number.isdigit() or len(md5) != 32:
                continue
            when = path.stat().st_mtime_ns
            previous = found.get(int(number))
            if previous is None or when >= previous[2]:
                found[int(number)] = (md5, path, when)
        return {n: (md5, path) for n, (md5, path, _) in found.items()}

    def commit_part(
        self, bucket: Bucket, upload: Upload, number: int, temp: Path, md5: str
    ) -> None:
        """Rename a written part into its upload, replacing an earlier upload of that number."""
        directory = bucket.uploads / upload.upload_id
        for old in directory.glob(f"{number:05d}.*"):
            old.unlink(missing_ok=True)
        os.replace(temp, directory / f"{number:05d}.{md5}")

    def abort(self, bucket: Bucket, upload: Upload) -> None:
        shutil.rmtree(bucket.uploads / upload.upload_id, ignore_errors=True)

    def assemble(
        self, bucket: Bucket, upload: Upload, wanted: list[tuple[int, str]]
    ) -> tuple[Path, int, str]:
        """Concatenate the listed parts into a temp file: ``(temp, size, etag)``. Blocking (run
        it in a thread).

        Raises:
            S3Error: InvalidPartOrder, InvalidPart, EntityTooSmall.
        """
        if not wanted:
            raise S3Error.of("MalformedXML", "the upload lists no parts", upload.key)
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise S3Error.of(
                "InvalidPartOrder", "The list of parts was not in ascending order.", upload.key
            )
        have = self.parts(bucket, upload)
        files: list[Path] = []
        md5s: list[bytes] = []
        for index, (number, etag) in enumerate(wanted):
            part = have.get(number)
            if part is None or part[0] != etag.strip('"').lower():
                raise S3Error.of(
                    "InvalidPart",
                    f"part {number} was not uploaded or its ETag does not match",
                    upload.key,
                )
            if index < len(wanted) - 1 and part[1].stat().st_size < MIN_PART_SIZE:
                raise S3Error.of(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    upload.key,
                )
            files.append(part[1])
            md5s.append(bytes.fromhex(part[0]))
        temp = bucket.temp()
        size = 0
        with open(temp, "wb") as out:
            for path in files:
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, out, COPY_CHUNK)
                size += path.stat().st_size
        return temp, size, multipart_etag(md5s)


def _no_such_upload(upload_id: str) -> S3Error:
    return S3Error.of(
        "NoSuchUpload",
        "The specified multipart upload does not exist. The upload ID may be invalid, or the "
        "upload may have been aborted or completed.",
        upload_id,
    )


def read_range(f: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``f`` from ``start``, in chunks of at most 1 MiB."""
    f.seek(start)
    left = length
    while left > 0:
        chunk = f.read(min(COPY_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def copy_to(source: BinaryIO, length: int, target: Path) -> None:
    """Copy the first ``length`` bytes of ``source`` into a new file ``target`` (blocking)."""
    with open(target, "wb") as out:
        for chunk in read_range(source, 0, length):
            out.write(chunk)
