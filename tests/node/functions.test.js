'use strict';
// Functions and triggers, as the SDK's own "function should ok", "oss trigger" and
// "http trigger" suites drive them.

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');

const { ACCOUNT_ID, REGION, client, unique, codeZip, rejectsWith } = require('./helpers');

describe('functions', () => {
  const fc = client();
  const service = unique('node_fn');

  before(async () => {
    await fc.createService(service);
  });

  after(async () => {
    for (const name of ['hello-world', 'counter']) {
      try { await fc.deleteFunction(service, name); } catch (ex) { /* already gone */ }
    }
    await fc.deleteService(service);
  });

  it('createFunction with a real zip', async () => {
    const res = await fc.createFunction(service, {
      functionName: 'hello-world',
      description: 'function desc',
      memorySize: 128,
      handler: 'index.handler',
      runtime: 'nodejs14',
      timeout: 10,
      code: { zipFile: codeZip() },
    });
    assert.equal(res.data.functionName, 'hello-world');
    assert.equal(res.data.runtime, 'nodejs14');
    assert.equal(res.data.memorySize, 128);
    assert.equal(res.data.instanceType, 'e1');
    assert.ok(res.data.codeSize > 0);
    assert.match(res.data.codeChecksum, /^\d+$/);
    assert.ok(res.headers.etag);
  });

  it('createFunction with an initializer', async () => {
    const res = await fc.createFunction(service, {
      functionName: 'counter',
      description: 'function desc',
      memorySize: 128,
      handler: 'index.handler',
      runtime: 'nodejs14',
      initializer: 'index.initializer',
      initializationTimeout: 10,
      timeout: 10,
      code: { zipFile: codeZip() },
    });
    assert.equal(res.data.functionName, 'counter');
    assert.equal(res.data.initializer, 'index.initializer');
    assert.equal(res.data.initializationTimeout, 10);
  });

  it('createFunction of an existing name is a conflict', async () => {
    await rejectsWith(fc.createFunction(service, {
      functionName: 'counter', handler: 'index.handler', runtime: 'nodejs14', code: { zipFile: codeZip() },
    }), { status: 409, name: 'FCFunctionAlreadyExistsError' });
  });

  it('listFunctions orders by name, with and without LATEST', async () => {
    for (const res of [await fc.listFunctions(service), await fc.listFunctions(service, {}, {}, 'LATEST')]) {
      assert.deepEqual(res.data.functions.map((f) => f.functionName), ['counter', 'hello-world']);
    }
    const page = await fc.listFunctions(service, { limit: 1 });
    assert.deepEqual(page.data.functions.map((f) => f.functionName), ['counter']);
    assert.equal(page.data.nextToken, 'hello-world');
    const rest = await fc.listFunctions(service, { limit: 1, nextToken: page.data.nextToken });
    assert.deepEqual(rest.data.functions.map((f) => f.functionName), ['hello-world']);
    assert.equal(rest.data.nextToken, undefined);
  });

  it('getFunction and getFunctionCode', async () => {
    const fn = await fc.getFunction(service, 'hello-world', {}, 'LATEST');
    assert.equal(fn.data.functionName, 'hello-world');
    const code = await fc.getFunctionCode(service, 'hello-world');
    assert.ok(code.data.url);
    assert.equal(code.data.checksum, fn.data.codeChecksum);
  });

  it('updateFunction: initializationTimeout "20" becomes 20, the initializer is kept', async () => {
    let res = await fc.updateFunction(service, 'hello-world', { description: 'updated function desc' });
    assert.equal(res.data.description, 'updated function desc');
    res = await fc.updateFunction(service, 'counter', {
      description: 'updated function desc',
      initializationTimeout: '20',
    });
    assert.equal(res.data.initializationTimeout, 20);
    assert.equal(res.data.initializer, 'index.initializer');
  });

  it('invalid runtime is FCInvalidArgumentError on create and update', async () => {
    await rejectsWith(fc.createFunction(service, {
      functionName: 'test_invalid_runtime_function',
      handler: 'index.handler',
      runtime: 10,
      code: { zipFile: codeZip() },
    }), { status: 400, name: 'FCInvalidArgumentError', message: /Runtime is set to an invalid value/ });
    await rejectsWith(fc.updateFunction(service, 'hello-world', { runtime: 10 }), {
      status: 400, name: 'FCInvalidArgumentError', message: /Runtime is set to an invalid value/,
    });
  });

  it('If-Match on updateFunction and deleteFunction', async () => {
    await rejectsWith(fc.updateFunction(service, 'counter', { description: 'x' }, { 'if-match': 'stale' }), {
      status: 412, name: 'FCPreconditionFailedError',
    });
    await rejectsWith(fc.deleteFunction(service, 'counter', {}, { 'if-match': 'stale' }), {
      status: 412, name: 'FCPreconditionFailedError',
    });
    const etag = (await fc.getFunction(service, 'counter')).headers.etag;
    const res = await fc.deleteFunction(service, 'counter', {}, { 'if-match': etag });
    assert.equal(res.data, '');
  });

  it('a missing function is FCFunctionNotFoundError', async () => {
    await rejectsWith(fc.getFunction(service, 'counter'), {
      status: 404, name: 'FCFunctionNotFoundError',
    });
  });

  it('a service with functions cannot be deleted', async () => {
    await rejectsWith(fc.deleteService(service), { status: 409, name: 'FCServiceNotEmptyError' });
  });
});

describe('triggers', () => {
  const fc = client();
  const service = unique('node_trg');
  const fn = 'hello-oss';
  const sourceArn = `acs:oss:${REGION}:${ACCOUNT_ID}:fc-sdk-trigger-bucket`;

  before(async () => {
    await fc.createService(service, { role: `acs:ram::${ACCOUNT_ID}:role/aliyunfclogexecutionrole` });
    await fc.createFunction(service, {
      functionName: fn, handler: 'index.handler', runtime: 'nodejs14', code: { zipFile: codeZip() },
    });
  });

  after(async () => {
    for (const name of ['oss_t', 'http-trigger']) {
      try { await fc.deleteTrigger(service, fn, name); } catch (ex) { /* already gone */ }
    }
    await fc.deleteFunction(service, fn);
    await fc.deleteService(service);
  });

  it('createTrigger (oss) echoes triggerConfig exactly', async () => {
    const triggerConfig = {
      events: ['oss:ObjectCreated:*'],
      filter: { key: { prefix: 'prefix', suffix: 'suffix' } },
    };
    const res = await fc.createTrigger(service, fn, {
      invocationRole: `acs:ram::${ACCOUNT_ID}:role/fc-test`,
      sourceArn,
      triggerName: 'oss_t',
      triggerType: 'oss',
      triggerConfig,
    });
    assert.equal(res.data.triggerName, 'oss_t');
    assert.deepEqual(res.data.triggerConfig, triggerConfig);
    assert.equal(res.data.sourceArn, sourceArn);
  });

  it('createTrigger (http, authType function) ignores sourceArn', async () => {
    const res = await fc.createTrigger(service, fn, {
      triggerName: 'http-trigger',
      triggerType: 'http',
      sourceArn: 'dummy_arn',
      invocationRole: '',
      triggerConfig: { authType: 'function', methods: ['GET', 'POST', 'PUT'] },
    });
    assert.equal(res.data.sourceArn, null);
    assert.equal(res.data.invocationRole, '');
  });

  it('listTriggers and getTrigger', async () => {
    const res = await fc.listTriggers(service, fn);
    assert.deepEqual(res.data.triggers.map((t) => t.triggerName), ['http-trigger', 'oss_t']);
    const got = await fc.getTrigger(service, fn, 'oss_t');
    assert.equal(got.data.triggerName, 'oss_t');
    assert.equal(got.data.triggerType, 'oss');
  });

  it('updateTrigger changes invocationRole only', async () => {
    const res = await fc.updateTrigger(service, fn, 'oss_t', {
      invocationRole: `acs:ram::${ACCOUNT_ID}:role/fc-test-updated`,
    });
    assert.equal(res.data.triggerName, 'oss_t');
    assert.equal(res.data.invocationRole, `acs:ram::${ACCOUNT_ID}:role/fc-test-updated`);
    assert.deepEqual(res.data.triggerConfig.events, ['oss:ObjectCreated:*']);
  });

  it('a function with triggers cannot be deleted', async () => {
    await rejectsWith(fc.deleteFunction(service, fn), { status: 409, name: 'FCFunctionNotEmptyError' });
  });

  it('deleteTrigger, then it is FCTriggerNotFoundError', async () => {
    const res = await fc.deleteTrigger(service, fn, 'oss_t');
    assert.equal(res.data, '');
    await rejectsWith(fc.getTrigger(service, fn, 'oss_t'), { status: 404, name: 'FCTriggerNotFoundError' });
  });
});
