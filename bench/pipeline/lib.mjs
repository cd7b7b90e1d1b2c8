// Shared by bench/pipeline/stages.mjs and backlog.mjs: the callhook CLI, a daemon on a free
// loopback port, /metrics parsed, CPU per thread name from /proc, and small statistics.
// Everything talks to 127.0.0.1 only.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export const say = (...a) => process.stderr.write(`bench: ${a.join(' ')}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function cli(bin, db, args) {
  const out = execFileSync(bin, [...args, '--db', db, '--json'], {
    encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

export function sqlite(db, sql) {
  return execFileSync('sqlite3', ['-bail', '-cmd', '.timeout 5000', db, sql], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 }).trim();
}

// `callhook serve` on 127.0.0.1:0; resolves once it logged the port it listens on.
export async function startDaemon(bin, db, env = {}, timeoutMs = 20_000) {
  const proc = spawn(bin, ['serve', '--db', db, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, CALLHOOK_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-65536); }); // the tail, for errors
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`callhook did not start:\n${log}`)), timeoutMs);
    proc.stderr.on('data', () => {
      const m = log.match(/"event":"listening"[^\n]*"port":(\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`callhook exited (${c}):\n${log}`)); });
  });
  return {
    proc, port, url: `http://127.0.0.1:${port}`, logs: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

export async function req(url, { method = 'GET', headers = {}, body, timeoutMs = 15_000 } = {}) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

// /metrics as { 'name{labels}': value }
export async function metrics(url) {
  const r = await req(`${url}/metrics`);
  const m = {};
  for (const line of r.text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const i = line.lastIndexOf(' ');
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}
export const stageDone = (m, s) => m[`callhook_enrich_jobs_total{stage="${s}",outcome="done"}`] ?? 0;
export const stageFailed = (m, s) => m[`callhook_enrich_jobs_total{stage="${s}",outcome="failed"}`] ?? 0;
export const stageSeconds = (m, s) => m[`callhook_enrich_seconds_total{stage="${s}"}`] ?? 0;
export const stageRunning = (m, s) => m[`callhook_enrich_running{stage="${s}"}`] ?? 0;

const TCK = 100; // USER_HZ: /proc's ticks are 1/100 s on Linux whatever the kernel's HZ
// CPU seconds per thread name of a process (utime + stime, summed over threads of one name)
export function threadCpu(pid) {
  const out = {};
  let tasks = [];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / TCK;
    } catch { /* the thread ended */ }
  }
  return out;
}
export function cpuDelta(a, b) {
  const d = {};
  for (const k of Object.keys(b)) d[k] = b[k] - (a[k] ?? 0);
  return d;
}

export const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
export const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))] : NaN;
export const fmt = (x, d = 0) => Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
