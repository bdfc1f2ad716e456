"""The official Node.js SDK (@alicloud/fc2) against the daemon: tests/node/*.test.js.

The JavaScript tests mirror what the SDK's own test suite asserts (spec [NODET]); this test
starts them with ``node --test`` and the daemon's endpoint and keys in the environment, and shows
their whole report when one fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, REGION, RunningDaemon

NODE_TESTS = Path(__file__).resolve().parents[1] / "node"
# The code zip of the tests: a Node.js hello world, as the SDK's test/figures/test.zip holds
# one, and the same handlers in Python (runtime python3.10) for the invoke tests.
HELLO_JS = """\
exports.handler = function (event, context, callback) {
  callback(null, 'hello ' + event);
};

var counter = 0;
exports.initializer = function (context, callback) {
  counter = 1;
  callback(null, '');
};
exports.count = function (event, context, callback) {
  counter += 1;
  callback(null, counter);
};

exports.test_buf = function (event, context, callback) {
  callback(null, event);
};
exports.test_buf_handled_err = function (event, context, callback) {
  callback('This is a handled error');
};
exports.test_buf_unhandled_err = function (event, context, callback) {
  process.exit(1);
};

// HTTP trigger handlers: echo the request; every query parameter becomes a response header.
exports.http_handler = function (req, resp, context) {
  var chunks = [];
  req.on('data', function (chunk) { chunks.push(chunk); });
  req.on('end', function () {
    for (var key in req.queries) {
      resp.setHeader(key, req.queries[key]);
    }
    resp.setStatusCode(202);
    resp.send(JSON.stringify({
      headers: req.headers, queries: req.queries, method: req.method, path: req.path,
      body: Buffer.concat(chunks).toString()
    }));
  });
};
exports.http_function_err_handler = function (req, resp, context) {
  process.exit(1);
};
"""
HELLO_PY = """\
counter = 0


def handler(event, context):
    return 'hello ' + event.decode()


def fail(event, context):
    raise Exception('something is wrong')


def initializer(context):
    global counter
    counter = 1


def count(event, context):
    global counter
    counter += 1
    return counter
"""

pytestmark = pytest.mark.node


def test_node_sdk_suite(daemon: RunningDaemon, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_TESTS / "node_modules" / "@alicloud" / "fc2").is_dir():
        pytest.skip("needs node and @alicloud/fc2: run scripts/install-test-deps")
    code_zip = tmp_path / "hello.zip"
    with zipfile.ZipFile(code_zip, "w") as archive:
        archive.writestr("index.js", HELLO_JS)
        archive.writestr("index.py", HELLO_PY)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ENDPOINT": daemon.endpoint,
        "ACCOUNT_ID": ACCOUNT_ID,
        "ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "REGION": REGION,
        "CODE_ZIP": str(code_zip),
    }
    files = sorted(str(p) for p in NODE_TESTS.glob("*.test.js"))
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=NODE_TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"node --test failed:\n{report}\n--- daemon log ---\n{daemon.logs()[-5000:]}"
    )
    passed = re.search(r"^# pass (\d+)$", report, re.M)
    assert passed, report
    assert int(passed.group(1)) > 0, report
    assert re.search(r"^# fail 0$", report, re.M), report
