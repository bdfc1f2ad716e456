"""``fcctl bucket mb|ls|cp|rm``: the daemon's bucket store, over its S3 API (docs/buckets.md).

The bucket store speaks S3, not FC, so these commands sign with AWS Signature V4
(:mod:`fcd.sigv4`) using the same key pair and endpoint as every other fcctl command. Objects
are named ``s3://BUCKET/KEY``; uploads stream the file from disk, downloads stream to it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from fcd import sigv4
from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client, ClientError

SCHEME = "s3://"
# The region in the signature is the client's choice; fcd answers with its own.
SIGNING_REGION = "us-east-1"
CHUNK = 1024 * 1024


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "bucket", "objects in the daemon's bucket store (S3 API)")
    mb = a.leaf(actions, "mb", "create a bucket", run_mb)
    mb.add_argument("bucket", metavar="BUCKET", help="the bucket name (S3's naming rules)")
    ls = a.leaf(actions, "ls", "list buckets, or the objects of a bucket", run_ls)
    ls.add_argument(
        "target", metavar="s3://BUCKET[/PREFIX]", nargs="?", default="", help="what to list"
    )
    ls.add_argument(
        "--recursive", action="store_true", help="every key under the prefix, not one level"
    )
    cp = a.leaf(actions, "cp", "copy a file into a bucket, or an object out of one", run_cp)
    cp.add_argument("source", metavar="SOURCE", help="a local file, '-' or s3://BUCKET/KEY")
    cp.add_argument("dest", metavar="DEST", help="s3://BUCKET/KEY (or s3://BUCKET/), a file or '-'")
    cp.add_argument("--content-type", default=None, help="Content-Type of an uploaded object")
    rm = a.leaf(actions, "rm", "delete an object", run_rm)
    rm.add_argument("target", metavar="s3://BUCKET/KEY", help="the object")


def parse_s3(text: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``.

    Raises:
        argparse.ArgumentTypeError: not an ``s3://`` name with a bucket.
    """
    if not text.startswith(SCHEME):
        raise argparse.ArgumentTypeError(f"'{text}' is not s3://BUCKET[/KEY]")
    bucket, _, key = text[len(SCHEME) :].partition("/")
    if not bucket:
        raise argparse.ArgumentTypeError(f"'{text}' names no bucket")
    return bucket, key


class S3:
    """One signed S3 request at a time over ``http.client``, with fcctl's credentials."""

    def __init__(self, client: Client) -> None:
        self.credentials = client.credentials
        url = urlsplit(self.credentials.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"endpoint '{self.credentials.endpoint}' is not an http(s) URL")
        self.host = url.netloc
        factory = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        self.connection = factory(url.hostname, url.port, timeout=self.credentials.timeout)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> S3:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        *,
        body: IO[bytes] | bytes = b"",
        payload_hash: str = sigv4.EMPTY_SHA256,
        headers: dict[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """Send a request; return the response with its body unread.

        Raises:
            ClientError: the answer is not 2xx (S3's XML error, read into code and message).
        """
        query = query or []
        all_headers = {"host": self.host, **(headers or {})}
        all_headers.update(
            sigv4.sign_headers(
                method=method,
                path=path,
                query=query,
                headers=all_headers,
                payload_hash=payload_hash,
                key_id=self.credentials.access_key_id,
                secret=self.credentials.access_key_secret,
                region=SIGNING_REGION,
                now=time.time(),
            )
        )
        target = quote(path, safe="/~") + (f"?{urlencode(query, quote_via=quote)}" if query else "")
        self.connection.request(method, target, body=body or None, headers=all_headers)
        response = self.connection.getresponse()
        if not 200 <= response.status < 300:
            raise s3_error(response.status, response.read(), response.getheader("x-amz-request-id"))
        return response

    def call(self, method: str, path: str, query: list[tuple[str, str]] | None = None) -> bytes:
        return self.request(method, path, query).read()


def s3_error(status: int, body: bytes, request_id: str | None) -> ClientError:
    """An S3 XML error as fcctl's ClientError (printed, exit status 1)."""
    code, message = f"HTTP{status}", body.decode("utf-8", "replace")[:200]
    try:
        root = ET.fromstring(body)
        code = root.findtext("Code") or code
        message = root.findtext("Message") or message
    except ET.ParseError:
        pass
    return ClientError(status, code, message, request_id or "")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: ET.Element, name: str) -> str:
    found = _find(element, name)
    return (found[0].text or "") if found else ""


def run_mb(client: Client, args: argparse.Namespace) -> Any:
    with S3(client) as s3:
        s3.call("PUT", f"/{args.bucket}")
    return Message(f"created bucket '{args.bucket}'", data={"bucket": args.bucket})


def run_ls(client: Client, args: argparse.Namespace) -> Any:
    with S3(client) as s3:
        if not args.target:
            root = ET.fromstring(s3.call("GET", "/"))
            buckets = [
                {"name": _text(b, "Name"), "created": _text(b, "CreationDate")}
                for holder in _find(root, "Buckets")
                for b in _find(holder, "Bucket")
            ]
            return Listing(buckets, ("name", "created"))
        bucket, prefix = parse_s3(args.target)
        items = list(_list(s3, bucket, prefix, "" if args.recursive else "/"))
    return Listing(items, ("key", "size", "lastModified", "etag"))


def _list(s3: S3, bucket: str, prefix: str, delimiter: str) -> Iterator[dict[str, Any]]:
    token = ""
    while True:
        query = [("list-type", "2"), ("prefix", prefix)]
        if delimiter:
            query.append(("delimiter", delimiter))
        if token:
            query.append(("continuation-token", token))
        root = ET.fromstring(s3.call("GET", f"/{bucket}", query))
        for common in _find(root, "CommonPrefixes"):
            yield {"key": _text(common, "Prefix"), "size": "DIR", "lastModified": "", "etag": ""}
        for item in _find(root, "Contents"):
            yield {
                "key": _text(item, "Key"),
                "size": int(_text(item, "Size") or 0),
                "lastModified": _text(item, "LastModified"),
                "etag": _text(item, "ETag").strip('"'),
            }
        token = _text(root, "NextContinuationToken")
        if _text(root, "IsTruncated") != "true" or not token:
            return


def run_cp(client: Client, args: argparse.Namespace) -> Any:
    source_remote = args.source.startswith(SCHEME)
    dest_remote = args.dest.startswith(SCHEME)
    if source_remote == dest_remote:
        raise argparse.ArgumentTypeError(
            "cp copies a local file into a bucket or an object out of one: exactly one of "
            "SOURCE and DEST must be s3://BUCKET/KEY"
        )
    with S3(client) as s3:
        if dest_remote:
            return _upload(s3, args.source, args.dest, args.content_type)
        return _download(s3, args.source, args.dest)


def _upload(s3: S3, source: str, dest: str, content_type: str | None) -> Message:
    bucket, key = parse_s3(dest)
    if not key or key.endswith("/"):
        key += "stdin" if source == "-" else Path(source).name
    if source == "-":
        data = sys.stdin.buffer.read()
        payload_hash = hashlib.sha256(data).hexdigest()
        headers = {"content-length": str(len(data))}
        body: IO[bytes] | bytes = data
    else:
        digest = hashlib.sha256()
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
        payload_hash = digest.hexdigest()
        headers = {"content-length": str(os.path.getsize(source))}
        body = open(source, "rb")  # noqa: SIM115 - closed below
    if content_type:
        headers["content-type"] = content_type
    try:
        response = s3.request(
            "PUT", f"/{bucket}/{key}", body=body, payload_hash=payload_hash, headers=headers
        )
        response.read()
    finally:
        if not isinstance(body, bytes):
            body.close()
    etag = (response.getheader("etag") or "").strip('"')
    return Message(
        f"uploaded {source} to s3://{bucket}/{key}",
        data={"bucket": bucket, "key": key, "etag": etag},
    )


def _download(s3: S3, source: str, dest: str) -> Message | None:
    bucket, key = parse_s3(source)
    if not key:
        raise argparse.ArgumentTypeError(f"'{source}' names no object")
    response = s3.request("GET", f"/{bucket}/{key}")
    if dest == "-":
        out = sys.stdout.buffer
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
        out.flush()
        return None
    target = Path(dest)
    if target.is_dir():
        target = target / key.rsplit("/", 1)[-1]
    size = 0
    with open(target, "wb") as f:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            f.write(chunk)
            size += len(chunk)
    return Message(
        f"downloaded s3://{bucket}/{key} to {target} ({size} bytes)",
        data={"bucket": bucket, "key": key, "path": str(target), "size": size},
    )


def run_rm(client: Client, args: argparse.Namespace) -> Any:
    bucket, key = parse_s3(args.target)
    if not key:
        raise argparse.ArgumentTypeError(f"'{args.target}' names no object")
    with S3(client) as s3:
        s3.call("DELETE", f"/{bucket}/{key}")
    return Message(f"deleted s3://{bucket}/{key}", data={"bucket": bucket, "key": key})
