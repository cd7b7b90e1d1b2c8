// Black-box tests of GET /v1/calls/export beyond its format (readapi.test.mjs has that):
// - an export whose client stops reading holds no read snapshot: the WAL is checkpointed while
//   it is stalled and ingest goes on, and the export, read again, is complete and has every
//   call that existed when it began exactly once (even calls whose started_at moved meanwhile);
// - a tenant runs at most 4 exports at once (429 beyond);
// - CSV cells a spreadsheet would run as formulas are neutralised (OWASP CSV injection).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import {
  startServer, setupTenant, tmpDir, cleanup, writeConfig, hookAuth, postHook, apiGet, parseCsv,
  sqlite,
} from './lib.mjs';

const T = { timeout: 120_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dir, db, S, acme, other, small, many;

before(async () => {
  dir = tmpDir('callhook-export-');
  db = path.join(dir, 'callhook.db');
  acme = setupTenant(db, 'acme', { tenantArgs: ['--country', '972'] });
  other = setupTenant(db, 'other');
  small = setupTenant(db, 'small', { tenantArgs: ['--country', '972'] });
  many = setupTenant(db, 'many');
  const cfg = writeConfig(dir, '[auth]\nfail_limit = 100000\nfail_window = 60\n');
  S = await startServer({ db, args: ['--config', cfg] });
});

after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

async function post(body, t = acme) {
  const r = await postHook(S, t.slug, body, { headers: hookAuth(t) });
  if (r.status !== 200) throw new Error(`ingest: ${r.status} ${r.text.slice(0, 500)}`);
  return r.json;
}

// A GET on a raw socket that can stop reading: resolves once the status line and some body
// have arrived; then pause() / resume(), and done() resolves with the whole raw response.
function rawGet(pathAndQuery, apiKey) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(S.port, '127.0.0.1');
    const parts = [];
    let size = 0;
    let resolved = false;
    let endResolve;
    const ended = new Promise((r) => { endResolve = r; });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('no answer in 30 s')); }, 30_000);
    sock.on('data', (d) => {
      parts.push(d);
      size += d.length;
      if (!resolved && size > 1024) {
        resolved = true;
        clearTimeout(timer);
        sock.pause(); // stop reading: the kernel buffers fill, then the server cannot write
        resolve({
          sock,
          head: Buffer.concat(parts).toString('latin1', 0, 200),
          resume: () => sock.resume(),
          done: () => ended.then(() => Buffer.concat(parts)),
        });
      }
    });
    sock.on('end', () => endResolve());
    sock.on('close', () => endResolve());
    sock.on('error', (e) => { if (!resolved) reject(e); endResolve(); });
    sock.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${apiKey}\r\nConnection: close\r\n\r\n`);
  });
}

// The body of a chunked HTTP/1.1 response; throws when the last chunk is missing.
function dechunk(raw) {
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0, 'no end of headers');
  const head = raw.subarray(0, headEnd).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /transfer-encoding: chunked/i);
  const out = [];
  let i = headEnd + 4;
  for (;;) {
    const eol = raw.indexOf('\r\n', i);
    if (eol < 0) throw new Error('truncated chunked body (no last chunk)');
    const n = parseInt(raw.subarray(i, eol).toString('latin1'), 16);
    if (n === 0) return Buffer.concat(out);
    out.push(raw.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
}

// busy|log|checkpointed of a PASSIVE checkpoint run by another connection (the sqlite3 CLI).
function checkpoint() {
  const [busy, log, done] = sqlite(db, 'PRAGMA wal_checkpoint(PASSIVE);').trim().split('|').map(Number);
  return { busy, log, done };
}

describe('a stalled export', () => {
  const N = 210, PER = 15; // calls of 64 KB each: an export of ~13 MB, several times the socket buffers
  const ids = new Set();
  const external = [];

  before(async () => {
    const pad = 'x'.repeat(64_000);
    const batches = [];
    for (let b = 0; b < N / PER; b++) {
      batches.push(Array.from({ length: PER }, (_, k) => {
        const i = b * PER + k;
        external.push(`stall-${i}`);
        // no started_at: the call sorts by when it was received, until a later event says
        return { call_id: `stall-${i}`, event_id: `stall-${i}/1`, direction: 'inbound', status: 'ringing', from: '0501234567', transcript: pad };
      }));
    }
    for (let b = 0; b < batches.length; b += 4) {
      const res = await Promise.all(batches.slice(b, b + 4).map((x) => post(x)));
      for (const r of res) for (const x of r.results) ids.add(x.call_id);
    }
    assert.equal(ids.size, N);
  });

  test('holds no snapshot: the WAL is checkpointed under ingest, and the export completes with every call once', T, async () => {
    const x = await rawGet('/v1/calls/export?format=json', acme.apiKey);
    assert.match(x.head, /^HTTP\/1\.1 200/);
    // Ingest while the export is stalled: new calls, and events that move existing calls'
    // started_at both far back and far ahead (a keyset on started_at would skip or repeat them).
    const more = [];
    for (let i = 0; i < 100; i++) {
      const j = (i * 13) % N;
      more.push({ call_id: `stall-${j}`, event_id: `stall-${j}/2`, status: 'ended', disposition: 'answered',
        started_at: i % 2 ? '2001-01-01T00:00:00Z' : '2031-01-01T00:00:00Z', ended_at: '2031-01-01T00:01:00Z' });
      more.push({ call_id: `late-${i}`, event_id: `late-${i}/1`, status: 'ringing', from: '0501234567' });
    }
    for (let i = 0; i < more.length; i += 50) await post(more.slice(i, i + 50));

    // Every frame can be copied into the database: no reader holds an old snapshot. (With one
    // read transaction for the whole export, `log` stays above `checkpointed` for as long as
    // the client does not read.) A checkpoint already running elsewhere answers busy: retry.
    let ck;
    for (let k = 0; k < 20; k++) {
      ck = checkpoint();
      if (ck.busy === 0 && ck.log === ck.done) break;
      await sleep(100);
    }
    assert.equal(ck.busy, 0, JSON.stringify(ck));
    assert.equal(ck.log, ck.done, `WAL frames not checkpointed behind a stalled export: ${JSON.stringify(ck)}`);

    x.resume();
    const raw = await x.done();
    const calls = JSON.parse(dechunk(raw).toString('utf8'));
    const seen = new Map();
    for (const c of calls) seen.set(c.id, (seen.get(c.id) || 0) + 1);
    const dups = [...seen].filter(([, n]) => n > 1);
    assert.deepEqual(dups, [], 'calls exported twice');
    const missing = [...ids].filter((id) => !seen.has(id));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} calls missing`);
    const extra = calls.filter((c) => !ids.has(c.id)).map((c) => c.external_id);
    assert.deepEqual(extra, [], 'calls created after the export began');
    assert.equal(calls.length, N);
    // newest first by id
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i - 1].id > calls[i].id, `order at ${i}`);
  });

  test('a tenant runs at most 4 exports at once; 429 beyond, and a slot frees when one ends', T, async () => {
    const xs = [];
    try {
      for (let i = 0; i < 4; i++) xs.push(await rawGet('/v1/calls/export?format=csv', acme.apiKey));
      const r = await apiGet(S, '/v1/calls/export?format=csv&q=nothing-matches', acme.apiKey);
      assert.equal(r.status, 429, r.text);
      assert.equal(r.json.error, 'rate_limited');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      // another tenant is not limited by acme's exports
      const o = await apiGet(S, '/v1/calls/export?format=json', other.apiKey);
      assert.equal(o.status, 200, o.text);
      assert.deepEqual(JSON.parse(o.text), []);
      // closing one export frees its slot (the server notices the closed socket)
      xs.shift().sock.destroy();
      let ok;
      for (let k = 0; k < 50; k++) {
        ok = await apiGet(S, '/v1/calls/export?format=csv&q=nothing-matches', acme.apiKey);
        if (ok.status === 200) break;
        await sleep(100);
      }
      assert.equal(ok.status, 200, ok.text);
    } finally {
      for (const x of xs) x.sock.destroy();
    }
  });
});

test('pages: a filter that matches calls far apart, and an export of many small calls', T, async () => {
  // more calls than one page looks at (1,024) and holds (256), with two matches at both ends
  await post({ call_id: 'needle-first', caller_name: 'Needle One' }, many);
  for (let b = 0; b < 2; b++) {
    await post(Array.from({ length: 600 }, (_, k) => ({ call_id: `hay-${b}-${k}`, caller_name: 'Hay' })), many);
  }
  await post({ call_id: 'needle-last', caller_name: 'Needle Two' }, many);
  const r = await apiGet(S, '/v1/calls/export?format=json&q=needle', many.apiKey);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text).map((c) => c.external_id), ['needle-last', 'needle-first']);
  const all = await apiGet(S, '/v1/calls/export?format=csv', many.apiKey);
  assert.equal(all.status, 200);
  const rows = parseCsv(all.text).slice(1);
  assert.equal(rows.length, 1202);
  assert.equal(new Set(rows.map((row) => row[0])).size, 1202, 'no call twice');
});

describe('CSV export and formulas', () => {
  const DANGEROUS = ['=HYPERLINK("http://x","y")', '+1', '-2+3', '@SUM(1)', '\tx', '\rx', '=1+1,2', '+972501234567 '];
  const rows = {};

  before(async () => {
    for (const [i, v] of DANGEROUS.entries()) {
      await post({ call_id: `csv-${i}`, event_id: `csv-${i}/1`, direction: 'inbound', status: 'ended',
        caller_name: v, from: v, summary: v, duration_sec: 12, cost: { amount: 0.5, currency: 'USD' } }, small);
    }
    await post({ call_id: 'csv-e164', event_id: 'csv-e164/1', direction: 'inbound', status: 'ended',
      from: '+972501234567', to: '0501234567', caller_name: 'Dana', summary: 'a - b = c' }, small);
    const r = await apiGet(S, '/v1/calls/export?format=csv', small.apiKey);
    assert.equal(r.status, 200, r.text);
    const csv = parseCsv(r.text);
    const header = csv[0];
    for (const row of csv.slice(1)) {
      const o = Object.fromEntries(header.map((h, i) => [h, row[i]]));
      if (o.external_id.startsWith('csv-')) rows[o.external_id] = o;
    }
    rows.text = r.text;
  });

  test('a string that starts with = + - @ tab or CR is prefixed with a quote and quoted', T, () => {
    for (const [i, v] of DANGEROUS.entries()) {
      const o = rows[`csv-${i}`];
      assert.ok(o, `no row for csv-${i}`);
      for (const col of ['caller_name', 'from_raw', 'summary']) {
        assert.equal(o[col], `'${v}`, `${col} of ${JSON.stringify(v)}`);
      }
      assert.equal(o.duration_sec, '12', 'numbers are left alone');
      assert.equal(o.cost_amount, '0.5');
    }
    assert.ok(rows.text.includes(`"'=HYPERLINK(""http://x"",""y"")"`), 'the neutralised cell is quoted');
  });

  test('an E.164 number (+ and digits only) is left as it is; other strings too', T, () => {
    const o = rows['csv-e164'];
    assert.equal(o.from, '+972501234567');
    assert.equal(o.from_raw, '+972501234567');
    assert.equal(o.to, '+972501234567'); // 0501234567 in Israel
    assert.equal(o.to_raw, '0501234567');
    assert.equal(o.caller_name, 'Dana');
    assert.equal(o.summary, 'a - b = c');
    assert.ok(/\r\n[^\r\n]*,\+972501234567,/.test(rows.text), 'E.164 cell written bare');
  });
});

test('the server exits 0 on SIGTERM (no leaks under ASan/LSan)', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-4000));
});
