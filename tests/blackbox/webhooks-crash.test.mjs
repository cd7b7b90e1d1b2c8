// kill -9 during delivery: the daemon dies while webhooks are in flight (the receiver holds
// them unanswered) and while more are queued. After a restart every message created before
// the kill reaches the receiver, with the same webhook-id as before the kill, and each call's
// events arrive in the order they were created.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth } from './lib.mjs';
import { waitFor, sqliteJson } from './lib-ops.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

let dir, db, rx, server;
const env = { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_DELIVERY_RETRY_SCHEDULE: '1s,1s,1s,1s' };

before(async () => {
  dir = tmpDir('callhook-webhooks-crash-');
  db = path.join(dir, 'k.db');
  rx = await startReceiver(() => 'hang');
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

test('kill -9 with deliveries in flight and queued; a restart delivers all, same webhook-id, in order per call', async () => {
  const t = setupTenant(db, 'crashco');
  const e = cli(db, ['endpoint', 'add', 'crashco', `${rx.url}/k`, '--kind', 'generic', '--timeout-ms', '60000']);
  server = await startServer({ db, env });
  const calls = 20;
  for (let i = 0; i < calls; i++) {
    for (const [k, status] of [['r', 'ringing'], ['a', 'in_progress'], ['e', 'ended']]) {
      const r = await postHook(server, t.slug, { call_id: `k-${i}`, event_id: `k-${i}-${k}`, direction: 'inbound', status }, { headers: hookAuth(t) });
      assert.equal(r.status, 200, r.text);
    }
  }
  // one delivery per call is in flight (the rest of each call waits behind it), unanswered
  await waitFor(() => rx.at('/k').length >= calls, 15_000);
  const before = new Map(rx.at('/k').map((r) => [r.headers['webhook-id'], r]));
  await server.kill9();
  server = null;

  const created = sqliteJson(db, "SELECT id, call_id FROM messages WHERE type<>'endpoint.disabled' ORDER BY rowid");
  assert.ok(created.length >= calls * 5, `started, status_changed ×3, answered, ended, completed: ${created.length}`);
  const pending = sqliteJson(db, "SELECT count(*) AS n FROM deliveries WHERE state='pending'")[0].n;
  assert.equal(pending, created.length, 'nothing was settled: every delivery is still owed');

  rx.setHandler(() => ({ status: 200 }));
  const seen = rx.requests.length;
  server = await startServer({ db, env });
  await waitFor(() => sqliteJson(db, "SELECT count(*) AS n FROM deliveries WHERE state<>'succeeded'")[0].n === 0, 30_000);

  const after = rx.requests.slice(seen).filter((r) => r.path === '/k');
  const ids = new Set(after.map((r) => r.headers['webhook-id']));
  for (const m of created) assert.ok(ids.has(m.id), `message ${m.id} was delivered after the restart`);
  for (const [id, r] of before) {
    assert.ok(ids.has(id), `the in-flight ${id} went again with the same webhook-id`);
    const again = after.find((x) => x.headers['webhook-id'] === id);
    assert.equal(again.body, r.body, 'the same payload');
    verify(e.secret, again);
  }
  // per call, the order of creation
  const order = new Map(created.map((m, i) => [m.id, i]));
  const byCall = new Map();
  for (const r of after) {
    const msg = verify(e.secret, r);
    const list = byCall.get(msg.data.call_id) ?? [];
    list.push(order.get(msg.id));
    byCall.set(msg.data.call_id, list);
  }
  for (const [call, list] of byCall) {
    const firsts = list.filter((x, i) => list.indexOf(x) === i);
    assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), `events of ${call} in creation order`);
  }
});
