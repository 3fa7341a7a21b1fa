#!/usr/bin/env node
// End-to-end sign-up through a real browser: robot's login → the PDS's sign-in and
// consent UI → /app → create a wiki → open it on its own host → edit a page → add a
// collaborator. playwright-core drives Debian's Chromium (no browser download).
//
//   ROBOT_URL=http://localhost:<port> ATP_HANDLE=alice.test ATP_PASSWORD=… \
//   COLLABORATOR=bob.test SHOTS=/tmp/shots SLUG=alice  node signup.mjs
//
// Success: one JSON line {ok:true, steps:[…], shots:[…]} on stdout, exit 0.
// Failure: the reason on stderr (plus SHOTS/NN-error.png), exit 1. Bad usage: exit 2.
//
// Environment: CHROMIUM (default /usr/bin/chromium), HEADFUL=1 shows the window.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../atproto-harness/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const TIMEOUT_MS = 15_000;
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TITLE = "Alice's Notes";
const EDITED = '# Home\n\nEdited in a real browser.\n';
const EDITED_TEXT = 'Edited in a real browser';

class StepError extends Error {}

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`signup: ${name} is not set (needs ROBOT_URL, ATP_HANDLE, ATP_PASSWORD, COLLABORATOR, SHOTS, SLUG)\n`);
    process.exit(2);
  }
  return v;
}

const ROBOT_URL = env('ROBOT_URL').replace(/\/+$/, '');
const HANDLE = env('ATP_HANDLE');
const PASSWORD = env('ATP_PASSWORD');
const COLLABORATOR = env('COLLABORATOR').replace(/^@/, '');
const SHOTS = env('SHOTS');
const SLUG = env('SLUG');

const root = new URL(ROBOT_URL);
const wikiOrigin = `${root.protocol}//${SLUG}.${root.host}`;

const steps = [];
const shots = [];
let shotNo = 0;

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: process.env.HEADFUL !== '1',
    args: LAUNCH_ARGS,
  });
  let page;
  try {
    const context = await browser.newContext({
      serviceWorkers: 'block',
      locale: 'en-US',
      viewport: { width: 1280, height: 900 },
    });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.setDefaultNavigationTimeout(TIMEOUT_MS);
    // A leave warning (the editor's beforeunload) must never hang the run.
    page.on('dialog', (d) => d.accept().catch(() => {}));

    const shot = async (name) => {
      const file = join(SHOTS, `${String(++shotNo).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
      return file;
    };
    // What the page says, for failure messages.
    const where = async () => {
      const text = await page.locator('body').innerText({ timeout: 2000 }).catch(() => '');
      return `at ${page.url()}; page text: ${JSON.stringify(text.replace(/\s+/g, ' ').trim().slice(0, 600))}`;
    };
    const check = async (cond, msg) => {
      if (!cond) throw new StepError(`${msg} (${await where()})`);
    };
    const waitText = async (locator, text, what) => {
      try {
        await locator.filter({ hasText: text }).first().waitFor({ state: 'visible' });
      } catch {
        throw new StepError(`${what}: "${text}" not shown (${await where()})`);
      }
    };
    const waitPath = async (pred, what) => {
      try {
        await page.waitForURL(pred, { waitUntil: 'load' });
      } catch {
        throw new StepError(`${what} (${await where()})`);
      }
    };
    const step = async (name, fn) => {
      const t0 = Date.now();
      try {
        const detail = await fn();
        const file = await shot(name);
        steps.push({ step: name, ms: Date.now() - t0, shot: file, ...(detail || {}) });
      } catch (err) {
        err.step = name;
        throw err;
      }
    };

    // 1. robot's login form, with the handle.
    await step('pds-sign-in', async () => {
      const res = await page.goto(`${ROBOT_URL}/auth/login`);
      await check(res && res.ok(), `GET ${ROBOT_URL}/auth/login answered ${res?.status()}`);
      const input = page.locator('input[name=handle]');
      await input.waitFor();
      await input.fill(HANDLE);
      await check((await input.inputValue()) === HANDLE, 'the handle field did not take the handle');
      await shot('login-form');
      await page.locator('button[type=submit]').first().click();
      // robot answers the form with a redirect to the PDS's authorization page.
      await waitPath((u) => u.pathname === '/oauth/authorize', `submitting the login form did not reach the PDS's /oauth/authorize page`);
      await check(new URL(page.url()).origin !== root.origin, 'the authorization page is on robot\'s own origin');
      await page.locator('input[type=password]').waitFor();
      return { authorize: new URL(page.url()).origin + '/oauth/authorize' };
    });

    // 2. The PDS: sign in, then consent → back at robot's /app, signed in.
    await step('app-signed-in', async () => {
      const username = page.locator('input[name=username]');
      if ((await username.count()) > 0 && (await username.inputValue()) !== HANDLE) {
        await username.fill(HANDLE);
      }
      await page.locator('input[type=password]').fill(PASSWORD);
      const signIn = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/~api/sign-in'));
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      const res = await signIn.catch(() => null);
      await check(res, 'no answer from the PDS sign-in API');
      if (res.status() !== 200) {
        const body = await res.json().catch(() => ({}));
        throw new StepError(`PDS sign-in failed (${res.status()}): ${body.error_description || body.error || JSON.stringify(body)}`);
      }
      const authorize = page.getByRole('button', { name: /^(Authorize|Accept)$/ }).first();
      try {
        await authorize.waitFor();
      } catch {
        throw new StepError(`no Authorize button after signing in (${await where()})`);
      }
      await shot('pds-consent');
      await authorize.click();
      await waitPath((u) => u.origin === root.origin && u.pathname === '/app', `after consent the browser did not land on ${ROBOT_URL}/app`);
      await waitText(page.locator('.topbar .user'), '@' + HANDLE, 'the /app topbar after sign-in');
      return { url: page.url() };
    });

    // 3. Create the wiki on /app; the answer shows its token once.
    let token;
    await step('wiki-created', async () => {

      const form = page.locator('form[action="/app/wikis"]');
      try {
        await form.waitFor();
      } catch {
        throw new StepError(`no create-wiki form on /app (${await where()})`);
      }
      await form.locator('input[name=slug]').fill('');
      await form.locator('input[name=slug]').fill(SLUG);
      await form.locator('input[name=title]').fill(TITLE);
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        form.locator('button[type=submit]').click(),
      ]);
      const code = page.locator('code', { hasText: /^\s*rwt_/ }).first();
      try {
        await code.waitFor();
      } catch {
        throw new StepError(`creating the wiki did not show a token starting with rwt_ (${await where()})`);
      }
      token = (await code.innerText()).trim();
      await check(/^rwt_\S+$/.test(token), `odd token text ${JSON.stringify(token)}`);
      await waitText(page.locator('body'), TITLE, 'the page after creating the wiki');
      return { url: page.url(), tokenPrefix: token.slice(0, 8) + '…' };
    });

    // 4. The wiki on its own host: the login handoff brings us back signed in.
    await step('wiki-home', async () => {
      const target = `${wikiOrigin}/Home`;
      await page.goto(target);
      await waitPath((u) => u.origin === wikiOrigin && u.pathname === '/Home', `opening ${target} did not end on that page`);
      await waitText(page.locator('.topbar .user'), '@' + HANDLE, `the topbar on ${target} (not signed in on the wiki host?)`);
      try {
        await page.locator('a[data-shortcut="e"]').waitFor();
      } catch {
        throw new StepError(`no Edit link (a[data-shortcut="e"]) on ${target} (${await where()})`);
      }
      return { url: page.url() };
    });

    // 5. Edit with the live preview, save.
    await step('page-saved', async () => {
      await page.locator('a[data-shortcut="e"]').click();
      await waitPath((u) => u.origin === wikiOrigin && /\/edit$/.test(u.pathname), 'the Edit link did not open the editor');
      const editor = page.locator('textarea#editor-text');
      await editor.waitFor();
      await editor.fill(EDITED);
      await page.waitForTimeout(500);
      try {
        await page.locator('#editor-preview', { hasText: EDITED_TEXT }).waitFor();
      } catch {
        throw new StepError(`the live preview never showed "${EDITED_TEXT}" (${await where()})`);
      }
      await shot('editor-preview');
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.locator('form.editor button[type=submit]').click(),
      ]);
      await check(!/\/edit$/.test(new URL(page.url()).pathname), 'still on the editor after Save');
      await waitText(page.locator('main'), EDITED_TEXT, 'the page after saving');
      await check((await page.locator('textarea#editor-text').count()) === 0, 'the editor is still shown after Save');
      return { url: page.url() };
    });

    // 6. Manage page: add the collaborator.
    await step('collaborator-added', async () => {
      const target = `${ROBOT_URL}/app/wikis/${SLUG}`;
      const res = await page.goto(target);
      await check(res && res.ok(), `GET ${target} answered ${res?.status()}`);
      const form = page.locator('form[action$="/collaborators"]');
      try {
        await form.waitFor();
      } catch {
        throw new StepError(`no add-collaborator form on ${target} (${await where()})`);
      }
      await form.locator('input[name=handle]').fill(COLLABORATOR);
      await form.locator('select[name=role]').selectOption('editor');
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        form.locator('button[type=submit]').click(),
      ]);
      const row = page.locator('table.log tr', { hasText: '@' + COLLABORATOR }).first();
      try {
        await row.waitFor();
      } catch {
        throw new StepError(`the collaborators list does not show @${COLLABORATOR} (${await where()})`);
      }
      const role = (await row.locator('.badge').first().innerText().catch(() => '')).trim();
      await check(role === 'editor', `@${COLLABORATOR} was added with role ${JSON.stringify(role)}, not editor`);
      return { url: page.url(), role };
    });
  } catch (err) {
    if (page) {
      const file = join(SHOTS, `${String(++shotNo).padStart(2, '0')}-error.png`);
      await page.screenshot({ path: file, fullPage: true }).then(() => shots.push(file), () => {});
    }
    throw err;
  } finally {
    await browser.close().catch(() => {});
  }
}

const started = Date.now();
try {
  await main();
  process.stdout.write(JSON.stringify({ ok: true, ms: Date.now() - started, steps, shots }) + '\n');
  process.exit(0);
} catch (err) {
  const msg = err instanceof StepError ? err.message : String(err?.message || err).split('\n')[0];
  process.stderr.write(`signup: step ${err?.step ? `"${err.step}"` : '(setup)'} failed: ${msg}\n`);
  if (shots.length) process.stderr.write(`signup: screenshots: ${shots.join(' ')}\n`);
  process.exit(1);
}
