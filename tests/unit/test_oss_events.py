"""OSS trigger matching and the FC OSS event (fcd.triggers.oss): pure decisions."""

from __future__ import annotations

import json

import pytest

from fcd.triggers.oss import (
    NotificationError,
    ObjectEvent,
    event_matches,
    event_payload,
    event_time,
    key_matches,
    plan,
    s3_notification_events,
)
from fcd.wire.triggers import Trigger


@pytest.mark.parametrize(
    ("patterns", "name", "fires"),
    [
        (["oss:ObjectCreated:*"], "ObjectCreated:PutObject", True),
        (["oss:ObjectCreated:*"], "ObjectCreated:CompleteMultipartUpload", True),
        (["oss:ObjectCreated:PutObject"], "ObjectCreated:PostObject", False),
        (["oss:ObjectRemoved:DeleteObject"], "ObjectRemoved:DeleteObject", True),
        (["oss:ObjectRemoved:DeleteObject"], "ObjectRemoved:DeleteObjects", False),
        (["oss:ObjectCreated:*"], "ObjectRemoved:DeleteObject", False),
        (["oss:ObjectModified:*", "oss:ObjectRemoved:*"], "ObjectRemoved:DeleteObjects", True),
    ],
)
def test_event_patterns(patterns: list[str], name: str, fires: bool) -> None:
    assert event_matches(patterns, name) is fires


@pytest.mark.parametrize(
    ("key_filter", "key", "fires"),
    [
        ({}, "anything", True),
        ({"prefix": "", "suffix": ""}, "anything", True),
        ({"prefix": "in/"}, "in/a.png", True),
        ({"prefix": "in/"}, "out/in/a.png", False),
        ({"suffix": ".png"}, "a.PNG", False),
        ({"prefix": "in/", "suffix": ".png"}, "in/.png", True),
        ({"Prefix": "in/", "Suffix": ".png"}, "in/a.jpg", False),
    ],
)
def test_key_filters(key_filter: dict[str, str], key: str, fires: bool) -> None:
    assert key_matches({"events": [], "filter": {"key": key_filter}}, key) is fires


def _trigger(name: str, arn: str, events: list[str], qualifier: str = "LATEST") -> Trigger:
    return Trigger(
        trigger_name=name,
        trigger_id=f"id-{name}",
        trigger_type="oss",
        trigger_config={"events": events, "filter": {"key": {"prefix": "in/", "suffix": ""}}},
        created_time="",
        last_modified_time="",
        source_arn=arn,
        qualifier=qualifier,
    )


def test_plan_picks_bucket_events_and_qualifier() -> None:
    event = ObjectEvent("media", "in/a", "ObjectCreated:PutObject", 3, "ABC", at=0.0)
    triggers = [
        (
            "svc/one",
            _trigger("t1", "acs:oss:cn-hangzhou:123:media", ["oss:ObjectCreated:*"], "prod"),
        ),
        ("svc/two", _trigger("t2", "acs:oss:cn-hangzhou:123:other", ["oss:ObjectCreated:*"])),
        ("svc/three", _trigger("t3", "acs:oss:cn-hangzhou:123:media", ["oss:ObjectRemoved:*"])),
        ("svc/four", _trigger("t4", "acs:log:cn-hangzhou:123:media", ["oss:ObjectCreated:*"])),
    ]
    firings = plan(triggers, event)
    assert [(f.service, f.function, f.qualifier, f.trigger) for f in firings] == [
        ("svc", "one", "prod", "t1")
    ]
    assert json.loads(firings[0].payload)["events"][0]["oss"]["ruleId"] == "id-t1"


def test_event_json_has_the_fc_shape() -> None:
    event = ObjectEvent(
        "b",
        "k.jpg",
        "ObjectCreated:PutObject",
        29203,
        "7D73E1052AF595535DE90994F4C3E6D5",
        "image/jpeg",
        1654842095.0,
        "1.2.3.4",
        "RID",
        "cn-shenzhen",
        "1581224182",
    )
    record = json.loads(event_payload(event, "rule"))["events"][0]
    assert record == {
        "eventName": "ObjectCreated:PutObject",
        "eventSource": "acs:oss",
        "eventTime": "2022-06-10T06:21:35.000Z",
        "eventVersion": "1.0",
        "oss": {
            "bucket": {
                "arn": "acs:oss:cn-shenzhen:1581224182:b",
                "name": "b",
                "ownerIdentity": "1581224182",
                "virtualBucket": "",
            },
            "object": {
                "deltaSize": 29203,
                "eTag": "7D73E1052AF595535DE90994F4C3E6D5",
                "key": "k.jpg",
                "objectMeta": {"mimeType": "image/jpeg"},
                "size": 29203,
            },
            "ossSchemaVersion": "1.0",
            "ruleId": "rule",
        },
        "region": "cn-shenzhen",
        "requestParameters": {"sourceIPAddress": "1.2.3.4"},
        "responseElements": {"requestId": "RID"},
        "userIdentity": {"principalId": "1581224182"},
    }


def test_event_time_keeps_milliseconds() -> None:
    assert event_time(1654842095.25) == "2022-06-10T06:21:35.250Z"


def test_s3_notification_parsing() -> None:
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "s3:ObjectRemoved:Delete",
                    "eventTime": "2024-01-02T03:04:05.5Z",
                    "s3": {"bucket": {"name": "b"}, "object": {"key": "a%2Fb+c.txt"}},
                },
                {"eventName": "s3:ObjectAccessed:Get", "s3": {"bucket": {"name": "b"}}},
            ]
        }
    ).encode()
    [event] = s3_notification_events(body, region="r", account_id="1")
    assert (event.bucket, event.key, event.name) == ("b", "a/b c.txt", "ObjectRemoved:DeleteObject")
    assert event_time(event.at) == "2024-01-02T03:04:05.500Z"
    for bad in (b"[]", b"{", b'{"Records": [1]}'):
        with pytest.raises(NotificationError):
            s3_notification_events(bad, region="r", account_id="1")
