"""The nodejs runtime's FC contract (spec §5.2, §5.3, §7.4), with and without sandboxes."""

from __future__ import annotations

import asyncio
import json

import pytest

from fcd.instances.instance import StartFailure
from fcd.model import InvokeRequest
from tests.sandbox.conftest import Starter, invoke

NODE = "nodejs18"


async def test_callback_results_are_marshalled_like_fc(start: Starter) -> None:
    instance = await start(
        {
            "index.js": """
                exports.handler = function (event, context, callback) {
                  const kind = event.toString();
                  if (kind === 'string') return callback(null, 'hello ' + kind);
                  if (kind === 'buffer') return callback(null, Buffer.from([0, 1, 2]));
                  if (kind === 'object') return callback(null, { a: 1 });
                  if (kind === 'isbuffer') return callback(null, String(Buffer.isBuffer(event)));
                  callback(null);
                };
            """
        },
        runtime=NODE,
    )
    for event, body in [
        (b"string", b"hello string"),
        (b"buffer", b"\x00\x01\x02"),
        (b"object", b'{"a":1}'),
        (b"isbuffer", b"true"),
        (b"", b""),
    ]:
        result = await invoke(instance, event)
        assert (result.body, result.error_type) == (body, None)


async def test_async_handler_and_initializer_counter(start: Starter) -> None:
    instance = await start(
        {
            "index.js": """
                let counter = 0;
                exports.initializer = (context, callback) => { counter = 1; callback(null, ''); };
                exports.handler = async () => { counter += 1; return String(counter); };
            """
        },
        runtime=NODE,
        initializer="index.initializer",
    )
    assert (await invoke(instance)).body == b"2"
    assert (await invoke(instance)).body == b"3"


async def test_esm_handler(start: Starter) -> None:
    instance = await start(
        {"index.mjs": "export const handler = async (event) => 'esm ' + event.toString();\n"},
        runtime="nodejs20",
    )
    assert (await invoke(instance, b"ok")).body == b"esm ok"


async def test_callback_error_is_handled_and_throw_is_unhandled(start: Starter) -> None:
    instance = await start(
        {
            "index.js": """
                exports.handler = (event, context, callback) => {
                  const kind = event.toString();
                  if (kind === 'string') return callback('This is a handled error');
                  if (kind === 'error') return callback(new Error('oops'));
                  throw new TypeError('thrown');
                };
            """
        },
        runtime=NODE,
    )
    result = await invoke(instance, b"string")
    assert result.error_type == "HandledInvocationError"
    assert json.loads(result.body) == {"errorMessage": "This is a handled error"}
    result = await invoke(instance, b"error")
    error = json.loads(result.body)
    assert (result.error_type, error["errorMessage"], error["errorType"]) == (
        "HandledInvocationError",
        "oops",
        "Error",
    )
    assert error["stackTrace"][0] == "Error: oops"
    # A synchronous throw in a callback-style handler is uncaught on FC: the process exits.
    result = await invoke(instance, b"throw")
    assert result.error_type == "UnhandledInvocationError"
    assert json.loads(result.body)["errorMessage"].startswith(
        "Process exited unexpectedly before completing request"
    )
    assert result.instance_fatal
    assert "TypeError: thrown" in result.logs.decode()


async def test_async_handler_rejection_is_unhandled_on_a_kept_instance(start: Starter) -> None:
    instance = await start(
        {"index.js": "exports.handler = async () => { throw new TypeError('thrown'); };\n"},
        runtime=NODE,
    )
    for _ in range(2):
        result = await invoke(instance)
        assert result.error_type == "UnhandledInvocationError"
        assert json.loads(result.body)["errorType"] == "TypeError"
        assert not result.instance_fatal


async def test_output_of_earlier_resources_belongs_to_the_request_in_flight(
    start: Starter,
) -> None:
    # A connection made in the initializer logs from its own callbacks: with concurrency 1,
    # FC files those lines under the request being served, not under the initializer.
    instance = await start(
        {
            "index.js": """
                const net = require('net');
                let conn;
                const pending = [];
                exports.initializer = (context, callback) => {
                  // A "database": an echo server and one connection to it, both made here.
                  const server = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1', () => {
                    const port = server.address().port;
                    conn = net.connect(port, '127.0.0.1', () => callback(null, ''));
                    conn.on('data', (d) => {
                      console.log('ran', d.toString());
                      pending.shift()();
                    });
                  });
                };
                exports.handler = (event, context, callback) => {
                  pending.push(() => callback(null, 'ok'));
                  conn.write(event);
                };
            """
        },
        runtime=NODE,
        initializer="index.initializer",
    )
    for query in (b"q1", b"q2"):
        result = await instance.invoke(InvokeRequest(query.decode(), query, 5))
        assert f"ran {query.decode()}" in result.logs.decode().splitlines()


async def test_context_logger_and_preinstalled_packages(start: Starter) -> None:
    instance = await start(
        {
            "index.js": """
                const getRawBody = require('raw-body');
                const body = require('body');
                exports.handler = (event, context, callback) => {
                  console.log('console line');
                  context.logger.info('logger line');
                  callback(null, JSON.stringify({
                    requestId: context.requestId,
                    credentials: context.credentials,
                    function: context.function,
                    service: context.service,
                    region: context.region,
                    accountId: context.accountId,
                    rawBody: typeof getRawBody, body: typeof body,
                    env: process.env, cwd: process.cwd(),
                  }));
                };
            """
        },
        runtime=NODE,
        qualifier="prod",
        version_id="2",
    )
    result = await instance.invoke(InvokeRequest("node-req", b"", 5))
    data = json.loads(result.body)
    assert data["requestId"] == "node-req"
    assert data["credentials"] == {
        "accessKeyId": "STS.key",
        "accessKeySecret": "secret",
        "securityToken": "token",
    }
    assert data["function"]["name"] == "fn"
    assert data["function"]["memory"] == 128
    assert data["service"] == {
        "name": "svc",
        "logProject": "",
        "logStore": "",
        "qualifier": "prod",
        "versionId": "2",
    }
    assert (data["region"], data["accountId"]) == ("cn-hangzhou", "1234567890")
    assert (data["rawBody"], data["body"]) == ("function", "function")
    assert data["env"]["FC_FUNCTION_NAME"] == "fn"
    assert data["env"]["USER_VAR"] == "1"
    assert not [k for k in data["env"] if k.startswith("FCD_")]
    assert data["cwd"] == data["env"]["FC_FUNC_CODE_PATH"].rstrip("/")
    lines = result.logs.decode().splitlines()
    assert lines[0] == "FC Invoke Start RequestId: node-req"
    assert lines[1] == "console line"
    assert lines[2].endswith(" node-req [INFO] logger line")
    assert lines[-1] == "FC Invoke End RequestId: node-req"


async def test_concurrent_requests_keep_their_logs_apart(start: Starter) -> None:
    instance = await start(
        {
            "index.js": """
                const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
                exports.handler = async (event) => {
                  // the sleeps let the concurrent requests' lines interleave
                  for (let i = 0; i < 3; i++) { console.log(event.toString(), i); await sleep(5); }
                  return event;
                };
            """
        },
        runtime=NODE,
        concurrency=4,
    )
    results = await asyncio.gather(*(invoke(instance, f"r{i}".encode()) for i in range(4)))
    for i, result in enumerate(results):
        body = [ln for ln in result.logs.decode().splitlines() if not ln.startswith("FC ")]
        assert body == [f"r{i} 0", f"r{i} 1", f"r{i} 2"]


async def test_process_exit_and_missing_handler(start: Starter) -> None:
    instance = await start(
        {"index.js": "exports.handler = () => { process.exit(2); };\n"}, runtime=NODE
    )
    result = await invoke(instance)
    assert json.loads(result.body)["errorMessage"].startswith(
        "Process exited unexpectedly before completing request"
    )
    assert result.instance_fatal
    with pytest.raises(StartFailure) as failure:
        await start({"index.js": "exports.other = 1;\n"}, runtime=NODE)
    assert failure.value.code == "InitializationError"
    assert "Handler 'handler' is missing" in json.loads(failure.value.body)["errorMessage"]
