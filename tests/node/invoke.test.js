'use strict';
// invokeFunction as the SDK's "function should ok" suite uses it: on the nodejs14 runtime with
// the handlers of the SDK's figures (index.js), and on python3.10 (index.py, same behaviour).

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');

const { client, unique, codeZip, rejectsWith } = require('./helpers');

describe('invokeFunction on nodejs14', () => {
  const fc = client();
  const service = unique('node_invjs');
  const functions = {
    'hello-world': { handler: 'index.handler' },
    'counter': { handler: 'index.count', initializer: 'index.initializer', initializationTimeout: 10 },
    'test-buf-resp': { handler: 'index.test_buf' },
    'test-func-with-handled-err': { handler: 'index.test_buf_handled_err' },
    'test-func-with-unhandled-err': { handler: 'index.test_buf_unhandled_err' },
  };

  before(async () => {
    await fc.createService(service);
    for (const [functionName, extra] of Object.entries(functions)) {
      await fc.createFunction(service, {
        functionName, runtime: 'nodejs14', timeout: 10, code: { zipFile: codeZip() }, ...extra,
      });
    }
  });

  after(async () => {
    for (const functionName of Object.keys(functions)) await fc.deleteFunction(service, functionName);
    await fc.deleteService(service);
  });

  it('answers the raw string', async () => {
    const res = await fc.invokeFunction(service, 'hello-world', 'world', {}, 'LATEST');
    assert.equal(res.data, 'hello world');
    const again = await fc.invokeFunction(service, 'hello-world', Buffer.from('world'), {}, 'LATEST', {
      rawBuf: false,
    });
    assert.equal(again.data, 'hello world');
  });

  it('the initializer runs once per instance: 2', async () => {
    const res = await fc.invokeFunction(service, 'counter', null);
    assert.equal(res.data, '2');
  });

  it('a Buffer answer comes back as a Buffer with rawBuf', async () => {
    const res = await fc.invokeFunction(service, 'test-buf-resp', Buffer.from('world'), {}, 'LATEST', {
      rawBuf: true,
    });
    assert.ok(Buffer.isBuffer(res.data));
    assert.equal(res.data.toString(), 'world');
  });

  it('callback(string) is a HandledInvocationError with exactly {errorMessage}', async () => {
    const res = await fc.invokeFunction(service, 'test-func-with-handled-err', Buffer.from('world'), {},
      'LATEST', { rawBuf: true });
    assert.ok(!Buffer.isBuffer(res.data));
    assert.equal(res.headers['x-fc-error-type'], 'HandledInvocationError');
    assert.equal(JSON.stringify(res.data), JSON.stringify({ errorMessage: 'This is a handled error' }));
  });

  it('async invocations answer 202 with an empty body, whatever the header case', async () => {
    for (const header of ['x-fc-invocation-type', 'X-Fc-Invocation-Type']) {
      const res = await fc.invokeFunction(service, 'hello-world', Buffer.from('world'), { [header]: 'Async' });
      assert.equal(res.data, '');
      assert.match(res.headers['x-fc-request-id'], /^.{36}$/);
    }
    const res = await fc.invokeFunction(service, 'hello-world', null, { 'x-fc-invocation-type': 'Async' });
    assert.equal(res.data, '');
  });

  it('a process exit is an UnhandledInvocationError "Process exited unexpectedly..."', async () => {
    const res = await fc.invokeFunction(service, 'test-func-with-unhandled-err', Buffer.from('world'), {},
      'LATEST', { rawBuf: true });
    assert.ok(!Buffer.isBuffer(res.data));
    assert.equal(res.headers['x-fc-error-type'], 'UnhandledInvocationError');
    assert.match(res.data.errorMessage, /^Process exited unexpectedly before completing request/);
  });
});

describe('http triggers', () => {
  const service = unique('node_http');
  // Headers given to the constructor go with every request, and must reach the function.
  const fc = client({ headers: { 'custom-header-in-constructor': 'abcd' } });

  before(async () => {
    await fc.createService(service);
    for (const [functionName, handler, authType] of [
      ['http-echo', 'index.http_handler', 'function'],
      ['http_trigger_with_function_error', 'index.http_function_err_handler', 'anonymous'],
    ]) {
      await fc.createFunction(service, {
        functionName, handler, runtime: 'nodejs14', timeout: 10, code: { zipFile: codeZip() },
      });
      // authType function: the SDK's own test uses it "to make sure working well for signature".
      await fc.createTrigger(service, functionName, {
        triggerName: 'http-trigger',
        triggerType: 'http',
        triggerConfig: { authType, methods: ['GET', 'POST', 'PUT'] },
      });
    }
  });

  after(async () => {
    for (const functionName of ['http-echo', 'http_trigger_with_function_error']) {
      await fc.deleteTrigger(service, functionName, 'http-trigger');
      await fc.deleteFunction(service, functionName);
    }
    await fc.deleteService(service);
  });

  it('GET with queries and headers, signed with the query', async () => {
    const res = await fc.get(`/proxy/${service}/http-echo/action`, { x: 'awsome', y: 'serverless' }, {
      'custom-header': 'abc',
    });
    assert.equal(res.headers.x, 'awsome');
    assert.equal(res.headers.y, 'serverless');
    const body = JSON.parse(res.data);
    assert.equal(body.headers['custom-header-in-constructor'], 'abcd');
    assert.equal(body.headers['custom-header'], 'abc');
    assert.equal(body.queries.x, 'awsome');
    assert.equal(body.queries.y, 'serverless');
    assert.equal(body.method, 'GET');
    assert.equal(body.path, '/action');
  });

  it('GET with no query and no headers', async () => {
    const res = await fc.get(`/proxy/${service}/http-echo/`);
    assert.equal(JSON.parse(res.data).method, 'GET');
  });

  it('POST carries the body; a method the trigger does not allow is refused', async () => {
    const res = await fc.post(`/proxy/${service}/http-echo/items`, 'payload');
    const body = JSON.parse(res.data);
    assert.equal(body.method, 'POST');
    assert.equal(body.body, 'payload');
    await assert.rejects(fc.delete(`/proxy/${service}/http-echo/items`), / failed with 4\d\d\. /);
  });

  it('a wrong signature on an authType function trigger is refused', async () => {
    const unsigned = client({ accessKeySecret: 'wrong' });
    await rejectsWith(unsigned.get(`/proxy/${service}/http-echo/`), {
      status: 403, name: 'FCSignatureNotMatchError',
    });
  });

  it('a crash behind an http trigger is 502 FCundefinedError "Process exited unexpectedly"', async () => {
    await rejectsWith(fc.get(`/proxy/${service}/http_trigger_with_function_error/action`), {
      name: 'FCundefinedError',
      message: /GET .* failed with 502\. requestid: .{36}, message: Process exited unexpectedly before completing request/,
    });
  });
});

describe('invokeFunction on python3.10', () => {
  const fc = client();
  const service = unique('node_inv');
  const functions = {
    'hello-world': { handler: 'index.handler' },
    'counter': { handler: 'index.count', initializer: 'index.initializer' },
    'test-func-with-unhandled-err': { handler: 'index.fail' },
  };

  before(async () => {
    await fc.createService(service);
    for (const [functionName, extra] of Object.entries(functions)) {
      await fc.createFunction(service, {
        functionName, runtime: 'python3.10', timeout: 10, code: { zipFile: codeZip() }, ...extra,
      });
    }
  });

  after(async () => {
    for (const alias of (await fc.listAliases(service)).data.aliases) {
      await fc.deleteAlias(service, alias.aliasName);
    }
    for (const version of (await fc.listVersions(service)).data.versions) {
      await fc.deleteVersion(service, version.versionId);
    }
    for (const functionName of Object.keys(functions)) await fc.deleteFunction(service, functionName);
    await fc.deleteService(service);
  });

  it('answers the raw string, through LATEST and without a qualifier', async () => {
    let res = await fc.invokeFunction(service, 'hello-world', 'world', {}, 'LATEST');
    assert.equal(res.data, 'hello world');
    assert.match(res.headers['x-fc-request-id'], /^.{36}$/);
    res = await fc.invokeFunction(service, 'hello-world', Buffer.from('world'));
    assert.equal(typeof res.data, 'string');
    assert.equal(res.data, 'hello world');
  });

  it('rawBuf answers a Buffer', async () => {
    const res = await fc.invokeFunction(service, 'hello-world', Buffer.from('world'), {}, 'LATEST', {
      rawBuf: true,
    });
    assert.ok(Buffer.isBuffer(res.data));
    assert.equal(res.data.toString(), 'hello world');
  });

  it('the initializer runs once per instance, which is reused: 2 then 3', async () => {
    const first = await fc.invokeFunction(service, 'counter', null);
    assert.equal(first.data, '2');
    const second = await fc.invokeFunction(service, 'counter', null);
    assert.equal(second.data, '3');
  });

  it('an unhandled error is 200 with X-Fc-Error-Type and a JSON body, even with rawBuf', async () => {
    const res = await fc.invokeFunction(service, 'test-func-with-unhandled-err', Buffer.from('x'), {},
      'LATEST', { rawBuf: true });
    assert.ok(!Buffer.isBuffer(res.data));
    assert.equal(res.headers['x-fc-error-type'], 'UnhandledInvocationError');
    assert.equal(res.data.errorMessage, 'something is wrong');
    assert.equal(res.data.errorType, 'Exception');
  });

  it('a version and an alias run the code they snapshot', async () => {
    await fc.publishVersion(service, 'v1');
    await fc.createAlias(service, 'prod', '1');
    await fc.updateFunction(service, 'hello-world', { handler: 'index.count', initializer: 'index.initializer' });
    assert.equal((await fc.invokeFunction(service, 'hello-world', 'v', {}, 'prod')).data, 'hello v');
    assert.equal((await fc.invokeFunction(service, 'hello-world', 'v', {}, '1')).data, 'hello v');
    assert.equal((await fc.invokeFunction(service, 'hello-world', 'v', {}, 'LATEST')).data, '2');
  });

  it('a missing function is FCFunctionNotFoundError', async () => {
    await rejectsWith(fc.invokeFunction(service, 'nope', 'x'), {
      status: 404, name: 'FCFunctionNotFoundError',
    });
  });

});
