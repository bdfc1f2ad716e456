'use strict';
// The node half of the conformance corpus: functions from tests/conformance/functions deployed
// with the official Node SDK (@alicloud/fc2) exactly as FC documents it: createService,
// createFunction with `code: {zipFile: <base64 of the directory's zip>}`, createTrigger, and
// checked over HTTP. Run by tests/conformance/test_node_sdk_cases.py, which zips the directories
// (as a user's build does) into CORPUS_ZIPS and passes the daemon's endpoint and keys.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, it, before } = require('node:test');

const { client, unique } = require('../../node/helpers');

function zipOf(name) {
  const file = path.join(process.env.CORPUS_ZIPS, `${name}.zip`);
  return { zipFile: fs.readFileSync(file).toString('base64') };
}

// Poll `read` until `done` holds or `timeout` ms pass; the last value either way.
async function waitFor(read, done, timeout = 60000) {
  const deadline = Date.now() + timeout;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

describe('node functions deployed with @alicloud/fc2', () => {
  const fc = client({ timeout: 120000 });
  const service = unique('corpus_node');

  // GetFunctionLogs (fcd's route, what `fcctl logs` reads): the SDK's signed GET.
  async function logText(functionName) {
    const res = await fc.get(`/services/${service}/functions/${functionName}/logs`);
    return res.data.logs.map((line) => line.message).join('\n');
  }

  before(async () => {
    await fc.createService(service, { description: 'conformance corpus, node half' });
  });

  it('a callback handler answers with the JSON of its result', async () => {
    await fc.createFunction(service, {
      functionName: 'callback', runtime: 'nodejs16', handler: 'index.handler', code: zipOf('node_callback'),
    });
    const res = await fc.invokeFunction(service, 'callback', JSON.stringify({ id: 'o-1', items: [2, 3] }));
    assert.deepEqual(JSON.parse(res.data), { id: 'o-1', total: 5 });
    const text = await waitFor(() => logText('callback'), (t) => t.includes('handling order'));
    assert.match(text, /handling order o-1/);
  });

  it('an async handler answers with what it resolves to', async () => {
    await fc.createFunction(service, {
      functionName: 'async', runtime: 'nodejs18', handler: 'index.handler', code: zipOf('node_async'),
    });
    const res = await fc.invokeFunction(service, 'async', 'event');
    assert.equal(res.data, 'async event in async');
  });

  it('an ES module handler (index.mjs) imports a preinstalled module (raw-body)', async () => {
    await fc.createFunction(service, {
      functionName: 'esm', runtime: 'nodejs18', handler: 'index.handler', code: zipOf('node_esm'),
    });
    const res = await fc.invokeFunction(service, 'esm', 'hello');
    assert.equal(res.data, 'esm read 5 bytes: hello');
  });

  it('an HTTP handler (req, resp, context) answers a plain HTTP request through its trigger', async () => {
    await fc.createFunction(service, {
      functionName: 'web', runtime: 'nodejs16', handler: 'index.handler', code: zipOf('node_http'),
    });
    await fc.createTrigger(service, 'web', {
      triggerName: 'web-http', triggerType: 'http',
      triggerConfig: { authType: 'anonymous', methods: ['GET', 'POST'] },
    });
    const url = `${process.env.ENDPOINT}/2016-08-15/proxy/${service}/web/orders/7?x=1`;
    const res = await fetch(url, { method: 'POST', body: 'paid' });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), {
      method: 'POST', path: '/orders/7', queries: { x: '1' }, body: 'paid',
    });
  });

  it('the initializer runs before the first request and preStop when the instance stops', async () => {
    await fc.createFunction(service, {
      functionName: 'life', runtime: 'nodejs16', handler: 'index.handler', code: zipOf('node_lifecycle'),
      initializer: 'index.initializer', initializationTimeout: 10,
      instanceLifecycleConfig: { preStop: { handler: 'index.preStop', timeout: 5 } },
    });
    const res = await fc.invokeFunction(service, 'life', '');
    assert.equal(res.data, 'connected for life');
    // A new configuration retires the instance: FC then runs its preStop hook.
    await fc.updateFunction(service, 'life', { environmentVariables: { VERSION: '2' } });
    const text = await waitFor(() => logText('life'), (t) => /FC PreStop End RequestId/.test(t));
    assert.match(text, /FC Initialize Start RequestId/);
    assert.match(text, /initializer: connected for life/);
    assert.match(text, /FC PreStop Start RequestId/);
    assert.match(text, /preStop: closing connected for life/);
    assert.match(text, /FC PreStop End RequestId/);
    assert.ok(text.indexOf('FC PreStop Start') < text.indexOf('preStop: closing'), text);
  });

  it('a custom runtime runs an express server with its node_modules from the code package', async () => {
    await fc.createFunction(service, {
      functionName: 'express', runtime: 'custom.debian10', handler: 'index.handler', code: zipOf('node_express'),
      customRuntimeConfig: { command: ['node', 'server.js'] },
    });
    const res = await fc.invokeFunction(service, 'express', 'event');
    assert.equal(res.data, 'express got event');
    const text = await waitFor(() => logText('express'), (t) => t.includes('listening on'));
    assert.match(text, /listening on 9000/);
  });
});
