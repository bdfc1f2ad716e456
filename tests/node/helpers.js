'use strict';
// Shared set-up for the @alicloud/fc2 tests: a client pointed at the daemon that pytest started
// (tests/integration/test_node_sdk.py passes ENDPOINT, ACCOUNT_ID, ACCESS_KEY_ID,
// ACCESS_KEY_SECRET, REGION and CODE_ZIP in the environment).

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');

const FCClient = require('@alicloud/fc2');

function setting(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through pytest (test_node_sdk.py)`);
  }
  return value;
}

const ACCOUNT_ID = setting('ACCOUNT_ID');
const REGION = setting('REGION');

function client(overrides = {}) {
  return new FCClient(ACCOUNT_ID, {
    accessKeyID: setting('ACCESS_KEY_ID'),
    accessKeySecret: setting('ACCESS_KEY_SECRET'),
    region: REGION,
    endpoint: setting('ENDPOINT'),
    timeout: 30000,
    ...overrides,
  });
}

// A resource name unique to this run, valid for every FC resource kind.
function unique(prefix) {
  return `${prefix}_${crypto.randomBytes(5).toString('hex')}`;
}

// The base64 of a real zip (a Node.js hello world) made by pytest.
function codeZip() {
  return fs.readFileSync(setting('CODE_ZIP')).toString('base64');
}

// Await `promise`, which must fail with an FC error; check what the SDK made of it.
async function rejectsWith(promise, { name, status, code, message }) {
  let error = null;
  try {
    await promise;
  } catch (ex) {
    error = ex;
  }
  assert.ok(error, `expected ${name || code} but the call succeeded`);
  if (name) assert.equal(error.name, name, error.message);
  if (code) assert.equal(error.code, code, error.message);
  if (status) assert.match(error.message, new RegExp(` failed with ${status}\\. requestid: .{36}, `));
  if (message) assert.match(error.message, message);
  return error;
}

module.exports = { ACCOUNT_ID, REGION, client, unique, codeZip, rejectsWith };
