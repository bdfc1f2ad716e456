"""The bucket store's S3 API driven by boto3 against a real daemon (docs/buckets.md)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningDaemon
from tests.signed_http import fc_request


def s3_client(endpoint: str, secret: str = ACCESS_KEY_SECRET) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=secret,
        region_name="cn-hangzhou",
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def s3(daemon: RunningDaemon) -> Iterator[object]:
    client = s3_client(daemon.endpoint)
    yield client
    client.close()  # type: ignore[attr-defined]


@pytest.fixture
def bucket(s3: object, unique: str) -> str:
    name = f"b-{unique}"
    s3.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


def error_code(e: botocore.exceptions.ClientError) -> str:
    return str(e.response["Error"]["Code"])


def test_put_get_head_delete(s3: object, bucket: str) -> None:
    body = os.urandom(100_000)
    put = s3.put_object(  # type: ignore[attr-defined]
        Bucket=bucket,
        Key="dir/a b+ü.bin",
        Body=body,
        ContentType="image/png",
        Metadata={"colour": "blue"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/a b+ü.bin")  # type: ignore[attr-defined]
    assert got["Body"].read() == body
    assert got["ContentType"] == "image/png"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["ETag"] == put["ETag"]
    part = s3.get_object(Bucket=bucket, Key="dir/a b+ü.bin", Range="bytes=10-19")  # type: ignore[attr-defined]
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    head = s3.head_object(Bucket=bucket, Key="dir/a b+ü.bin")  # type: ignore[attr-defined]
    assert head["ContentLength"] == len(body)
    s3.delete_object(Bucket=bucket, Key="dir/a b+ü.bin")  # type: ignore[attr-defined]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/a b+ü.bin")  # type: ignore[attr-defined]
    assert error_code(e.value) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="dir/a b+ü.bin")  # type: ignore[attr-defined]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_overwrite_replaces_and_empty_object(s3: object, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")  # type: ignore[attr-defined]
    s3.put_object(Bucket=bucket, Key="k", Body=b"")  # type: ignore[attr-defined]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b""  # type: ignore[attr-defined]
    listed = s3.list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [("k", 0)]


def test_list_v2_prefix_delimiter_and_continuation(s3: object, bucket: str) -> None:
    keys = [f"logs/2024/{i:02d}.txt" for i in range(7)] + [
        "logs/2025/a.txt",
        "logs/2025/b.txt",
        "logs/top.txt",
        "other/x",
        "a+b c",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())  # type: ignore[attr-defined]
    everything = s3.list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert [o["Key"] for o in everything["Contents"]] == sorted(keys)
    assert everything["KeyCount"] == len(keys)

    shallow = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/")  # type: ignore[attr-defined]
    assert [p["Prefix"] for p in shallow["CommonPrefixes"]] == ["logs/2024/", "logs/2025/"]
    assert [o["Key"] for o in shallow["Contents"]] == ["logs/top.txt"]

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", MaxKeys=3, **extra)  # type: ignore[attr-defined]
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(k for k in keys if k.startswith("logs/"))
    assert pages == 4

    grouped: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}):
        grouped += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        grouped += [o["Key"] for o in page.get("Contents", [])]
    assert grouped == ["a+b c", "logs/", "other/"]


def test_multipart_upload_etag_and_bytes(s3: object, bucket: str) -> None:
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")  # type: ignore[attr-defined]
    done = []
    for number, data in enumerate(parts, 1):
        answer = s3.upload_part(  # type: ignore[attr-defined]
            Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number, Body=data
        )
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
    result = s3.complete_multipart_upload(  # type: ignore[attr-defined]
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": done},
    )
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert result["ETag"] == f'"{expected}-3"'
    got = s3.get_object(Bucket=bucket, Key="big.bin")  # type: ignore[attr-defined]
    assert got["Body"].read() == b"".join(parts)


def test_multipart_abort_and_small_part_refused(s3: object, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")  # type: ignore[attr-defined]
    done = []
    for number in (1, 2):
        answer = s3.upload_part(  # type: ignore[attr-defined]
            Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=number, Body=b"x"
        )
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(  # type: ignore[attr-defined]
            Bucket=bucket, Key="m", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
        )
    assert error_code(e.value) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])  # type: ignore[attr-defined]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(  # type: ignore[attr-defined]
            Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=3, Body=b"x"
        )
    assert error_code(e.value) == "NoSuchUpload"


def test_upload_file_and_download_file_through_s3transfer(
    s3: object, bucket: str, tmp_path: object
) -> None:
    """boto3's managed transfer: multipart above its threshold, ranged GETs to download."""
    from pathlib import Path

    import boto3.s3.transfer

    source = Path(str(tmp_path)) / "in.bin"
    source.write_bytes(os.urandom(12 * 1024 * 1024))
    config = boto3.s3.transfer.TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
    )
    s3.upload_file(str(source), bucket, "t/in.bin", Config=config)  # type: ignore[attr-defined]
    target = Path(str(tmp_path)) / "out.bin"
    s3.download_file(bucket, "t/in.bin", str(target), Config=config)  # type: ignore[attr-defined]
    assert target.read_bytes() == source.read_bytes()


def test_buckets_list_delete_and_errors(s3: object, unique: str) -> None:
    name = f"c-{unique}"
    s3.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    s3.head_bucket(Bucket=name)  # type: ignore[attr-defined]
    s3.put_object(Bucket=name, Key="x", Body=b"1")  # type: ignore[attr-defined]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=name)  # type: ignore[attr-defined]
    assert error_code(e.value) == "BucketNotEmpty"
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "x"}, {"Key": "gone"}]})  # type: ignore[attr-defined]
    s3.delete_bucket(Bucket=name)  # type: ignore[attr-defined]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket=name)  # type: ignore[attr-defined]
    assert error_code(e.value) == "NoSuchBucket"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")  # type: ignore[attr-defined]
    assert error_code(e.value) == "InvalidBucketName"


def test_bad_signature_is_s3_xml_403(daemon: RunningDaemon, bucket: str) -> None:
    wrong = s3_client(daemon.endpoint, secret="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong.put_object(Bucket=bucket, Key="k", Body=b"x")  # type: ignore[attr-defined]
    wrong.close()  # type: ignore[attr-defined]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(e.value) == "SignatureDoesNotMatch"
    unknown = boto3.client(
        "s3",
        endpoint_url=daemon.endpoint,
        aws_access_key_id="nobody",
        aws_secret_access_key="x",
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        unknown.list_objects_v2(Bucket=bucket)
    unknown.close()
    assert error_code(e.value) == "InvalidAccessKeyId"


def test_presigned_get_url(s3: object, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"hello")  # type: ignore[attr-defined]
    url = s3.generate_presigned_url(  # type: ignore[attr-defined]
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
    )
    assert requests.get(url, timeout=5).content == b"hello"
    tampered = url.replace("shared.txt", "other.txt")
    answer = requests.get(tampered, timeout=5)
    assert answer.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer.content


def test_fc_api_is_untouched_beside_s3(daemon: RunningDaemon, s3: object) -> None:
    """FC-signed requests still reach the FC API; unsigned ones are not S3's."""
    assert fc_request(daemon.endpoint, "GET", "/2016-08-15/services").status_code == 200
    assert requests.get(f"{daemon.endpoint}/some-bucket", timeout=5).status_code == 404


def _chunked_put(
    daemon: RunningDaemon, bucket: str, key: str, chunks: list[bytes], *, tamper: bool = False
) -> tuple[int, bytes]:
    """A PutObject with a signed aws-chunked body, as the MinIO client sends over plain HTTP."""
    import http.client
    import time

    from fcd import sigv4

    host = f"127.0.0.1:{daemon.port}"
    path = f"/{bucket}/{key}"
    framing = sum(len(f"{len(c):x};chunk-signature=") + 64 + 4 + len(c) for c in [*chunks, b""])
    headers = {
        "host": host,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(sum(map(len, chunks))),
        "content-length": str(framing),
    }
    headers.update(
        sigv4.sign_headers(
            method="PUT",
            path=path,
            query=[],
            headers=headers,
            payload_hash=sigv4.STREAMING_SIGNED,
            key_id=ACCESS_KEY_ID,
            secret=ACCESS_KEY_SECRET,
            region="us-east-1",
            now=time.time(),
        )
    )
    # The seed: what the server derives from the headers (the client side of the same sums).
    seed = sigv4.verify(
        method="PUT",
        raw_path=path,
        query=[],
        headers=headers,
        secret_for=lambda _: ACCESS_KEY_SECRET,
        now=time.time(),
    )
    body = b""
    previous = seed.signature
    for chunk in [*chunks, b""]:
        signature = sigv4.chunk_signature(seed, previous, chunk)
        previous = signature
        data = chunk.upper() if tamper and chunk else chunk
        body += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + data + b"\r\n"
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        connection.request("PUT", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_signed_aws_chunked_upload(daemon: RunningDaemon, s3: object, bucket: str) -> None:
    chunks = [b"a" * 65536, b"b" * 1000]
    status, _ = _chunked_put(daemon, bucket, "chunked.bin", chunks)
    assert status == 200
    got = s3.get_object(Bucket=bucket, Key="chunked.bin")  # type: ignore[attr-defined]
    assert got["Body"].read() == b"".join(chunks)
    status, answer = _chunked_put(daemon, bucket, "tampered.bin", chunks, tamper=True)
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="tampered.bin")  # type: ignore[attr-defined]


def test_copy_object_keeps_or_replaces_metadata(s3: object, bucket: str, unique: str) -> None:
    other = f"copy-{unique}"
    s3.create_bucket(Bucket=other)  # type: ignore[attr-defined]
    s3.put_object(  # type: ignore[attr-defined]
        Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"a": "1"}
    )
    s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})  # type: ignore[attr-defined]
    got = s3.get_object(Bucket=other, Key="dst")  # type: ignore[attr-defined]
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (
        b"payload",
        "text/plain",
        {"a": "1"},
    )
    s3.copy_object(  # type: ignore[attr-defined]
        Bucket=bucket,
        Key="a b/ü",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        ContentType="image/gif",
        Metadata={"b": "2"},
    )
    head = s3.head_object(Bucket=bucket, Key="a b/ü")  # type: ignore[attr-defined]
    assert (head["ContentType"], head["Metadata"]) == ("image/gif", {"b": "2"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")  # type: ignore[attr-defined]
    assert error_code(e.value) == "NoSuchKey"


def test_unsupported_operations_are_not_implemented(s3: object, bucket: str) -> None:
    for call in (
        lambda: s3.get_bucket_versioning(Bucket=bucket),  # type: ignore[attr-defined]
        lambda: s3.list_multipart_uploads(Bucket=bucket),  # type: ignore[attr-defined]
        lambda: s3.get_object_tagging(Bucket=bucket, Key="k"),  # type: ignore[attr-defined]
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()  # type: ignore[no-untyped-call]
        assert error_code(e.value) == "NotImplemented"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
