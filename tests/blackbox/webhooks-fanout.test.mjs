// A call event goes to every matching endpoint of the tenant, however many it has (up to
// delivery.max_endpoints): routing once kept the first 32 and dropped the rest without a word
// (no delivery, no skip counted). 40 endpoints here, each must receive the call's events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir, cleanup, startServer, setupTenant, apiJson, postHook, hookAuth } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

const N = 40;
let dir, db, server, rx, A;

before(async () => {
  dir = tmpDir('callhook-fanout-');
  db = path.join(dir, 'f.db');
  rx = await startReceiver(() => ({ status: 200 }));
  A = setupTenant(db, 'fanco');
  server = await startServer({ db, env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' } });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

test(`one call event reaches all ${N} subscribed endpoints`, { timeout: 60_000 }, async () => {
  for (let i = 0; i < N; i++) {
    const r = await apiJson(server, A.apiKey, 'POST', '/v1/endpoints', { url: `${rx.url}/ep${i}`, kind: 'generic', events: ['call.started'] });
    assert.equal(r.status, 201, r.text);
  }
  const r = await postHook(server, A.slug, { call_id: 'fan-1', event_id: 'fan-1-1', direction: 'internal', status: 'ringing' }, { headers: hookAuth(A) });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => new Set(rx.requests.map((q) => q.path)).size === N, 20_000);
  const got = new Set(rx.requests.map((q) => q.path));
  const missing = [...Array(N).keys()].filter((i) => !got.has(`/ep${i}`));
  assert.deepEqual(missing, [], `endpoints that got no call.started: ${missing.join(', ')}`);
  for (const q of rx.requests) assert.equal(JSON.parse(q.body).type, 'call.started');
  assert.equal(rx.requests.length, N, 'one delivery each');
});
