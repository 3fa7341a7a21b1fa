#!/usr/bin/env node
// Self-check of the harness, without robot: boots atp-testnet.mjs and runs real ATProto OAuth
// flows against it, checking each outcome:
//
//   1. discovery: handle → DID (resolveHandle) → DID doc (PLC) → PDS → protected-resource
//      metadata → authorization-server metadata (the chain a real client walks);
//   2. public loopback client "http://localhost" (token_endpoint_auth_method none): PAR (PKCE
//      S256, DPoP with nonce retry) → approve.mjs → token → com.atproto.server.getSession with
//      the DPoP-bound token → refresh → the code cannot be used twice;
//   3. confidential client, the way robot logs in: client_id
//      https://client.rsvp.internal/client-metadata.json, private_key_jwt (ES256, inline jwks),
//      served by a plain-http server on 127.0.0.1 that the PDS reaches through
//      CLIENT_ORIGIN_MAP (atp-testnet.mjs's fetch rewrite, which keeps the Host header) →
//      approve.mjs → token → getSession → refresh;
//   4. deny: PAR → approve.mjs … deny (as bob: signs in, then rejects) → redirect with
//      error=access_denied and the state;
//   5. wrong password: PAR → approve.mjs exits 1 with the server's error on stderr.
//
//   node selfcheck.mjs                      boots its own network, SIGTERMs it at the end
//   ATP_TESTNET_JSON='{…}' node selfcheck.mjs   uses a running network (its ready line); skips 3,
//                                           which needs CLIENT_ORIGIN_MAP set at boot
//   APPROVER=browser node selfcheck.mjs     uses approve-browser.mjs instead (needs chromium)
//   ATP_TESTNET_JSON='{…}' node selfcheck.mjs authorize-url [handle]
//                                           only makes a PAR (loopback client) and prints the
//                                           authorize URL, for trying approve*.mjs by hand
//
// Prints "SELFCHECK OK in N ms" and exits 0, or the first failure and exits 1.
// Dependency-free: JWTs (DPoP proofs, client assertions) are ES256 signed with WebCrypto.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const t0 = performance.now();
const log = (...a) => console.log(...a);
const subtle = crypto.webcrypto.subtle;

function fail(msg) {
  throw new Error(msg);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}

// --- testnet -------------------------------------------------------------------------------
async function bootTestnet(extraEnv) {
  const child = spawn(process.execPath, [path.join(here, 'atp-testnet.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...extraEnv, ATP_EXIT_ON_STDIN_CLOSE: '1' },
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = readline.createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    exited.then(({ code, signal }) => fail(`atp-testnet.mjs exited (code ${code}, signal ${signal}) before its ready line`)),
    new Promise((_, reject) => setTimeout(() => reject(new Error('atp-testnet.mjs: no ready line within 60 s')), 60_000).unref()),
  ]);
  return { child, exited, net: JSON.parse(first) };
}

// --- JWT and HTTP helpers (fetch is fine here: API calls, not page navigations) ------------
async function getJson(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) fail(`GET ${url} → ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const sha256b64u = (s) => b64u(crypto.createHash('sha256').update(s).digest());

async function es256Key() {
  const { privateKey, publicKey } = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await subtle.exportKey('jwk', publicKey);
  return { privateKey, jwk: { kty, crv, x, y } };
}

async function signJwt(privateKey, header, payload) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const sig = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, Buffer.from(input));
  return `${input}.${b64u(sig)}`; // WebCrypto ECDSA signatures are already r||s, as JWS wants
}

/** A DPoP key (RFC 9449) with per-origin nonce memory, and fetch that sends proofs. */
async function makeDpop() {
  const { privateKey, jwk } = await es256Key();
  const nonces = new Map();
  async function proof(method, url, accessToken) {
    const u = new URL(url);
    const payload = { jti: crypto.randomUUID(), htm: method, htu: u.origin + u.pathname, iat: Math.floor(Date.now() / 1000) };
    if (nonces.has(u.origin)) payload.nonce = nonces.get(u.origin);
    if (accessToken) payload.ath = sha256b64u(accessToken);
    return signJwt(privateKey, { typ: 'dpop+jwt', alg: 'ES256', jwk }, payload);
  }
  /** Retries once when the server asks for a (new) nonce. `form` may be a function, so a
   *  retry gets fresh values (a client assertion's jti must not repeat). */
  async function dpopFetch(method, url, { form, accessToken } = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = { dpop: await proof(method, url, accessToken) };
      if (accessToken) headers.authorization = `DPoP ${accessToken}`;
      let body;
      if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(typeof form === 'function' ? await form() : form).toString();
      }
      const res = await fetch(url, { method, headers, body });
      const newNonce = res.headers.get('dpop-nonce');
      if (newNonce) nonces.set(new URL(url).origin, newNonce);
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = { raw: text };
      }
      const wantsNonce = json.error === 'use_dpop_nonce' || /use_dpop_nonce/.test(res.headers.get('www-authenticate') || '');
      if (wantsNonce && newNonce && attempt === 0) {
        console.error(`  (${new URL(url).pathname}: server asked for a DPoP nonce, retrying)`);
        continue;
      }
      return { status: res.status, json };
    }
  }
  return { dpopFetch };
}

// --- clients -------------------------------------------------------------------------------
/** The public loopback client: metadata synthesized by the AS from the client_id itself. */
function loopbackClient() {
  const redirectUri = 'http://127.0.0.1/callback';
  return {
    name: 'loopback client',
    id: `http://localhost?${new URLSearchParams({ redirect_uri: redirectUri, scope: 'atproto' })}`,
    redirectUri,
    auth: async () => ({}),
  };
}

/** A confidential web client like robot's, served over plain http on 127.0.0.1. */
async function confidentialClient(origin = 'https://client.rsvp.internal') {
  const { privateKey, jwk } = await es256Key();
  const kid = 'selfcheck-1';
  const id = `${origin}/client-metadata.json`;
  const redirectUri = `${origin}/oauth/callback`;
  const metadata = {
    client_id: id,
    client_name: 'robot harness selfcheck',
    client_uri: origin,
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    scope: 'atproto',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    dpop_bound_access_tokens: true,
    jwks: { keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] },
  };
  const fetched = [];
  const server = http.createServer((req, res) => {
    fetched.push(`${req.headers.host}${req.url}`);
    if (req.url === '/client-metadata.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(metadata));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name: 'confidential client',
    id,
    redirectUri,
    originMap: `${origin}=http://localhost:${server.address().port}`,
    fetched,
    close: () => server.close(),
    auth: async (issuer) => {
      const iat = Math.floor(Date.now() / 1000);
      return {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signJwt(privateKey, { alg: 'ES256', kid, typ: 'JWT' }, { iss: id, sub: id, aud: issuer, jti: crypto.randomUUID(), iat, exp: iat + 60 }),
      };
    },
  };
}

async function par(as, dpop, client, handle) {
  const verifier = b64u(crypto.randomBytes(32));
  const state = b64u(crypto.randomBytes(16));
  const { status, json } = await dpop.dpopFetch('POST', as.pushed_authorization_request_endpoint, {
    form: async () => ({
      client_id: client.id,
      response_type: 'code',
      redirect_uri: client.redirectUri,
      scope: 'atproto',
      state,
      code_challenge: sha256b64u(verifier),
      code_challenge_method: 'S256',
      login_hint: handle,
      ...(await client.auth(as.issuer)),
    }),
  });
  check(status === 201 || status === 200, `PAR (${client.name}) → ${status} ${JSON.stringify(json)}`);
  check(typeof json.request_uri === 'string', `PAR gave no request_uri: ${JSON.stringify(json)}`);
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.id);
  url.searchParams.set('request_uri', json.request_uri);
  return { authorizeUrl: url.href, verifier, state };
}

// --- running the approvers as the Rust tests will: child processes -------------------------
function run(script, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** PAR → approver → token → getSession [→ refresh → code reuse]. */
async function login({ as, pds, net, dpop, client, approver, refresh }) {
  const { authorizeUrl, verifier, state } = await par(as, dpop, client, net.handle);
  const t = performance.now();
  const r = await run(approver, [authorizeUrl, net.handle, net.password]);
  check(r.code === 0, `${approver} (${client.name}) exited ${r.code}: ${r.stderr.trim()}`);
  const got = JSON.parse(r.stdout);
  log(`${client.name}: ${approver} ok in ${Math.round(performance.now() - t)} ms:`, r.stdout.trim());
  check(got.state === state, `state ${got.state} ≠ ${state}`);
  check(got.iss === as.issuer, `iss ${got.iss} ≠ ${as.issuer}`);
  check(/^cod-/.test(got.code || ''), `no code: ${r.stdout}`);
  check(got.redirect?.startsWith(client.redirectUri), `redirect ${got.redirect} is not at ${client.redirectUri}`);

  const codeForm = async () => ({
    grant_type: 'authorization_code',
    code: got.code,
    redirect_uri: client.redirectUri,
    code_verifier: verifier,
    client_id: client.id,
    ...(await client.auth(as.issuer)),
  });
  const tok = await dpop.dpopFetch('POST', as.token_endpoint, { form: codeForm });
  check(tok.status === 200, `token (${client.name}) → ${tok.status} ${JSON.stringify(tok.json)}`);
  check(
    tok.json.token_type === 'DPoP' && tok.json.sub === net.did && tok.json.scope === 'atproto',
    `token response: ${JSON.stringify({ ...tok.json, access_token: '…', refresh_token: '…' })}`,
  );
  log(`${client.name}: token ok: token_type=${tok.json.token_type} sub=${tok.json.sub} scope=${tok.json.scope} refresh=${!!tok.json.refresh_token}`);

  const sess = await dpop.dpopFetch('GET', `${pds}/xrpc/com.atproto.server.getSession`, { accessToken: tok.json.access_token });
  check(sess.status === 200 && sess.json.did === net.did && sess.json.handle === net.handle, `getSession → ${sess.status} ${JSON.stringify(sess.json)}`);
  log(`${client.name}: getSession ok: did=${sess.json.did} handle=${sess.json.handle}`);

  if (refresh) {
    const ref = await dpop.dpopFetch('POST', as.token_endpoint, {
      form: async () => ({ grant_type: 'refresh_token', refresh_token: tok.json.refresh_token, client_id: client.id, ...(await client.auth(as.issuer)) }),
    });
    check(ref.status === 200 && ref.json.sub === net.did && ref.json.refresh_token !== tok.json.refresh_token, `refresh → ${ref.status} ${JSON.stringify(ref.json)}`);
    log(`${client.name}: refresh ok (rotated)`);

    const again = await dpop.dpopFetch('POST', as.token_endpoint, { form: codeForm });
    check(again.status === 400, `code reuse → ${again.status} ${JSON.stringify(again.json)}`);
    log(`${client.name}: code reuse refused: ${again.json.error}: ${again.json.error_description}`);
  }
}

async function main() {
  const external = process.env.ATP_TESTNET_JSON;
  const approver = process.env.APPROVER === 'browser' ? 'approve-browser.mjs' : 'approve.mjs';
  let testnet;
  let net;
  let confidential;
  if (external) {
    net = JSON.parse(external);
  } else {
    confidential = await confidentialClient();
    const tBoot = performance.now();
    testnet = await bootTestnet({ CLIENT_ORIGIN_MAP: confidential.originMap });
    net = testnet.net;
    log(`testnet ready in ${Math.round(performance.now() - tBoot)} ms (CLIENT_ORIGIN_MAP=${confidential.originMap}):`, JSON.stringify(net));
  }

  try {
    // 1. Discovery, as a client that only knows the handle and a handle-resolver URL.
    const { did } = await getJson(`${net.pdsUrl}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(net.handle)}`);
    check(did === net.did, `resolveHandle(${net.handle}) = ${did}, ready line says ${net.did}`);
    const doc = await getJson(`${net.plcUrl}/${did}`);
    check(doc.alsoKnownAs?.includes(`at://${net.handle}`), `DID doc lacks at://${net.handle}: ${JSON.stringify(doc.alsoKnownAs)}`);
    const pds = doc.service?.find((s) => s.id === '#atproto_pds')?.serviceEndpoint;
    check(pds === net.pdsUrl, `DID doc PDS ${pds} ≠ ${net.pdsUrl}`);
    const prm = await getJson(`${pds}/.well-known/oauth-protected-resource`);
    const issuer = prm.authorization_servers?.[0];
    check(issuer === net.issuer, `protected resource names AS ${issuer}, ready line says ${net.issuer}`);
    const as = await getJson(`${issuer}/.well-known/oauth-authorization-server`);
    check(as.issuer === issuer, `AS metadata issuer ${as.issuer} ≠ ${issuer}`);
    if (net.bob) {
      const bob = await getJson(`${net.pdsUrl}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(net.bob.handle)}`);
      check(bob.did === net.bob.did, `resolveHandle(${net.bob.handle}) = ${bob.did}, ready line says ${net.bob.did}`);
    }
    log(`discovery ok: ${net.handle} → ${did} → ${pds} → AS ${issuer}`);

    const dpop = await makeDpop();
    const loopback = loopbackClient();

    // 2. Public loopback client: approve, exchange, use, refresh, no code reuse.
    await login({ as, pds, net, dpop, client: loopback, approver, refresh: true });

    // 3. Confidential https client through the fetch rewrite.
    if (confidential) {
      await login({ as, pds, net, dpop: await makeDpop(), client: confidential, approver, refresh: true });
      // Fetched through the rewrite, with the client_id's own Host (robot routes by Host).
      check(confidential.fetched.includes(new URL(confidential.id).host + '/client-metadata.json'), `the PDS never fetched the client metadata with Host ${new URL(confidential.id).host} (saw ${JSON.stringify(confidential.fetched)})`);
      log(`confidential client: the PDS fetched ${JSON.stringify(confidential.fetched)} through CLIENT_ORIGIN_MAP`);
    } else {
      log('confidential client: skipped (needs CLIENT_ORIGIN_MAP at boot; run without ATP_TESTNET_JSON)');
    }

    // 4. Deny (bob signs in, then rejects).
    if (net.bob) {
      const { authorizeUrl, state } = await par(as, dpop, loopback, net.bob.handle);
      const r = await run(approver, [authorizeUrl, net.bob.handle, net.bob.password, 'deny']);
      check(r.code === 0, `${approver} deny exited ${r.code}: ${r.stderr.trim()}`);
      const got = JSON.parse(r.stdout);
      check(got.error === 'access_denied' && got.state === state && got.iss === issuer && !got.code, `deny result: ${r.stdout}`);
      check(got.did === net.bob.did, `deny signed in as ${got.did}, expected bob ${net.bob.did}`);
      log(`${approver} deny ok:`, r.stdout.trim());
    }

    // 5. Wrong password.
    {
      const { authorizeUrl } = await par(as, dpop, loopback, net.handle);
      const r = await run(approver, [authorizeUrl, net.handle, 'not-the-password']);
      check(r.code === 1 && r.stdout === '' && r.stderr.trim(), `wrong password: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
      log(`wrong password refused (exit 1): ${r.stderr.trim().split('\n').pop()}`);
    }
  } finally {
    confidential?.close();
    if (testnet) {
      const t = performance.now();
      testnet.child.kill('SIGTERM');
      const { code, signal } = await testnet.exited;
      log(`testnet stopped by SIGTERM in ${Math.round(performance.now() - t)} ms (exit ${code}${signal ? `, signal ${signal}` : ''})`);
      check(code === 0, `atp-testnet.mjs exited ${code} on SIGTERM`);
    }
  }
  log(`SELFCHECK OK in ${Math.round(performance.now() - t0)} ms`);
}

async function authorizeUrlOnly(handle) {
  const net = JSON.parse(process.env.ATP_TESTNET_JSON || fail('authorize-url needs ATP_TESTNET_JSON (the ready line of a running atp-testnet.mjs)'));
  const as = await getJson(`${net.issuer}/.well-known/oauth-authorization-server`);
  const { authorizeUrl } = await par(as, await makeDpop(), loopbackClient(), handle || net.handle);
  console.log(authorizeUrl);
}

(process.argv[2] === 'authorize-url' ? authorizeUrlOnly(process.argv[3]) : main()).catch((err) => {
  console.error(`SELFCHECK FAILED: ${err?.message || err}`);
  process.exit(1);
});
