// Extra helpers for the durability / operations / usage black-box tests (crash, diskfull, ops,
// usage). Builds on lib.mjs without changing it. Everything is bounded in time.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import nodeHttp from 'node:http';
import { BIN, http } from './lib.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Rows of a query as objects, through the sqlite3 CLI in JSON mode ([] when there are none).
export function sqliteJson(db, sql) {
  const out = execFileSync('sqlite3', ['-bail', '-json', '-cmd', '.timeout 5000', db, sql], {
    encoding: 'utf8', timeout: 30_000, maxBuffer: 256 * 1024 * 1024,
  });
  return out.trim() === '' ? [] : JSON.parse(out);
}

// SQL string literal.
export const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

// Runs fn(item, index) over items with at most `concurrency` at a time; returns results in order.
export async function pool(items, concurrency, fn) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

// Every non-empty line of a log as parsed JSON; throws naming the first line that is not a JSON
// object.
export function parseLogLines(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    let obj;
    try { obj = JSON.parse(line); } catch (e) {
      throw new Error(`log line ${i + 1} is not JSON: ${JSON.stringify(line.slice(0, 300))}`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new Error(`log line ${i + 1} is not a JSON object: ${JSON.stringify(line.slice(0, 300))}`);
    }
    out.push(obj);
  }
  return out;
}

// Prometheus text format → [{name, labels:{}, value}] (comments skipped). Throws on a line that
// is not a valid sample line.
export function parseMetrics(text) {
  const samples = [];
  const re = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)(\s+-?\d+)?$/;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = line.match(re);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const lre = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
      let lm;
      let consumed = 0;
      while ((lm = lre.exec(m[3])) !== null) { labels[lm[1]] = lm[2]; consumed += lm[0].length; }
      if (consumed !== m[3].length) throw new Error(`bad label set in: ${JSON.stringify(line)}`);
    }
    const v = m[4];
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    if (Number.isNaN(value) && v !== 'NaN') throw new Error(`bad value in: ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

// The value of the one sample with this name and (a superset of) these labels; undefined if none.
export function metricValue(samples, name, labels = {}) {
  const hits = samples.filter((s) => s.name === name
    && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length === 0) return undefined;
  return hits.reduce((a, s) => a + s.value, 0);
}

// Like lib.startServer, but the daemon logs to a file (--log-file): readiness is found in
// stderr, stdout or the file. Returns the same shape as startServer (logs() reads the file).
export async function startServerLogFile({ db, logFile, args = [], env = {}, timeoutMs = 20_000 } = {}) {
  const proc = spawn(BIN, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--log-file', logFile, ...args], {
    env: { ...process.env, CALLHOOK_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const re = /"event":"listening"[^\n]*"port":(\d+)/;
  const deadline = Date.now() + timeoutMs;
  let port;
  for (;;) {
    const fileText = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    const m = stderr.match(re) || stdout.match(re) || fileText.match(re);
    if (m) { port = Number(m[1]); break; }
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`callhook exited (${proc.exitCode}) before listening:\n${stderr}\n${fileText}`);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`callhook did not start in ${timeoutMs} ms:\n${stderr}\n${fileText}`);
    }
    await sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    logs: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
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

// A POST whose body is sent in two parts: headers and the first part at once, the rest when
// finish() is called. Resolves `response` with {status, headers, text, json}; rejects on a socket
// error or after timeoutMs. Each request has its own connection.
export function slowPost(url, headers, body, splitAt, timeoutMs = 30_000) {
  const u = new URL(url);
  const buf = Buffer.from(body);
  const req = nodeHttp.request({
    host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent: false,
    headers: { ...headers, 'Content-Length': String(buf.length) },
  });
  const response = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { req.destroy(new Error(`no answer in ${timeoutMs} ms`)); }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
      res.on('end', () => {
        clearTimeout(timer);
        if (!res.complete) { reject(new Error('response ended before it was complete')); return; }
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
  });
  response.catch(() => {}); // observed by the caller; avoid an unhandled rejection meanwhile
  const connected = new Promise((resolve, reject) => {
    req.on('socket', (s) => {
      if (!s.connecting) resolve();
      else s.once('connect', resolve);
    });
    req.once('error', reject);
  });
  connected.catch(() => {});
  req.flushHeaders();
  req.write(buf.subarray(0, splitAt));
  return {
    connected,
    response,
    finish() { req.end(buf.subarray(splitAt)); },
  };
}

// A generic event body of exactly `size` bytes (padding in an unknown member).
export function eventOfSize(size, callId, eventId) {
  const base = JSON.stringify({ call_id: callId, event_id: eventId, pad: '' });
  const pad = size - Buffer.byteLength(base);
  if (pad < 0) throw new Error(`event cannot be as small as ${size} bytes`);
  const body = JSON.stringify({ call_id: callId, event_id: eventId, pad: 'x'.repeat(pad) });
  if (Buffer.byteLength(body) !== size) throw new Error('eventOfSize: size mismatch');
  return body;
}

export function currentMonthUTC(d = new Date()) {
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

// POST a generic event (object, array or a string body) for tenant `ten` (from setupTenant) with
// its bearer token unless headers say otherwise.
export function postGeneric(baseUrl, ten, body, { headers = {}, timeoutMs = 15_000 } = {}) {
  // a header given as null is left out (e.g. {Authorization: null} to use X-Api-Key alone)
  const h = Object.fromEntries(Object.entries({ 'Content-Type': 'application/json', Authorization: `Bearer ${ten.token}`, ...headers })
    .filter(([, v]) => v !== null && v !== undefined));
  return http(`${baseUrl}/hooks/${ten.slug}/generic`, {
    method: 'POST',
    headers: h,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    timeoutMs,
  });
}

// Non-compressible-looking text of about n bytes (for transcripts).
export function words(n, seed = Math.random().toString(36).slice(2)) {
  let s = '';
  let i = 0;
  while (s.length < n) s += `${seed}${(i++ * 7919 % 10007).toString(36)} `;
  return s.slice(0, n);
}

// Polls fn() (sync or async) until it returns a truthy value or ms elapse; returns the last value.
export async function waitFor(fn, ms = 5_000, step = 50) {
  const end = Date.now() + ms;
  let v = await fn();
  while (!v && Date.now() < end) {
    await sleep(step);
    v = await fn();
  }
  return v;
}

// promise, or a rejection after ms (the timer is cleared either way, so it never keeps the
// process alive).
export async function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}
