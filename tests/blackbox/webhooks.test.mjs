// Outbound webhooks end to end: the real daemon, a receiver on a loopback port, signatures
// verified with npm `standardwebhooks`. Routing, the events a call causes (each lifecycle event
// once, whatever the order and repeats), the envelope, retries (500, timeout, 410, 429 with
// Retry-After), dead letters and replay, test events, secret rotation and tenant isolation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, sqlite, sampleOrders, apiGet } from './lib.mjs';
import { waitFor, sleep } from './lib-ops.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

let dir, db, server, rx;
const secrets = {}; // url path -> secret
let A, B;

function addEndpoint(slug, p, args = []) {
  const e = cli(db, ['endpoint', 'add', slug, `${rx.url}${p}`, ...args]);
  secrets[p] = e.secret;
  return e;
}

before(async () => {
  dir = tmpDir('callhook-webhooks-');
  db = path.join(dir, 'w.db');
  rx = await startReceiver((rec) => {
    const m = rec.path.match(/status=(\d+)/);
    return { status: m ? Number(m[1]) : 200 };
  });
  A = setupTenant(db, 'routeco');
  B = setupTenant(db, 'fallbackco');
  addEndpoint('routeco', '/in', ['--kind', 'inbound']);
  addEndpoint('routeco', '/out', ['--kind', 'outbound']);
  addEndpoint('routeco', '/gen', ['--kind', 'generic']);
  addEndpoint('routeco', '/status', ['--kind', 'status', '--events', 'call.status_changed']);
  addEndpoint('fallbackco', '/b-gen', ['--kind', 'generic']);
  server = await startServer({
    db,
    env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_DELIVERY_RETRY_SCHEDULE: '1s,1s,1s' },
  });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const post = (t, body) => postHook(server, t.slug, body, { headers: hookAuth(t) });
const payloads = (p) => rx.at(p).map((r) => ({ rec: r, msg: verify(secrets[p], r) }));
const ofCall = (p, callId) => payloads(p).filter((x) => x.msg.data?.call_id === callId);
const types = (list) => list.map((x) => x.msg.type);

async function callOf(t, ext, events) {
  let id;
  for (const e of events) {
    const r = await post(t, { call_id: ext, ...e });
    assert.equal(r.status, 200, r.text);
    id = r.json.call_id;
  }
  return id;
}

test('routing: inbound → inbound, outbound → outbound only, internal/unknown → generic, status changes → status', async () => {
  const life = (dir) => [
    { event_id: `${dir}-1`, direction: dir, status: 'ringing', from: '+14155550101', to: '+14155550199' },
    { event_id: `${dir}-2`, status: 'in_progress', answered_at: '2026-11-23T10:00:05Z' },
    { event_id: `${dir}-3`, status: 'ended', disposition: 'answered', ended_at: '2026-11-23T10:01:00Z' },
  ];
  const ids = {};
  for (const d of ['inbound', 'outbound', 'internal', 'unknown']) ids[d] = await callOf(A, `route-${d}`, life(d));
  const all = ['started', 'status_changed', 'answered', 'ended', 'completed'];
  await waitFor(() => ofCall('/gen', ids.unknown).length >= 7 && ofCall('/status', ids.unknown).length >= 3, 15_000);
  await sleep(300);
  for (const [d, p] of [['inbound', '/in'], ['outbound', '/out'], ['internal', '/gen'], ['unknown', '/gen']]) {
    const got = ofCall(p, ids[d]);
    for (const t of all) assert.ok(types(got).includes(`call.${t}`), `${d}: call.${t} at ${p}`);
    assert.equal(types(got).filter((t) => t === 'call.status_changed').length, 3, `${d}: ringing, in_progress, ended`);
    for (const other of ['/in', '/out', '/gen'].filter((x) => x !== p))
      assert.equal(ofCall(other, ids[d]).length, 0, `${d} call events never reach ${other}`);
    const st = ofCall('/status', ids[d]);
    assert.deepEqual(st.map((x) => x.msg.data.status), ['ringing', 'in_progress', 'ended'], `${d}: every status change reaches /status`);
    assert.deepEqual(st.map((x) => x.msg.data.previous_status ?? null), [null, 'ringing', 'in_progress']);
    assert.ok(st.every((x) => x.msg.type === 'call.status_changed'), 'the status endpoint gets only what it subscribed to');
  }
  // a tenant without inbound endpoints: inbound goes to generic; outbound is skipped, visibly
  const inId = await callOf(B, 'fb-in', life('inbound'));
  const outId = await callOf(B, 'fb-out', life('outbound'));
  await waitFor(() => ofCall('/b-gen', inId).length >= 8, 15_000);
  assert.equal(ofCall('/b-gen', outId).length, 0, 'outbound calls never go to generic endpoints');
  const skipped = cli(db, ['delivery', 'skipped', 'fallbackco']).skipped;
  const outSkip = skipped.filter((s) => s.decision === 'skipped: no endpoint for outbound calls');
  assert.ok(outSkip.length >= 5, JSON.stringify(skipped));
  assert.equal(outSkip.find((s) => s.type === 'call.completed').count, 1);
  assert.equal(outSkip.find((s) => s.type === 'call.completed').last_call_id, outId);
  // tenants apart: routeco's receivers never saw fallbackco's calls and the other way round
  for (const p of ['/in', '/out', '/gen', '/status']) assert.ok(payloads(p).every((x) => x.msg.tenant === 'routeco'));
  assert.ok(payloads('/b-gen').every((x) => x.msg.tenant === 'fallbackco'));
  assert.ok(!cli(db, ['delivery', 'skipped', 'routeco']).skipped.some((s) => s.last_call_id === outId));
});

test('envelope: Standard Webhooks headers, a versioned envelope, the fields automations read', async () => {
  cli(db, ['employee', 'add', 'routeco', '201', '--name', 'Dana Agent']);
  cli(db, ['lead', 'add', 'routeco', '+14155550123', '--name', 'Lee Lead']);
  const id = await callOf(A, 'env-1', [{
    event_id: 'env-1-a', direction: 'inbound', status: 'ended', disposition: 'answered', from: '+14155550123', to: '+14155550100',
    extension: '201', started_at: '2026-11-23T09:00:00Z', answered_at: '2026-11-23T09:00:04Z', ended_at: '2026-11-23T09:02:00Z',
    recording_url: 'https://rec.example/1.mp3', transcript: 'Hello there', summary: 'Asked about prices',
    metadata: { city: 'Haifa', service_category: 'plumbing', campaign: 'fall' },
  }]);
  await waitFor(() => types(ofCall('/in', id)).includes('call.completed'), 15_000);
  const got = ofCall('/in', id);
  assert.deepEqual(types(got), ['call.started', 'call.status_changed', 'call.answered', 'call.recording_ready', 'call.ended', 'call.completed'],
    'created in lifecycle order, delivered in that order');
  const { rec, msg } = got.at(-1);
  assert.equal(rec.headers['webhook-id'], msg.id);
  assert.match(msg.id, /^msg_[0-9a-f]{24}$/);
  assert.match(rec.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
  assert.ok(Math.abs(Number(rec.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
  assert.equal(rec.headers['content-type'], 'application/json');
  assert.equal(msg.version, 1);
  assert.equal(msg.tenant, 'routeco');
  assert.match(msg.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const d = msg.data;
  assert.equal(d.call_id, id);
  assert.equal(d.phone, '+14155550123');
  assert.equal(d.customer_name, 'Lee Lead');
  assert.equal(typeof d.lead_id, 'number');
  assert.equal(d.agent_name, 'Dana Agent');
  assert.equal(d.direction, 'inbound');
  assert.equal(d.city, 'Haifa');
  assert.equal(d.service_category, 'plumbing');
  assert.equal(d.started_at, '2026-11-23T09:00:00Z');
  assert.equal(d.ended_at, '2026-11-23T09:02:00Z');
  assert.equal(d.duration_sec, 120);
  assert.equal(d.transcript, 'Hello there');
  assert.equal(d.summary, 'Asked about prices');
  assert.equal(d.recording_url, 'https://rec.example/1.mp3');
  assert.equal(d.disposition, 'answered');
  assert.deepEqual(d.metadata, { campaign: 'fall', city: 'Haifa', service_category: 'plumbing' });
  assert.equal(d.call.id, id);
  assert.equal(d.call.employee.name, 'Dana Agent');
  assert.equal(d.call.status, 'ended');
  // no directory match: the sender's own lead id and agent name
  const id2 = await callOf(A, 'env-2', [{
    event_id: 'env-2-a', direction: 'inbound', status: 'ended', disposition: 'answered', from: '+14155550777',
    extension: '999', metadata: { lead_id: 'CRM-7', agent_name: 'Sam Sender' },
  }]);
  await waitFor(() => types(ofCall('/in', id2)).includes('call.completed'), 15_000);
  const d2 = ofCall('/in', id2).at(-1).msg.data;
  assert.equal(d2.lead_id, 'CRM-7');
  assert.equal(d2.agent_name, 'Sam Sender');
  assert.equal(d2.city, null);
  // a tampered body or a wrong secret does not verify
  assert.throws(() => verify(secrets['/in'], { ...rec, body: rec.body.replace('Haifa', 'Paris') }));
  assert.throws(() => verify(secrets['/out'], rec));
});

test('each lifecycle event once per call, whatever the order and the repeats; call.updated after completion', async () => {
  const evs = (ext) => [
    { event_id: `${ext}-r`, direction: 'inbound', status: 'ringing', from: '+14155550177', sequence: 1 },
    { event_id: `${ext}-a`, direction: 'inbound', status: 'in_progress', answered_at: '2026-11-23T08:00:03Z', sequence: 2 },
    { event_id: `${ext}-e`, direction: 'inbound', status: 'ended', disposition: 'answered', ended_at: '2026-11-23T08:03:00Z', sequence: 3 },
    { event_id: `${ext}-rec`, direction: 'inbound', recording_url: 'https://rec.example/x.mp3', sequence: 4 },
  ];
  const orders = sampleOrders(4, 6, 4242);
  const ids = [];
  for (const [k, order] of orders.entries()) {
    const ext = `once-${k}`;
    const list = evs(ext);
    const seq = [...order.map((i) => list[i]), list[order[0]], list[order[2]]]; // and two repeats
    ids.push(await callOf(A, ext, seq));
  }
  await waitFor(() => ids.every((id) => types(ofCall('/in', id)).includes('call.completed')), 20_000);
  await sleep(1500);
  for (const id of ids) {
    const t = types(ofCall('/in', id));
    for (const once of ['call.started', 'call.answered', 'call.ended', 'call.completed', 'call.recording_ready'])
      assert.equal(t.filter((x) => x === once).length, 1, `${once} once for ${id}: ${t}`);
    assert.ok(t.indexOf('call.started') < t.indexOf('call.completed'), 'never completed before started');
    assert.ok(!t.includes('call.failed'));
    const sent = sqlite(db, `SELECT COUNT(*) FROM messages WHERE call_id='${id}' AND type='call.completed';`).trim();
    assert.equal(sent, '1');
  }
  // a repeat after completion changes nothing; a real change is a call.updated
  const id = ids[0];
  const before = ofCall('/in', id).length;
  await post(A, { call_id: 'once-0', event_id: 'once-0-e', status: 'ended' });
  await post(A, { call_id: 'once-0', event_id: 'once-0-sum', summary: 'Customer wants a quote' });
  await waitFor(() => types(ofCall('/in', id)).includes('call.updated'), 15_000);
  await sleep(500);
  const after = ofCall('/in', id).slice(before);
  assert.deepEqual(types(after), ['call.updated']);
  assert.equal(after[0].msg.data.summary, 'Customer wants a quote');
  // a call that ends unanswered is failed too
  const f = await callOf(A, 'failed-1', [{ event_id: 'f1', direction: 'inbound', status: 'ended', disposition: 'busy', from: '+14155550178' }]);
  await waitFor(() => types(ofCall('/in', f)).includes('call.completed'), 15_000);
  assert.deepEqual(types(ofCall('/in', f)), ['call.started', 'call.status_changed', 'call.ended', 'call.failed', 'call.completed']);
});

test('data.call.version is the version of the state the message was made from, as the read API shows it; a duplicate sends nothing', async () => {
  const ext = 'ver-1';
  const readCall = async (id) => {
    const r = await apiGet(server, `/v1/calls/${id}`, A.apiKey);
    assert.equal(r.status, 200, r.text);
    const { events, ...call } = r.json;
    assert.ok(events.length >= 1);
    return call;
  };
  let id;
  let seen = 0;
  // posts one event; waits for the messages it causes at /in, which must carry the call exactly
  // as the read API shows it then, version included
  const step = async (e, { status = 'stored', types: want = [], version }) => {
    const r = await post(A, { call_id: ext, ...e });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, status, r.text);
    id = r.json.call_id;
    if (want.length) assert.ok(await waitFor(() => ofCall('/in', id).length >= seen + want.length, 15_000), `messages for ${e.event_id}`);
    else await sleep(700); // give a wrongly created message the time to arrive
    const got = ofCall('/in', id).slice(seen);
    seen += got.length;
    assert.deepEqual(types(got).sort(), [...want].sort(), `messages caused by ${e.event_id}`);
    const call = await readCall(id);
    assert.equal(call.version, version, `version after ${e.event_id}`);
    for (const { msg } of got) {
      assert.equal(msg.version, 1, 'the envelope\'s format version does not move');
      assert.equal(msg.data.call.version, version, `${msg.type} carries the version of its state`);
      // the delivery summary counts the call's webhook deliveries, this very message's among
      // them: it is not part of the call's versioned state (docs/http-api.md), and the read
      // API shows it as it is now
      const { delivery: _d, ...callState } = call;
      const { delivery: _m, ...msgState } = msg.data.call;
      assert.deepEqual(msgState, callState, `${msg.type}: data.call is the call the read API shows for that version`);
    }
  };
  await step({ event_id: 'ver-1-r', direction: 'inbound', status: 'ringing', from: '+14155550166' },
    { types: ['call.started', 'call.status_changed'], version: 1 });
  await step({ event_id: 'ver-1-a', status: 'in_progress', answered_at: '2026-11-23T11:00:05Z' },
    { types: ['call.status_changed', 'call.answered'], version: 2 });
  await step({ event_id: 'ver-1-a', status: 'in_progress', answered_at: '2026-11-23T11:00:05Z' },
    { status: 'duplicate', version: 2 });
  await step({ event_id: 'ver-1-e', status: 'ended', disposition: 'answered', ended_at: '2026-11-23T11:02:00Z' },
    { types: ['call.status_changed', 'call.ended', 'call.completed'], version: 3 });
  await step({ event_id: 'ver-1-s', summary: 'Wants a quote' }, { types: ['call.updated'], version: 4 });
  // delivered in the order they were created, so the versions a receiver sees never go down
  const vs = ofCall('/in', id).map((x) => x.msg.data.call.version);
  assert.deepEqual(vs, [...vs].sort((a, b) => a - b), `versions in delivery order: ${vs}`);
});

test('retries: 500 then 200 is delivered on the second attempt with the same webhook-id, every attempt logged', async () => {
  const e = addEndpoint('fallbackco', '/flaky', ['--events', 'call.started']);
  let n = 0;
  rx.setHandler((rec) => (rec.path === '/flaky' ? (++n === 1 ? { status: 500, body: 'boom' } : { status: 204 }) : { status: 200 }));
  await callOf(B, 'retry-500', [{ event_id: 'r500', direction: 'inbound', status: 'ringing' }]);
  await waitFor(() => rx.at('/flaky').length >= 2, 15_000);
  const [a1, a2] = rx.at('/flaky');
  assert.equal(a1.headers['webhook-id'], a2.headers['webhook-id'], 'the receiver can deduplicate');
  verify(secrets['/flaky'], a1);
  verify(secrets['/flaky'], a2);
  assert.ok(a2.at - a1.at >= 700, 'waited about the 1 s schedule (±20 %)');
  const list = await waitFor(() => {
    const l = cli(db, ['delivery', 'list', 'fallbackco', '--endpoint', String(e.id)]).deliveries;
    return l.length === 1 && l[0].state === 'succeeded' ? l : null;
  }, 10_000);
  const shown = cli(db, ['delivery', 'show', 'fallbackco', String(list[0].id)]);
  assert.equal(shown.attempts, 2);
  assert.deepEqual(shown.attempt_log.map((a) => a.status), [500, 204]);
  assert.equal(shown.attempt_log[0].response, 'boom');
  assert.equal(shown.attempt_log[0].error, 'HTTP 500');
  assert.equal(shown.payload.id, a1.headers['webhook-id']);
  assert.ok(shown.attempt_log.every((a) => typeof a.latency_ms === 'number' && a.trigger === 'scheduled'));
  cli(db, ['endpoint', 'remove', 'fallbackco', String(e.id)]);
});

test('a redirect is a failure and is not followed; only the first 20 KB of a response are kept', async () => {
  const e = addEndpoint('fallbackco', '/redir', ['--events', 'call.started']);
  let n = 0;
  rx.setHandler((rec) => (rec.path === '/redir'
    ? (++n === 1 ? { status: 302, headers: { Location: `${rx.url}/elsewhere` }, body: 'r'.repeat(50_000) } : { status: 200 })
    : { status: 200 }));
  await callOf(B, 'redir-1', [{ event_id: 'rd1', direction: 'inbound', status: 'ringing' }]);
  const list = await waitFor(() => {
    const l = cli(db, ['delivery', 'list', 'fallbackco', '--endpoint', String(e.id)]).deliveries;
    return l.length === 1 && l[0].state === 'succeeded' ? l : null;
  }, 15_000);
  assert.equal(rx.at('/elsewhere').length, 0, 'the Location was never requested');
  const shown = cli(db, ['delivery', 'show', 'fallbackco', String(list[0].id)]);
  assert.deepEqual(shown.attempt_log.map((a) => a.status), [302, 200]);
  assert.match(shown.attempt_log[0].error, /redirects are not followed/);
  assert.equal(shown.attempt_log[0].response.length, 20 * 1024);
  assert.ok(/^r+$/.test(shown.attempt_log[0].response));
  cli(db, ['endpoint', 'remove', 'fallbackco', String(e.id)]);
});

test('a timeout is a failure; then the delivery succeeds', async () => {
  const e = addEndpoint('fallbackco', '/slow', ['--events', 'call.started', '--timeout-ms', '1000']);
  let n = 0;
  rx.setHandler((rec) => (rec.path === '/slow' && ++n === 1 ? { status: 200, delayMs: 3000 } : { status: 200 }));
  await callOf(B, 'retry-timeout', [{ event_id: 'rto', direction: 'inbound', status: 'ringing' }]);
  const d = await waitFor(() => {
    const l = cli(db, ['delivery', 'list', 'fallbackco', '--endpoint', String(e.id)]).deliveries;
    return l[0]?.state === 'succeeded' ? l[0] : null;
  }, 20_000);
  const log = cli(db, ['delivery', 'show', 'fallbackco', String(d.id)]).attempt_log;
  assert.equal(log.length, 2);
  assert.equal(log[0].status, null);
  assert.match(log[0].error, /timeout|timed out/i);
  assert.ok(log[0].latency_ms >= 900 && log[0].latency_ms < 2900, `${log[0].latency_ms}`);
  assert.equal(log[1].status, 200);
  cli(db, ['endpoint', 'remove', 'fallbackco', String(e.id)]);
});

test('410 Gone disables the endpoint and tells the tenant\'s other endpoints', async () => {
  const gone = addEndpoint('fallbackco', '/gone', ['--events', 'call.started']);
  rx.setHandler((rec) => (rec.path === '/gone' ? { status: 410 } : { status: 200 }));
  const before = rx.at('/b-gen').length;
  await callOf(B, 'gone-1', [{ event_id: 'g1', direction: 'inbound', status: 'ringing' }]);
  await waitFor(() => payloads('/b-gen').slice(before).some((x) => x.msg.type === 'endpoint.disabled'), 15_000);
  const note = payloads('/b-gen').find((x) => x.msg.type === 'endpoint.disabled').msg;
  assert.equal(note.data.endpoint_id, gone.id);
  assert.match(note.data.reason, /410/);
  const ep = cli(db, ['endpoint', 'list', 'fallbackco']).endpoints.find((x) => x.id === gone.id);
  assert.equal(ep.enabled, false);
  assert.match(ep.disabled_reason, /410 Gone/);
  assert.equal(rx.at('/gone').length, 1, 'no retry after 410');
  const d = cli(db, ['delivery', 'list', 'fallbackco', '--endpoint', String(gone.id)]).deliveries;
  assert.equal(d[0].state, 'failed');
  // later events are not sent to it
  await callOf(B, 'gone-2', [{ event_id: 'g2', direction: 'inbound', status: 'ringing' }]);
  await sleep(800);
  assert.equal(rx.at('/gone').length, 1);
  cli(db, ['endpoint', 'remove', 'fallbackco', String(gone.id)]);
});

test('429 with Retry-After slows the endpoint down', async () => {
  const e = addEndpoint('fallbackco', '/busy', ['--events', 'call.started']);
  let n = 0;
  rx.setHandler((rec) => (rec.path === '/busy' && ++n === 1 ? { status: 429, headers: { 'Retry-After': '3' } } : { status: 200 }));
  await callOf(B, 'busy-1', [{ event_id: 'b1', direction: 'inbound', status: 'ringing' }]);
  await waitFor(() => rx.at('/busy').length >= 2, 20_000);
  const [a1, a2] = rx.at('/busy');
  assert.ok(a2.at - a1.at >= 2900, `the second attempt waited for Retry-After: ${a2.at - a1.at} ms`);
  assert.equal(a1.headers['webhook-id'], a2.headers['webhook-id']);
  cli(db, ['endpoint', 'remove', 'fallbackco', String(e.id)]);
});

test('dead letter after the schedule, replay one, recover since a time, send a test event', async () => {
  const e = addEndpoint('fallbackco', '/down', ['--events', 'call.started,call.ended']);
  let up = false;
  rx.setHandler((rec) => (rec.path === '/down' ? { status: up ? 200 : 503 } : { status: 200 }));
  const t0 = new Date(Date.now() - 1000).toISOString();
  await callOf(B, 'dead-1', [{ event_id: 'd1', direction: 'inbound', status: 'ringing' }]);
  await callOf(B, 'dead-2', [{ event_id: 'd2', direction: 'inbound', status: 'ringing' }]);
  const dead = await waitFor(() => {
    const l = cli(db, ['delivery', 'list', 'fallbackco', '--endpoint', String(e.id), '--state', 'failed']).deliveries;
    return l.length === 2 ? l : null;
  }, 30_000);
  for (const d of dead) assert.equal(d.attempts, 4, '1 + the 3 retries of the schedule');
  assert.equal(rx.at('/down').length, 8);
  up = true;
  cli(db, ['delivery', 'replay', 'fallbackco', String(dead[0].id)]);
  await waitFor(() => rx.at('/down').length === 9, 10_000);
  const one = await waitFor(() => {
    const s = cli(db, ['delivery', 'show', 'fallbackco', String(dead[0].id)]);
    return s.state === 'succeeded' ? s : null;
  }, 10_000);
  assert.equal(one.attempt_log.at(-1).trigger, 'manual');
  assert.equal(rx.at('/down')[8].headers['webhook-id'], one.payload.id);
  const rec = cli(db, ['delivery', 'recover', 'fallbackco', String(e.id), '--since', t0]);
  assert.equal(rec.replayed, 1, 'only the one still failed');
  await waitFor(() => rx.at('/down').length === 10, 10_000);
  const test1 = cli(db, ['delivery', 'test', 'fallbackco', String(e.id)]);
  await waitFor(() => rx.at('/down').length === 11, 10_000);
  const t = verify(secrets['/down'], rx.at('/down')[10]);
  assert.equal(t.type, 'test');
  assert.equal(t.data.endpoint_id, e.id);
  await waitFor(() => cli(db, ['delivery', 'show', 'fallbackco', String(test1.delivery_id)]).state === 'succeeded', 10_000);
  cli(db, ['endpoint', 'remove', 'fallbackco', String(e.id)]);
});

test('rotation: both secrets sign during the overlap', async () => {
  const e = addEndpoint('fallbackco', '/rot', ['--events', 'test']);
  const old = secrets['/rot'];
  const r = cli(db, ['endpoint', 'rotate', 'fallbackco', String(e.id)]);
  cli(db, ['delivery', 'test', 'fallbackco', String(e.id)]);
  await waitFor(() => rx.at('/rot').length === 1, 10_000);
  const rec = rx.at('/rot')[0];
  assert.equal(rec.headers['webhook-signature'].split(' ').length, 2);
  verify(old, rec);
  verify(r.secret, rec);
  cli(db, ['endpoint', 'remove', 'fallbackco', String(e.id)]);
});
