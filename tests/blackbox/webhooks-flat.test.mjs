// The flat payload shape (docs/webhooks.md#flat-payload): an endpoint may choose the flat body
// automations built for the systems callhook replaces read. Two endpoints of one tenant, one
// standard and one flat, get the same call's events: the flat one has exactly the documented
// top-level keys with the call's values, signed the same way (npm `standardwebhooks`), the same
// webhook-id as the envelope, and a replay sends the same flat bytes again. The endpoints API
// and the CLI take and show `payload`; other values are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { cli, cliFail, tmpDir, cleanup, startServer, setupTenant, apiJson, postHook, hookAuth } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver, verify, verifyFlat, flatProblems } from './lib-receiver.mjs';

const T = { timeout: 60_000 };
const FLAT_KEYS = [
  'event_type', 'timestamp', 'business_id', 'call_id', 'lead_id', 'phone', 'customer_name', 'direction',
  'city', 'service_category', 'started_at', 'ended_at', 'duration_sec', 'transcript', 'summary',
  'agent_name', 'metadata', 'message_id', 'version',
];

let dir, db, server, rx, A, std, flat;

before(async () => {
  dir = tmpDir('callhook-flat-');
  db = path.join(dir, 'f.db');
  rx = await startReceiver(() => ({ status: 200 }));
  A = setupTenant(db, 'flatco', { tenantArgs: ['--country', '1'] });
  cli(db, ['employee', 'add', 'flatco', '201', '--name', 'Yossi Mizrahi']);
  cli(db, ['lead', 'add', 'flatco', '+14155550101', '--name', 'Dana Levi']);
  std = cli(db, ['endpoint', 'add', 'flatco', `${rx.url}/std`, '--kind', 'generic']);
  flat = cli(db, ['endpoint', 'add', 'flatco', `${rx.url}/flat`, '--kind', 'generic', '--payload', 'flat']);
  server = await startServer({ db, env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' } });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const api = (method, p, body) => apiJson(server, A.apiKey, method, p, body);
const ofType = (p, type, key) => rx.at(p).filter((r) => JSON.parse(r.body)[key] === type);

test('the CLI takes --payload, says it back and shows it in the list; other values are refused', T, () => {
  assert.equal(std.payload, 'standard');
  assert.equal(flat.payload, 'flat');
  const list = cli(db, ['endpoint', 'list', 'flatco']).endpoints;
  assert.deepEqual(list.map((e) => [e.id, e.payload]), [[std.id, 'standard'], [flat.id, 'flat']]);
  for (const bad of ['xml', 'FLAT', ''])
    assert.equal(cliFail(db, ['endpoint', 'add', 'flatco', `${rx.url}/bad`, '--payload', bad]).status, 2, bad);
  assert.equal(cliFail(db, ['endpoint', 'update', 'flatco', String(flat.id), '--payload', 'nested']).status, 2);
  assert.equal(cli(db, ['endpoint', 'list', 'flatco']).endpoints.length, 2, 'nothing bad was saved');
  // update changes the shape and nothing else, and back
  const u = cli(db, ['endpoint', 'update', 'flatco', String(flat.id), '--payload', 'standard']);
  assert.equal(u.payload, 'standard');
  assert.equal(u.url, `${rx.url}/flat`);
  assert.equal(cli(db, ['endpoint', 'update', 'flatco', String(flat.id), '--payload', 'flat']).payload, 'flat');
  assert.equal(cliFail(db, ['endpoint', 'update', 'flatco', '999', '--payload', 'flat']).status, 1);
});

test('the endpoints API accepts and returns payload, 422 for anything but standard or flat', T, async () => {
  const l = await api('GET', '/v1/endpoints');
  assert.equal(l.status, 200);
  assert.deepEqual(l.json.endpoints.map((e) => e.payload), ['standard', 'flat']);
  for (const bad of ['xml', 'Flat', 1, null, true, ['flat']]) {
    const r = await api('POST', '/v1/endpoints', { url: `${rx.url}/bad`, payload: bad });
    assert.equal(r.status, 422, `${JSON.stringify(bad)}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /application\/(problem\+)?json/);
    assert.equal(r.json.field, 'payload', r.text);
    assert.equal(r.json.error, 'invalid_endpoint');
  }
  const made = await api('POST', '/v1/endpoints', { url: `${rx.url}/api`, payload: 'flat', events: ['call.ended'] });
  assert.equal(made.status, 201, made.text);
  assert.equal(made.json.payload, 'flat');
  const def = await api('POST', '/v1/endpoints', { url: `${rx.url}/api2`, events: ['call.ended'] });
  assert.equal(def.json.payload, 'standard', 'standard unless asked');
  const p = await api('PATCH', `/v1/endpoints/${made.json.id}`, { payload: 'standard' });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.payload, 'standard');
  assert.equal((await api('PATCH', `/v1/endpoints/${made.json.id}`, { payload: 'deep' })).status, 422);
  assert.equal((await api('GET', `/v1/endpoints/${made.json.id}`)).json.payload, 'standard', 'a refused change changes nothing');
  for (const id of [made.json.id, def.json.id]) assert.equal((await api('DELETE', `/v1/endpoints/${id}`)).status, 200);
});

test('one call: the standard endpoint gets the envelope, the flat one the flat body, signed alike', T, async () => {
  const post = async (body) => {
    const r = await postHook(server, A.slug, { call_id: 'flat-1', ...body }, { headers: hookAuth(A) });
    assert.equal(r.status, 200, r.text);
    return r.json.call_id;
  };
  await post({
    event_id: 'f1', direction: 'inbound', status: 'ringing', from: '(415) 555-0101', to: '+14155550199',
    caller_name: 'PBX NAME', extension: '201', started_at: '2026-11-30T08:15:00Z',
    metadata: { city: 'Haifa', service_category: 'plumbing', lead_id: 'L-1042' },
  });
  await post({ event_id: 'f2', status: 'in_progress', answered_at: '2026-11-30T08:15:06Z' });
  const callId = await post({
    event_id: 'f3', status: 'ended', disposition: 'answered', ended_at: '2026-11-30T08:18:12Z',
    transcript: 'caller: my sink leaks\nagent: we send someone', summary: 'A leaking sink in Haifa.',
  });
  await waitFor(() => ofType('/std', 'call.completed', 'type').length === 1 && ofType('/flat', 'call.completed', 'event_type').length === 1, 20_000);

  const srec = ofType('/std', 'call.completed', 'type')[0];
  const frec = ofType('/flat', 'call.completed', 'event_type')[0];
  const s = verify(std.secret, srec);
  const f = verifyFlat(flat.secret, frec);
  assert.throws(() => verifyFlat(std.secret, frec), 'the flat body is signed with its own endpoint\'s secret');
  assert.equal(frec.headers['webhook-id'], srec.headers['webhook-id'], 'one message, one webhook-id');
  assert.equal(frec.headers['content-type'], 'application/json');

  assert.deepEqual(Object.keys(f), FLAT_KEYS, 'exactly the documented keys, in order');
  assert.deepEqual(f, {
    event_type: 'call.completed',
    timestamp: s.timestamp,
    business_id: 'flatco',
    call_id: callId,
    lead_id: 'L-1042',
    phone: '+14155550101',
    customer_name: 'Dana Levi',
    direction: 'inbound',
    city: 'Haifa',
    service_category: 'plumbing',
    started_at: '2026-11-30T08:15:00Z',
    ended_at: '2026-11-30T08:18:12Z',
    duration_sec: 192,
    transcript: 'caller: my sink leaks\nagent: we send someone',
    summary: 'A leaking sink in Haifa.',
    agent_name: 'Yossi Mizrahi',
    metadata: { city: 'Haifa', lead_id: 'L-1042', service_category: 'plumbing' },
    message_id: s.id,
    version: 1,
  });
  // the same values as the envelope's data, where both have them
  for (const k of FLAT_KEYS.filter((x) => x in s.data)) assert.deepEqual(f[k], s.data[k], k);

  // every call event of the call is flat at the flat endpoint, each with its own type
  const std_types = rx.at('/std').map((r) => JSON.parse(r.body).type).sort();
  const flat_bodies = rx.at('/flat').map((r) => verifyFlat(flat.secret, r));
  assert.deepEqual(flat_bodies.map((b) => b.event_type).sort(), std_types);
  for (const b of flat_bodies) {
    assert.deepEqual(Object.keys(b), FLAT_KEYS);
    assert.equal(b.call_id, callId);
  }
  assert.ok(std_types.includes('call.started') && std_types.includes('call.status_changed'));
});

test('a replay of the flat delivery sends the same flat bytes again, and the delivery shows them', T, async () => {
  const first = ofType('/flat', 'call.completed', 'event_type')[0];
  const l = await api('GET', `/v1/deliveries?endpoint_id=${flat.id}&state=succeeded`);
  assert.equal(l.status, 200, l.text);
  const d = l.json.deliveries.find((x) => x.type === 'call.completed');
  assert.ok(d, JSON.stringify(l.json));
  const one = await api('GET', `/v1/deliveries/${d.id}`);
  assert.deepEqual(one.json.payload, JSON.parse(first.body), 'the delivery shows the body the endpoint got');

  const rep = await api('POST', `/v1/deliveries/${d.id}/replay`);
  assert.equal(rep.status, 202, rep.text);
  await waitFor(() => ofType('/flat', 'call.completed', 'event_type').length === 2, 10_000);
  const again = ofType('/flat', 'call.completed', 'event_type')[1];
  assert.equal(again.body, first.body, 'byte for byte');
  assert.equal(again.headers['webhook-id'], first.headers['webhook-id']);
  verifyFlat(flat.secret, again);
});

test('messages that are not call events keep the envelope at a flat endpoint', T, async () => {
  const n = rx.at('/flat').length;
  const t = await api('POST', `/v1/endpoints/${flat.id}/test`);
  assert.equal(t.status, 202, t.text);
  await waitFor(() => rx.at('/flat').length === n + 1, 10_000);
  const msg = verify(flat.secret, rx.at('/flat')[n]);
  assert.equal(msg.type, 'test');
  assert.equal(msg.data.endpoint_id, flat.id);
});

test('docs/examples/webhooks/flat/call.completed.json matches webhook-flat.schema.json', T, () => {
  const ex = JSON.parse(readFileSync(new URL('../../docs/examples/webhooks/flat/call.completed.json', import.meta.url), 'utf8'));
  assert.equal(flatProblems(ex), null, flatProblems(ex));
  assert.deepEqual(Object.keys(ex), FLAT_KEYS);
  assert.notEqual(flatProblems({ ...ex, event_type: 'test' }), null, 'the schema can fail');
});
