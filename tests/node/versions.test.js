'use strict';
// Versions and aliases (the SDK's "versions test" and "alias test"), and the configs that hang
// off an alias: provision and on-demand.

const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');

const { ACCOUNT_ID, client, unique, codeZip, rejectsWith } = require('./helpers');

async function serviceWithFunction(fc, service, fn) {
  await fc.createService(service);
  await fc.createFunction(service, {
    functionName: fn, handler: 'index.handler', runtime: 'nodejs14', code: { zipFile: codeZip() },
  });
}

async function removeAll(fc, service, fn) {
  for (const alias of (await fc.listAliases(service)).data.aliases) {
    await fc.deleteAlias(service, alias.aliasName);
  }
  for (const version of (await fc.listVersions(service)).data.versions) {
    await fc.deleteVersion(service, version.versionId);
  }
  await fc.deleteFunction(service, fn);
  await fc.deleteService(service);
}

describe('versions', () => {
  const fc = client();
  const service = unique('node_ver');

  before(() => serviceWithFunction(fc, service, 'hello-world'));
  after(() => removeAll(fc, service, 'hello-world'));

  it('ids are never reused: publish 1, delete it, publish again is 2', async () => {
    const first = await fc.publishVersion(service);
    assert.equal(first.data.versionId, '1');
    await fc.deleteVersion(service, '1');
    const second = await fc.publishVersion(service, 'test version');
    assert.equal(second.data.versionId, '2');
    assert.equal(second.data.description, 'test version');
  });

  it('publishing with nothing changed fails', async () => {
    await rejectsWith(fc.publishVersion(service, 'again'), { status: 400 });
  });

  it('a service with versions cannot be deleted', async () => {
    await rejectsWith(fc.deleteService(service), { status: 409, name: 'FCServiceNotEmptyError' });
  });

  it('listVersions', async () => {
    const res = await fc.listVersions(service);
    assert.deepEqual(res.data.versions.map((v) => v.versionId), ['2']);
  });

  it('deleteVersion answers an empty body; a missing one is FCVersionNotFoundError', async () => {
    const res = await fc.deleteVersion(service, '2');
    assert.equal(res.data, '');
    await rejectsWith(fc.deleteVersion(service, '2'), { status: 404, name: 'FCVersionNotFoundError' });
  });
});

describe('aliases', () => {
  const fc = client();
  const service = unique('node_alias');
  const aliasName = 'new-version';

  before(async () => {
    await serviceWithFunction(fc, service, 'hello-world');
    await fc.publishVersion(service, 'test version 1');
    await fc.updateFunction(service, 'hello-world', { description: 'updated function desc' });
    await fc.publishVersion(service, 'test version 2');
  });
  after(() => removeAll(fc, service, 'hello-world'));

  it('createAlias', async () => {
    const res = await fc.createAlias(service, aliasName, '1', { description: 'test alias' });
    assert.equal(res.data.aliasName, aliasName);
    assert.equal(res.data.versionId, '1');
    assert.equal(res.data.description, 'test alias');
  });

  it('createAlias of an existing name is FCAliasAlreadyExistsError', async () => {
    await rejectsWith(fc.createAlias(service, aliasName, '1'), {
      status: 409, name: 'FCAliasAlreadyExistsError',
    });
  });

  it('updateAlias without a version keeps it; weights and "" description are set', async () => {
    let res = await fc.updateAlias(service, aliasName, null, {
      additionalVersionWeight: { 2: 0.3 },
      description: '',
    });
    assert.equal(res.data.versionId, '1');
    assert.equal(res.data.description, '');
    assert.deepEqual(res.data.additionalVersionWeight, { 2: 0.3 });
    res = await fc.updateAlias(service, aliasName, '1', { additionalVersionWeight: { 2: 0.5 } });
    assert.equal(res.data.versionId, '1');
    assert.equal(res.data.description, '');
    assert.deepEqual(res.data.additionalVersionWeight, { 2: 0.5 });
  });

  it('getAlias and listAliases', async () => {
    const got = await fc.getAlias(service, aliasName);
    assert.equal(got.data.versionId, '1');
    assert.deepEqual(got.data.additionalVersionWeight, { 2: 0.5 });
    const res = await fc.listAliases(service);
    assert.equal(res.data.aliases.length, 1);
    assert.equal(res.data.aliases[0].versionId, '1');
    assert.equal(res.data.aliases[0].description, '');
  });

  it('reads through the alias see the version\'s snapshot', async () => {
    const fn = await fc.getFunction(service, 'hello-world', {}, aliasName);
    assert.notEqual(fn.data.description, 'updated function desc');
    const latest = await fc.getFunction(service, 'hello-world', {}, 'LATEST');
    assert.equal(latest.data.description, 'updated function desc');
    const svc = await fc.getService(service, {}, aliasName);
    assert.equal(svc.data.serviceName, service);
  });

  it('an alias pointing at a missing version is refused', async () => {
    await rejectsWith(fc.createAlias(service, 'broken', '99'), { status: 404, name: 'FCVersionNotFoundError' });
  });

  it('deleteAlias answers an empty body; then FCAliasNotFoundError', async () => {
    const res = await fc.deleteAlias(service, aliasName);
    assert.equal(res.data, '');
    await rejectsWith(fc.getAlias(service, aliasName), { status: 404, name: 'FCAliasNotFoundError' });
  });
});

describe('provision and on-demand configs', () => {
  const fc = client();
  const service = unique('node_prov');
  const fn = 'testProvisionConfig';
  const aliasName = 'prod';

  before(async () => {
    await serviceWithFunction(fc, service, fn);
    await fc.publishVersion(service, 'test version 1');
    await fc.createAlias(service, aliasName, '1', { description: 'test alias', additionalVersionWeight: {} });
  });
  after(async () => {
    await fc.putProvisionConfig(service, fn, aliasName, { target: 0 });
    await removeAll(fc, service, fn);
  });

  it('putProvisionConfig and getProvisionConfig', async () => {
    let res = await fc.putProvisionConfig(service, fn, aliasName, { target: 1 });
    assert.equal(res.data.target, 1);
    assert.equal(res.data.resource, `${ACCOUNT_ID}#${service}#${aliasName}#${fn}`);
    res = await fc.getProvisionConfig(service, fn, aliasName);
    assert.equal(res.data.target, 1);
    assert.equal(res.data.resource, `${ACCOUNT_ID}#${service}#${aliasName}#${fn}`);
  });

  it('listProvisionConfigs by service and qualifier', async () => {
    const res = await fc.listProvisionConfigs({ serviceName: service, qualifier: aliasName });
    assert.equal(res.data.provisionConfigs.length, 1);
    assert.equal(res.data.provisionConfigs[0].target, 1);
  });

  it('on-demand config: put, get, list, delete, then FCOnDemandConfigNotFoundError', async () => {
    let res = await fc.putOnDemandConfig(service, fn, aliasName, { maximumInstanceCount: 5 });
    assert.equal(res.data.maximumInstanceCount, 5);
    assert.equal(res.data.resource, `services/${service}.${aliasName}/functions/${fn}`);
    res = await fc.getOnDemandConfig(service, fn, aliasName);
    assert.equal(res.data.maximumInstanceCount, 5);
    res = await fc.listOnDemandConfigs({ prefix: `services/${service}.` });
    assert.deepEqual(res.data.configs.map((c) => c.resource), [`services/${service}.${aliasName}/functions/${fn}`]);
    res = await fc.deleteOnDemandConfig(service, fn, aliasName);
    assert.equal(res.data, '');
    await rejectsWith(fc.getOnDemandConfig(service, fn, aliasName), {
      status: 404, name: 'FCOnDemandConfigNotFoundError',
    });
  });
});
