// Usage accounting and monthly limits.
// The classic failure first: a tenant inserted by hand with plain SQL (only its slug) must work
// like any other — sources, ingest, usage counters (no NULL counters, no NULL settings).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, http, cli, setupTenant, sqlite, tmpDir, cleanup } from './lib.mjs';
import { sqliteJson, q, postGeneric, currentMonthUTC } from './lib-ops.mjs';

const dir = tmpDir('callhook-usage-');
const db = path.join(dir, 'usage.db');
let server;
let hand;  // {slug, token, apiKey}
let soft;  // setupTenant: --monthly-limit 2
let hard;  // setupTenant: --monthly-limit 2 --hard-limit

before(async () => {
  const m = cli(db, ['migrate']);
  assert.equal(typeof m.schema_version, 'number');
  sqlite(db, "INSERT INTO tenants(slug) VALUES('handmade');");
  const token = `tok-handmade-${Math.random().toString(36).slice(2)}`;
  const src = cli(db, ['source', 'add', 'handmade', 'generic', '--token', token]);
  assert.equal(src.tenant, 'handmade');
  assert.equal(src.provider, 'generic');
  const key = cli(db, ['apikey', 'add', 'handmade']);
  hand = { slug: 'handmade', token, apiKey: key.api_key };
  soft = setupTenant(db, 'softcap', { tenantArgs: ['--monthly-limit', '2'] });
  hard = setupTenant(db, 'hardcap', { tenantArgs: ['--monthly-limit', '2', '--hard-limit'] });
  assert.equal(soft.tenant.monthly_limit, 2);
  assert.equal(soft.tenant.hard_limit, false);
  assert.equal(hard.tenant.monthly_limit, 2);
  assert.equal(hard.tenant.hard_limit, true);
  server = await startServer({ db });
});
after(async () => {
  if (server) await server.stop('SIGKILL');
  cleanup(dir);
});

const tag = Math.random().toString(36).slice(2, 8);
const getCall = (ten, id) => http(`${server.url}/v1/calls/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${ten.apiKey}` } });
const usageOf = (slug) => {
  const list = cli(db, ['tenant', 'list']);
  assert.ok(Array.isArray(list.tenants), 'tenant list --json has tenants[]');
  const t = list.tenants.find((x) => x.slug === slug);
  assert.ok(t, `tenant ${slug} is listed`);
  return t;
};

test('a tenant inserted by hand with only its slug ingests, stores and counts usage', async () => {
  const monthBefore = currentMonthUTC();
  const calls = ['h1', 'h2', 'h3', 'h4', 'h5'].map((c) => `${c}-${tag}`);
  const posted = []; // {eventId, call, answer}
  // 2 single events per call
  for (const c of calls) {
    for (const k of [1, 2]) {
      const eventId = `${c}-e${k}`;
      const r = await postGeneric(server.url, hand, { call_id: c, event_id: eventId, status: k === 1 ? 'ringing' : 'ended', direction: 'inbound', from: '+15551234567' });
      assert.equal(r.status, 200, `post ${eventId}: ${r.text}`);
      assert.equal(r.json.status, 'stored');
      assert.equal(r.json.event_id, eventId);
      posted.push({ eventId, call: c, callId: r.json.call_id });
    }
  }
  // and an array of 3 (two calls already known)
  const batch = [
    { call_id: calls[0], event_id: `${calls[0]}-e3`, summary: 'batch one' },
    { call_id: calls[1], event_id: `${calls[1]}-e3` },
    { call_id: calls[4], event_id: `${calls[4]}-e3`, disposition: 'answered' },
  ];
  const br = await postGeneric(server.url, hand, batch);
  assert.equal(br.status, 200, br.text);
  assert.equal(br.json.stored, 3);
  assert.equal(br.json.duplicates, 0);
  assert.equal(br.json.rejected, 0);
  br.json.results.forEach((res, i) => {
    assert.equal(res.index, i);
    assert.equal(res.status, 'stored');
    posted.push({ eventId: batch[i].event_id, call: batch[i].call_id, callId: res.call_id });
  });
  // a duplicate changes nothing
  const dup = await postGeneric(server.url, hand, { call_id: calls[2], event_id: `${calls[2]}-e1`, status: 'ringing', direction: 'inbound', from: '+15551234567' });
  assert.equal(dup.status, 200);
  assert.equal(dup.json.status, 'duplicate');

  const tid = Number(sqlite(db, "SELECT id FROM tenants WHERE slug = 'handmade';").trim());
  const rows = sqliteJson(db, `SELECT idem_key AS k, call_id AS cid FROM events WHERE tenant_id = ${tid}`);
  assert.equal(rows.length, posted.length, 'every posted event stored once');
  const byKey = new Map(rows.map((r) => [r.k, r.cid]));
  for (const p of posted) assert.equal(byKey.get(`generic:${p.eventId}`), p.callId, `${p.eventId} stored on its call`);

  // the read API works for the hand-made tenant
  const one = await getCall(hand, posted[0].callId);
  assert.equal(one.status, 200, one.text);
  assert.equal(one.json.tenant, 'handmade');
  assert.equal(one.json.external_id, calls[0]);
  assert.equal(one.json.event_count, 3);
  assert.equal(one.json.over_limit, false);
  assert.equal(one.json.status, 'ended');

  // usage: distinct calls and stored events of this month
  const t = usageOf('handmade');
  assert.ok(t.usage, `usage present: ${JSON.stringify(t)}`);
  assert.ok([monthBefore, currentMonthUTC()].includes(t.usage.month), `usage month ${t.usage.month}`);
  assert.equal(t.usage.calls, calls.length, 'usage calls = distinct calls posted');
  assert.equal(t.usage.events, posted.length, 'usage events = events stored (duplicates not counted)');
  assert.equal(t.monthly_limit, 0);
  assert.equal(t.hard_limit, false);
  assert.equal(t.timezone, 'UTC');
});

test('monthly limit (soft): calls beyond the limit are stored and marked over_limit', async () => {
  const ext = [1, 2, 3, 4].map((i) => `s${i}-${tag}`);
  const ids = [];
  for (const c of ext) {
    const r = await postGeneric(server.url, soft, { call_id: c, event_id: `${c}-e1`, status: 'ringing' });
    assert.equal(r.status, 200, `new call ${c}: ${r.text}`);
    assert.equal(r.json.status, 'stored');
    ids.push(r.json.call_id);
  }
  // further events of existing calls, below and above the limit, are stored
  for (const i of [0, 2]) {
    const r = await postGeneric(server.url, soft, { call_id: ext[i], event_id: `${ext[i]}-e2`, status: 'ended' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
    assert.equal(r.json.call_id, ids[i]);
  }
  const expectOver = [false, false, true, true];
  const expectCount = [2, 1, 2, 1];
  for (let i = 0; i < 4; i++) {
    const g = await getCall(soft, ids[i]);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.external_id, ext[i]);
    assert.equal(g.json.over_limit, expectOver[i], `call ${i + 1} over_limit`);
    assert.equal(g.json.event_count, expectCount[i], `call ${i + 1} event_count`);
    assert.equal(g.json.events.length, expectCount[i]);
  }
  const st = sqliteJson(db, `SELECT count(*) AS n FROM events WHERE tenant_id = ${soft.tenant.id}`);
  assert.equal(st[0].n, 6);
});

test('monthly limit (hard): new calls beyond the limit get 429 and are not stored', async () => {
  const ext = [1, 2, 3, 4].map((i) => `x${i}-${tag}`);
  const ids = [];
  for (const c of ext.slice(0, 2)) {
    const r = await postGeneric(server.url, hard, { call_id: c, event_id: `${c}-e1` });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
    ids.push(r.json.call_id);
  }
  for (const c of ext.slice(2)) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await postGeneric(server.url, hard, { call_id: c, event_id: `${c}-e1` });
      assert.equal(r.status, 429, `new call ${c} over a hard limit (attempt ${attempt + 1}): ${r.status} ${r.text}`);
      assert.equal(r.json?.error, 'monthly_limit_reached');
      assert.ok(r.headers.get('x-request-id'));
    }
  }
  // known calls still take events
  const r1 = await postGeneric(server.url, hard, { call_id: ext[0], event_id: `${ext[0]}-e2`, status: 'ended' });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json.status, 'stored');
  assert.equal(r1.json.call_id, ids[0]);

  const keys = sqliteJson(db, `SELECT idem_key AS k FROM events WHERE tenant_id = ${hard.tenant.id} ORDER BY idem_key`).map((x) => x.k);
  assert.deepEqual(keys, [`generic:${ext[0]}-e1`, `generic:${ext[0]}-e2`, `generic:${ext[1]}-e1`].sort());
  const callRows = sqliteJson(db, `SELECT external_id AS e FROM calls WHERE tenant_id = ${hard.tenant.id} AND external_id IN (${ext.map(q).join(',')}) ORDER BY external_id`);
  assert.deepEqual(callRows.map((x) => x.e), [ext[0], ext[1]].sort(), 'refused calls have no call row');
  const list = await http(`${server.url}/v1/calls`, { headers: { Authorization: `Bearer ${hard.apiKey}` } });
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.data.map((c) => c.external_id).sort(), [ext[0], ext[1]].sort());
  for (const c of list.json.data) assert.equal(c.over_limit, false);

  const t = usageOf('hardcap');
  assert.equal(t.usage.calls, 2, 'refused calls are not counted');
  assert.equal(t.usage.events, 3, 'refused events are not counted');
});

test('the server exits 0 on SIGTERM', async () => {
  const exit = await server.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, server.logs().slice(-3000));
});
