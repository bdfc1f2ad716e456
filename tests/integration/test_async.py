"""Async invocations against the session daemon: the Python SDK's Async header, retries,
max event age, destinations (function and http), stateful records, stop, back-pressure.

Handlers keep state in module globals: an instance is reused between attempts, so a counter per
payload tells the attempt number (the function's own view of its retries).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.daemon import ACCOUNT_ID, REGION, RunningDaemon
from tests.integration.test_configs import call, error_of
from tests.integration.test_invoke import raw_invoke, write_code
from tests.waiting import wait_until

ASYNC = {"x-fc-invocation-type": "Async"}

HANDLER = """
import time

attempts = {}

def handler(event, context):
    text = event.decode()
    attempts[text] = attempts.get(text, 0) + 1
    print("ran", context.request_id, text, attempts[text])
    if text.startswith("fail-until:"):
        if attempts[text] < int(text.split(":")[1]):
            raise ValueError("attempt %d fails" % attempts[text])
        return "ok after %d" % attempts[text]
    if text == "always-fail":
        raise ValueError("always")
    if text.startswith("sleep:"):
        time.sleep(float(text[6:]))  # the work that holds the instance
        return "slept"
    return "echo:" + text
"""


def has_run(daemon: RunningDaemon, service: str, function: str, text: str) -> bool:
    """Whether a request with payload ``text`` has started: its "ran" line is in the logs
    (written every 0.2 s by the recorder, while the handler may still run)."""
    status, body = call(daemon, "GET", f"/services/{service}/functions/{function}/logs")
    assert status == 200, body
    return any(f" {text} " in line["message"] for line in body["logs"])


@pytest.fixture
def service(client: fc2.Client, unique: str, tmp_path: Path) -> str:
    name = f"async_{unique}"
    client.create_service(name)
    code = write_code(tmp_path, HANDLER)
    for function in ("work", "sink"):
        client.create_function(name, function, "python3", "index.handler", codeDir=code, timeout=10)
    return name


def stateful(client: fc2.Client, service: str, function: str, **config: Any) -> None:
    client.put_function_async_invoke_config(
        service, "LATEST", function, {"statefulInvocation": True, **config}
    )


def record(daemon: RunningDaemon, service: str, function: str, invocation_id: str) -> Any:
    status, body = call(
        daemon,
        "GET",
        f"/services/{service}/functions/{function}/stateful-async-invocations/{invocation_id}",
    )
    assert status == 200, body
    return body


def finished(daemon: RunningDaemon, service: str, function: str, invocation_id: str) -> Any:
    def probe() -> Any:
        got = record(daemon, service, function, invocation_id)
        return got if got["status"] not in ("Enqueued", "Running") else None

    return wait_until(probe, message=f"{invocation_id} to finish")


def listed(daemon: RunningDaemon, service: str, function: str, query: str = "") -> Any:
    status, body = call(
        daemon,
        "GET",
        f"/services/{service}/functions/{function}/stateful-async-invocations" + query,
    )
    assert status == 200, body
    return body


def arn(service: str, function: str) -> str:
    return f"acs:fc:{REGION}:{ACCOUNT_ID}:services/{service}.LATEST/functions/{function}"


# accept -------------------------------------------------------------------------------------
def test_sdk_async_invoke_is_accepted_then_runs(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    stateful(client, service, "work")
    answer = client.invoke_function(service, "work", payload="hello", headers=ASYNC)
    assert answer.data == b""
    request_id = answer.headers["x-fc-request-id"]
    assert answer.headers["x-fc-stateful-async-invocation-id"] == request_id
    done = finished(daemon, service, "work", request_id)
    assert done["status"] == "Succeeded"
    assert done["requestId"] == request_id
    assert done["returnPayload"] == "echo:hello"
    assert done["invocationPayload"] == "hello"
    assert done["alreadyRetriedTimes"] == 0
    assert done["endTime"] >= done["startedTime"] > 0
    assert [e["status"] for e in done["events"]] == ["Enqueued", "Running", "Succeeded"]
    assert [e["eventId"] for e in done["events"]] == [1, 2, 3]


def test_async_answer_is_202_without_stateful_header_when_not_stateful(
    daemon: RunningDaemon, service: str
) -> None:
    response = raw_invoke(daemon, service, "work", b"plain", **{"X-Fc-Invocation-Type": "Async"})
    assert response.status_code == 202
    assert response.content == b""
    assert response.headers["x-fc-request-id"]
    assert "x-fc-stateful-async-invocation-id" not in response.headers
    # Not stateful: not listed, but its record can still be read by request id.
    rid = response.headers["x-fc-request-id"]
    assert finished(daemon, service, "work", rid)["status"] == "Succeeded"
    assert listed(daemon, service, "work") == {}


def test_async_refusals(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    with pytest.raises(FcError) as too_large:
        client.invoke_function(service, "work", payload=b"x" * (128 * 1024 + 1), headers=ASYNC)
    assert error_of(too_large)[:2] == (400, "EntityTooLarge")
    with pytest.raises(FcError) as missing:
        client.invoke_function(service, "nope", payload="x", headers=ASYNC)
    assert error_of(missing)[:2] == (404, "FunctionNotFound")
    header = {"X-Fc-Stateful-Async-Invocation-Id": "dup_1"}
    assert raw_invoke(daemon, service, "work", b"a", **header).status_code == 202
    again = raw_invoke(daemon, service, "work", b"a", **header)
    assert again.status_code == 409, again.text
    bad = raw_invoke(daemon, service, "work", b"a", **{"X-Fc-Stateful-Async-Invocation-Id": "1x"})
    assert (bad.status_code, bad.json()["ErrorCode"]) == (400, "InvalidArgument")


# retries and age ----------------------------------------------------------------------------
def test_fails_twice_then_succeeds(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    stateful(client, service, "work")  # default maxAsyncRetryAttempts: 2
    rid = client.invoke_function(service, "work", payload="fail-until:3", headers=ASYNC).headers[
        "x-fc-request-id"
    ]
    done = finished(daemon, service, "work", rid)
    assert done["status"] == "Succeeded", done
    assert done["alreadyRetriedTimes"] == 2
    assert done["returnPayload"] == "ok after 3"
    statuses = [e["status"] for e in done["events"]]
    assert statuses.count("Retrying") == 2
    assert statuses.count("Running") == 3
    retries = [e for e in done["events"] if e["status"] == "Retrying"]
    assert "attempt 1 fails" in retries[0]["eventDetail"]
    # backoff: 1 s before the first retry, 2 s before the second
    running = [e["timestamp"] for e in done["events"] if e["status"] == "Running"]
    waits = [run - retry["timestamp"] for run, retry in zip(running[1:], retries, strict=True)]
    assert 900 <= waits[0] < 1900 <= waits[1] < 4000, waits


def test_out_of_retries_fails(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    stateful(client, service, "work", maxAsyncRetryAttempts=1)
    rid = client.invoke_function(service, "work", payload="always-fail", headers=ASYNC).headers[
        "x-fc-request-id"
    ]
    done = finished(daemon, service, "work", rid)
    assert done["status"] == "Failed"
    assert done["alreadyRetriedTimes"] == 1
    assert "always" in done["invocationErrorMessage"]


def test_exceeding_max_age_expires_and_goes_to_on_failure(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    stateful(client, service, "sink")
    stateful(
        client,
        service,
        "work",
        maxAsyncEventAgeInSeconds=2,
        maxAsyncRetryAttempts=8,
        destinationConfig={"onFailure": {"destination": arn(service, "sink")}},
    )
    rid = client.invoke_function(service, "work", payload="always-fail", headers=ASYNC).headers[
        "x-fc-request-id"
    ]
    done = finished(daemon, service, "work", rid)
    assert done["status"] == "Expired", done
    assert done["alreadyRetriedTimes"] < 8
    assert done["destinationStatus"] == "Succeeded"
    sent = wait_until(lambda: listed(daemon, service, "sink", "?includePayload=true"))
    destination = json.loads(sent["invocations"][0]["invocationPayload"])
    assert destination["requestContext"]["requestId"] == rid
    assert destination["requestContext"]["condition"] == "EventAgeExceeded"
    assert destination["requestContext"]["functionArn"] == arn(service, "work")
    assert destination["requestPayload"] == "always-fail"
    assert destination["responseContext"]["functionError"] == "UnhandledInvocationError"


# destinations -------------------------------------------------------------------------------
def test_on_success_destination_function_receives_the_record(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    stateful(client, service, "sink")
    client.put_function_async_invoke_config(
        service,
        "LATEST",
        "work",
        {"destinationConfig": {"onSuccess": {"destination": arn(service, "sink")}}},
    )
    rid = client.invoke_function(service, "work", payload="to-sink", headers=ASYNC).headers[
        "x-fc-request-id"
    ]
    sent = wait_until(lambda: listed(daemon, service, "sink", "?includePayload=true"))
    received = sent["invocations"][0]
    assert finished(daemon, service, "sink", received["invocationId"])["status"] == "Succeeded"
    destination = json.loads(received["invocationPayload"])
    assert destination["requestContext"] == {
        "requestId": rid,
        "functionArn": arn(service, "work"),
        "condition": "",
        "approximateInvokeCount": 1,
    }
    assert destination["requestPayload"] == "to-sink"
    assert destination["responseContext"] == {"statusCode": 200, "functionError": ""}
    assert destination["responsePayload"] == "echo:to-sink"
    assert record(daemon, service, "work", rid)["destinationStatus"] == "Succeeded"


# stateful flow (as the Java SDK drives it, through raw signed requests) ---------------------
def test_stateful_flow_back_pressure_list_get_stop(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    client.put_on_demand_config(service, "LATEST", "work", 1)  # one instance, concurrency 1
    stateful(client, service, "work")
    base = f"/services/{service}/functions/work/stateful-async-invocations"
    ids = ["task_a", "task_b", "task_c"]
    for invocation_id, payload in zip(ids, (b"sleep:3", b"sleep:0", b"sleep:0"), strict=True):
        r = raw_invoke(
            daemon,
            service,
            "work",
            payload,
            **{"X-Fc-Invocation-Type": "Async", "X-Fc-Stateful-Async-Invocation-Id": invocation_id},
        )
        assert r.status_code == 202
        assert r.headers["x-fc-stateful-async-invocation-id"] == invocation_id
    wait_until(lambda: record(daemon, service, "work", "task_a")["status"] == "Running")
    # the function is full: the others wait queued, not failed. An observation window on
    # purpose: nothing marks the queue's having tried task_b and been refused.
    time.sleep(0.5)
    assert record(daemon, service, "work", "task_b")["status"] == "Enqueued"
    assert call(daemon, "PUT", f"{base}/task_b") == (200, {})
    assert call(daemon, "PUT", f"{base}/task_a") == (200, {})
    stopped_twice = call(daemon, "PUT", f"{base}/task_a")
    assert (stopped_twice[0], stopped_twice[1]["ErrorCode"]) == (412, "AsyncInvocationStopped")
    assert finished(daemon, service, "work", "task_c")["status"] == "Succeeded"
    done_stop = call(daemon, "PUT", f"{base}/task_c")
    assert (done_stop[0], done_stop[1]["ErrorCode"]) == (400, "InvalidArgument")
    missing = call(daemon, "GET", f"{base}/task_zzz")
    assert (missing[0], missing[1]["ErrorCode"]) == (404, "StatefulAsyncInvocationNotFound")
    # task_c could only run on the one instance once task_a's attempt (3 s) had ended, so
    # task_a's result reached the store's one writer before task_c's "Succeeded": it is not
    # recorded over "Stopped"
    assert record(daemon, service, "work", "task_a")["status"] == "Stopped"
    assert record(daemon, service, "work", "task_b")["status"] == "Stopped"
    assert "Running" not in [
        e["status"] for e in record(daemon, service, "work", "task_b")["events"]
    ]

    everything = listed(daemon, service, "work")["invocations"]
    assert [i["invocationId"] for i in everything] == ["task_c", "task_b", "task_a"]
    assert "invocationPayload" not in everything[0]
    ascending = listed(daemon, service, "work", "?sortOrderByTime=asc&limit=2")
    assert [i["invocationId"] for i in ascending["invocations"]] == ["task_a", "task_b"]
    rest = listed(
        daemon, service, "work", f"?sortOrderByTime=asc&nextToken={ascending['nextToken']}"
    )
    assert [i["invocationId"] for i in rest["invocations"]] == ["task_c"]
    assert "nextToken" not in rest
    stopped = listed(daemon, service, "work", "?status=Stopped")["invocations"]
    assert {i["invocationId"] for i in stopped} == {"task_a", "task_b"}
    assert (
        listed(daemon, service, "work", "?invocationIdPrefix=task_c")["invocations"][0][
            "invocationId"
        ]
        == "task_c"
    )
    assert listed(daemon, service, "work", "?invocationIdPrefix=nope") == {}
    later = int(time.time() * 1000) + 60_000
    assert listed(daemon, service, "work", f"?startedTimeBegin={later}") == {}
    bad = call(
        daemon, "GET", f"/services/{service}/functions/work/stateful-async-invocations?status=Nope"
    )
    assert (bad[0], bad[1]["ErrorCode"]) == (400, "InvalidArgument")


def test_instance_taken_by_sync_invokes_is_back_pressure_not_a_retry(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    """The queue counts only its own invocations; a slot held by a sync invoke makes the
    manager answer 429, which requeues the invocation without using a retry attempt."""
    client.put_on_demand_config(service, "LATEST", "work", 1)
    stateful(client, service, "work", maxAsyncRetryAttempts=0)
    holder = threading.Thread(target=raw_invoke, args=(daemon, service, "work", b"sleep:2"))
    holder.start()
    try:
        # the sync invoke holds the only instance
        wait_until(lambda: has_run(daemon, service, "work", "sleep:2"), message="the holder")
        rid = client.invoke_function(service, "work", payload="queued", headers=ASYNC).headers[
            "x-fc-request-id"
        ]
        # An observation window on purpose (the holder has ~1.5 s left): refused by the busy
        # instance, the invocation is requeued, not failed.
        time.sleep(0.5)
        assert record(daemon, service, "work", rid)["status"] in ("Enqueued", "Running")
    finally:
        holder.join()
    done = finished(daemon, service, "work", rid)
    assert done["status"] == "Succeeded", done
    assert done["alreadyRetriedTimes"] == 0
    assert done["returnPayload"] == "echo:queued"
