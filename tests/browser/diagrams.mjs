#!/usr/bin/env node
// Every Mermaid diagram and every formula of one wiki page, drawn by a real browser:
// opens PAGE_URL in headless Chromium, waits until each `pre.mermaid` holds an SVG with
// content and each formula (`[data-math-style]`) is typeset by KaTeX, and keeps a
// screenshot. playwright-core drives Debian's Chromium (no browser download).
//
//   PAGE_URL=http://notes.localhost:<port>/Diagrams SHOTS=/tmp/shots node diagrams.mjs
//
// Success: one JSON line {ok:true, diagrams:N, formulas:M, ms:T} on stdout, exit 0.
// Failure: the reason on stderr (and SHOTS/diagrams-error.png), exit 1. Bad usage: exit 2.
//
// Environment: CHROMIUM (default /usr/bin/chromium).
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../atproto-harness/package.json', import.meta.url));
const { chromium } = require('playwright-core');

// Otterwiki draws a page of five diagrams in about two seconds; a diagram that never
// finishes laying out is the failure this looks for.
const TIMEOUT_MS = 30_000;

const PAGE_URL = process.env.PAGE_URL;
const SHOTS = process.env.SHOTS;
if (!PAGE_URL || !SHOTS) {
  process.stderr.write('diagrams: PAGE_URL and SHOTS must be set\n');
  process.exit(2);
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    const started = Date.now();
    const response = await page.goto(PAGE_URL, { waitUntil: 'load', timeout: TIMEOUT_MS });
    if (!response || response.status() !== 200) {
      throw new Error(`GET ${PAGE_URL}: ${response ? response.status() : 'no response'}`);
    }
    const counts = await page.evaluate(() => ({
      diagrams: document.querySelectorAll('pre.mermaid').length,
      formulas: document.querySelectorAll('[data-math-style]').length,
    }));
    if (!counts.diagrams || !counts.formulas) {
      throw new Error(`the page has ${counts.diagrams} diagrams and ${counts.formulas} formulas`);
    }
    await page.waitForFunction(
      () => {
        const drawn = (el) => {
          const svg = el.querySelector('svg');
          // Mermaid draws its error as an SVG too: a drawn diagram has shapes and no
          // "Syntax error" text.
          // A label's `\n` is a line break, never the two characters.
          return svg && svg.querySelectorAll('g').length > 0 && !/Syntax error/i.test(svg.textContent) &&
            !svg.textContent.includes('\\n');
        };
        return (
          [...document.querySelectorAll('pre.mermaid')].every(drawn) &&
          [...document.querySelectorAll('[data-math-style]')].every((el) => el.querySelector('.katex'))
        );
      },
      null,
      { timeout: TIMEOUT_MS, polling: 100 },
    );
    const ms = Date.now() - started;
    await page.screenshot({ path: join(SHOTS, 'diagrams.png'), fullPage: true });
    process.stdout.write(JSON.stringify({ ok: true, ...counts, ms, errors }) + '\n');
  } catch (e) {
    await page.screenshot({ path: join(SHOTS, 'diagrams-error.png'), fullPage: true }).catch(() => {});
    const state = await page
      .evaluate(() =>
        [...document.querySelectorAll('pre.mermaid')].map((el, i) => `diagram ${i + 1}: ${el.querySelector('svg') ? 'svg' : 'not drawn'}`),
      )
      .catch(() => []);
    process.stderr.write(`diagrams: ${e.message}\n${state.join('\n')}\n${errors.join('\n')}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main();
