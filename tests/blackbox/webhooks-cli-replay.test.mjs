// A replay or a recovery made with the CLI (another process, so nothing publishes it to the
// daemon's change feed) is sent by the running daemon within a few seconds, also while another
// delivery of the daemon waits for a retry far in the future. Before the fix the dispatcher
// looked at the store again only at that retry's time (here ten minutes), so the CLI's replay
// sat pending.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

let dir, db, server, rx, T;

before(async () => {
  dir = tmpDir('callhook-clireplay-');
  db = path.join(dir, 'r.db');
  rx = await startReceiver();
  T = setupTenant(db, 'replayco');
  server = await startServer({ db, env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' } });
});

after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const post = (callId, eventId) => postHook(server, 'replayco',
  { call_id: callId, event_id: eventId, direction: 'inbound', status: 'ringing' }, { headers: hookAuth(T) });

test('a CLI replay is sent while another delivery waits ten minutes for its retry', { timeout: 90_000 }, async () => {
  let up = false;
  rx.setHandler((rec) => (rec.path === '/later' ? { status: 503 } : { status: up ? 200 : 503 }));
  // one delivery that fails for good at once (schedule of one wait, then dead letter)…
  cli(db, ['delivery', 'schedule', 'replayco', '1s']);
  const down = cli(db, ['endpoint', 'add', 'replayco', `${rx.url}/down`, '--events', 'call.started']);
  assert.equal((await post('r-1', 'e1')).status, 200);
  const dead = await waitFor(() => {
    const l = cli(db, ['delivery', 'list', 'replayco', '--endpoint', String(down.id), '--state', 'failed']).deliveries;
    return l.length === 1 ? l[0] : null;
  }, 30_000, 200);
  assert.ok(dead, 'the first delivery failed for good');
  // …then one that waits ten minutes for its next attempt
  cli(db, ['delivery', 'schedule', 'replayco', '10m']);
  const later = cli(db, ['endpoint', 'add', 'replayco', `${rx.url}/later`, '--events', 'call.started']);
  assert.equal((await post('r-2', 'e2')).status, 200);
  assert.ok(await waitFor(() => {
    const l = cli(db, ['delivery', 'list', 'replayco', '--endpoint', String(later.id), '--state', 'pending']).deliveries;
    return l.length >= 1 && l.some((d) => d.attempts >= 1) ? l : null;
  }, 30_000, 200), 'the second waits for its retry in ten minutes');
  up = true;
  const before = rx.at('/down').length;
  cli(db, ['delivery', 'replay', 'replayco', String(dead.id)]);
  assert.ok(await waitFor(() => rx.at('/down').length > before, 15_000, 100), 'the replay was sent');
  const s = await waitFor(() => {
    const d = cli(db, ['delivery', 'show', 'replayco', String(dead.id)]);
    return d.state === 'succeeded' ? d : null;
  }, 15_000, 200);
  assert.ok(s, 'the replayed delivery succeeded');
  assert.equal(s.attempt_log.at(-1).trigger, 'manual');
});
