// Ceilings that the network can reach (src/util/limits.h, docs/internals/limits.md): at the
// ceiling the answer is a clear 4xx naming the field, never a silently cut value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir, cleanup, startServer, setupTenant, apiJson } from './lib.mjs';

let dir, server, A;

before(async () => {
  dir = tmpDir('callhook-limits-');
  const db = path.join(dir, 'l.db');
  A = setupTenant(db, 'limco');
  server = await startServer({ db });
});
after(async () => {
  await server?.stop();
  cleanup(dir);
});

test('an endpoint event list longer than its ceiling is a 422 naming events, not a shorter filter', async () => {
  // 700 valid names: 9,099 bytes joined, over the 8 KiB ceiling. Cut at the ceiling, the list
  // would still be valid, and the endpoint would be saved with a filter the client never sent.
  const events = Array(700).fill('call.started');
  const r = await apiJson(server, A.apiKey, 'POST', '/v1/endpoints', { url: 'https://x.example/', events });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.field, 'events');
  assert.match(r.json.message, /longer than 8192 bytes/);
  const s = await apiJson(server, A.apiKey, 'POST', '/v1/endpoints', { url: 'https://x.example/', events: events.join(',') });
  assert.equal(s.status, 422, s.text);
  assert.equal(s.json.field, 'events');
  assert.match(s.json.message, /longer than 8192 bytes/);
  const list = await apiJson(server, A.apiKey, 'GET', '/v1/endpoints');
  assert.equal(list.json.endpoints.length, 0, 'nothing was saved');
  // at the ceiling exactly it is accepted: 630 names are 8,189 bytes
  const ok = await apiJson(server, A.apiKey, 'POST', '/v1/endpoints', { url: 'https://x.example/', events: events.slice(0, 630) });
  assert.equal(ok.status, 201, ok.text);
});
