"""Point 7: events that do not come from a caller: a timer trigger that fires on its own (seen
in the function's logs), and an async invocation whose result goes to an ``onSuccess``
destination function."""

from __future__ import annotations

import re

import fc2
import pytest

from tests.conformance.conftest import code_dir, log_text, wait_for
from tests.daemon import ACCOUNT_ID, REGION, RunningDaemon


@pytest.mark.root
def test_a_timer_trigger_fires_and_the_function_logs_it(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    directory = code_dir("timer_python")
    client.create_function(service, "tick", "python3", "index.handler", codeDir=directory)
    # FC's timer trigger config; fcd has no minimum period (docs/triggers.md), so 1 s is enough.
    config = {"cronExpression": "@every 1s", "payload": "awesome-fc", "enable": True}
    client.create_trigger(service, "tick", "every-second", "timer", config, "", "")
    try:
        text = wait_for(
            lambda: log_text(daemon, service, "tick"), lambda t: "timer " in t, timeout=60
        )
        assert re.search(r"timer every-second fired at \S+Z with awesome-fc", text), text
    finally:
        # Switched off, as a user does: the session daemon outlives this test.
        off = {**config, "enable": False}
        client.update_trigger(service, "tick", "every-second", triggerConfig=off)


@pytest.mark.root
def test_an_async_result_goes_to_the_on_success_destination(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    directory = code_dir("async_on_success")
    client.create_function(service, "pay", "python3", "index.source", codeDir=directory)
    client.create_function(service, "notify", "python3", "index.sink", codeDir=directory)
    sink = f"acs:fc:{REGION}:{ACCOUNT_ID}:services/{service}.LATEST/functions/notify"
    config = {"destinationConfig": {"onSuccess": {"destination": sink}}}
    client.put_function_async_invoke_config(service, "LATEST", "pay", config)
    accepted = client.invoke_function(
        service, "pay", payload=b"order-42", headers={"x-fc-invocation-type": "Async"}
    )
    assert accepted.headers["x-fc-request-id"]
    text = wait_for(lambda: log_text(daemon, service, "notify"), lambda t: "on success" in t)
    assert f"on success: order-42 paid from acs:fc:{REGION}:{ACCOUNT_ID}:services/{service}" in text
