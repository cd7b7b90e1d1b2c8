// Shared harness for black-box tests: start the real callhook binary on a loopback port with a
// fresh database, run its CLI, talk HTTP to it. Everything is bounded in time.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
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

// A tenant with a generic source (token + basic) and an API key, in a fresh database.
export function setupTenant(db, slug = 'acme', { tenantArgs = [], sourceArgs = [] } = {}) {
  const tenant = cli(db, ['tenant', 'add', slug, ...tenantArgs]);
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
