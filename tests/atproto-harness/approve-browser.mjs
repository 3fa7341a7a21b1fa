#!/usr/bin/env node
// Sign-in and consent on an ATProto PDS's OAuth authorization page through the real UI:
// playwright-core driving Debian's Chromium (no browser download).
//
//   node approve-browser.mjs '<authorize url>' <handle> <password> [deny]
//
// Same contract as approve.mjs: one JSON line on stdout and exit 0,
//   {"code","state","iss","redirect_mode","redirect","did"}          (approve)
//   {"error","error_description","state","iss","redirect_mode","redirect","did"}   (deny)
// or the server's error text on stderr and exit 1 (wrong password: the sign-in API's
// error_description, which the page shows as "Wrong identifier or password").
//
// The page's final navigation to the client's redirect_uri is captured (page.on('request')
// sees it even though it comes from a 303) and answered with a stub page (page.route), so
// the client is never contacted and its host need not resolve.
//
// Environment: CHROMIUM (default /usr/bin/chromium); SHOTS=/path/prefix saves
// <prefix>-1-sign-in.png, <prefix>-2-consent.png (or <prefix>-error.png on failure);
// HEADFUL=1 shows the window (needs a display).
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const TIMEOUT_MS = 20_000;
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class ApproveError extends Error {}

function describe(err) {
  if (!err || typeof err !== 'object') return String(err);
  if (err.error_description) return `${err.error}: ${err.error_description}`;
  return err.error || err.message || JSON.stringify(err);
}

/** Redirect parameters from where the browser landed (query, fragment, or form_post body). */
function landedParams(request) {
  const url = new URL(request.url());
  let params = new URLSearchParams(url.search);
  let mode = 'query';
  if (request.method() === 'POST') {
    params = new URLSearchParams(request.postData() || '');
    mode = 'form_post';
  } else if (!params.has('code') && !params.has('error') && url.hash) {
    params = new URLSearchParams(url.hash.slice(1));
    mode = 'fragment';
  }
  const out = {};
  for (const key of ['code', 'error', 'error_description', 'state', 'iss']) {
    if (params.has(key)) out[key] = params.get(key);
  }
  out.redirect_mode = mode;
  out.redirect = url.href;
  return out;
}

export async function approveBrowser(authorizeUrl, handle, password, { deny = false, shots = process.env.SHOTS } = {}) {
  let url;
  try {
    url = new URL(authorizeUrl);
  } catch {
    throw new ApproveError(`not a URL: ${authorizeUrl}`);
  }
  if (url.pathname !== '/oauth/authorize') {
    throw new ApproveError(`expected the authorization endpoint (…/oauth/authorize?client_id=…&request_uri=…), got ${url.origin}${url.pathname}`);
  }
  const issuerOrigin = url.origin;
  const isClientRedirect = (u) => {
    try {
      const x = new URL(u);
      return (x.protocol === 'http:' || x.protocol === 'https:') && x.origin !== issuerOrigin;
    } catch {
      return false;
    }
  };

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: process.env.HEADFUL !== '1',
    args: LAUNCH_ARGS,
  });
  try {
    const context = await browser.newContext({ serviceWorkers: 'block', locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    const shot = async (name) => {
      if (shots) await page.screenshot({ path: `${shots}-${name}.png`, fullPage: true }).catch(() => {});
    };

    // Where the browser lands after consent/reject: the client's redirect_uri.
    let landed;
    const landing = new Promise((resolve) => {
      page.on('request', (req) => {
        if (!landed && req.isNavigationRequest() && isClientRedirect(req.url())) {
          landed = landedParams(req);
          resolve(landed);
        }
      });
    });
    await page.route((u) => isClientRedirect(u.href), (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title><p>redirect captured by approve-browser.mjs</p>' }),
    );

    // The sign-in API's answer: the account's DID, or the server's error text.
    let signIn;
    page.on('response', async (res) => {
      if (res.request().method() === 'POST' && res.url().endsWith('/~api/sign-in')) {
        signIn = res.json().then((json) => ({ status: res.status(), json }), () => ({ status: res.status(), json: {} }));
      }
    });

    let nav;
    try {
      nav = await page.goto(url.href);
    } catch (err) {
      throw new ApproveError(`cannot open the authorization page: ${String(err?.message || err).split('\n')[0].replace(/^page\.goto: /, '')}`);
    }
    if (!nav || nav.status() !== 200) {
      const err = await page.evaluate(() => window.__errorData).catch(() => undefined);
      await shot('error');
      throw new ApproveError(`authorization page answered ${nav?.status()}: ${err ? describe(err) : await page.title()}`);
    }

    if (landed) {
      // Sent straight back to the client with an error (e.g. already authorized).
      throw new ApproveError(`authorization page redirected to the client: ${describe(landed)}`);
    }

    // Sign-in screen (the username is pre-filled from login_hint, when the client sent one).
    const username = page.locator('input[name=username]');
    await page.locator('input[type=password]').waitFor();
    if ((await username.count()) > 0 && (await username.inputValue()) !== handle) {
      await username.fill(handle);
    }
    await page.locator('input[type=password]').fill(password);
    await shot('1-sign-in');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    // Either the consent screen comes up, or the sign-in API refused.
    const authorize = page.getByRole('button', { name: 'Authorize', exact: true });
    const deadline = Date.now() + TIMEOUT_MS;
    let did;
    for (;;) {
      if (signIn) {
        const { status, json } = await signIn;
        if (status !== 200) {
          await shot('error');
          throw new ApproveError(`sign-in failed (${status}): ${describe(json)}`);
        }
        did = json?.account?.sub || json?.account?.did;
        break;
      }
      if (Date.now() > deadline) {
        await shot('error');
        throw new ApproveError('no answer from the sign-in API');
      }
      await page.waitForTimeout(50);
    }
    await authorize.waitFor();
    await shot('2-consent');

    if (deny) {
      await page.getByRole('button', { name: /^(Deny access|Deny|Cancel)$/ }).first().click();
    } else {
      await authorize.click();
    }
    const result = await Promise.race([
      landing,
      page.waitForTimeout(TIMEOUT_MS).then(() => {
        throw new ApproveError(`the page did not navigate to the client's redirect_uri within ${TIMEOUT_MS} ms`);
      }),
    ]);
    if (did) result.did = did;
    if (deny) {
      if (result.error !== 'access_denied') throw new ApproveError(`deny did not produce access_denied: ${JSON.stringify(result)}`);
    } else if (!result.code) {
      throw new ApproveError(`redirected without a code: ${describe(result)}`);
    }
    return result;
  } finally {
    await browser.close().catch(() => {});
  }
}

// CLI
if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const [authorizeUrl, handle, password, mode] = process.argv.slice(2);
  if (!authorizeUrl || !handle || password === undefined || (mode !== undefined && mode !== 'deny')) {
    process.stderr.write("usage: node approve-browser.mjs '<authorize url>' <handle> <password> [deny]\n");
    process.exit(2);
  }
  try {
    const result = await approveBrowser(authorizeUrl, handle, password, { deny: mode === 'deny' });
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (err) {
    // Playwright's messages say what failed; its stacks point into playwright-core.
    process.stderr.write(`approve-browser: ${err instanceof ApproveError ? err.message : err?.message || err}\n`);
    process.exit(1);
  }
}
