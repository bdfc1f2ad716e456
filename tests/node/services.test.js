'use strict';
// Services and authentication, as the SDK's own test/client.test.js exercises them.

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');

const { client, unique, rejectsWith } = require('./helpers');

describe('authentication errors', () => {
  it('an unknown access key id is FCInvalidAccessKeyIDError', async () => {
    const bad = client({ accessKeyID: 'invalidAccessKeyID', accessKeySecret: 'invalidAccessKeySecret' });
    await rejectsWith(bad.listServices(), {
      name: 'FCInvalidAccessKeyIDError',
      code: 'InvalidAccessKeyID',
      message: /GET \/services failed with 403\. requestid: .{36}, message: invalid access key ID 'invalidAccessKeyID'\./,
    });
  });

  it('a wrong secret is FCSignatureNotMatchError', async () => {
    const bad = client({ accessKeySecret: 'invalidAccessKeySecret' });
    await rejectsWith(bad.listServices(), {
      name: 'FCSignatureNotMatchError',
      message: /GET \/services failed with 403\. requestid: .{36}, message: The request signature we calculated does not match the signature you provided\./,
    });
  });
});

describe('services', () => {
  const fc = client();
  const name = unique('node_svc');

  after(async () => {
    try { await fc.deleteService(name); } catch (ex) { /* already gone */ }
  });

  it('createService', async () => {
    const res = await fc.createService(name);
    assert.equal(res.data.serviceName, name);
    assert.equal(res.data.internetAccess, true);
    assert.ok(res.headers.etag);
    assert.match(res.headers['x-fc-request-id'], /^.{36}$/);
  });

  it('createService twice is a conflict', async () => {
    await rejectsWith(fc.createService(name), { status: 409, name: 'FCServiceAlreadyExistsError' });
  });

  it('listServices', async () => {
    const res = await fc.listServices({ prefix: name });
    assert.deepEqual(res.data.services.map((s) => s.serviceName), [name]);
  });

  it('getService through LATEST and without a qualifier; description is "" when unset', async () => {
    for (const res of [await fc.getService(name, {}, 'LATEST'), await fc.getService(name)]) {
      assert.equal(res.data.serviceName, name);
      assert.equal(res.data.description, '');
    }
  });

  it('updateService', async () => {
    const res = await fc.updateService(name, { description: 'this is test update service' });
    assert.equal(res.data.serviceName, name);
    assert.equal(res.data.description, 'this is test update service');
  });

  it('tracingConfig: Jaeger refused (fcd sends no traces), {} accepted', async () => {
    await rejectsWith(fc.updateService(name, {
      tracingConfig: { type: 'Jaeger', params: { endpoint: 'http://jaeger:14268' } },
    }), { status: 400, name: 'FCInvalidArgumentError' });
    const res = await fc.updateService(name, { tracingConfig: {} });
    assert.equal(res.data.tracingConfig.type, null);
    assert.equal(res.data.tracingConfig.params, null);
  });

  it('If-Match: a stale ETag is refused, the current one accepted', async () => {
    const current = (await fc.getService(name)).headers.etag;
    await rejectsWith(fc.updateService(name, { description: 'x' }, { 'if-match': 'stale' }), {
      status: 412, name: 'FCPreconditionFailedError',
    });
    const res = await fc.updateService(name, { description: 'y' }, { 'if-match': current });
    assert.equal(res.data.description, 'y');
  });

  it('deleteService answers an empty body, then the service is gone', async () => {
    const res = await fc.deleteService(name);
    assert.equal(res.data, '');
    await rejectsWith(fc.getService(name), {
      status: 404, name: 'FCServiceNotFoundError', message: new RegExp(`'${name}'`),
    });
  });

  it('listServices pages across more than 100 services', async () => {
    const prefix = unique('node_page');
    const names = Array.from({ length: 105 }, (_, i) => `${prefix}_${String(i).padStart(3, '0')}`);
    for (const n of names) await fc.createService(n);
    try {
      const seen = [];
      let nextToken;
      let calls = 0;
      do {
        const res = await fc.listServices({ prefix, limit: 100, ...(nextToken ? { nextToken } : {}) });
        calls += 1;
        seen.push(...res.data.services.map((s) => s.serviceName));
        nextToken = res.data.nextToken;
      } while (nextToken);
      assert.equal(calls, 2);
      assert.deepEqual(seen, names);
      const res = await fc.listServices({ prefix, startKey: names[103] });
      assert.deepEqual(res.data.services.map((s) => s.serviceName), names.slice(103));
    } finally {
      for (const n of names) await fc.deleteService(n);
    }
  });
});

describe('account', () => {
  const fc = client();

  it('getAccountSettings lists availability zones', async () => {
    const res = await fc.getAccountSettings();
    assert.ok(Array.isArray(res.data.availableAZs));
  });

  it('getAccountConfigs answers CodeSizeLimit as a string', async () => {
    const res = await fc.getAccountConfigs({ config: ['CodeSizeLimit'] });
    assert.equal(res.data.CodeSizeLimit, '104857600');
  });
});
