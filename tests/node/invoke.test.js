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

  it('a process exit is an UnhandledInvocationError "Process exited unexpectedly..."', async () => {
    const res = await fc.invokeFunction(service, 'test-func-with-unhandled-err', Buffer.from('world'), {},
      'LATEST', { rawBuf: true });
    assert.ok(!Buffer.isBuffer(res.data));
    assert.equal(res.headers['x-fc-error-type'], 'UnhandledInvocationError');
    assert.match(res.data.errorMessage, /^Process exited unexpectedly before completing request/);
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
