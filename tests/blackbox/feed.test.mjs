// The change feed (docs/internals/change-feed.md), read from outside with `callhook changes`:
// every commit's changes in commit order (call created / updated with its version, delivery
// created / settled), a cursor that resumes after a restart of the daemon without missing or
// repeating anything, tenant isolation, and a reset for a cursor the log no longer has.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, cliFail, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

const open = [];
after(async () => {
  for (const c of open.reverse()) await c();
});

// Every change after cursor, read in pages of `limit` (a subscriber catching up).
function readAll(db, cursor, { limit = 3, tenant } = {}) {
  const out = [];
  for (let i = 0; i < 1000; i++) {
    const args = ['changes', '--since', String(cursor), '--limit', String(limit)];
    if (tenant) args.push('--tenant', tenant);
    const page = cli(db, args);
    assert.equal(page.reset, false);
    out.push(...page.changes);
    assert.ok(page.next_cursor >= cursor);
    if (page.changes.length < limit) return { changes: out, cursor: page.next_cursor };
    cursor = page.next_cursor;
  }
  throw new Error('the feed did not end');
}

// Waits until every delivery created so far is settled; returns the whole log.
async function settled(db) {
  let all;
  const ok = await waitFor(() => {
    all = readAll(db, 0, { limit: 1000 }).changes;
    const created = all.filter((c) => c.kind === 'delivery.created').map((c) => c.delivery_id);
    const done = new Set(all.filter((c) => c.kind === 'delivery.settled').map((c) => c.delivery_id));
    return created.length > 0 && created.every((id) => done.has(id));
  }, 15_000, 100);
  assert.ok(ok, `deliveries not settled: ${JSON.stringify(all)}`);
  return all;
}

const versions = (changes, callId) =>
  changes.filter((c) => c.call_id === callId && c.kind.startsWith('call.')).map((c) => `${c.kind}@${c.version}`);

test('a subscriber resuming from its cursor after a restart misses nothing and sees nothing twice', async () => {
  const dir = tmpDir('callhook-feed-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const T = setupTenant(db, 'acme');
  const U = setupTenant(db, 'beta');
  const rx = await startReceiver(() => ({ status: 200 }));
  open.push(() => rx.close());
  cli(db, ['endpoint', 'add', 'acme', `${rx.url}/hook`, '--kind', 'generic', '--events', 'call.started']);
  const env = { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' };

  const post = async (server, t, body) => {
    const r = await postHook(server, t.slug, { direction: 'internal', ...body }, { headers: hookAuth(t) });
    assert.equal(r.status, 200, r.text);
    return r.json.call_id;
  };

  let server = await startServer({ db, env });
  open.push(() => server.stop());
  const a = await post(server, T, { call_id: 'a', event_id: 'a1', status: 'ringing' });
  await post(server, T, { call_id: 'a', event_id: 'a2', status: 'in_progress' });
  await post(server, T, { call_id: 'a', event_id: 'a2', status: 'in_progress' }); // a duplicate: no change
  const b = await post(server, U, { call_id: 'b', event_id: 'b1', status: 'ringing' });
  await settled(db);

  // the subscriber reads up to here, then the daemon restarts
  const first = readAll(db, 0);
  assert.deepEqual(versions(first.changes, a), ['call.created@1', 'call.updated@2']);
  assert.deepEqual(versions(first.changes, b), ['call.created@1']);
  const x = await server.stop();
  assert.equal(x.code, 0, server.logs().slice(-2000));

  server = await startServer({ db, env });
  await post(server, T, { call_id: 'a', event_id: 'a3', status: 'ended' });
  const c = await post(server, T, { call_id: 'c', event_id: 'c1', status: 'ringing' });
  const all = await settled(db);

  const second = readAll(db, first.cursor);
  // nothing twice, nothing missed: the two reads are the log, in order, without gaps
  const seqs = [...first.changes, ...second.changes].map((ch) => ch.seq);
  assert.deepEqual(seqs, all.map((ch) => ch.seq));
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, 'seqs in commit order, no gap');
  assert.ok(second.changes.every((ch) => ch.seq > first.cursor));
  assert.deepEqual(versions(second.changes, a), ['call.updated@3']);
  assert.deepEqual(versions(second.changes, c), ['call.created@1']);

  // a delivery is created after the change that causes it and settled after it is created
  const seqOf = (kind, id) => all.find((ch) => ch.kind === kind && ch.delivery_id === id)?.seq;
  const created = all.filter((ch) => ch.kind === 'delivery.created');
  assert.equal(created.length, rx.requests.length);
  for (const d of created) assert.ok(seqOf('delivery.settled', d.delivery_id) > d.seq);
  assert.ok(created.every((d) => d.call_id === a || d.call_id === c));

  // a tenant's reader sees only its own changes, and its cursor still moves to the head
  const beta = readAll(db, 0, { tenant: 'beta' });
  assert.deepEqual(beta.changes.map((ch) => `${ch.kind}:${ch.call_id}`), [`call.created:${b}`]);
  assert.equal(beta.cursor, all.at(-1).seq);
  assert.ok(all.every((ch) => ch.tenant_id === T.tenant.id || ch.tenant_id === U.tenant.id));
});

test('a cursor the log does not have is a reset; bad arguments are refused', async () => {
  const dir = tmpDir('callhook-feed-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  setupTenant(db, 'acme');
  const empty = cli(db, ['changes']);
  assert.deepEqual(empty, { changes: [], next_cursor: 0, head: 0, reset: false });
  // a cursor from another database (beyond the head): re-read the state, go on from the head
  assert.deepEqual(cli(db, ['changes', '--since', '42']), { changes: [], next_cursor: 0, head: 0, reset: true });
  for (const bad of [['--since', 'abc'], ['--since', '-1'], ['--limit', '0'], ['--limit', '1001'], ['extra']])
    assert.equal(cliFail(db, ['changes', ...bad]).status, 2, bad.join(' '));
  assert.equal(cliFail(db, ['changes', '--tenant', 'nope']).status, 1);
});
