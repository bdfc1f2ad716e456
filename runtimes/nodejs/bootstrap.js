'use strict';
// The fcd nodejs runtime: runs FC handlers (spec §7.4) for the daemon over one control socket.
//
// No dependencies and independent of fcd. Frames mirror fcd/instances/protocol.py: a big-endian
// u32 header length, a u32 payload length, the JSON header, the raw payload. Output written by
// the function (console.*, process.stdout/stderr, context.logger) is sent to the daemon as log
// frames tagged with the request that wrote it (AsyncLocalStorage), so concurrent requests'
// logs stay apart.

const net = require('net');
const fs = require('fs');
const path = require('path');
const { AsyncLocalStorage } = require('async_hooks');

const HANDLED = 'HandledInvocationError';
const UNHANDLED = 'UnhandledInvocationError';
const requestScope = new AsyncLocalStorage();
let codeDir = '/code';
const sandboxReady = Number(process.env.FCD_T_SANDBOX || 0);
delete process.env.FCD_T_SANDBOX;

function monotonic() {
  return Number(process.hrtime.bigint()) / 1e9;
}

// -- the channel ------------------------------------------------------------------------------
const fd = Number(process.env.FCD_CONTROL_FD || 3);
delete process.env.FCD_CONTROL_FD;
const sock = new net.Socket({ fd, readable: true, writable: true });
sock.setNoDelay && sock.setNoDelay(true);

function send(header, payload) {
  const head = Buffer.from(JSON.stringify(header));
  const body = payload ? (Buffer.isBuffer(payload) ? payload : Buffer.from(payload)) : Buffer.alloc(0);
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(head.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  sock.write(body.length ? Buffer.concat([prefix, head, body]) : Buffer.concat([prefix, head]));
}

// With instance concurrency 1 there is at most one request in flight, and everything printed
// meanwhile is its output, even from callbacks of resources made earlier (a DB connection opened
// in the initializer carries the initializer's async context). With more, the async context
// tells concurrent requests apart.
let concurrency = 1;
let soleRequest = '';

function currentRequestId() {
  if (concurrency <= 1 && soleRequest) return soleRequest;
  const store = requestScope.getStore();
  return store ? store.id : '';
}

function log(text, id) {
  send({ t: 'log', id: id === undefined ? currentRequestId() : id }, Buffer.from(text));
}

function captureStream(stream) {
  stream.write = function (chunk, encoding, callback) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk);
    log(data);
    if (typeof encoding === 'function') encoding();
    else if (typeof callback === 'function') callback();
    return true;
  };
}
captureStream(process.stdout);
captureStream(process.stderr);

// -- handler loading --------------------------------------------------------------------------
function splitHandler(spec) {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1) {
    throw new Error(`Invalid handler '${spec}': expected 'file.export'`);
  }
  return [spec.slice(0, dot), spec.slice(dot + 1)];
}

async function loadModule(file) {
  const base = path.resolve(codeDir, file);
  for (const ext of ['.mjs']) {
    if (fs.existsSync(base + ext)) {
      const url = require('url').pathToFileURL(base + ext).href;
      return import(url);
    }
  }
  return require(base);
}

async function resolve(spec) {
  if (!spec) return null;
  const [file, name] = splitHandler(spec);
  const mod = await loadModule(file);
  let fn = mod[name];
  if (fn === undefined && mod.default && typeof mod.default === 'object') fn = mod.default[name];
  if (typeof fn !== 'function') {
    const error = new Error(`Handler '${name}' is missing on module '${file}'`);
    error.name = 'HandlerNotFound';
    throw error;
  }
  return fn;
}

// -- results ----------------------------------------------------------------------------------
function marshal(value) {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value);
  return Buffer.from(JSON.stringify(value));
}

function errorJson(err) {
  if (err instanceof Error) {
    const stack = (err.stack || '').split('\n').filter((line) => !line.includes(__filename));
    return JSON.stringify({ errorMessage: err.message, errorType: err.name, stackTrace: stack });
  }
  if (typeof err === 'string') return JSON.stringify({ errorMessage: err });
  let message;
  try {
    message = JSON.stringify(err);
  } catch (e) {
    message = String(err);
  }
  return JSON.stringify({ errorMessage: message });
}

// -- the context ------------------------------------------------------------------------------
function makeLogger(id) {
  const line = (level) => (...args) => {
    const text = require('util').format(...args);
    log(`${new Date().toISOString()} ${id} [${level}] ${text}\n`, id);
  };
  return { debug: line('DEBUG'), info: line('INFO'), log: line('INFO'), warn: line('WARN'), error: line('ERROR') };
}

let statics = {};
function makeContext(id, credentials, retryCount, tracing) {
  const fn = statics.function || {};
  const svc = statics.service || {};
  credentials = credentials || {};
  return {
    requestId: id,
    credentials: {
      accessKeyId: credentials.access_key_id || '',
      accessKeySecret: credentials.access_key_secret || '',
      securityToken: credentials.security_token || '',
    },
    function: {
      name: fn.name, handler: fn.handler, memory: fn.memory, timeout: fn.timeout,
      initializer: fn.initializer, initializationTimeout: fn.initialization_timeout,
    },
    service: {
      name: svc.name, logProject: svc.log_project, logStore: svc.log_store,
      qualifier: svc.qualifier, versionId: svc.version_id,
    },
    region: statics.region,
    accountId: statics.account_id,
    instanceId: statics.instance_id,
    retryCount: retryCount || 0,
    tracing: {
      openTracingSpanContext: (tracing && tracing.span_context) || '',
      openTracingSpanBaggages: (tracing && tracing.span_baggages) || {},
      jaegerEndpoint: (tracing && tracing.jaeger_endpoint) || '',
    },
    logger: makeLogger(id),
  };
}

// -- HTTP-trigger request/response objects ----------------------------------------------------
function httpObjects(http, body) {
  const { Readable } = require('stream');
  const req = Readable.from(body.length ? [body] : []);
  const headers = {};
  for (const [k, v] of Object.entries(http.headers || {})) headers[k.toLowerCase()] = v.length === 1 ? v[0] : v;
  const queries = {};
  for (const [k, v] of Object.entries(http.queries || {})) queries[k] = v.length === 1 ? v[0] : v;
  Object.assign(req, {
    headers, queries, path: http.path, method: http.method, clientIP: http.client_ip,
    url: http.request_uri, body,
  });
  const state = { status: 200, headers: {}, done: null };
  const finished = new Promise((resolveDone) => { state.done = resolveDone; });
  const resp = {
    setStatusCode(code) { state.status = code; },
    setHeader(k, v) { state.headers[k.toLowerCase()] = Array.isArray(v) ? v.map(String) : String(v); },
    deleteHeader(k) { delete state.headers[k.toLowerCase()]; },
    send(data) {
      if (data && typeof data.pipe === 'function') {
        const chunks = [];
        data.on('data', (c) => chunks.push(Buffer.from(c)));
        data.on('end', () => state.done(Buffer.concat(chunks)));
        return;
      }
      state.done(marshal(data));
    },
  };
  return { req, resp, state, finished };
}

// -- running one request ----------------------------------------------------------------------
function callHandler(fn, args, useCallback) {
  // Resolves with {value} or {handled} (callback(err)); rejects on a throw or rejection.
  return new Promise((resolveCall, rejectCall) => {
    let settled = false;
    const callback = (err, value) => {
      if (settled) return;
      settled = true;
      if (err !== null && err !== undefined) resolveCall({ handled: err });
      else resolveCall({ value });
    };
    let returned;
    try {
      returned = useCallback ? fn(...args, callback) : fn(...args);
    } catch (e) {
      settled = true;
      if (useCallback) {
        // FC's callback-style handlers do not catch a synchronous throw: it is uncaught, the
        // process exits and the request ends "Process exited unexpectedly" on a fresh instance.
        process.nextTick(() => { throw e; });
        return;
      }
      rejectCall(e);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then(
        (value) => { if (!settled && (!useCallback || value !== undefined)) { settled = true; resolveCall({ value }); } },
        (e) => { if (!settled) { settled = true; rejectCall(e); } },
      );
    } else if (!useCallback && !settled) {
      settled = true;
      resolveCall({ value: returned });
    }
  });
}

const loaded = { handler: null, hooks: {}, initializer: '' };

async function run(msg, payload) {
  const id = msg.id;
  const context = makeContext(id, msg.credentials, msg.retry_count, msg.tracing);
  let phase = 'Invoke';
  if (msg.t === 'init') phase = 'Initialize';
  else if (msg.t === 'hook') phase = msg.name === 'pre_stop' ? 'PreStop' : 'PreFreeze';
  soleRequest = id;
  log(`FC ${phase} Start RequestId: ${id}\n`, id);
  const header = { t: 'result', id };
  let body = Buffer.alloc(0);
  let unhandled = false;
  try {
    if (msg.t === 'invoke' && msg.http) {
      const fn = loaded.handler;
      const { req, resp, state, finished } = httpObjects(msg.http, payload);
      const outcome = Promise.race([finished.then((b) => ({ value: b })), callHandler(fn, [req, resp, context], false).then(() => finished.then((b) => ({ value: b })))]);
      const result = await outcome;
      body = result.value;
      header.http_status = state.status;
      header.http_headers = Object.entries(state.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]));
    } else {
      let fn;
      let args;
      if (msg.t === 'invoke') {
        fn = loaded.handler;
        args = [payload, context];
      } else {
        fn = await resolve(msg.t === 'init' ? loaded.initializer : loaded.hooks[msg.name]);
        if (!fn) throw new Error(`${phase} handler is not configured`);
        args = [context];
      }
      const result = await callHandler(fn, args, fn.length > args.length);
      if ('handled' in result) {
        header.error = HANDLED;
        body = Buffer.from(errorJson(result.handled));
      } else {
        body = msg.t === 'invoke' ? marshal(result.value) : Buffer.alloc(0);
      }
    }
  } catch (e) {
    unhandled = true;
    header.error = UNHANDLED;
    body = Buffer.from(errorJson(e));
    log(body.toString() + '\n', id);
  }
  const suffix = unhandled || header.error ? ', Error: Unhandled function error' : '';
  log(`FC ${phase} End RequestId: ${id}${header.error === HANDLED ? '' : suffix}\n`, id);
  if (soleRequest === id) soleRequest = '';
  send(header, body);
}

function applyEnvironment(env) {
  // A pre-started node learns its function's environment only now.
  if (env && Object.keys(env).length) {
    for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
    Object.assign(process.env, env);
  }
  codeDir = (process.env.FC_FUNC_CODE_PATH || '/code/').replace(/\/+$/, '') || '/';
}

async function load(msg) {
  const ready = monotonic();
  applyEnvironment(msg.env);
  statics = msg.context || {};
  concurrency = Number(msg.concurrency || 1);
  loaded.initializer = msg.initializer || '';
  loaded.hooks = { pre_stop: msg.pre_stop || '', pre_freeze: msg.pre_freeze || '' };
  try {
    process.chdir(codeDir);
  } catch (e) { /* the code dir is missing: resolve() reports it */ }
  try {
    loaded.handler = await resolve(msg.handler);
  } catch (e) {
    send({ t: 'loaded', ok: false, version: process.versions.node, code: 'InitializationError', sandbox_ready: sandboxReady, runtime_ready: ready, loaded: monotonic() }, Buffer.from(errorJson(e)));
    return;
  }
  send({ t: 'loaded', ok: true, version: process.versions.node, sandbox_ready: sandboxReady, runtime_ready: ready, loaded: monotonic() });
}

// -- the loop ---------------------------------------------------------------------------------
let buffered = Buffer.alloc(0);
sock.on('data', (chunk) => {
  buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
  while (buffered.length >= 8) {
    const headLen = buffered.readUInt32BE(0);
    const bodyLen = buffered.readUInt32BE(4);
    if (buffered.length < 8 + headLen + bodyLen) break;
    const msg = JSON.parse(buffered.subarray(8, 8 + headLen).toString());
    const payload = Buffer.from(buffered.subarray(8 + headLen, 8 + headLen + bodyLen));
    buffered = buffered.subarray(8 + headLen + bodyLen);
    if (msg.t === 'load') load(msg);
    else if (msg.t === 'exit') process.exit(0);
    else requestScope.run({ id: msg.id }, () => run(msg, payload));
  }
});
sock.on('end', () => process.exit(0));
// Pre-started: say so once listening, so the sandbox around this node may wait in the pool.
if (process.env.FCD_PRESTART === '1') send({ t: 'prepared' });
delete process.env.FCD_PRESTART;
sock.on('error', () => process.exit(1));

process.on('uncaughtException', (err) => {
  log(`${errorJson(err)}\n`);
  process.exit(129);
});
process.on('unhandledRejection', (err) => {
  log(`${errorJson(err)}\n`);
  process.exit(129);
});
