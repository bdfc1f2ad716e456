"""OSS triggers fired by boto3 writes to the bucket store and by a MinIO webhook notification.

The functions print the event they receive; the test reads it back from the function's logs
through fcd's log API, so it sees exactly what a handler sees.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import fc2
import pytest
import requests

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, REGION, RunningDaemon
from tests.integration.test_buckets import s3_client
from tests.signed_http import fc_request
from tests.waiting import wait_until

PRINTER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(json.loads(event)))
    return "ok"
"""
DATA = Path(__file__).parent.parent / "data"


def events_of(daemon: RunningDaemon, service: str, function: str) -> list[dict[str, Any]]:
    answer = fc_request(
        daemon.endpoint, "GET", f"/2016-08-15/services/{service}/functions/{function}/logs?tail=500"
    )
    assert answer.status_code == 200, answer.text
    out = []
    for entry in answer.json()["logs"]:
        text = entry["message"]
        if "EVENT " in text:
            out.append(json.loads(text.split("EVENT ", 1)[1]))
    return out


def wait_events(
    daemon: RunningDaemon, service: str, function: str, count: int, timeout: float = 20
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = events_of(daemon, service, function)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def settled(daemon: RunningDaemon, service: str, function: str) -> list[dict[str, Any]]:
    """The function's async invocations once none is queued or running. Every event an S3
    request fires is queued before its answer, so none can come later."""
    path = f"/2016-08-15/services/{service}/functions/{function}/stateful-async-invocations"

    def probe() -> tuple[list[dict[str, Any]]] | None:
        answer = fc_request(daemon.endpoint, "GET", path)
        assert answer.status_code == 200, answer.text
        invocations: list[dict[str, Any]] = answer.json().get("invocations", [])
        busy = any(i["status"] in ("Enqueued", "Running") for i in invocations)
        return None if busy else (invocations,)

    return wait_until(probe, 20, f"{function}'s invocations to finish")[0]


@pytest.fixture
def printers(client: fc2.Client, unique: str, tmp_path: Path) -> str:
    service = f"oss_{unique}"
    client.create_service(service)
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(PRINTER)
    for name in ("images", "removals", "everything"):
        client.create_function(service, name, "python3", "index.handler", codeDir=str(code))
        # Recorded, so a test can see every invocation an event caused (see settled).
        client.put_function_async_invoke_config(
            service, "LATEST", name, {"statefulInvocation": True}
        )
    return service


def oss_trigger(
    client: fc2.Client, service: str, function: str, bucket: str, events: list[str], **key: str
) -> str:
    name = f"t_{function}"
    client.create_trigger(
        service,
        function,
        name,
        "oss",
        {
            "events": events,
            "filter": {"key": {"prefix": key.get("prefix", ""), "suffix": key.get("suffix", "")}},
        },
        f"acs:oss:{REGION}:{ACCOUNT_ID}:{bucket}",
        "",
    )
    return name


def test_boto3_puts_and_deletes_fire_matching_functions(
    daemon: RunningDaemon, client: fc2.Client, printers: str, unique: str
) -> None:
    service = printers
    bucket = f"media-{unique}"
    other = f"other-{unique}"
    images = oss_trigger(
        client, service, "images", bucket, ["oss:ObjectCreated:*"], prefix="in/", suffix=".png"
    )
    oss_trigger(client, service, "removals", bucket, ["oss:ObjectRemoved:DeleteObject"])
    oss_trigger(
        client,
        service,
        "everything",
        other,
        ["oss:ObjectCreated:PutObject", "oss:ObjectRemoved:DeleteObject"],
    )
    s3 = s3_client(daemon.endpoint)
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    s3.create_bucket(Bucket=other)  # type: ignore[attr-defined]
    s3.put_object(Bucket=bucket, Key="in/cat.png", Body=b"p" * 300, ContentType="image/png")  # type: ignore[attr-defined]
    for key in ("in/cat.txt", "out/dog.png", "in.png"):  # prefix or suffix do not match
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")  # type: ignore[attr-defined]
    s3.delete_object(Bucket=bucket, Key="in/cat.png")  # type: ignore[attr-defined]
    s3.put_object(Bucket=other, Key="anything", Body=b"y")  # type: ignore[attr-defined]
    s3.close()  # type: ignore[attr-defined]

    created = wait_events(daemon, service, "images", 1)
    removed = wait_events(daemon, service, "removals", 1)
    elsewhere = wait_events(daemon, service, "everything", 1)
    # nothing else fired
    assert len(settled(daemon, service, "images")) == 1
    assert len(settled(daemon, service, "removals")) == 1
    assert len(settled(daemon, service, "everything")) == 1
    assert [e["events"][0]["oss"]["object"]["key"] for e in elsewhere] == ["anything"]

    record = created[0]["events"][0]
    assert set(record) == {
        "eventName",
        "eventSource",
        "eventTime",
        "eventVersion",
        "oss",
        "region",
        "requestParameters",
        "responseElements",
        "userIdentity",
    }
    assert record["eventName"] == "ObjectCreated:PutObject"
    assert record["eventSource"] == "acs:oss"
    assert record["region"] == REGION
    assert record["oss"]["bucket"] == {
        "arn": f"acs:oss:{REGION}:{ACCOUNT_ID}:{bucket}",
        "name": bucket,
        "ownerIdentity": ACCOUNT_ID,
        "virtualBucket": "",
    }
    obj = record["oss"]["object"]
    assert obj["key"] == "in/cat.png"
    assert obj["size"] == 300
    assert obj["deltaSize"] == 300
    assert obj["objectMeta"] == {"mimeType": "image/png"}
    assert len(obj["eTag"]) == 32
    assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    trigger = client.get_trigger(service, "images", images).data
    assert record["oss"]["ruleId"] == trigger["triggerId"]

    gone = removed[0]["events"][0]
    assert gone["eventName"] == "ObjectRemoved:DeleteObject"
    assert gone["oss"]["object"]["key"] == "in/cat.png"
    assert gone["oss"]["object"]["deltaSize"] == -300


def test_minio_webhook_notification_fires_the_bucket_triggers(
    daemon: RunningDaemon, client: fc2.Client, printers: str
) -> None:
    service = printers
    # The recorded notification is for bucket "photos", key "incoming/cat 1.png".
    oss_trigger(
        client,
        service,
        "images",
        "photos",
        ["oss:ObjectCreated:PutObject"],
        prefix="incoming/",
        suffix=".png",
    )
    oss_trigger(client, service, "removals", "photos", ["oss:ObjectRemoved:*"])
    url = f"{daemon.endpoint}/fcd/s3-notifications"
    body = (DATA / "minio_put_notification.json").read_bytes()
    refused = requests.post(url, data=body, headers={"Authorization": "Bearer x:y"}, timeout=5)
    assert refused.status_code == 403
    assert refused.json()["ErrorCode"] == "AccessDenied"
    bearer = {"Authorization": f"Bearer {ACCESS_KEY_ID}:{ACCESS_KEY_SECRET}"}
    bad = requests.post(url, data=b"{not json", headers=bearer, timeout=5)
    assert bad.status_code == 400
    answer = requests.post(url, data=body, headers=bearer, timeout=5)
    assert answer.status_code == 200, answer.text
    # One Put record becomes an event; the ObjectAccessed record has no OSS name and is dropped.
    assert answer.json()["events"] == 1

    record = wait_events(daemon, service, "images", 1)[0]["events"][0]
    assert record["eventName"] == "ObjectCreated:PutObject"
    assert record["eventTime"] == "2024-05-14T09:21:37.412Z"
    assert record["oss"]["bucket"]["name"] == "photos"
    assert record["oss"]["object"]["key"] == "incoming/cat 1.png"
    assert record["oss"]["object"]["size"] == 2048
    assert record["oss"]["object"]["objectMeta"] == {"mimeType": "image/png"}
    assert record["requestParameters"]["sourceIPAddress"] == "10.0.0.7"
    assert record["responseElements"]["requestId"] == "17CF3B5A6D8E2F01"
    assert settled(daemon, service, "removals") == []
