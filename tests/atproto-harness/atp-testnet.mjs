#!/usr/bin/env node
// Boots a local ATProto network for robot's OAuth login tests: an in-memory PLC directory and
// a real PDS (@atproto/pds, with its @atproto/oauth-provider authorization server), through
// @atproto/dev-env's TestNetworkNoAppView. No Postgres, no internet. Needs Node >= 22.
//
// It creates two accounts (the user who logs in, and "bob", a collaborator), then prints ONE
// JSON line on stdout and keeps running until SIGTERM or SIGINT:
//   {"plcUrl":"http://localhost:P1","pdsUrl":"http://localhost:P2","issuer":"http://localhost:P2",
//    "did":"did:plc:…","handle":"alice.test","password":"alice-pass-123",
//    "bob":{"did":"did:plc:…","handle":"bob.test","password":"bob-pass-123"},"bootMs":412}
//
// Environment (all optional):
//   PLC_PORT, PDS_PORT          fixed ports (default: free ports). Both bind all interfaces.
//   ATP_HANDLE, ATP_PASSWORD    first account (alice.test / alice-pass-123); handle ends in .test
//   ATP_EMAIL                   its email (alice@example.test, derived from the handle)
//   ATP_BOB_HANDLE, ATP_BOB_PASSWORD   second account (bob.test / bob-pass-123)
//   CLIENT_ORIGIN_MAP           "https://client.rsvp.internal=http://localhost:8080[,from=to…]".
//                               Outbound fetches of this process (the PDS fetching an OAuth
//                               client's metadata and JWKS) to a "from" origin go to "to"
//                               instead, so an https client_id, which the PDS demands, can be
//                               served by a plain-http test server on loopback. "to" may
//                               be http://localhost:P or http://127.0.0.1:P (the PDS's
//                               "no IP host" check sees only the original https URL). The
//                               request keeps its original Host header ("client.rsvp.internal").
//   ATP_TRACE_REWRITES=1        log each rewritten fetch on stderr (failures always are)
//   ATP_READY_FILE              also write the JSON line to this file (atomically, via rename)
//   ATP_EXIT_ON_STDIN_CLOSE=1   shut down when stdin reaches EOF (spawn with a piped stdin and
//                               hold it: the network then dies with the test process)
//   ATP_LOG_FILE                turn on the PDS/PLC logs and send them to this file (they are
//                               off by default: on stdout they would mix with the JSON line)
//
// Everything the PDS writes (SQLite, blobs) lives in a private temp directory that is removed
// on shutdown.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

const t0 = performance.now();

function die(msg) {
  process.stderr.write(`atp-testnet: ${msg}\n`);
  process.exit(1);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  die(`Node ${process.versions.node} is too old; @atproto/dev-env needs Node >= 22 (run scripts/setup-atproto.sh and use the node it prints)`);
}

// --- configuration -------------------------------------------------------------------------
const env = process.env;
const port = (name) => {
  if (!env[name]) return undefined;
  const n = Number(env[name]);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) die(`${name}=${env[name]} is not a port`);
  return n;
};
const plcPort = port('PLC_PORT');
const pdsPort = port('PDS_PORT');

const alice = {
  handle: env.ATP_HANDLE || 'alice.test',
  password: env.ATP_PASSWORD || 'alice-pass-123',
};
alice.email = env.ATP_EMAIL || `${alice.handle.split('.')[0]}@example.test`;
const bob = {
  handle: env.ATP_BOB_HANDLE || 'bob.test',
  password: env.ATP_BOB_PASSWORD || 'bob-pass-123',
};
bob.email = `${bob.handle.split('.')[0]}@example.test`;
for (const a of [alice, bob]) {
  // The dev PDS only serves handles under its serviceHandleDomains (.test, .example), and
  // only .test ones resolve (through the PDS itself).
  if (!/^[a-z0-9][a-z0-9-]{2,17}\.test$/.test(a.handle)) {
    die(`handle "${a.handle}" must be <3-18 letters, digits or dashes>.test`);
  }
}
if (alice.handle === bob.handle) die(`ATP_HANDLE and ATP_BOB_HANDLE are both ${alice.handle}`);

// CLIENT_ORIGIN_MAP: "from=to,from=to". Origins are normalized through URL.
const originMap = new Map();
for (const pair of (env.CLIENT_ORIGIN_MAP || '').split(',').map((s) => s.trim()).filter(Boolean)) {
  const eq = pair.indexOf('=');
  if (eq < 0) die(`CLIENT_ORIGIN_MAP entry "${pair}" is not from=to`);
  let from, to;
  try {
    from = new URL(pair.slice(0, eq).trim());
    to = new URL(pair.slice(eq + 1).trim());
  } catch {
    die(`CLIENT_ORIGIN_MAP entry "${pair}": both sides must be absolute URLs (https://host=http://localhost:port)`);
  }
  if (from.pathname !== '/' || to.pathname !== '/' || from.search || to.search) {
    die(`CLIENT_ORIGIN_MAP entry "${pair}": give origins only, without a path`);
  }
  originMap.set(from.origin, to.origin);
}

// --- the fetch rewrite ---------------------------------------------------------------------
// The PDS fetches client metadata (and a jwks_uri) through safeFetchWrap(…, fetch: (i, init) =>
// globalThis.fetch.call(this, i, init)), looked up per request (@atproto/pds context.js), so
// replacing globalThis.fetch here takes effect. The PDS's own URL checks (dev mode: SSRF
// protection off, but still "no IP host") run on the original https URL before this.
//
// A request to a mapped origin is sent with node:http to the target, keeping the method,
// path, query, headers, body and abort signal, and with the ORIGINAL Host header (e.g.
// "client.rsvp.internal"), as the real request would carry: robot picks its site (root or a
// wiki) by Host. fetch() cannot do that (undici drops a caller's Host header). The PDS's
// undici `dispatcher` is not used. redirect:'error' (what the PDS asks for) is honoured;
// other redirect modes get the 3xx response as is. Everything else goes to the real fetch.
const traceRewrites = env.ATP_TRACE_REWRITES === '1';
function forward(request, url, targetOrigin) {
  const target = new URL(targetOrigin);
  const mod = target.protocol === 'https:' ? https : http;
  const label = `${request.method} ${url.href} → ${target.origin}`;
  return (async () => {
    const headers = {};
    for (const [k, v] of request.headers) headers[k] = v;
    headers.host = url.host;
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    if (body) headers['content-length'] = String(body.length);
    return await new Promise((resolve, reject) => {
      const req = mod.request(
        {
          protocol: target.protocol,
          hostname: target.hostname.replace(/^\[|\]$/g, ''),
          port: target.port || (target.protocol === 'https:' ? 443 : 80),
          method: request.method,
          path: url.pathname + url.search,
          headers,
          signal: request.signal,
        },
        (res) => {
          if (traceRewrites) process.stderr.write(`atp-testnet: ${label}: ${res.statusCode}\n`);
          const status = res.statusCode;
          if (status >= 300 && status < 400 && request.redirect === 'error') {
            res.resume();
            process.stderr.write(`atp-testnet: ${label}: redirect ${status} refused (redirect: error)\n`);
            reject(new TypeError('fetch failed', { cause: new Error(`unexpected redirect ${status} from ${url.href}`) }));
            return;
          }
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) h.append(k, x);
            else if (v != null) h.set(k, v);
          }
          const nullBody = request.method === 'HEAD' || [101, 204, 205, 304].includes(status);
          resolve(new Response(nullBody ? null : Readable.toWeb(res), { status, statusText: res.statusMessage, headers: h }));
        },
      );
      req.on('error', (err) => {
        process.stderr.write(`atp-testnet: ${label}: ${err.code || err.message}\n`);
        reject(new TypeError('fetch failed', { cause: err }));
      });
      req.end(body);
    });
  })();
}
if (originMap.size > 0) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = function rewritingFetch(input, init) {
    let url;
    try {
      url = new URL(input instanceof Request ? input.url : input instanceof URL ? input.href : String(input));
    } catch {
      return realFetch.call(this, input, init);
    }
    const target = originMap.get(url.origin);
    if (!target) return realFetch.call(this, input, init);
    let rest = init;
    if (init && 'dispatcher' in init) {
      const { dispatcher: _ignored, ...others } = init;
      rest = others;
    }
    let request;
    try {
      request = new Request(input, rest);
    } catch (err) {
      return Promise.reject(err);
    }
    return forward(request, url, target);
  };
}

// --- logging and temp files, before the atproto modules read the environment ---------------
if (env.ATP_LOG_FILE) {
  env.LOG_ENABLED = 'true';
  env.LOG_DESTINATION = path.resolve(env.ATP_LOG_FILE);
} else {
  env.LOG_ENABLED = 'false';
}
// TestPds puts its SQLite and blob dirs under os.tmpdir(); give it a private one.
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'atp-testnet-'));
env.TMPDIR = tmpRoot;
const removeTmp = () => {
  try {
    fs.rmSync(tmpRoot, { recursive: true, force: true });
  } catch {
    // best effort
  }
};

// --- boot ----------------------------------------------------------------------------------
let net;
let stopping = false;

async function shutdown(reason, code = 0) {
  if (stopping) return;
  stopping = true;
  // A second signal or a hung close should not keep the process around.
  const timer = setTimeout(() => {
    process.stderr.write('atp-testnet: close() took over 10 s, exiting anyway\n');
    removeTmp();
    process.exit(code || 1);
  }, 10_000);
  timer.unref();
  try {
    if (net) await net.close();
  } catch (err) {
    process.stderr.write(`atp-testnet: close after ${reason} failed: ${err?.stack || err}\n`);
    code = code || 1;
  }
  removeTmp();
  process.exit(code);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (env.ATP_EXIT_ON_STDIN_CLOSE === '1') {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

try {
  const { TestNetworkNoAppView } = await import('@atproto/dev-env');
  const tBoot = performance.now();
  net = await TestNetworkNoAppView.create({
    plc: plcPort ? { port: plcPort } : {},
    pds: pdsPort ? { port: pdsPort } : {},
  });
  const bootMs = Math.round(performance.now() - tBoot);
  if (stopping) await new Promise(() => {}); // a signal arrived during boot; shutdown() exits

  const agent = net.pds.getAgent();
  for (const a of [alice, bob]) {
    const res = await agent.createAccount({ handle: a.handle, email: a.email, password: a.password });
    a.did = res.data.did;
    a.handle = res.data.handle;
  }

  const ready = {
    plcUrl: net.plc.url,
    pdsUrl: net.pds.url,
    issuer: net.pds.ctx.cfg.oauth.issuer,
    did: alice.did,
    handle: alice.handle,
    password: alice.password,
    bob: { did: bob.did, handle: bob.handle, password: bob.password },
    bootMs,
  };
  const line = JSON.stringify(ready) + '\n';
  if (env.ATP_READY_FILE) {
    const file = path.resolve(env.ATP_READY_FILE);
    fs.writeFileSync(`${file}.tmp`, line);
    fs.renameSync(`${file}.tmp`, file);
  }
  process.stdout.write(line);
  process.stderr.write(`atp-testnet: ready in ${Math.round(performance.now() - t0)} ms (network ${bootMs} ms)\n`);
} catch (err) {
  process.stderr.write(`atp-testnet: boot failed: ${err?.stack || err}\n`);
  await shutdown('boot failure', 1);
}
