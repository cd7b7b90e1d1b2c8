// Endpoints that keep failing are disabled automatically (Svix's rule, scaled down: messages
// still exhaust their retries delivery.disable_after after the first one did, with no success
// in between), and the tenant is told: an endpoint.disabled event to its other endpoints, the
// reason on the endpoint, a warning in the log. A success in between resets the clock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth } from './lib.mjs';
import { waitFor, sleep, parseLogLines } from './lib-ops.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

let dir, db, server, rx, T;

before(async () => {
  dir = tmpDir('callhook-disable-');
  db = path.join(dir, 'd.db');
  rx = await startReceiver((rec) => {
    if (rec.path === '/watch') return { status: 200 };
    if (rec.path === '/flaky' && rec.body.includes('flaky-ok')) return { status: 200 };
    return { status: 500 };
  });
  T = setupTenant(db, 'failco');
  server = await startServer({
    db,
    env: {
      CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8',
      CALLHOOK_DELIVERY_RETRY_SCHEDULE: '200ms,200ms',
      CALLHOOK_DELIVERY_DISABLE_AFTER: '2',
    },
  });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const endpoint = (slug, id) => cli(db, ['endpoint', 'list', slug]).endpoints.find((e) => e.id === id);
const deadCount = (id) => cli(db, ['delivery', 'list', 'failco', '--endpoint', String(id), '--state', 'failed']).deliveries.length;

async function call(ext) {
  const r = await postHook(server, T.slug, { call_id: ext, event_id: `${ext}-1`, direction: 'internal', status: 'ringing' }, { headers: hookAuth(T) });
  assert.equal(r.status, 200, r.text);
  return r.json.call_id;
}

test('failing past disable_after disables the endpoint and tells the others; a success resets the clock', async () => {
  const watch = cli(db, ['endpoint', 'add', 'failco', `${rx.url}/watch`, '--kind', 'generic', '--events', 'endpoint.disabled']);
  const bad = cli(db, ['endpoint', 'add', 'failco', `${rx.url}/fail`, '--kind', 'generic', '--events', 'call.started']);
  const flaky = cli(db, ['endpoint', 'add', 'failco', `${rx.url}/flaky`, '--kind', 'generic', '--events', 'call.started']);

  await call('first');
  await waitFor(() => deadCount(bad.id) === 1 && deadCount(flaky.id) === 1, 10_000);
  assert.equal(endpoint('failco', bad.id).enabled, true, 'one exhausted message is not enough');
  // the flaky endpoint succeeds once: its clock starts over
  await call('flaky-ok');
  await waitFor(() => cli(db, ['delivery', 'list', 'failco', '--endpoint', String(flaky.id), '--state', 'succeeded']).deliveries.length === 1, 10_000);
  await sleep(2300);

  await call('second');
  await waitFor(() => endpoint('failco', bad.id).enabled === false, 10_000);
  const e = endpoint('failco', bad.id);
  assert.match(e.disabled_reason, /failed all its attempts/);
  await waitFor(() => deadCount(flaky.id) >= 2, 10_000);
  assert.equal(endpoint('failco', flaky.id).enabled, true, 'a success in between reset its clock');
  assert.equal(endpoint('failco', watch.id).enabled, true);

  await waitFor(() => rx.at('/watch').length === 1, 10_000);
  const msg = verify(watch.secret, rx.at('/watch')[0]);
  assert.equal(msg.type, 'endpoint.disabled');
  assert.equal(msg.data.endpoint_id, bad.id);
  assert.equal(msg.data.url, `${rx.url}/fail`);
  assert.match(msg.data.reason, /failed all its attempts/);
  const warn = parseLogLines(server.logs()).find((l) => l.event === 'endpoint_disabled');
  assert.ok(warn, 'a warning in the log');
  assert.equal(warn.endpoint_id, bad.id);

  // disabled: later calls create nothing for it, and it gets nothing
  const before = rx.at('/fail').length;
  await call('third');
  await waitFor(() => deadCount(flaky.id) >= 3, 10_000);
  assert.equal(rx.at('/fail').length, before);
});
