// Browser harness: Debian's chromium, headless, driven by npm playwright-core (no browser
// download). Screenshots go to $CH_ARTIFACTS (CMake sets build/artifacts/screenshots) as
// <test>-<page>.png. Every page is watched for console errors, uncaught exceptions and
// Content-Security-Policy violations, which the tests assert are absent.
import { chromium } from 'playwright-core';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.CH_ARTIFACTS || path.resolve('build/artifacts/screenshots');

export function haveChromium() {
  return existsSync(CHROMIUM);
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    // the CI and this machine run as root, where chromium's sandbox cannot start
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
}

// A new page whose problems are collected: page.problems() lists console errors, page errors
// and CSP violations, minus the expected ones (predicates on the message text).
export async function watchedPage(context, { allow = [] } = {}) {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  // a violation is also a console error, but the event names the directive
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = `${msg.text()} @ ${msg.location()?.url || ''}`;
    if (allow.some((f) => f(text))) return;
    problems.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.problems = () => problems.slice();
  // the problems since the last call (pages shared by several tests: one test's failure is
  // not reported again by the next)
  page.takeProblems = () => problems.splice(0);
  return page;
}

// A network error the browser logs for an expected error status (e.g. GET /v1/session → 401).
export function allowStatus(status, urlPart) {
  return (text) => text.includes(`status of ${status}`) && text.includes(urlPart);
}

export async function screenshot(page, test, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${test}-${name}.png`.replace(/[^A-Za-z0-9._-]/g, '_'));
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Whether the page is wider than its viewport (something does not fit a phone).
export async function overflowsX(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

// An SSE body for a stubbed GET /v1/stream: events [{id, event, data}] (data is JSON'd).
export function sseBody(events) {
  let s = 'retry: 3000\n\n';
  for (const e of events) s += `id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
  return s;
}
