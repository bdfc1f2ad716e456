"""SigV4 (fcd.sigv4) against AWS's published S3 examples and against botocore's own signer."""

from __future__ import annotations

import time
from collections.abc import Callable

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from fcd import sigv4

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = 1369353600.0  # 2013-05-24T00:00:00Z, the date of AWS's examples


def secret_for(key_id: str) -> str | None:
    return SECRET if key_id == KEY_ID else None


# AWS S3 API reference, "Signature Calculations for the Authorization Header: Transferring
# Payload in a Single Chunk", example GET Object with a Range header.
GET_HEADERS = {
    "host": "examplebucket.s3.amazonaws.com",
    "range": "bytes=0-9",
    "x-amz-content-sha256": sigv4.EMPTY_SHA256,
    "x-amz-date": "20130524T000000Z",
    "authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    ),
}


def _verify(
    *,
    method: str = "GET",
    raw_path: str = "/test.txt",
    query: sigv4.Query = (),
    headers: dict[str, str] = GET_HEADERS,
    secret_for: Callable[[str], str | None] = secret_for,
    now: float = NOW,
) -> sigv4.Signed:
    """:func:`sigv4.verify`, by default on AWS's GET Object example (no query, at ``NOW``)."""
    return sigv4.verify(
        method=method,
        raw_path=raw_path,
        query=query,
        headers=headers,
        secret_for=secret_for,
        now=now,
    )


def test_aws_example_get_object_verifies() -> None:
    signed = _verify()
    assert signed.key_id == KEY_ID
    assert signed.credential.region == "us-east-1"


def test_one_changed_header_is_signature_does_not_match() -> None:
    headers = dict(GET_HEADERS, range="bytes=0-10")
    with pytest.raises(sigv4.SigV4Error) as e:
        _verify(headers=headers)
    assert e.value.code == "SignatureDoesNotMatch"


def test_unknown_key_and_skewed_clock() -> None:
    with pytest.raises(sigv4.SigV4Error) as e:
        _verify(secret_for=lambda _: None)
    assert e.value.code == "InvalidAccessKeyId"
    with pytest.raises(sigv4.SigV4Error) as e:
        _verify(now=NOW + 16 * 60)
    assert e.value.code == "RequestTimeTooSkewed"


def test_unsigned_request_is_access_denied() -> None:
    with pytest.raises(sigv4.SigV4Error) as e:
        _verify(raw_path="/b/k", headers={"host": "x"})
    assert e.value.code == "AccessDenied"


# AWS S3 API reference, "Authenticating Requests: Using Query Parameters", example GET Object.
PRESIGNED_QUERY = [
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"),
    ("X-Amz-Date", "20130524T000000Z"),
    ("X-Amz-Expires", "86400"),
    ("X-Amz-SignedHeaders", "host"),
    ("X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
]


def test_aws_example_presigned_url_verifies_until_it_expires() -> None:
    headers = {"host": "examplebucket.s3.amazonaws.com"}
    signed = _verify(query=PRESIGNED_QUERY, headers=headers, now=NOW + 3600)
    assert signed.key_id == KEY_ID
    with pytest.raises(sigv4.SigV4Error) as e:
        _verify(query=PRESIGNED_QUERY, headers=headers, now=NOW + 86401)
    assert e.value.code == "AccessDenied"


# AWS S3 API reference, "Transferring Payload in Multiple Chunks", example PUT Object:
# 65 KiB of 'a' in a 64 KiB chunk, a 1 KiB chunk and the empty final chunk.
CHUNKED_HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "x-amz-content-sha256": sigv4.STREAMING_SIGNED,
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
    "authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    ),
}
CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def _chunked_body(signatures: list[str]) -> bytes:
    chunks = [b"a" * 65536, b"a" * 1024, b""]
    out = b""
    for chunk, sig in zip(chunks, signatures, strict=True):
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
    return out


def _chunked_signed() -> sigv4.Signed:
    return _verify(method="PUT", raw_path="/examplebucket/chunkObject.txt", headers=CHUNKED_HEADERS)


def test_aws_example_chunked_upload_decodes_in_any_split() -> None:
    body = _chunked_body(CHUNK_SIGNATURES)
    assert len(body) == 66824
    for step in (1, 7, 8192, len(body)):
        decoder = sigv4.ChunkDecoder(_chunked_signed())
        out = b"".join(decoder.feed(body[i : i + step]) for i in range(0, len(body), step))
        decoder.finish()
        assert out == b"a" * 66560


def test_chunked_upload_with_a_bad_chunk_signature_fails() -> None:
    bad = [*CHUNK_SIGNATURES]
    bad[1] = "0" * 64
    decoder = sigv4.ChunkDecoder(_chunked_signed())
    with pytest.raises(sigv4.SigV4Error) as e:
        decoder.feed(_chunked_body(bad))
    assert e.value.code == "SignatureDoesNotMatch"


def test_truncated_chunked_body_is_incomplete() -> None:
    decoder = sigv4.ChunkDecoder(_chunked_signed())
    decoder.feed(_chunked_body(CHUNK_SIGNATURES)[: 70000 - 4000])
    with pytest.raises(sigv4.SigV4Error) as e:
        decoder.finish()
    assert e.value.code == "IncompleteBody"


def test_unsigned_trailer_chunks_decode() -> None:
    body = b"5\r\nhello\r\n3\r\n!!!\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    decoder = sigv4.ChunkDecoder(None)
    assert decoder.feed(body) == b"hello!!!"
    decoder.finish()


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("PUT", "/bucket/dir/a key+with spaces&ünïcode~.txt", ""),
        ("GET", "/bucket", "list-type=2&prefix=a%2Fb&delimiter=%2F&continuation-token=x%3D%3D"),
        ("POST", "/bucket/k", "uploads="),
    ],
)
def test_botocore_signed_requests_verify(method: str, path: str, query: str) -> None:
    """fcd verifies what botocore signs, keys with spaces, unicode and reserved characters too."""
    from urllib.parse import parse_qsl, quote

    url = "http://127.0.0.1:9000" + quote(path, safe="/~") + (f"?{query}" if query else "")
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=b"payload")
    credentials = botocore.credentials.Credentials(KEY_ID, SECRET)
    signer = botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1")
    signer.add_auth(request)
    prepared = request.prepare()
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers.setdefault("host", "127.0.0.1:9000")
    raw_path, _, raw_query = prepared.url.split("127.0.0.1:9000", 1)[1].partition("?")
    signed = _verify(
        method=method,
        raw_path=raw_path,
        query=parse_qsl(raw_query, keep_blank_values=True),
        headers=headers,
        now=time.time(),
    )
    assert signed.key_id == KEY_ID


def test_sign_headers_round_trips() -> None:
    headers = {"host": "127.0.0.1:9000"}
    query = [("list-type", "2"), ("prefix", "a/b c")]
    added = sigv4.sign_headers(
        method="GET",
        path="/bucket/ü b",
        query=query,
        headers=headers,
        payload_hash=sigv4.EMPTY_SHA256,
        key_id=KEY_ID,
        secret=SECRET,
        region="cn-hangzhou",
        now=NOW,
    )
    signed = _verify(
        raw_path=sigv4.uri_encode("/bucket/ü b", keep_slash=True),
        query=query,
        headers={**headers, **added},
    )
    assert signed.credential.region == "cn-hangzhou"
