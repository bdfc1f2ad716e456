'use strict';
// Custom domains, tags, layers and async-invoke configs, as the SDK's own suites use them.

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');

const { ACCOUNT_ID, REGION, client, unique, codeZip, rejectsWith } = require('./helpers');

describe('custom domains', () => {
  const fc = client();
  const prefix = unique('sdk').replace('_', '-');
  const domainName = `${prefix}.example.com`;

  it('createCustomDomain defaults protocol to HTTP', async () => {
    const res = await fc.createCustomDomain(domainName);
    assert.equal(res.data.domainName, domainName);
    assert.equal(res.data.protocol, 'HTTP');
  });

  it('createCustomDomain twice is FCDomainNameAlreadyExistsError', async () => {
    await rejectsWith(fc.createCustomDomain(domainName), {
      status: 409, name: 'FCDomainNameAlreadyExistsError',
    });
  });

  it('listCustomDomains: a finished list has only customDomains', async () => {
    const res = await fc.listCustomDomains({ prefix });
    assert.deepEqual(Object.keys(res.data), ['customDomains']);
    assert.deepEqual(res.data.customDomains.map((d) => d.domainName), [domainName]);
  });

  it('getCustomDomain and updateCustomDomain', async () => {
    const got = await fc.getCustomDomain(domainName);
    assert.equal(got.data.protocol, 'HTTP');
    const res = await fc.updateCustomDomain(domainName, {
      routeConfig: { routes: [{ path: '/', serviceName: 's1', functionName: 'f1' }] },
    });
    assert.equal(res.data.domainName, domainName);
    assert.equal(res.data.routeConfig.routes[0].path, '/');
    assert.equal(res.data.routeConfig.routes[0].serviceName, 's1');
    assert.equal(res.data.routeConfig.routes[0].functionName, 'f1');
    assert.equal(res.data.protocol, 'HTTP');
  });

  it('deleteCustomDomain, then FCDomainNameNotFoundError', async () => {
    const res = await fc.deleteCustomDomain(domainName);
    assert.equal(res.data, '');
    await rejectsWith(fc.getCustomDomain(domainName), { status: 404, name: 'FCDomainNameNotFoundError' });
  });
});

describe('tags', () => {
  const fc = client();
  const service = unique('node_tag');
  const fullArn = `acs:fc:${REGION}:${ACCOUNT_ID}:services/${service}`;

  before(() => fc.createService(service));
  after(() => fc.deleteService(service));

  it('tagResource with a partial ARN; getResourceTags answers the full one', async () => {
    await fc.tagResource(`services/${service}`, { k1: 'v1', k2: 'v2' });
    const res = await fc.getResourceTags({ resourceArn: `services/${service}` });
    assert.equal(res.data.resourceArn, fullArn);
    assert.deepEqual(res.data.tags, { k1: 'v1', k2: 'v2' });
  });

  it('listServices filters by tags', async () => {
    let res = await fc.listServices({ prefix: service, tags: { k1: 'v1', k2: 'v2' } });
    assert.deepEqual(res.data.services.map((s) => s.serviceName), [service]);
    res = await fc.listServices({ prefix: service, tags: { k1: '' } });
    assert.equal(res.data.services.length, 1);
    res = await fc.listServices({ tags: { k_no_exist: 'v3_no_exist' } });
    assert.equal(res.data.services.length, 0);
  });

  it('untagResource one key, then all', async () => {
    await fc.untagResource(`services/${service}`, ['k1'], false);
    let res = await fc.getResourceTags({ resourceArn: `services/${service}` });
    assert.equal(res.data.tags.k1, undefined);
    assert.equal(res.data.tags.k2, 'v2');
    await fc.untagResource(fullArn, [], true);
    res = await fc.getResourceTags({ resourceArn: `services/${service}` });
    assert.equal(Object.keys(res.data.tags).length, 0);
  });

  it('tagging a missing service is FCServiceNotFoundError', async () => {
    await rejectsWith(fc.tagResource(`services/${service}_missing`, { k: 'v' }), {
      status: 404, name: 'FCServiceNotFoundError',
    });
  });
});

describe('layers', () => {
  const fc = client();
  const name = unique('node_layer');
  let arn;

  it('publishLayerVersion', async () => {
    const res = await fc.publishLayerVersion(name, {
      code: { zipFile: codeZip() },
      description: 'first',
      compatibleRuntime: ['nodejs14', 'nodejs16'],
    });
    assert.equal(res.data.layerName, name);
    assert.equal(res.data.version, 1);
    assert.equal(res.data.description, 'first');
    assert.deepEqual(res.data.compatibleRuntime, ['nodejs14', 'nodejs16']);
    assert.ok(res.data.codeSize > 0);
    assert.ok(res.data.arn);
    arn = res.data.arn;
    const second = await fc.publishLayerVersion(name, {
      code: { zipFile: codeZip() }, description: 'second', compatibleRuntime: ['nodejs14'],
    });
    assert.equal(second.data.version, 2);
  });

  it('getLayerVersion and getLayerVersionByArn (an encoded ARN in the path)', async () => {
    const res = await fc.getLayerVersion(name, 1);
    assert.equal(res.data.description, 'first');
    const byArn = await fc.getLayerVersionByArn(arn);
    assert.equal(byArn.data.layerName, name);
    assert.equal(byArn.data.version, 1);
  });

  it('listLayers and listLayerVersions', async () => {
    const layers = await fc.listLayers({ prefix: name });
    assert.deepEqual(layers.data.layers.map((l) => l.layerName), [name]);
    assert.equal(layers.data.layers[0].version, 2);
    const versions = await fc.listLayerVersions(name, { startVersion: 1, limit: 1 });
    assert.deepEqual(versions.data.layers.map((l) => l.version), [1]);
    assert.equal(versions.data.nextVersion, 2);
  });

  it('deleteLayerVersion, then FCLayerNotFoundError', async () => {
    for (const version of [1, 2]) {
      const res = await fc.deleteLayerVersion(name, version);
      assert.equal(res.data, '');
    }
    await rejectsWith(fc.getLayerVersion(name, 1), { status: 404, name: 'FCLayerNotFoundError' });
  });
});

describe('async invoke config', () => {
  const fc = client();
  const service = unique('node_async');
  const fn = 'asyncTest';
  // The SDK's own test names an MNS queue; fcd has no MNS, so a function destination here.
  const asyncConfig = {
    destinationConfig: {
      onSuccess: {
        destination: `acs:fc:${REGION}:${ACCOUNT_ID}:services/${service}.LATEST/functions/${fn}`,
      },
    },
    maxAsyncRetryAttempts: 1,
    maxAsyncEventAgeInSeconds: 100,
  };

  before(async () => {
    await fc.createService(service);
    await fc.createFunction(service, {
      functionName: fn, handler: 'index.handler', runtime: 'nodejs14', code: { zipFile: codeZip() },
    });
  });
  after(async () => {
    await fc.deleteFunction(service, fn);
    await fc.deleteService(service);
  });

  it('an MNS destination is refused: there is no MNS to deliver to', async () => {
    await rejectsWith(fc.putFunctionAsyncConfig(service, fn, '', {
      destinationConfig: {
        onSuccess: { destination: `acs:mns:${REGION}:${ACCOUNT_ID}:/queues/sth/messages` },
      },
    }), { status: 400, name: 'FCInvalidArgumentError', message: /no MNS/ });
  });

  it('putFunctionAsyncConfig defaults the qualifier to LATEST', async () => {
    const res = await fc.putFunctionAsyncConfig(service, fn, '', asyncConfig);
    assert.equal(res.data.destinationConfig.onSuccess.destination,
      asyncConfig.destinationConfig.onSuccess.destination);
    assert.equal(res.data.qualifier, 'LATEST');
    assert.ok(res.data.createdTime);
    assert.ok(res.data.lastModifiedTime);
  });

  it('getFunctionAsyncConfig and listFunctionAsyncConfigs', async () => {
    const res = await fc.getFunctionAsyncConfig(service, fn, '');
    assert.equal(res.data.maxAsyncEventAgeInSeconds, 100);
    const list = await fc.listFunctionAsyncConfigs(service, fn, { limit: 1 });
    assert.equal(list.data.configs.length, 1);
    assert.equal(list.data.configs[0].maxAsyncRetryAttempts, 1);
    assert.equal(list.data.nextToken, '');
  });

  it('deleteFunctionAsyncConfig, then FCAsyncConfigNotExistsError', async () => {
    const res = await fc.deleteFunctionAsyncConfig(service, fn, '');
    assert.equal(res.data, '');
    await rejectsWith(fc.getFunctionAsyncConfig(service, fn, ''), {
      status: 404, name: 'FCAsyncConfigNotExistsError',
    });
  });
});
