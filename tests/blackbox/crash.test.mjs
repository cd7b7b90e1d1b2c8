// The crash test: kill -9 the daemon at a random moment while ~16 clients are posting, restart it on
// the same database and prove that every event that was answered 2xx survived (sqlite3 CLI and
// the read API), that the database is intact, and that re-posting answers `duplicate`.
// Three kill cycles on one database; whole file bounded well under 90 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, http, setupTenant, sqlite, tmpDir, cleanup } from './lib.mjs';
import { sqliteJson, pool, sleep, postGeneric, words, withTimeout } from './lib-ops.mjs';

const CYCLES = 3;
const CLIENTS = 16;
const MAX_PER_CLIENT = 150; // per cycle; with the pacing below a cycle sends ~1,000 requests
const STATUSES = ['queued', 'ringing', 'in_progress', 'ended'];
const randInt = (n) => Math.floor(Math.random() * n);

// Runs the load for a random 1–3 s, then kill -9 while at least one request is in flight.
async function loadAndKill(server, ten, cycle) {
  const runMs = 1000 + randInt(2000);
  const tag = Math.random().toString(36).slice(2, 8);
  let stopping = false;
  let inflight = 0;
  let sent = 0;
  const acks = [];
  const notOk = [];
  const errors = [];

  const client = async (c) => {
    for (let i = 0; i < MAX_PER_CLIENT && !stopping; i++) {
      const eventId = `crash-${cycle}-${tag}-${c}-${i}`;
      // a third of the events go to calls shared by all clients, the rest to per-client calls
      // that get ~3 events each
      const ext = Math.random() < 0.33 ? `k${cycle}-${tag}-shared-${randInt(40)}` : `k${cycle}-${tag}-c${c}-${Math.floor(i / 3)}`;
      const body = JSON.stringify({
        call_id: ext,
        event_id: eventId,
        type: 'call.update',
        sequence: i,
        direction: 'inbound',
        status: STATUSES[randInt(STATUSES.length)],
        from: `+1555${String(1000000 + randInt(8999999))}`,
        to: '+15550001111',
        transcript: words(100 + randInt(300)),
        metadata: { client: c, i },
      });
      sent++;
      inflight++;
      try {
        const r = await postGeneric(server.url, ten, body, { timeoutMs: 10_000 });
        if (r.status >= 200 && r.status < 300) acks.push({ eventId, ext, body, answer: r.json, cycle });
        else notOk.push({ status: r.status, text: r.text.slice(0, 200) });
      } catch (e) {
        errors.push(e);
      } finally {
        inflight--;
      }
      if (stopping) break;
      await sleep(10 + randInt(30));
    }
  };

  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  await sleep(runMs);
  // kill when many requests are in flight (at least one; bounded wait)
  const waitEnd = Date.now() + 1000;
  while (inflight < CLIENTS / 2 && Date.now() < waitEnd) await new Promise((r) => setImmediate(r));
  const waitEnd2 = Date.now() + 1000;
  while (inflight === 0 && Date.now() < waitEnd2) await sleep(1);
  const inflightAtKill = inflight;
  server.proc.kill('SIGKILL');
  stopping = true;
  const exit = await server.exited;
  // every client ends: its request fails with a reset or it finished its bounded loop
  await withTimeout(Promise.all(clients), 20_000, 'clients after the kill');
  return { acks, notOk, errors, sent, inflightAtKill, exit, runMs };
}

test('kill -9 under concurrent load loses no acknowledged event (3 cycles)', { timeout: 90_000 }, async (t) => {
  const t0 = Date.now();
  const dir = tmpDir('callhook-crash-');
  const db = path.join(dir, 'crash.db');
  const ten = setupTenant(db, 'crashco');
  const tenantId = ten.tenant.id;
  assert.ok(Number.isInteger(tenantId), 'tenant add --json prints an integer id');

  let server = await startServer({ db });
  t.after(async () => { await server.stop('SIGKILL'); cleanup(dir); });

  const allAcks = [];
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const r = await loadAndKill(server, ten, cycle);
    t.diagnostic(`cycle ${cycle}: ran ${r.runMs} ms, sent ${r.sent}, acked ${r.acks.length}, in flight at kill ${r.inflightAtKill}, failed by kill ${r.errors.length}`);
    assert.equal(r.exit.signal, 'SIGKILL', 'the daemon died from the kill');
    assert.ok(r.inflightAtKill > 0, 'requests were in flight at the kill');
    assert.deepEqual(r.notOk, [], 'no non-2xx answers under normal load before the kill');
    assert.ok(r.acks.length >= 50, `cycle ${cycle}: enough events acknowledged to mean something (${r.acks.length})`);
    for (const a of r.acks) {
      assert.equal(a.answer?.status, 'stored', `first post of ${a.eventId} answers stored`);
      assert.equal(typeof a.answer.call_id, 'string');
      assert.ok(a.answer.call_id.length > 0);
    }
    // one external call id always maps to one public call id
    const pub = new Map();
    for (const a of [...allAcks, ...r.acks]) {
      if (!pub.has(a.ext)) pub.set(a.ext, a.answer.call_id);
      assert.equal(a.answer.call_id, pub.get(a.ext), `call ${a.ext} has one public id`);
    }
    allAcks.push(...r.acks);

    // restart on the same database
    server = await startServer({ db });

    // 1. sqlite3 CLI: every acknowledged event (of every cycle so far) is there, with its call
    const rows = sqliteJson(db,
      `SELECT e.idem_key AS k, e.call_id AS cid, c.external_id AS ext FROM events e
       LEFT JOIN calls c ON c.tenant_id = e.tenant_id AND c.id = e.call_id
       WHERE e.tenant_id = ${tenantId}`);
    const byKey = new Map(rows.map((x) => [x.k, x]));
    const missing = allAcks.filter((a) => !byKey.has(`generic:${a.eventId}`));
    assert.deepEqual(missing.map((a) => a.eventId), [], `cycle ${cycle}: acknowledged events missing after kill -9`);
    for (const a of allAcks) {
      const row = byKey.get(`generic:${a.eventId}`);
      assert.equal(row.cid, a.answer.call_id, `event ${a.eventId} belongs to the call it was answered with`);
      assert.equal(row.ext, a.ext, `event ${a.eventId} belongs to call ${a.ext}`);
    }
    const orphans = rows.filter((x) => x.ext === null);
    assert.deepEqual(orphans, [], 'no event without its call after the crash');
    const badCounts = sqliteJson(db,
      `SELECT c.id, c.event_count AS n,
              (SELECT count(*) FROM events e WHERE e.tenant_id = c.tenant_id AND e.call_id = c.id) AS m
       FROM calls c WHERE c.tenant_id = ${tenantId} AND c.event_count !=
              (SELECT count(*) FROM events e WHERE e.tenant_id = c.tenant_id AND e.call_id = c.id)`);
    assert.deepEqual(badCounts, [], 'every call\'s event_count matches its stored events (merge and insert are atomic)');

    // 2. integrity
    assert.equal(sqlite(db, 'PRAGMA integrity_check;').trim(), 'ok');

    // 3. the read API, for a sample of this cycle's calls
    const callsThisCycle = new Map();
    for (const a of r.acks) {
      if (!callsThisCycle.has(a.ext)) callsThisCycle.set(a.ext, []);
      callsThisCycle.get(a.ext).push(a);
    }
    const sample = [...callsThisCycle.entries()].sort(() => Math.random() - 0.5).slice(0, 30);
    await pool(sample, 8, async ([ext, acks]) => {
      const res = await http(`${server.url}/v1/calls/${encodeURIComponent(acks[0].answer.call_id)}`,
        { headers: { Authorization: `Bearer ${ten.apiKey}` } });
      assert.equal(res.status, 200, `GET call ${ext}: ${res.text.slice(0, 200)}`);
      assert.equal(res.json.id, acks[0].answer.call_id);
      assert.equal(res.json.external_id, ext);
      assert.ok(Array.isArray(res.json.events), 'call has events[]');
      const keys = new Set(res.json.events.map((e) => e.idempotency_key));
      for (const a of acks) {
        assert.ok(keys.has(`generic:${a.eventId}`) || keys.has(a.eventId),
          `GET /v1/calls/${a.answer.call_id} lists acknowledged event ${a.eventId}`);
      }
      assert.equal(res.json.event_count, res.json.events.length, 'event_count = number of events listed');
    });

    // 4. re-posting every acknowledged event of this cycle answers duplicate and changes nothing
    const before = Number(sqlite(db, `SELECT count(*) FROM events WHERE tenant_id = ${tenantId};`).trim());
    const dup = await pool(r.acks, 16, (a) => postGeneric(server.url, ten, a.body));
    dup.forEach((res, i) => {
      const a = r.acks[i];
      assert.equal(res.status, 200, `re-post of ${a.eventId}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.json.status, 'duplicate', `re-post of ${a.eventId} answers duplicate`);
      assert.equal(res.json.call_id, a.answer.call_id);
      assert.equal(res.json.event_id, a.eventId);
    });
    const after = Number(sqlite(db, `SELECT count(*) FROM events WHERE tenant_id = ${tenantId};`).trim());
    assert.equal(after, before, 'duplicates store nothing');
    assert.ok(Date.now() - t0 < 85_000, 'the crash file stays within its time budget');
  }

  // the last run is a normal one: clean exit (ASan/LSan: no leaks)
  const exit = await server.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, `clean exit after SIGTERM:\n${server.logs().slice(-3000)}`);
});
