"""The async queue's pure decisions: defaults, backoff, retry or give up, the destination record."""

from __future__ import annotations

import json

import pytest

from fcd import errors
from fcd.api.async_configs import check_destination
from fcd.invocations import destinations
from fcd.invocations.queue import (
    EXPIRED,
    FAILED,
    Policy,
    after_failure,
    backoff,
    check_invocation_id,
    policy_of,
)
from fcd.wire.configs import AsyncConfig, Destination, DestinationConfig


def test_defaults_without_config_and_for_unset_fields() -> None:
    assert policy_of(None) == Policy(max_retries=2, max_age_s=86400)
    config = AsyncConfig(
        "s",
        "f",
        "LATEST",
        "t",
        "t",
        DestinationConfig(on_failure=Destination("http://127.0.0.1/x")),
        max_async_retry_attempts=0,
        stateful_invocation=True,
    )
    assert policy_of(config) == Policy(
        max_retries=0, max_age_s=86400, on_failure="http://127.0.0.1/x", stateful=True
    )


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(30) == 300.0


def test_retry_until_attempts_run_out() -> None:
    policy = Policy(max_retries=2, max_age_s=3600)
    first = after_failure(policy, retried=0, enqueued_at=100.0, now=100.5)
    assert (first.status, first.due_at) == ("Enqueued", 101.5)
    assert after_failure(policy, retried=1, enqueued_at=100.0, now=103.0).due_at == 105.0
    out = after_failure(policy, retried=2, enqueued_at=100.0, now=110.0)
    assert (out.status, out.condition) == (FAILED, "RetriesExhausted")


def test_a_retry_past_max_age_expires() -> None:
    policy = Policy(max_retries=8, max_age_s=10)
    verdict = after_failure(policy, retried=3, enqueued_at=100.0, now=103.0)  # due at 111
    assert (verdict.status, verdict.condition) == (EXPIRED, "EventAgeExceeded")


@pytest.mark.parametrize("good", ["a", "_x", "task-1_B", "a" * 128])
def test_valid_invocation_ids(good: str) -> None:
    check_invocation_id(good)


@pytest.mark.parametrize("bad", ["", "1abc", "a b", "a.b", "a" * 129, "é"])
def test_invalid_invocation_ids(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        check_invocation_id(bad)


def test_function_destinations_of_this_fcd_only() -> None:
    arn = "acs:fc:cn-hangzhou:123:services/svc.prod/functions/fn"
    assert destinations.parse_function(arn, "cn-hangzhou", "123") == ("svc", "prod", "fn")
    plain = "acs:fc:cn-hangzhou:123:services/svc/functions/fn"
    assert destinations.parse_function(plain, "cn-hangzhou", "123") == ("svc", "LATEST", "fn")
    assert destinations.parse_function(arn, "cn-beijing", "123") is None
    assert destinations.parse_function("https://example.com/hook", "cn-hangzhou", "123") is None
    assert destinations.is_http("https://example.com/hook")


def test_record_without_a_result() -> None:
    record = json.loads(
        destinations.record(
            request_id="r1",
            function_arn="acs:fc:r:1:services/s.LATEST/functions/f",
            condition="EventAgeExceeded",
            invoke_count=0,
            payload=b"\xffev",
            done=None,
            now=12.5,
        )
    )
    assert record == {
        "timestamp": 12500,
        "requestContext": {
            "requestId": "r1",
            "functionArn": "acs:fc:r:1:services/s.LATEST/functions/f",
            "condition": "EventAgeExceeded",
            "approximateInvokeCount": 0,
        },
        "requestPayload": "\ufffdev",
        "responseContext": {"statusCode": 0, "functionError": ""},
        "responsePayload": "",
    }


@pytest.mark.parametrize(
    ("arn", "target"),
    [
        ("acs:fc:::services/svc/functions/fn", ("svc", "LATEST", "fn")),
        ("acs:fc:::services/svc.prod/functions/fn", ("svc", "prod", "fn")),
        ("acs:fc:cn-hangzhou::services/svc/functions/fn", ("svc", "LATEST", "fn")),
        ("acs:fc::123:services/svc.2/functions/fn", ("svc", "2", "fn")),
        ("acs:fc::999:services/svc/functions/fn", None),
        ("acs:fc:cn-beijing::services/svc/functions/fn", None),
    ],
)
def test_the_short_form_names_this_region_and_account(
    arn: str, target: tuple[str, str, str] | None
) -> None:
    """FC's templates write ``acs:fc:::services/S[.Q]/functions/F``: empty = here."""
    assert destinations.parse_function(arn, "cn-hangzhou", "123") == target
    if target is None:
        with pytest.raises(errors.InvalidArgument, match="not in this fcd"):
            check_destination(arn, "cn-hangzhou", "123")
    else:
        check_destination(arn, "cn-hangzhou", "123")
