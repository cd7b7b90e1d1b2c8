// A full store (--db-max-bytes) must answer 503 store_unavailable with Retry-After, store nothing
// of the refused requests, keep every acknowledged one, turn /readyz 503, keep the database
// intact, and accept the refused events once there is room again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, http, setupTenant, sqlite, tmpDir, cleanup } from './lib.mjs';
import { sqliteJson, q, pool, postGeneric, words } from './lib-ops.mjs';

const SMALL = 1048576;       // fills after a few hundred ~2 KB events
const LARGE = 64 * 1048576;

test('full store: 503 + Retry-After, nothing half-stored, readyz 503, recovery with a larger limit', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir('callhook-diskfull-');
  const db = path.join(dir, 'full.db');
  const ten = setupTenant(db, 'fullco');
  const tenantId = ten.tenant.id;
  let server = await startServer({ db, args: ['--db-max-bytes', String(SMALL)] });
  t.after(async () => { await server.stop('SIGKILL'); cleanup(dir); });

  const ready0 = await http(`${server.url}/readyz`);
  assert.equal(ready0.status, 200, 'ready before the store is full');
  assert.deepEqual(ready0.json, { status: 'ready' });

  const tag = Math.random().toString(36).slice(2, 8);
  const ok = [];      // {eventId, ext, body}
  const refused = []; // {eventId, ext, body, res}
  const other = [];
  let n = 0;
  const MAX = 3000;
  const deadline = Date.now() + 60_000;
  const mkEvent = (i, big) => {
    const ext = `full-${tag}-${Math.floor(i / 2)}`; // two events per call
    const eventId = `full-${tag}-e${i}`;
    const body = JSON.stringify({
      call_id: ext, event_id: eventId, type: 'call.ended', status: 'ended', direction: 'outbound',
      transcript: big ? words(2048) : null,
      summary: big ? words(200) : null,
    });
    return { eventId, ext, body };
  };
  const record = (ev, res) => {
    if (res.status === 200) ok.push({ ...ev, answer: res.json });
    else if (res.status === 503) refused.push({ ...ev, res });
    else other.push({ eventId: ev.eventId, status: res.status, text: res.text.slice(0, 200) });
  };

  // Phase 1: four concurrent posters with ~2 KB transcripts until 30 refusals (bounded).
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (n < MAX && Date.now() < deadline && refused.length < 30) {
      const ev = mkEvent(n++, true);
      record(ev, await postGeneric(server.url, ten, ev.body));
    }
  }));
  // Phase 2: small events one at a time until five refusals in a row: the store is really full.
  let streak = 0;
  for (let k = 0; k < 400 && streak < 5 && Date.now() < deadline; k++) {
    const ev = mkEvent(n++, false);
    const res = await postGeneric(server.url, ten, ev.body);
    record(ev, res);
    streak = res.status === 503 ? streak + 1 : 0;
  }
  t.diagnostic(`posted ${n}: ${ok.length} stored, ${refused.length} refused, ${other.length} other`);
  assert.deepEqual(other, [], 'only 200 or 503 while filling the store');
  assert.ok(ok.length >= 20, `some events fit before the store was full (${ok.length})`);
  assert.ok(refused.length >= 5, `the store filled up and answers 503 (${refused.length} refusals after ${n} posts)`);
  assert.equal(streak, 5, 'the store stays full: consecutive 503s at the end');

  for (const r of refused) {
    assert.equal(r.res.headers.get('retry-after'), '1', `503 for ${r.eventId} has Retry-After: 1`);
    assert.equal(r.res.json?.error, 'store_unavailable', `503 body for ${r.eventId}: ${r.res.text.slice(0, 200)}`);
    assert.match(r.res.headers.get('content-type') || '', /^application\/json/);
    assert.ok(r.res.headers.get('x-request-id'), '503 carries X-Request-Id');
  }
  for (const o of ok) assert.equal(o.answer?.status, 'stored');

  // /readyz reflects the full store; /healthz does not
  const ready1 = await http(`${server.url}/readyz`);
  assert.equal(ready1.status, 503, `readyz while full: ${ready1.text}`);
  assert.deepEqual(ready1.json, { status: 'unavailable' });
  const health = await http(`${server.url}/healthz`);
  assert.equal(health.status, 200);

  // a duplicate of a stored event is still answered (nothing to write)... or 503; never a 2xx "stored"
  const dupWhileFull = await postGeneric(server.url, ten, ok[0].body);
  assert.ok([200, 503].includes(dupWhileFull.status), `duplicate while full: ${dupWhileFull.status}`);
  if (dupWhileFull.status === 200) assert.equal(dupWhileFull.json.status, 'duplicate');

  const exit1 = await server.stop();
  assert.deepEqual(exit1, { code: 0, signal: null }, `clean exit with a full store:\n${server.logs().slice(-3000)}`);

  // The store: every 200 is there, every 503 is not, no call made only of refused events.
  const rows = sqliteJson(db, `SELECT idem_key AS k FROM events WHERE tenant_id = ${tenantId}`);
  const keys = new Set(rows.map((x) => x.k));
  const lost = ok.filter((o) => !keys.has(`generic:${o.eventId}`)).map((o) => o.eventId);
  assert.deepEqual(lost, [], 'every event answered 200 is stored');
  const leaked = refused.filter((r) => keys.has(`generic:${r.eventId}`)).map((r) => r.eventId);
  assert.deepEqual(leaked, [], 'no event answered 503 is stored');
  const okCalls = new Set(ok.map((o) => o.ext));
  const refusedOnly = [...new Set(refused.map((r) => r.ext))].filter((e) => !okCalls.has(e));
  if (refusedOnly.length > 0) {
    const found = sqliteJson(db, `SELECT external_id AS ext FROM calls WHERE tenant_id = ${tenantId}
      AND external_id IN (${refusedOnly.map(q).join(',')})`);
    assert.deepEqual(found, [], 'no call row for calls whose every event was refused');
  }
  assert.equal(sqlite(db, 'PRAGMA integrity_check;').trim(), 'ok');

  // Restart with room: ready again, the refused events are accepted as new and stored.
  server = await startServer({ db, args: ['--db-max-bytes', String(LARGE)] });
  const ready2 = await http(`${server.url}/readyz`);
  assert.equal(ready2.status, 200);
  assert.deepEqual(ready2.json, { status: 'ready' });
  const again = await pool(refused, 4, (r) => postGeneric(server.url, ten, r.body));
  again.forEach((res, i) => {
    assert.equal(res.status, 200, `re-post of refused ${refused[i].eventId}: ${res.status} ${res.text.slice(0, 200)}`);
    assert.equal(res.json.status, 'stored', `refused event ${refused[i].eventId} was not stored before`);
  });
  const dup = await postGeneric(server.url, ten, ok[ok.length - 1].body);
  assert.equal(dup.status, 200);
  assert.equal(dup.json.status, 'duplicate');

  const rows2 = sqliteJson(db, `SELECT idem_key AS k FROM events WHERE tenant_id = ${tenantId}`);
  const keys2 = new Set(rows2.map((x) => x.k));
  for (const e of [...ok, ...refused]) assert.ok(keys2.has(`generic:${e.eventId}`), `${e.eventId} stored at the end`);
  assert.equal(rows2.length, ok.length + refused.length, 'exactly the posted events are stored');
  assert.equal(sqlite(db, 'PRAGMA integrity_check;').trim(), 'ok');

  const exit2 = await server.stop();
  assert.deepEqual(exit2, { code: 0, signal: null }, `clean exit:\n${server.logs().slice(-3000)}`);
});
