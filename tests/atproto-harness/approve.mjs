#!/usr/bin/env node
// Headless sign-in and consent on an ATProto PDS's OAuth authorization page, without a browser:
// the same calls the page's own JavaScript makes to the PDS's UI API
// (@atproto/oauth-provider, router/create-api-middleware.js, prefix /@atproto/oauth-provider/~api).
//
//   node approve.mjs '<authorize url>' <handle> <password> [deny]
//
// 1. GET <authorize url> as a top-level navigation → the page, plus cookies dev-id, ses-id and
//    csrf-token.
// 2. POST ~api/sign-in {username, password, remember} → {account: {did, …}}.
// 3. POST ~api/consent {did} → {url: "<issuer>/oauth/authorize/redirect?…&code=…&state=…&iss=…"},
//    or with "deny", POST ~api/reject {} → the same URL carrying error=access_denied.
// 4. Print the redirect parameters as one JSON line and exit 0:
//      {"code","state","iss","redirect_mode","redirect","did"}               (approve)
//      {"error","error_description","state","iss","redirect_mode","redirect","did"}   (deny)
//    "redirect" is where a browser would land (the client's redirect_uri with the parameters,
//    in the query or fragment per redirect_mode). Nothing is fetched from the client: the
//    caller calls its own callback with these parameters.
// Any other outcome (bad URL, unknown request_uri, wrong password, an error redirect when
// approving) prints the server's error text on stderr and exits 1.
//
// Uses node:http, not fetch(): undici's fetch forces "sec-fetch-mode: cors", which the PDS
// refuses ("Forbidden sec-fetch-mode header "cors" (expected navigate)"). Dependency-free.
// Also importable: `import { approve } from './approve.mjs'`.
import http from 'node:http';
import https from 'node:https';
import { pathToFileURL } from 'node:url';

const API = '/@atproto/oauth-provider/~api';
const TIMEOUT_MS = 15_000;

/** An error whose message is what the user should see. */
export class ApproveError extends Error {}

/** A minimal cookie jar: name → value, for one origin. */
class Jar {
  #cookies = new Map();
  take(res) {
    for (const line of res.headers['set-cookie'] || []) {
      const pair = line.split(';', 1)[0];
      const eq = pair.indexOf('=');
      if (eq > 0) this.#cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  get(name) {
    return this.#cookies.get(name);
  }
  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function request(url, { method = 'GET', headers = {}, body } = {}) {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, timeout: TIMEOUT_MS }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, res, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new ApproveError(`${method} ${url.origin}${url.pathname}: no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (err) =>
      reject(err instanceof ApproveError ? err : new ApproveError(`${method} ${url.origin}${url.pathname}: ${err.code || err.message}`)),
    );
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The error the authorization page embeds: window["__errorData"]=JSON.parse("…"). */
function pageError(html) {
  const m = /window\["__errorData"\]=JSON\.parse\(("(?:[^"\\]|\\.)*")\)/.exec(html);
  if (!m) return undefined;
  try {
    return JSON.parse(JSON.parse(m[1]));
  } catch {
    return undefined;
  }
}

function describe(err) {
  if (!err || typeof err !== 'object') return String(err);
  if (err.error_description) return `${err.error}: ${err.error_description}`;
  return err.error || err.message || JSON.stringify(err);
}

/** Redirect parameters from a client redirect URL (query or fragment) or the AS's
 *  /oauth/authorize/redirect URL (always query). */
function redirectParams(href, base) {
  const url = new URL(href, base);
  const params = new URLSearchParams(url.search);
  if (!params.has('code') && !params.has('error') && url.hash) {
    for (const [k, v] of new URLSearchParams(url.hash.slice(1))) params.set(k, v);
  }
  return { url, params };
}

/** The client's view of a /oauth/authorize/redirect URL: where a browser would land. */
function clientResult(asRedirectUrl) {
  const { url, params } = redirectParams(asRedirectUrl);
  const mode = params.get('redirect_mode') || 'query';
  const redirectUri = params.get('redirect_uri');
  const out = {};
  for (const key of ['code', 'error', 'error_description', 'state', 'iss']) {
    if (params.has(key)) out[key] = params.get(key);
  }
  out.redirect_mode = mode;
  if (redirectUri) {
    const target = new URL(redirectUri);
    const carried = new URLSearchParams();
    for (const key of ['iss', 'state', 'code', 'error', 'error_description']) {
      if (params.has(key)) carried.set(key, params.get(key));
    }
    if (mode === 'fragment') target.hash = carried.toString();
    else for (const [k, v] of carried) target.searchParams.set(k, v); // query; form_post posts these
    out.redirect = target.href;
  } else {
    out.redirect = url.href;
  }
  return out;
}

/**
 * Signs in on the authorization page at `authorizeUrl` and approves (or, with deny, rejects)
 * the request. Returns the redirect parameters; throws ApproveError with the server's text.
 */
export async function approve(authorizeUrl, handle, password, { deny = false } = {}) {
  let url;
  try {
    url = new URL(authorizeUrl);
  } catch {
    throw new ApproveError(`not a URL: ${authorizeUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApproveError(`not an http(s) URL: ${authorizeUrl}`);
  if (url.pathname !== '/oauth/authorize') {
    throw new ApproveError(`expected the authorization endpoint (…/oauth/authorize?client_id=…&request_uri=…), got ${url.origin}${url.pathname}`);
  }
  const origin = url.origin;
  const jar = new Jar();

  // 1. The authorization page, as a browser's top-level navigation.
  const page = await request(url, {
    headers: {
      accept: 'text/html',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
      'sec-fetch-site': 'cross-site',
      'user-agent': 'robot-atproto-harness/approve.mjs',
    },
  });
  jar.take(page.res);
  if (page.status >= 300 && page.status < 400 && page.headers.location) {
    // The AS sent the browser straight back to the client with an error, without showing
    // the page (e.g. "This request was already authorized"). Never a consent outcome, even
    // with deny: the user did not get to choose.
    const { params } = redirectParams(page.headers.location, url);
    throw new ApproveError(`authorization page redirected to the client: ${describe(Object.fromEntries(params))}`);
  }
  if (page.status !== 200) {
    const err = pageError(page.text);
    throw new ApproveError(`authorization page answered ${page.status}: ${err ? describe(err) : page.text.slice(0, 300)}`);
  }
  const csrf = jar.get('csrf-token');
  if (!csrf) throw new ApproveError('authorization page set no csrf-token cookie');

  const api = async (endpoint, payload) => {
    const body = JSON.stringify(payload);
    const res = await request(new URL(API + endpoint, origin), {
      method: 'POST',
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        origin,
        referer: url.href,
        'sec-fetch-mode': 'same-origin',
        'sec-fetch-site': 'same-origin',
        'sec-fetch-dest': 'empty',
        'x-csrf-token': jar.get('csrf-token'),
        cookie: jar.header(),
        'user-agent': 'robot-atproto-harness/approve.mjs',
      },
      body,
    });
    jar.take(res.res);
    let json;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new ApproveError(`${endpoint} answered ${res.status} with non-JSON: ${res.text.slice(0, 300)}`);
    }
    if (res.status !== 200) throw new ApproveError(`${endpoint.slice(1)} failed (${res.status}): ${describe(json)}`);
    return json;
  };

  // 2. Sign in. "remember" keeps the account on this device session, which consent checks.
  const signedIn = await api('/sign-in', { locale: 'en', username: handle, password, remember: true });
  const did = signedIn?.account?.sub || signedIn?.account?.did;
  if (!did) throw new ApproveError(`sign-in answered without an account: ${JSON.stringify(signedIn)}`);

  // 3. Consent or reject; both answer {url} pointing at /oauth/authorize/redirect.
  const answer = deny ? await api('/reject', {}) : await api('/consent', { did });
  if (typeof answer?.url !== 'string') throw new ApproveError(`${deny ? 'reject' : 'consent'} answered without a url: ${JSON.stringify(answer)}`);
  const result = { ...clientResult(answer.url), did };

  if (deny) {
    if (result.error !== 'access_denied') throw new ApproveError(`reject did not produce access_denied: ${JSON.stringify(result)}`);
  } else if (!result.code) {
    throw new ApproveError(`consent redirected without a code: ${describe(result)}`);
  }
  return result;
}

// CLI
if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const [authorizeUrl, handle, password, mode] = process.argv.slice(2);
  if (!authorizeUrl || !handle || password === undefined || (mode !== undefined && mode !== 'deny')) {
    process.stderr.write("usage: node approve.mjs '<authorize url>' <handle> <password> [deny]\n");
    process.exit(2);
  }
  try {
    const result = await approve(authorizeUrl, handle, password, { deny: mode === 'deny' });
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (err) {
    process.stderr.write(`approve: ${err instanceof ApproveError ? err.message : err?.stack || err}\n`);
    process.exit(1);
  }
}
