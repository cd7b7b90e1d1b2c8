// Shared harness for black-box tests: start the real callhook binary on a loopback port with a
// fresh database, run its CLI, talk HTTP to it. Everything is bounded in time.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import nodeHttp from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BIN = process.env.CALLHOOK_BIN || path.resolve('build-test/callhook');
export const FIXTURES = process.env.CH_FIXTURES || path.resolve('tests/fixtures');

export function fixture(rel) {
  return readFileSync(path.join(FIXTURES, rel), 'utf8');
}

// A fresh directory (removed by cleanup()).
export function tmpDir(prefix = 'callhook-test-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

// Runs `callhook <args...> --db <db> --json` and returns the parsed JSON it prints.
export function cli(db, args, { json = true, env = {} } = {}) {
  const full = [...args, '--db', db];
  if (json) full.push('--json');
  const out = execFileSync(BIN, full, {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return json ? JSON.parse(out) : out;
}

// Runs the CLI expecting failure; returns {status, stdout, stderr}.
export function cliFail(db, args) {
  try {
    execFileSync(BIN, [...args, '--db', db], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return { status: e.status, stdout: e.stdout, stderr: e.stderr };
  }
  throw new Error(`callhook ${args.join(' ')} unexpectedly succeeded`);
}

// Starts `callhook serve` on 127.0.0.1:<ephemeral>. Resolves once it logs "listening".
// Returns { url, port, proc, logs(), stop(signal) -> exit code, kill9() }.
export async function startServer({ db, args = [], env = {}, timeoutMs = 20_000 } = {}) {
  const proc = spawn(BIN, ['serve', '--db', db, '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, CALLHOOK_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`callhook did not start in ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      stderr += d;
      const m = stderr.match(/"event":"listening"[^\n]*"port":(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`callhook exited (${code}) before listening:\n${stderr}`)); });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    proc,
    logs: () => stderr,
    stdout: () => stdout,
    exited,
    // Sends signal (default SIGTERM) and waits for exit; returns {code, signal}. Bounded.
    async stop(signal = 'SIGTERM', waitMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), waitMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
    async kill9() {
      proc.kill('SIGKILL');
      return exited;
    },
  };
}

// fetch with a timeout; returns {status, headers, text, json}.
export async function http(url, { method = 'GET', headers = {}, body, timeoutMs = 15_000 } = {}) {
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

export function basic(user, pass) {
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
}

// A tenant with a generic source (token + basic) and an API key, in a fresh database. Without
// the "enrichment" feature unless enrich is set: call.completed then follows call.ended at once
// (the tests of the lifecycle, the read API, the providers); the pipeline's own tests opt in.
export function setupTenant(db, slug = 'acme', { tenantArgs = [], sourceArgs = [], enrich = false } = {}) {
  const features = tenantArgs.includes('--features') ? [] : ['--features', enrich ? 'enrichment' : 'none'];
  const tenant = cli(db, ['tenant', 'add', slug, ...features, ...tenantArgs]);
  const token = `tok-${slug}-${Math.random().toString(36).slice(2)}`;
  const password = `pw-${slug}-${Math.random().toString(36).slice(2)}`;
  const source = cli(db, ['source', 'add', slug, 'generic', '--token', token, '--username', `${slug}-pbx`, '--password', password, ...sourceArgs]);
  const key = cli(db, ['apikey', 'add', slug]);
  return { tenant, source, token, username: `${slug}-pbx`, password, apiKey: key.api_key, slug };
}

export function cleanup(dir) {
  try { rmSync(dir, { recursive: true, force: true }); } catch { /* already gone */ }
}

export function sqlite(db, sql) {
  return execFileSync('sqlite3', ['-bail', '-cmd', '.timeout 5000', db, sql], { encoding: 'utf8', timeout: 30_000 });
}

// ---- Helpers for the ingest / read-API / isolation tests (added; nothing above changed). ----

// Writes an INI file into dir and returns its path (for `serve --config`).
export function writeConfig(dir, text, name = 'callhook.ini') {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

// The three ways a webhook sender can authenticate, for a tenant made by setupTenant().
export function hookAuth(t, kind = 'bearer') {
  switch (kind) {
    case 'bearer': return { Authorization: `Bearer ${t.token}` };
    case 'apikey': return { 'X-Api-Key': t.token };
    case 'basic': return { Authorization: basic(t.username, t.password) };
    default: throw new Error(`unknown auth kind ${kind}`);
  }
}

// POSTs body (a string is sent as is, anything else as JSON) to /hooks/{slug}/{provider}.
export async function postHook(server, slug, body, { headers = {}, provider = 'generic', contentType = 'application/json' } = {}) {
  const h = { ...headers };
  if (contentType !== null) h['Content-Type'] = contentType;
  return http(`${server.url}/hooks/${slug}/${provider}`, {
    method: 'POST',
    headers: h,
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

// GET on the read API with `Authorization: Bearer <apiKey>` (no header when apiKey is null).
// A request to the tenant API with the tenant's key; body (object or string) sent as JSON.
export function apiJson(server, apiKey, method, pathAndQuery, body, headers = {}) {
  return http(`${server.url}${pathAndQuery}`, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function apiGet(server, pathAndQuery, apiKey) {
  return http(`${server.url}${pathAndQuery}`, { headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} });
}

// Walks GET /v1/calls page by page (query without cursor); returns {calls, pages}. Bounded.
export async function listAllCalls(server, apiKey, query = '', { limit = 500, maxPages = 100 } = {}) {
  const calls = [];
  const pages = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const qs = new URLSearchParams(query);
    qs.set('limit', String(limit));
    if (cursor) qs.set('cursor', cursor);
    const r = await apiGet(server, `/v1/calls?${qs}`, apiKey);
    if (r.status !== 200) throw new Error(`GET /v1/calls?${qs} -> ${r.status} ${r.text}`);
    pages.push(r.json);
    calls.push(...r.json.data);
    cursor = r.json.next_cursor;
    if (cursor === null) return { calls, pages };
  }
  throw new Error(`pagination did not end within ${maxPages} pages`);
}

// A copy of obj without the named keys (for comparing calls modulo ids and clocks).
export function omit(obj, keys) {
  const out = { ...obj };
  for (const k of keys) delete out[k];
  return out;
}

// RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks; rows end in
// CRLF or LF; a final line break does not make an empty row. Throws on a malformed quote.
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let atFieldStart = true;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false;
        i++;
        if (i < text.length && !',\r\n'.includes(text[i])) throw new Error(`CSV: character after closing quote at ${i}`);
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && atFieldStart) { quoted = true; atFieldStart = false; i++; continue; }
    if (ch === '"') throw new Error(`CSV: stray quote at ${i}`);
    if (ch === ',') { row.push(field); field = ''; atFieldStart = true; i++; continue; }
    if (ch === '\r' || ch === '\n') {
      row.push(field); rows.push(row); row = []; field = ''; atFieldStart = true;
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += ch;
    atFieldStart = false;
    i++;
  }
  if (quoted) throw new Error('CSV: unterminated quoted field');
  if (!atFieldStart || field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

// A request through node:http with a chunked body (no Content-Length). Returns like http().
export function httpChunked(url, { method = 'POST', headers = {}, chunks = [], timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request(url, { method, headers: { ...headers, 'Transfer-Encoding': 'chunked' }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

// Every permutation of [0, n) (Heap's algorithm); for n <= 5 that is at most 120 orders.
export function permutations(n) {
  const a = [...Array(n).keys()], out = [a.slice()], c = Array(n).fill(0);
  for (let i = 1; i < n;) {
    if (c[i] < i) {
      const j = i % 2 ? c[i] : 0;
      [a[j], a[i]] = [a[i], a[j]];
      out.push(a.slice());
      c[i]++;
      i = 1;
    } else {
      c[i++] = 0;
    }
  }
  return out;
}

// k distinct random orders of [0, n), always including the identity and its reverse; seeded so
// a failure names an order that can be replayed.
export function sampleOrders(n, k, seed = 20261123) {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const seen = new Set(), out = [];
  const add = (o) => { const key = o.join(','); if (!seen.has(key)) { seen.add(key); out.push(o); } };
  add([...Array(n).keys()]);
  add([...Array(n).keys()].reverse());
  while (out.length < k) {
    const o = [...Array(n).keys()];
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [o[i], o[j]] = [o[j], o[i]]; }
    add(o);
  }
  return out;
}
