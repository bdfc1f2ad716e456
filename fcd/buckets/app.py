"""The S3 API subset and the bucket-notification webhook, in front of the daemon's ASGI app.

Routing on the one listener (docs/buckets.md):

* a request signed with AWS Signature V4 (``Authorization: AWS4-HMAC-SHA256 …`` or a pre-signed
  ``X-Amz-Signature`` query) whose path is not under ``/2016-08-15/`` is an S3 request,
  path-style: ``/{bucket}/{key}``. FC requests are signed ``FC …`` and live under
  ``/2016-08-15/``, so the two never meet; clients point ``endpoint_url`` at the daemon itself.
* ``POST /fcd/s3-notifications`` takes S3-format bucket notifications from an external store (a
  MinIO webhook target), authenticated with ``Authorization: Bearer <key id>:<secret>``.
* everything else goes to ``inner`` (the gateway and the management API) untouched.

Operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
ListObjectsV2 (and ListObjects), PutObject, CopyObject, GetObject (one ``Range``), HeadObject,
DeleteObject, DeleteObjects, CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload. Anything else answers S3's ``501 NotImplemented``.

Each object created or removed is handed to ``fire`` (the OSS triggers) before the response:
when a client sees its PutObject succeed, the triggered invocations are already committed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote

from fcd import errors, ids, sigv4
from fcd.buckets import s3xml
from fcd.buckets.s3errors import S3Error
from fcd.buckets.store import (
    Bucket,
    BucketStore,
    ObjectInfo,
    check_key,
    copy_to,
    list_page,
    read_range,
)
from fcd.gateway.app import ASGIApp, Receive, Scope, Send
from fcd.triggers.oss import NotificationError, ObjectEvent, s3_notification_events

log = logging.getLogger(__name__)

Fire = Callable[[list[ObjectEvent]], Awaitable[object]]

FC_PREFIX = "/2016-08-15/"
WEBHOOK_PATH = "/fcd/s3-notifications"
# XML request bodies (DeleteObjects of 1,000 keys is ~100 KiB) and notification batches.
MAX_SMALL_BODY = 4 * 1024 * 1024
# S3's largest single PUT.
MAX_OBJECT = 5 * 1024**3
MAX_KEYS = 1000
_XML = b"application/xml"


def is_s3_request(scope: Scope) -> bool:
    """Signed with SigV4 (or the old ``AWS `` scheme, refused later) and outside the FC API."""
    if scope["path"].startswith(FC_PREFIX):
        return False
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bool(value.startswith((b"AWS4-HMAC-SHA256", b"AWS ")))
    return b"X-Amz-Signature=" in scope.get("query_string", b"")


@dataclass
class S3Request:
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    headers: dict[str, str]
    signed: sigv4.Signed
    source_ip: str
    request_id: str


class BucketFront:
    """The daemon's outermost ASGI app: S3 and the webhook here, everything else to ``inner``."""

    def __init__(
        self,
        inner: ASGIApp,
        store: BucketStore,
        *,
        secret_for: Callable[[str], str | None],
        fire: Fire,
        region: str,
        account_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.store = store
        self.secret_for = secret_for
        self.fire = fire
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def __repr__(self) -> str:
        return f"<BucketFront {self.store!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if is_s3_request(scope):
                await self._s3(scope, receive, send)
                return
            if scope["path"] == WEBHOOK_PATH:
                await self._webhook(scope, receive, send)
                return
        await self.inner(scope, receive, send)

    # The webhook ------------------------------------------------------------------------------
    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = ids.request_id()
        try:
            if scope["method"] != "POST":
                raise errors.MethodNotAllowed(f"{scope['method']} {WEBHOOK_PATH} is not allowed")
            headers = _headers(scope)
            self._check_bearer(headers.get("authorization", ""))
            try:
                body = await _read_small(receive, headers)
            except S3Error as e:
                raise errors.InvalidArgument(e.message) from None
            try:
                events = s3_notification_events(
                    body, region=self.region, account_id=self.account_id
                )
            except NotificationError as e:
                raise errors.InvalidArgument(str(e)) from None
            fired = await self.fire(events)
        except errors.FcError as e:
            await _respond(send, e.status, errors.error_body(e, request_id), b"application/json")
            return
        count = len(fired) if isinstance(fired, list) else 0
        body = json.dumps({"events": len(events), "invocations": count}).encode()
        await _respond(send, 200, body, b"application/json", request_id=request_id)

    def _check_bearer(self, value: str) -> None:
        """Raises: errors.AccessDenied unless the header is ``[Bearer ]<key id>:<secret>``."""
        token = value.removeprefix("Bearer ").strip()
        key_id, _, secret = token.partition(":")
        expected = self.secret_for(key_id) if key_id else None
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            raise errors.AccessDenied(
                "bucket notifications need 'Authorization: Bearer <access key id>:<secret>'"
            )

    # S3 ---------------------------------------------------------------------------------------
    async def _s3(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex.upper()[:16]
        try:
            request = self._authenticate(scope, request_id)
            await self._dispatch(request, receive, send)
        except sigv4.SigV4Error as e:
            await _s3_error(send, S3Error(e.code, e.message, scope["path"]), request_id)
        except S3Error as e:
            await _s3_error(send, e, request_id)
        except Exception:
            log.exception("S3 request %s %s failed", scope["method"], scope["path"])
            await _s3_error(
                send, S3Error("InternalError", "We encountered an internal error."), request_id
            )

    def _authenticate(self, scope: Scope, request_id: str) -> S3Request:
        headers = _headers(scope)
        if headers.get("authorization", "").startswith("AWS "):
            raise S3Error.of(
                "InvalidRequest", "Signature Version 2 is not supported; use AWS4-HMAC-SHA256"
            )
        raw_query = scope.get("query_string", b"").decode("latin-1")
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        signed = sigv4.verify(
            method=scope["method"],
            raw_path=raw_path.split("?", 1)[0],
            query=pairs,
            headers=headers,
            secret_for=self.secret_for,
            now=self.clock(),
        )
        bucket, _, key = scope["path"].lstrip("/").partition("/")
        client = scope.get("client") or ("", 0)
        return S3Request(
            scope["method"], bucket, key, dict(pairs), headers, signed, client[0], request_id
        )

    async def _dispatch(self, r: S3Request, receive: Receive, send: Send) -> None:
        method, query = r.method, r.query
        if not r.bucket:
            if method != "GET":
                raise _not_implemented(r)
            body = s3xml.list_buckets(self.store.names(), self.account_id)
            await _respond(send, 200, body, _XML, request_id=r.request_id)
            return
        if not r.key:
            await self._bucket_op(r, receive, send)
            return
        bucket = self.store.bucket(r.bucket)
        check_key(r.key)
        if set(query) & _OBJECT_SUBRESOURCES:
            raise _not_implemented(r)
        if method == "PUT" and "uploadId" in query:
            await self._upload_part(bucket, r, receive, send)
        elif method == "PUT" and "x-amz-copy-source" in r.headers:
            await self._copy(bucket, r, receive, send)
        elif method == "PUT":
            await self._put(bucket, r, receive, send)
        elif method in ("GET", "HEAD") and "uploadId" not in query:
            await self._get(bucket, r, send, head=method == "HEAD")
        elif method == "DELETE" and "uploadId" in query:
            self.store.abort(bucket, self.store.upload(bucket, query["uploadId"], r.key))
            await _respond(send, 204, b"", None, request_id=r.request_id)
        elif method == "DELETE":
            await self._delete(bucket, r, send)
        elif method == "POST" and "uploads" in query:
            await _drain(receive)
            upload = self.store.start_upload(
                bucket, r.key, r.headers.get("content-type") or "binary/octet-stream", _meta(r)
            )
            body = s3xml.initiate_upload(bucket.name, r.key, upload.upload_id)
            await _respond(send, 200, body, _XML, request_id=r.request_id)
        elif method == "POST" and "uploadId" in query:
            await self._complete(bucket, r, receive, send)
        else:
            raise _not_implemented(r)

    async def _bucket_op(self, r: S3Request, receive: Receive, send: Send) -> None:
        method, query = r.method, r.query
        if method == "PUT" and not query:
            await _read_small(receive, r.headers)
            created = self.store.create(r.bucket)
            if not created:
                raise S3Error.of(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you "
                    "already own it.",
                    r.bucket,
                )
            await _respond(
                send,
                200,
                b"",
                None,
                request_id=r.request_id,
                extra=[(b"location", f"/{r.bucket}".encode())],
            )
            return
        bucket = self.store.bucket(r.bucket)
        if method == "HEAD" and not query:
            await _respond(send, 200, b"", None, request_id=r.request_id)
        elif method == "DELETE" and not query:
            self.store.delete(r.bucket)
            await _respond(send, 204, b"", None, request_id=r.request_id)
        elif method == "GET" and "location" in query:
            await _respond(send, 200, s3xml.location(self.region), _XML, request_id=r.request_id)
        elif method == "GET" and not set(query) & _SUBRESOURCES:
            await _respond(send, 200, self._list(bucket, query), _XML, request_id=r.request_id)
        elif method == "POST" and "delete" in query:
            await self._delete_many(bucket, r, receive, send)
        else:
            raise _not_implemented(r)

    def _list(self, bucket: Bucket, query: dict[str, str]) -> bytes:
        """ListObjectsV2 (``list-type=2``) or ListObjects (markers).

        Raises:
            S3Error InvalidArgument: a bad ``max-keys`` or continuation token.
        """
        v2 = query.get("list-type") == "2"
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        text = query.get("max-keys", str(MAX_KEYS))
        if not text.isdigit():
            raise S3Error.of("InvalidArgument", "max-keys must be a non-negative integer")
        max_keys = min(int(text), MAX_KEYS)
        after, after_prefix = "", False
        token = query.get("continuation-token")
        if v2 and token is not None:
            after, after_prefix = _decode_token(token)
        elif v2:
            after = query.get("start-after", "")
        else:
            after = query.get("marker", "")
            after_prefix = bool(delimiter) and after.endswith(delimiter)
        keys, prefixes, resume, resume_prefix = list_page(
            bucket.keys,
            prefix=prefix,
            delimiter=delimiter,
            after=after,
            after_prefix=after_prefix,
            max_keys=max_keys,
        )
        objects = [info for info in map(bucket.info, keys) if info is not None]
        return s3xml.list_objects(
            bucket=bucket.name,
            objects=objects,
            prefixes=prefixes,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            truncated=resume is not None,
            url_encode=query.get("encoding-type") == "url",
            v2=v2,
            continuation=token,
            next_token=_encode_token(resume, resume_prefix) if resume is not None else None,
            start_after=query.get("start-after"),
            marker=query.get("marker", ""),
            next_marker=resume if (resume is not None and delimiter) else None,
        )

    # Objects ----------------------------------------------------------------------------------
    async def _receive_to_file(self, r: S3Request, receive: Receive, path: Path) -> tuple[int, str]:
        """Stream the body into ``path``, checking its SHA-256, Content-MD5 and chunk signatures:
        ``(size, md5 hex)``.

        Raises:
            S3Error: XAmzContentSHA256Mismatch, BadDigest, InvalidDigest, EntityTooLarge,
                IncompleteBody; sigv4.SigV4Error for a bad chunk signature.
        """
        payload_hash = r.signed.payload_hash
        chunked = payload_hash in sigv4.STREAMING
        decoder = sigv4.ChunkDecoder(r.signed) if chunked else None
        md5 = hashlib.md5()
        sha = hashlib.sha256() if _is_hex_hash(payload_hash) else None
        size = 0
        with _create(path) as f:
            async for chunk in _body(receive):
                data = decoder.feed(chunk) if decoder is not None else chunk
                if not data:
                    continue
                size += len(data)
                if size > MAX_OBJECT:
                    raise S3Error.of("EntityTooLarge", "Your proposed upload exceeds 5 GiB", r.key)
                md5.update(data)
                if sha is not None:
                    sha.update(data)
                f.write(data)
        if decoder is not None:
            decoder.finish()
            declared = r.headers.get("x-amz-decoded-content-length", "")
            if declared.isdigit() and int(declared) != size:
                raise S3Error.of("IncompleteBody", "the body is shorter than declared", r.key)
        if sha is not None and sha.hexdigest() != payload_hash:
            raise _sha_mismatch(r.key)
        _check_content_md5(r, md5.digest())
        return size, md5.hexdigest()

    async def _put(self, bucket: Bucket, r: S3Request, receive: Receive, send: Send) -> None:
        temp = bucket.temp()
        try:
            size, md5 = await self._receive_to_file(r, receive, temp)
            info = ObjectInfo(
                r.key,
                size,
                md5,
                self.clock(),
                r.headers.get("content-type") or "binary/octet-stream",
                _meta(r),
            )
            await asyncio.to_thread(bucket.finish, temp, info)
        finally:
            temp.unlink(missing_ok=True)
        bucket.record(info)
        await self._fire(bucket, r, info, "ObjectCreated:PutObject")
        await _respond_stored(send, r.request_id, md5)

    async def _copy(self, bucket: Bucket, r: S3Request, receive: Receive, send: Send) -> None:
        """CopyObject: ``x-amz-copy-source: [/]bucket/key`` (URL-encoded); the metadata is the
        source's unless ``x-amz-metadata-directive: REPLACE``.

        Raises:
            S3Error: NoSuchBucket, NoSuchKey (the source), InvalidArgument.
        """
        await _drain(receive)
        source_bucket, _, source_key = (
            unquote(r.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/").partition("/")
        )
        if not source_key:
            raise S3Error.of("InvalidArgument", "x-amz-copy-source must be bucket/key", r.key)
        source = self.store.bucket(source_bucket)
        found, f = source.open(source_key)
        temp = bucket.temp()
        try:
            with f:
                await asyncio.to_thread(copy_to, f, found.size, temp)
            replace = r.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
            info = ObjectInfo(
                r.key,
                found.size,
                found.etag,
                self.clock(),
                (r.headers.get("content-type") or found.content_type)
                if replace
                else found.content_type,
                _meta(r) if replace else found.metadata,
            )
            await asyncio.to_thread(bucket.finish, temp, info)
        finally:
            temp.unlink(missing_ok=True)
        bucket.record(info)
        await self._fire(bucket, r, info, "ObjectCreated:CopyObject")
        body = s3xml.copy_result(info.etag, info.last_modified)
        await _respond(send, 200, body, _XML, request_id=r.request_id)

    async def _get(self, bucket: Bucket, r: S3Request, send: Send, *, head: bool) -> None:
        info, f = bucket.open(r.key)
        with f:
            start, length, status = 0, info.size, 200
            extra = [
                (b"etag", s3xml.quoted(info.etag).encode()),
                (b"last-modified", s3xml.http_time(info.last_modified).encode()),
                (b"accept-ranges", b"bytes"),
            ]
            extra += [
                (f"x-amz-meta-{k}".encode(), v.encode("latin-1", "replace"))
                for k, v in info.metadata.items()
            ]
            wanted = r.headers.get("range")
            if wanted:
                start, length = _range(wanted, info.size, r.key)
                status = 206
                extra.append(
                    (b"content-range", f"bytes {start}-{start + length - 1}/{info.size}".encode())
                )
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", info.content_type.encode("latin-1", "replace")),
                        (b"content-length", str(length).encode()),
                        (b"x-amz-request-id", r.request_id.encode()),
                        *extra,
                    ],
                }
            )
            if head:
                await send({"type": "http.response.body", "body": b""})
                return
            for chunk in read_range(f, start, length):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def _delete(self, bucket: Bucket, r: S3Request, send: Send) -> None:
        removed = bucket.remove(r.key)
        if removed is not None:
            await self._fire(bucket, r, removed, "ObjectRemoved:DeleteObject")
        await _respond(send, 204, b"", None, request_id=r.request_id)

    async def _delete_many(
        self, bucket: Bucket, r: S3Request, receive: Receive, send: Send
    ) -> None:
        body = await _read_small(receive, r.headers)
        _check_payload(r, body)
        keys, quiet = s3xml.parse_delete(body)
        events: list[ObjectEvent] = []
        for key in keys:
            removed = bucket.remove(key)
            if removed is not None:
                events.append(self._event(bucket, r, removed, "ObjectRemoved:DeleteObjects"))
        await self.fire(events)
        await _respond(send, 200, s3xml.delete_result(keys, quiet), _XML, request_id=r.request_id)

    # Multipart --------------------------------------------------------------------------------
    async def _upload_part(
        self, bucket: Bucket, r: S3Request, receive: Receive, send: Send
    ) -> None:
        upload = self.store.upload(bucket, r.query["uploadId"], r.key)
        number_text = r.query.get("partNumber", "")
        if not number_text.isdigit() or not 1 <= int(number_text) <= 10_000:
            raise S3Error.of("InvalidArgument", "Part number must be an integer 1..10000", r.key)
        temp = bucket.temp()
        try:
            _, md5 = await self._receive_to_file(r, receive, temp)
            self.store.commit_part(bucket, upload, int(number_text), temp, md5)
        finally:
            temp.unlink(missing_ok=True)
        await _respond_stored(send, r.request_id, md5)

    async def _complete(self, bucket: Bucket, r: S3Request, receive: Receive, send: Send) -> None:
        upload = self.store.upload(bucket, r.query["uploadId"], r.key)
        body = await _read_small(receive, r.headers)
        _check_payload(r, body)
        wanted = s3xml.parse_complete(body)
        temp, size, etag = await asyncio.to_thread(self.store.assemble, bucket, upload, wanted)
        try:
            info = ObjectInfo(r.key, size, etag, self.clock(), upload.content_type, upload.metadata)
            await asyncio.to_thread(bucket.finish, temp, info)
        finally:
            temp.unlink(missing_ok=True)
        bucket.record(info)
        self.store.abort(bucket, upload)
        await self._fire(bucket, r, info, "ObjectCreated:CompleteMultipartUpload")
        location = f"/{bucket.name}/{r.key}"
        body = s3xml.complete_upload(location, bucket.name, r.key, etag)
        await _respond(send, 200, body, _XML, request_id=r.request_id)

    # Events -----------------------------------------------------------------------------------
    def _event(self, bucket: Bucket, r: S3Request, info: ObjectInfo, name: str) -> ObjectEvent:
        return ObjectEvent(
            bucket=bucket.name,
            key=info.key,
            name=name,
            size=info.size,
            etag=info.etag.upper(),
            mime_type=info.content_type,
            at=self.clock(),
            source_ip=r.source_ip,
            request_id=r.request_id,
            region=self.region,
            account_id=self.account_id,
        )

    async def _fire(self, bucket: Bucket, r: S3Request, info: ObjectInfo, name: str) -> None:
        await self.fire([self._event(bucket, r, info, name)])


# Bucket subresources fcd does not serve: a GET with one of these is not a listing. (Other
# query parameters on a bucket GET, such as MinIO's ``metadata=true``, are listing options.)
_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "lifecycle",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "tagging",
        "uploads",
        "versioning",
        "versions",
        "website",
    }
)


_OBJECT_SUBRESOURCES = frozenset(
    {"acl", "attributes", "legal-hold", "restore", "retention", "select", "tagging", "torrent"}
)


def _not_implemented(r: S3Request) -> S3Error:
    return S3Error.of(
        "NotImplemented",
        f"fcd's bucket store does not implement {r.method} with {sorted(r.query) or 'no query'}",
        f"/{r.bucket}/{r.key}",
    )


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _meta(r: S3Request) -> dict[str, str]:
    return {k[len("x-amz-meta-") :]: v for k, v in r.headers.items() if k.startswith("x-amz-meta-")}


def _is_hex_hash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _check_payload(r: S3Request, body: bytes) -> None:
    """Raises: S3Error XAmzContentSHA256Mismatch, BadDigest."""
    if _is_hex_hash(r.signed.payload_hash) and (
        hashlib.sha256(body).hexdigest() != r.signed.payload_hash
    ):
        raise _sha_mismatch(r.key)
    _check_content_md5(r, hashlib.md5(body).digest())


def _sha_mismatch(key: str) -> S3Error:
    return S3Error.of(
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        key,
    )


def _check_content_md5(r: S3Request, digest: bytes) -> None:
    given = r.headers.get("content-md5")
    if given is None:
        return
    try:
        wanted = base64.b64decode(given, validate=True)
    except ValueError:
        raise S3Error.of("InvalidDigest", "The Content-MD5 you specified is not valid.") from None
    if wanted != digest:
        raise S3Error.of(
            "BadDigest", "The Content-MD5 you specified did not match what we received."
        )


def _range(text: str, size: int, key: str) -> tuple[int, int]:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` → ``(start, length)``.

    Raises:
        S3Error InvalidRange
    """
    unit, _, spec = text.partition("=")
    first, sep, last = spec.strip().partition("-")
    bad = S3Error.of("InvalidRange", "The requested range is not satisfiable", key)
    if unit.strip() != "bytes" or not sep or "," in spec:
        raise bad
    if not first:
        if not last.isdigit() or int(last) == 0:
            raise bad
        length = min(int(last), size)
        return size - length, length
    if not first.isdigit() or (last and not last.isdigit()):
        raise bad
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise bad
    return start, end - start + 1


def _encode_token(after: str, is_prefix: bool) -> str:
    return base64.urlsafe_b64encode(("p" if is_prefix else "k").encode() + after.encode()).decode()


def _decode_token(token: str) -> tuple[str, bool]:
    """Raises: S3Error InvalidArgument for a token fcd did not issue."""
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise S3Error.of(
            "InvalidArgument", "The continuation token provided is incorrect"
        ) from None
    if not raw or raw[0] not in "pk":
        raise S3Error.of("InvalidArgument", "The continuation token provided is incorrect")
    return raw[1:], raw[0] == "p"


def _create(path: Path) -> BinaryIO:
    """A new temp file. Writes to it go to the page cache and take microseconds, so they run on
    the loop; the one slow call, the fsync before the rename, runs in a thread."""
    return open(path, "wb")


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise S3Error.of("IncompleteBody", "the client closed the connection mid-request")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _drain(receive: Receive) -> None:
    async for _ in _body(receive):
        pass


async def _read_small(receive: Receive, headers: dict[str, str]) -> bytes:
    """A whole small body (XML, notifications), refused past 4 MiB.

    Raises:
        S3Error EntityTooLarge (an FcError-free error: the webhook maps it itself)
    """
    chunks: list[bytes] = []
    size = 0
    with contextlib.suppress(ValueError):
        if int(headers.get("content-length", "0")) > MAX_SMALL_BODY:
            raise S3Error.of("EntityTooLarge", "the request body is too large")
    async for chunk in _body(receive):
        size += len(chunk)
        if size > MAX_SMALL_BODY:
            raise S3Error.of("EntityTooLarge", "the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes | None,
    *,
    request_id: str = "",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if request_id:
        headers.append((b"x-amz-request-id", request_id.encode()))
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond_stored(send: Send, request_id: str, md5: str) -> None:
    """200 with an empty body and the stored object's (or part's) quoted MD5 as its ``ETag``."""
    await _respond(
        send, 200, b"", None, request_id=request_id, extra=[(b"etag", s3xml.quoted(md5).encode())]
    )


async def _s3_error(send: Send, error: S3Error, request_id: str) -> None:
    await _respond(send, error.status, error.body(request_id), _XML, request_id=request_id)
