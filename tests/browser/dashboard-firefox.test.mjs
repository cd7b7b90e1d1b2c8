// The dashboard in Firefox (issue 12: "current Chromium and Firefox, and a phone-sized screen"):
// Debian's firefox-esr, headless, driven over WebDriver BiDi by npm puppeteer-core (playwright-
// core's Firefox needs Playwright's own build; over BiDi it asks Firefox ESR for commands it does
// not have). Against the real daemon: sign in as a user made by `callhook user add`; a call
// posted over HTTP appears without a reload and changes in place (the SSE stream); a script in
// its caller name shows as text and never runs; the call's page opens; on a phone-sized screen
// nothing is wider than the screen. No console error, no CSP violation. Screenshots go to
// build/artifacts/screenshots as dashboard-firefox-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth } from '../blackbox/lib.mjs';
import { ARTIFACTS } from './lib-browser.mjs';

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
const SKIP = existsSync(FIREFOX) ? false : 'no firefox-esr (scripts/deps.sh test installs it)';
const PASSWORD = 'acme admin password 1';
const XSS_NAME = '<img src=x onerror="window.__xss=1">Mallory';

let dir, db, server, browser, acme, page;
const problems = [];

before(async () => {
  if (SKIP) return;
  dir = tmpDir('callhook-firefox-');
  db = `${dir}/d.db`;
  acme = setupTenant(db, 'acme');
  cli(db, ['user', 'add', 'acme', 'admin@acme.example', '--password', PASSWORD]);
  server = await startServer({ db });
  browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, protocol: 'webDriverBiDi', timeout: 60_000 });
  page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // the first GET /v1/session answers 401: not signed in yet
    if (/401/.test(text) && /\/v1\/session/.test(text)) return;
    problems.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
});

after(async () => {
  if (SKIP) return;
  await browser?.close();
  const r = await server?.stop();
  cleanup(dir);
  assert.equal(r?.code, 0, 'the daemon exits cleanly');
});

async function shot(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-firefox-${name}.png`), fullPage: true });
}

async function post(body) {
  const r = await postHook(server, acme.slug, body, { headers: hookAuth(acme) });
  assert.equal(r.status, 200, r.text);
  return r.json.call_id;
}

test('Firefox: sign in; a call appears without a reload and changes in place; a script in it shows as text', { skip: SKIP, timeout: 120_000 }, async () => {
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#email');
  await page.type('#email', 'admin@acme.example');
  await page.type('#password', PASSWORD);
  await page.click('form.signin button[type="submit"]');
  await page.waitForSelector('#calls-body');
  await page.waitForFunction(() => document.getElementById('top') && !document.getElementById('top').hidden);
  assert.match(await page.$eval('#who', (e) => e.textContent), /admin@acme\.example · admin · acme/);
  await page.evaluate(() => { window.__noReload = 1; });
  const id = await post({ event_id: 'ff-1', call_id: 'ff-1', direction: 'inbound', status: 'ringing', from: '+14155550100', to: '+14155550111', caller_name: XSS_NAME, started_at: new Date().toISOString() });
  await page.waitForSelector(`#calls-body tr[data-id="${id}"]`, { timeout: 10_000 });
  assert.match(await page.$eval(`#calls-body tr[data-id="${id}"] .status`, (e) => e.textContent), /ringing/);
  await post({ event_id: 'ff-2', call_id: 'ff-1', sequence: 2, status: 'ended', disposition: 'busy', ended_at: new Date().toISOString() });
  await page.waitForFunction((sel) => /busy/.test(document.querySelector(sel)?.textContent || ''), { timeout: 10_000 }, `#calls-body tr[data-id="${id}"] .status`);
  assert.equal(await page.$$eval(`#calls-body tr[data-id="${id}"]`, (rows) => rows.length), 1, 'updated in place, not added');
  assert.equal(await page.evaluate(() => window.__noReload), 1, 'no reload happened');
  const row = await page.$eval(`#calls-body tr[data-id="${id}"]`, (e) => ({ text: e.textContent, imgs: e.querySelectorAll('img').length }));
  assert.ok(row.text.includes('<img src=x'), 'the caller name shows as text');
  assert.equal(row.imgs, 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'the script did not run');
  await shot('calls');
  // the call's own page
  await page.click(`#calls-body tr[data-id="${id}"] a.rowlink`);
  await page.waitForFunction((cid) => location.pathname === `/calls/${cid}`, {}, id);
  await page.waitForSelector('#trace li');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await shot('call-detail');
  assert.deepEqual(problems.splice(0), []);
});

test('Firefox: on a phone-sized screen no page is wider than the screen', { skip: SKIP, timeout: 60_000 }, async () => {
  await page.setViewport({ width: 390, height: 844 });
  for (const [p, sel] of [['/', '#calls-body'], ['/webhooks', 'main h1'], ['/sources', 'main h1'], ['/diagnostics', 'main h1'], ['/usage', 'main h1']]) {
    await page.goto(`${server.url}${p}`);
    await page.waitForSelector(sel);
    await page.waitForFunction(() => document.getElementById('top') && !document.getElementById('top').hidden);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    assert.equal(wide, false, `${p} fits a 390-pixel screen`);
    await shot(`phone${p === '/' ? '-calls' : p.replace('/', '-')}`);
  }
  assert.deepEqual(problems.splice(0), []);
});
