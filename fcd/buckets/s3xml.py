"""The XML bodies of the S3 API subset: rendered responses and parsed requests (pure).

Request bodies (CompleteMultipartUpload, DeleteObjects) are small and parsed with the standard
library after a size check; the namespace (``http://s3.amazonaws.com/doc/2006-03-01/``) is
optional, as clients differ.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from fcd.buckets.s3errors import S3Error
from fcd.buckets.store import ObjectInfo

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
OWNER_NAME = "fcd"


def iso_time(epoch: float) -> str:
    """``2009-10-12T17:50:30.000Z``, the time format of S3's XML."""
    whole = int(epoch)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((epoch - whole) * 1000):03d}Z"
    )


def http_time(epoch: float) -> str:
    """RFC 7231 date, for ``Last-Modified``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(epoch))


def _text(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def list_buckets(buckets: Iterable[tuple[str, float]], owner: str) -> bytes:
    items = "".join(
        f"<Bucket>{_text('Name', name)}{_text('CreationDate', iso_time(created))}</Bucket>"
        for name, created in buckets
    )
    return (
        f'{HEAD}<ListAllMyBucketsResult xmlns="{NS}"><Owner>{_text("ID", owner)}'
        f"{_text('DisplayName', OWNER_NAME)}</Owner><Buckets>{items}</Buckets>"
        "</ListAllMyBucketsResult>"
    ).encode()


def list_objects(
    *,
    bucket: str,
    objects: list[ObjectInfo],
    prefixes: list[str],
    prefix: str,
    delimiter: str,
    max_keys: int,
    truncated: bool,
    url_encode: bool,
    v2: bool,
    continuation: str | None = None,
    next_token: str | None = None,
    start_after: str | None = None,
    marker: str = "",
    next_marker: str | None = None,
) -> bytes:
    """ListObjectsV2 (``v2``) or ListObjects; with ``url_encode`` (``encoding-type=url``) keys
    and prefixes are URL-encoded, as boto3 asks by default and decodes."""

    def name(text: str) -> str:
        return quote_plus(text, safe="/") if url_encode else text

    parts = [_text("Name", bucket), _text("Prefix", name(prefix))]
    if v2:
        parts.append(_text("KeyCount", len(objects) + len(prefixes)))
        if continuation is not None:
            parts.append(_text("ContinuationToken", continuation))
        if next_token is not None:
            parts.append(_text("NextContinuationToken", next_token))
        if start_after is not None:
            parts.append(_text("StartAfter", name(start_after)))
    else:
        parts.append(_text("Marker", name(marker)))
        if next_marker is not None:
            parts.append(_text("NextMarker", name(next_marker)))
    parts.append(_text("MaxKeys", max_keys))
    if delimiter:
        parts.append(_text("Delimiter", name(delimiter)))
    if url_encode:
        parts.append(_text("EncodingType", "url"))
    parts.append(_text("IsTruncated", "true" if truncated else "false"))
    for info in objects:
        parts.append(
            "<Contents>"
            f"{_text('Key', name(info.key))}{_text('LastModified', iso_time(info.last_modified))}"
            f"{_text('ETag', quoted(info.etag))}{_text('Size', info.size)}"
            f"{_text('StorageClass', 'STANDARD')}</Contents>"
        )
    for common in prefixes:
        parts.append(f"<CommonPrefixes>{_text('Prefix', name(common))}</CommonPrefixes>")
    tag = "ListBucketResult"
    return f'{HEAD}<{tag} xmlns="{NS}">{"".join(parts)}</{tag}>'.encode()


def quoted(etag: str) -> str:
    return f'"{etag}"'


def initiate_upload(bucket: str, key: str, upload_id: str) -> bytes:
    return (
        f'{HEAD}<InitiateMultipartUploadResult xmlns="{NS}">{_text("Bucket", bucket)}'
        f"{_text('Key', key)}{_text('UploadId', upload_id)}</InitiateMultipartUploadResult>"
    ).encode()


def complete_upload(location: str, bucket: str, key: str, etag: str) -> bytes:
    return (
        f'{HEAD}<CompleteMultipartUploadResult xmlns="{NS}">{_text("Location", location)}'
        f"{_text('Bucket', bucket)}{_text('Key', key)}{_text('ETag', quoted(etag))}"
        "</CompleteMultipartUploadResult>"
    ).encode()


def copy_result(etag: str, last_modified: float) -> bytes:
    return (
        f'{HEAD}<CopyObjectResult xmlns="{NS}">{_text("LastModified", iso_time(last_modified))}'
        f"{_text('ETag', quoted(etag))}</CopyObjectResult>"
    ).encode()


def location(region: str) -> bytes:
    return f'{HEAD}<LocationConstraint xmlns="{NS}">{escape(region)}</LocationConstraint>'.encode()


def delete_result(deleted: list[str], quiet: bool) -> bytes:
    items = "" if quiet else "".join(f"<Deleted>{_text('Key', k)}</Deleted>" for k in deleted)
    return f'{HEAD}<DeleteResult xmlns="{NS}">{items}</DeleteResult>'.encode()


def _parse(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise S3Error.of(
            "MalformedXML", "The XML you provided was not well-formed or did not validate."
        ) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    return (found[0].text or "") if found else None


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """``<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>…`` → ``[(number, etag)]``.

    Raises:
        S3Error MalformedXML
    """
    root = _parse(body)
    out: list[tuple[int, str]] = []
    for part in _children(root, "Part"):
        number = _child_text(part, "PartNumber")
        etag = _child_text(part, "ETag")
        if number is None or not number.strip().isdigit() or etag is None:
            raise S3Error.of("MalformedXML", "each Part needs a PartNumber and an ETag")
        out.append((int(number), etag.strip()))
    return out


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """``<Delete><Quiet/><Object><Key/></Object>…`` → ``(keys, quiet)``.

    Raises:
        S3Error MalformedXML
    """
    root = _parse(body)
    keys: list[str] = []
    for item in _children(root, "Object"):
        key = _child_text(item, "Key")
        if not key:
            raise S3Error.of("MalformedXML", "each Object needs a Key")
        keys.append(key)
    if len(keys) > 1000:
        raise S3Error.of("MalformedXML", "at most 1000 keys may be deleted at once")
    quiet = (_child_text(root, "Quiet") or "").strip().lower() == "true"
    return keys, quiet
