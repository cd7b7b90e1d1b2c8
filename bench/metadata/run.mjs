// Writer time per event on a call that carries as much metadata as a sender can give it, against
// a call without metadata (docs/merge.md, "Metadata limits"). Not a test: it prints numbers.
//
//   CALLHOOK_BIN=build/callhook node bench/metadata/run.mjs [--events N] [--keys K]
//
// Phase 1 fills one call: first one event with K metadata keys (60,000 by default, the size the
// issue reported); if that is refused (422 metadata_too_large), events of 200 distinct keys of
// ~150 bytes each until callhook stops keeping them. Phase 2 posts N small events, one at a time,
// to that call and to a call without metadata, and reports the writer's time per event
// (callhook_commit_seconds from /metrics: the whole write transaction, fsync included). Last,
// four senders post to four such calls while another tenant's latency is measured.
import path from 'node:path';
import { startServer, setupTenant, tmpDir, cleanup, postHook, http, hookAuth } from '../../tests/blackbox/lib.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('events', 40);
const K = arg('keys', 60000);

async function commitSeconds(server) {
  const r = await http(`${server.url}/metrics`);
  const sum = Number(/^callhook_commit_seconds_sum (\S+)/m.exec(r.text)[1]);
  const count = Number(/^callhook_commit_seconds_count (\S+)/m.exec(r.text)[1]);
  return { sum, count };
}

function keys(n, prefix, width = 0) {
  const m = {};
  for (let i = 0; i < n; i++) m[`${prefix}${i}`] = width ? 'v'.repeat(width) : i;
  return m;
}

async function post(server, t, body) {
  const r = await postHook(server, t.slug, body, { headers: hookAuth(t) });
  if (r.status !== 200 && r.status !== 422) throw new Error(`${r.status} ${r.text}`);
  return r;
}

// Small events: each sets a key the call has (kept) or adds one (refused at a full call).
async function perEvent(server, t, callId, adds) {
  const before = await commitSeconds(server);
  for (let i = 0; i < N; i++)
    await post(server, t, { call_id: callId, event_id: `${callId}/small-${adds}-${i}`, status: 'in_progress',
      metadata: { [adds ? `small_${i}` : 'e1_0']: i } });
  const after = await commitSeconds(server);
  return ((after.sum - before.sum) / (after.count - before.count)) * 1000;
}

// Fills call `id` with as much metadata as callhook keeps; returns the number of keys it holds.
async function fill(server, t, id) {
  const first = await post(server, t, { call_id: id, event_id: `${id}/0`, status: 'ringing', metadata: keys(K, 'k') });
  if (first.status === 200) return { keys: K, note: `one event with ${K} metadata keys: 200` };
  for (let i = 1; i <= 20; i++)
    await post(server, t, { call_id: id, event_id: `${id}/${i}`, status: 'ringing', metadata: keys(200, `e${i}_`, 150) });
  const r = await http(`${server.url}/v1/calls?limit=20`, { headers: { Authorization: `Bearer ${t.apiKey}` } });
  const c = r.json.data.find((x) => x.external_id === id);
  const n = Object.keys(c.metadata).length;
  return { keys: n, note: `one event with ${K} metadata keys: ${first.status} ${first.json?.error}; ` +
    `20 events of 200 distinct keys x 150 bytes leave the call ${n} keys, ${JSON.stringify(c.metadata).length} bytes` };
}

const dir = tmpDir('callhook-bench-meta-');
const db = path.join(dir, 'bench.db');
const t = setupTenant(db, 'bench');
const victim = setupTenant(db, 'victim');
const server = await startServer({ db, env: { CALLHOOK_LOG_LEVEL: 'warn' } });
try {
  const big = `big-${process.pid}`;
  const f = await fill(server, t, big);
  console.log(f.note);
  const small = `small-${process.pid}`;
  await post(server, t, { call_id: small, event_id: `${small}/0`, status: 'ringing' });
  const msSmall = await perEvent(server, t, small, true);
  const msSet = await perEvent(server, t, big, false);
  const msAdd = await perEvent(server, t, big, true);
  console.log(`writer ms per event (${N} events each): call without metadata ${msSmall.toFixed(2)}; ` +
    `call with ${f.keys} metadata keys: setting a known key ${msSet.toFixed(2)}, adding a key ${msAdd.toFixed(2)}`);

  // The scenario: 4 senders keep posting to their full calls while another tenant posts
  // small events one at a time; that tenant's latency, median and 90th percentile.
  const senders = [];
  for (let s = 0; s < 4; s++) senders.push(`flood-${s}-${process.pid}`);
  for (const id of senders) await fill(server, t, id);
  let stop = false;
  const floods = senders.map(async (id) => {
    for (let i = 0; !stop; i++)
      await post(server, t, { call_id: id, event_id: `${id}/flood-${i}`, status: 'in_progress', metadata: { [`f_${i}`]: i } });
  });
  const lat = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await post(server, victim, { call_id: `v-${i}`, event_id: `v-${i}/1`, status: 'ended', from: '+14155550100' });
    lat.push(performance.now() - t0);
  }
  stop = true;
  await Promise.all(floods);
  lat.sort((a, b) => a - b);
  console.log(`another tenant's ingest with 4 such senders: median ${lat[Math.floor(N / 2)].toFixed(1)} ms, ` +
    `p90 ${lat[Math.floor(N * 0.9)].toFixed(1)} ms (${N} requests)`);
} finally {
  await server.stop();
  cleanup(dir);
}
