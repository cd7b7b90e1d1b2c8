// callhook import asterisk-csv: Master.csv with 16, 18 and 21 columns, quoting as cdr_csv
// writes it, bad lines reported with their numbers, and a second import of the same file adds
// nothing. The imported calls are the same as if the CDRs had been posted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BIN, FIXTURES, cli, tmpDir, cleanup, startServer, apiGet, listAllCalls, sqlite, postHook } from './lib.mjs';
import { writeFileSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const T = { timeout: 120_000 };
let dir, db, apiKey;
const csv = path.join(FIXTURES, 'asterisk-csv/Master.csv');

function runImport(extra = []) {
  try {
    return { code: 0, out: execFileSync(BIN, ['import', 'asterisk-csv', csv, '--tenant', 'histco', '--db', db, '--json', ...extra], { encoding: 'utf8', timeout: 60_000 }) };
  } catch (e) {
    return { code: e.status, out: e.stdout, err: e.stderr };
  }
}

before(() => {
  dir = tmpDir('callhook-import-');
  db = path.join(dir, 'i.db');
  cli(db, ['tenant', 'add', 'histco', '--timezone', 'Asia/Jerusalem', '--country', '972']);
  apiKey = cli(db, ['apikey', 'add', 'histco']).api_key;
});
after(() => cleanup(dir));

test('first import: good lines stored, bad lines reported by number, exit 3', T, () => {
  const r = runImport();
  assert.equal(r.code, 3, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.lines, 7);
  assert.equal(j.stored, 4);
  assert.equal(j.duplicates, 0);
  assert.equal(j.bad, 2);
  assert.deepEqual(j.bad_lines.map((b) => b.line), [6, 7]);
  assert.match(j.bad_lines[0].error, /quote|columns/);
  assert.match(j.bad_lines[1].error, /start/);
});

test('the same file again adds nothing', T, () => {
  const before = Number(sqlite(db, 'SELECT count(*) FROM events;').trim());
  const r = runImport();
  const j = JSON.parse(r.out);
  assert.equal(j.stored, 0);
  assert.equal(j.duplicates, 4);
  assert.equal(Number(sqlite(db, 'SELECT count(*) FROM events;').trim()), before);
});

test('imported calls read back field by field (and the daemon can serve them)', T, async () => {
  const S = await startServer({ db });
  try {
    const { calls } = await listAllCalls(S, apiKey);
    assert.equal(calls.length, 4);
    const by = (ext) => calls.find((c) => c.external_id === ext);
    const a = by('1715681700.1');
    assert.equal(a.caller_name, 'Alice');
    assert.equal(a.disposition, 'answered');
    assert.equal(a.started_at, '2024-05-14T07:15:00Z', 'local time of the tenant (UTC+3)');
    assert.equal(a.billsec, 102);
    const q = by('1715684400.5');
    assert.equal(q.caller_name, 'Dana, Levi', 'a comma inside quotes');
    assert.equal(q.from, '+972501234567');
    assert.equal(q.direction, 'inbound');
    const busy = calls.find((c) => c.disposition === 'busy');
    assert.ok(busy, 'the 16-column line (no uniqueid) is a call of its own');
    assert.match(busy.external_id, /^csv-/);
    assert.equal(busy.direction, 'outbound');
    const full = await apiGet(S, `/v1/calls/${a.id}`, apiKey);
    assert.equal(full.json.events[0].content_type, 'text/csv');
    assert.ok(full.json.events[0].raw.startsWith('"","1001","1002"'), 'the line is kept as it was');
  } finally {
    assert.deepEqual(await S.stop(), { code: 0, signal: null });
  }
});

test('an import runs beside a serving daemon: both write, nothing collides', T, async () => {
  cli(db, ['source', 'add', 'histco', 'generic', '--token', 'hist-token-123']);
  const S = await startServer({ db });
  try {
    // 300 new CDRs (fresh uniqueids) imported while 100 webhooks arrive
    const line = readFileSync(csv, 'utf8').split('\n')[0];
    const lines = [];
    for (let i = 0; i < 300; i++) lines.push(line.replace('"1715681700.1"', `"beside-${i}"`));
    const big = path.join(dir, 'beside.csv');
    writeFileSync(big, lines.join('\n') + '\n');
    const imp = promisify(execFile)(BIN, ['import', 'asterisk-csv', big, '--tenant', 'histco', '--db', db, '--json'], { timeout: 60_000 });
    const posts = [];
    for (let i = 0; i < 100; i++)
      posts.push(postHook(S, 'histco', { call_id: `live-${i}`, event_id: `live-${i}` }, { headers: { Authorization: 'Bearer hist-token-123' } }));
    const answers = await Promise.all(posts);
    for (const a of answers) assert.equal(a.status, 200, a.text);
    const j = JSON.parse((await imp).stdout);
    assert.equal(j.stored, 300);
    assert.equal(Number(sqlite(db, "SELECT count(*) FROM events WHERE idem_key LIKE 'asterisk:beside-%';").trim()), 300);
    assert.equal(Number(sqlite(db, "SELECT count(*) FROM events WHERE idem_key LIKE 'generic:live-%';").trim()), 100);
    assert.equal(Number(sqlite(db, 'SELECT count(*) - count(DISTINCT id) FROM events;').trim()), 0, 'event ids are unique');
  } finally {
    assert.deepEqual(await S.stop(), { code: 0, signal: null });
  }
});

test('unknown tenant, missing file', T, () => {
  let r;
  try {
    execFileSync(BIN, ['import', 'asterisk-csv', csv, '--tenant', 'nobody', '--db', db], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) { r = e; }
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no such tenant/);
  r = undefined;
  try {
    execFileSync(BIN, ['import', 'asterisk-csv', '/nonexistent.csv', '--tenant', 'histco', '--db', db], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) { r = e; }
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot open/);
});
