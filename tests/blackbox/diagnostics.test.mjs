// The diagnostics report (GET /v1/diagnostics, `callhook doctor`), the sources (GET /v1/sources,
// rotate, secret) and the usage (GET /v1/usage) on the real daemon. Endpoints of every kind:
// one on a loopback receiver (reachable, allowed by delivery.allow_private), one on a private
// address the SSRF guard refuses (never connected to), one on a closed port (refused by the
// kernel). The routing answers are checked against what the daemon then does with real calls,
// the last calls against their traces and the receiver, the CLI against the API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { cli, cliFail, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, apiJson, basic, http } from './lib.mjs';
import { waitFor, sleep } from './lib-ops.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

let dir, db, server, rx, closedPort;
let A, B; // A: diagco, every kind of endpoint; B: emptyco, one generic endpoint, a soft limit of 1
const ep = {}; // name -> endpoint as `endpoint add` printed it
const ENV = { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.1/32', CALLHOOK_DELIVERY_RETRY_SCHEDULE: '1s' };

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

before(async () => {
  dir = tmpDir('callhook-diag-');
  db = path.join(dir, 'd.db');
  rx = await startReceiver(() => ({ status: 200 }));
  closedPort = await freePort();
  A = setupTenant(db, 'diagco');
  B = setupTenant(db, 'emptyco', { tenantArgs: ['--monthly-limit', '1'] });
  ep.in = cli(db, ['endpoint', 'add', 'diagco', `${rx.url}/in`, '--kind', 'inbound']);
  ep.out = cli(db, ['endpoint', 'add', 'diagco', 'http://10.0.0.1:9/out', '--kind', 'outbound', '--timeout-ms', '1000']);
  ep.gen = cli(db, ['endpoint', 'add', 'diagco', `http://127.0.0.1:${closedPort}/gen`, '--kind', 'generic', '--timeout-ms', '1000']);
  ep.status = cli(db, ['endpoint', 'add', 'diagco', `${rx.url}/status`, '--kind', 'status', '--events', 'call.status_changed']);
  ep.b = cli(db, ['endpoint', 'add', 'emptyco', `${rx.url}/b`, '--kind', 'generic']);
  server = await startServer({ db, env: ENV });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const api = (t, method, p, body) => apiJson(server, t.apiKey, method, p, body);
const diag = async (t) => {
  const r = await api(t, 'GET', '/v1/diagnostics');
  assert.equal(r.status, 200, r.text);
  return r.json;
};
async function call(t, ext, dirn, startedAt) {
  let id;
  for (const [i, status] of ['ringing', 'ended'].entries()) {
    const r = await postHook(server, t.slug, {
      call_id: ext, event_id: `${ext}-${i}`, direction: dirn, status, from: '+14155550101', to: '+14155550199',
      started_at: startedAt, ...(status === 'ended' ? { disposition: 'answered', ended_at: startedAt.replace(':00Z', ':30Z') } : {}),
    }, { headers: hookAuth(t) });
    assert.equal(r.status, 200, r.text);
    id = r.json.call_id;
  }
  return id;
}
// No delivery of the tenant is pending any more: the report stops changing.
async function settled(t) {
  const ok = await waitFor(async () => {
    const r = await api(t, 'GET', '/v1/deliveries?state=pending');
    return r.status === 200 && r.json.deliveries.length === 0;
  }, 30_000, 200);
  assert.ok(ok, 'every delivery settled');
}

test('endpoints: valid and reachable, refused by the SSRF guard, or a closed port — each with why', async () => {
  const d = await diag(A);
  assert.equal(d.tenant, 'diagco');
  assert.match(d.generated_at, /^\d{4}-\d\d-\d\dT/);
  const by = Object.fromEntries(d.endpoints.map((e) => [e.id, e]));
  assert.deepEqual(d.endpoints.map((e) => e.id).sort(), [ep.in.id, ep.out.id, ep.gen.id, ep.status.id].sort(), 'only its own endpoints');

  const inb = by[ep.in.id];
  assert.equal(inb.kind, 'inbound');
  assert.equal(inb.url_valid, true);
  assert.equal(inb.url_problem, null);
  assert.deepEqual(inb.reachable, { ok: true, address: `127.0.0.1:${rx.port}`, error: null });

  const out = by[ep.out.id];
  assert.equal(out.url_valid, false, 'a private address is refused by the guard');
  assert.match(out.url_problem, /SSRF guard: 10\.0\.0\.1 is private \(10\.0\.0\.0\/8\)/);
  assert.match(out.url_problem, /delivery\.allow_private/);
  assert.equal(out.reachable.ok, false);
  assert.equal(out.reachable.address, '10.0.0.1');
  assert.match(out.reachable.error, /SSRF guard/);

  const gen = by[ep.gen.id];
  assert.equal(gen.url_valid, true, 'allowed, only nobody listens');
  assert.equal(gen.reachable.ok, false);
  assert.match(gen.reachable.error, /Failed to connect to 127\.0\.0\.1 port \d+: Couldn't connect/);
  assert.equal(gen.reachable.address, `127.0.0.1`);

  assert.equal(by[ep.status.id].reachable.ok, true);
  // nothing was sent anywhere by the checks: the receiver saw no request
  assert.equal(rx.requests.length, 0, 'a reachability check connects and sends nothing');
});

test('routing now: the endpoints an inbound, outbound, internal call.completed would go to, and why none', async () => {
  const d = await diag(A);
  assert.deepEqual(d.routing.inbound.endpoint_ids, [ep.in.id]);
  assert.match(d.routing.inbound.reason, /inbound endpoints/);
  assert.deepEqual(d.routing.outbound.endpoint_ids, [ep.out.id]);
  assert.deepEqual(d.routing.internal.endpoint_ids, [ep.gen.id]);
  assert.match(d.routing.internal.reason, /generic endpoints/);

  const e = await diag(B);
  assert.deepEqual(e.routing.outbound.endpoint_ids, []);
  assert.match(e.routing.outbound.reason, /^no endpoint for outbound calls: an outbound call goes only to the outbound endpoints/);
  assert.deepEqual(e.routing.inbound.endpoint_ids, [ep.b.id], 'no inbound endpoint: generic takes inbound calls');
  assert.match(e.routing.inbound.reason, /there is no inbound endpoint/);
  assert.deepEqual(e.endpoints.map((x) => x.id), [ep.b.id], "another tenant's key sees only its endpoints");
});

test('the last 5 calls: what was delivered or skipped matches the routing, the traces and the receiver', async () => {
  const before = await diag(A);
  // six calls, oldest first; the report shows the newest five
  const ids = {};
  ids.old = await call(A, 'd-old', 'inbound', '2026-12-01T09:00:00Z');
  ids.in1 = await call(A, 'd-in1', 'inbound', '2026-12-01T09:01:00Z');
  ids.in2 = await call(A, 'd-in2', 'inbound', '2026-12-01T09:02:00Z');
  ids.out = await call(A, 'd-out', 'outbound', '2026-12-01T09:03:00Z');
  ids.int = await call(A, 'd-int', 'internal', '2026-12-01T09:04:00Z');
  ids.in3 = await call(A, 'd-in3', 'inbound', '2026-12-01T09:05:00Z');
  const bOut = await call(B, 'e-out', 'outbound', '2026-12-01T09:06:00Z');
  await settled(A);
  await settled(B);
  const d = await diag(A);
  assert.deepEqual(d.recent_calls.map((c) => c.call_id), [ids.in3, ids.int, ids.out, ids.in2, ids.in1], 'newest first, five');
  const route = { inbound: before.routing.inbound.endpoint_ids, outbound: before.routing.outbound.endpoint_ids, internal: before.routing.internal.endpoint_ids };
  for (const c of d.recent_calls) {
    assert.equal(c.recording, false);
    assert.equal(c.transcript, false);
    assert.equal(c.enrichment, 'skipped', 'the tenant has no pipeline');
    assert.match(c.started_at, /^2026-12-01T09:0\dZ?|^2026-12-01T09:0\d:00/);
    // the routing answer is what happened to call.completed
    const completed = c.messages.find((m) => m.type === 'call.completed');
    assert.ok(completed, `${c.call_id}: call.completed`);
    assert.deepEqual(completed.delivered_to, route[c.direction], `${c.call_id} (${c.direction}) went where the report said`);
    // and every message agrees with the call's trace
    const tr = await api(A, 'GET', `/v1/calls/${c.call_id}/trace`);
    assert.equal(tr.status, 200);
    const fromTrace = tr.json.timeline.filter((x) => x.what === 'message' || x.what === 'skipped').map((x) =>
      x.what === 'message' ? [x.type, x.deliveries.map((y) => [y.endpoint_id, y.state])] : [x.type, x.reason]);
    const fromReport = c.messages.map((m) => (m.skipped === null ? [m.type, m.deliveries.map((y) => [y.endpoint_id, y.state])] : [m.type, m.skipped]));
    assert.deepEqual(fromReport, fromTrace, `${c.call_id}: the trace's messages`);
    for (const m of c.messages) {
      if (m.skipped !== null) continue;
      const states = m.deliveries.map((y) => y.state);
      assert.equal(m.state, states.includes('failed') ? 'failed' : states.includes('pending') ? 'pending' : 'delivered');
    }
  }
  // delivered means the receiver has it, signed
  const in3 = d.recent_calls[0];
  for (const m of in3.messages.filter((x) => x.delivered_to.includes(ep.in.id))) {
    assert.equal(m.state, 'delivered');
    const got = rx.at('/in').map((r) => verify(ep.in.secret, r)).filter((x) => x.data?.call_id === in3.call_id).map((x) => x.type);
    assert.ok(got.includes(m.type), `${m.type} reached /in`);
  }
  const sc = in3.messages.find((m) => m.type === 'call.status_changed');
  assert.ok(sc.delivered_to.includes(ep.status.id), 'status changes also go to the status endpoint');
  // the outbound call's deliveries to the refused address and the closed port failed: dead letters
  assert.equal(d.recent_calls.find((c) => c.direction === 'outbound').messages[0].state, 'failed');
  const failed = await api(A, 'GET', '/v1/deliveries?state=failed&limit=500');
  assert.equal(d.dead_letters, failed.json.deliveries.length);
  assert.ok(d.dead_letters > 0);
  assert.deepEqual([...d.failing_endpoints].sort(), [ep.out.id, ep.gen.id].sort());
  const gen = d.endpoints.find((e) => e.id === ep.gen.id);
  assert.ok(gen.failing.failed_deliveries > 0);
  assert.match(gen.failing.since, /^\d{4}-/);
  assert.equal(gen.last_delivery.state, 'failed');
  assert.ok(gen.last_delivery.error);
  assert.equal(d.endpoints.find((e) => e.id === ep.in.id).failing, null);

  // the other tenant: its outbound call was skipped, with the reason the routing gives
  const e = await diag(B);
  assert.deepEqual(e.recent_calls.map((c) => c.call_id), [bOut]);
  for (const m of e.recent_calls[0].messages) {
    assert.equal(m.state, 'skipped');
    assert.deepEqual(m.delivered_to, []);
    assert.equal(m.skipped, 'no endpoint for outbound calls');
  }
  assert.ok(e.routing.outbound.reason.startsWith(e.recent_calls[0].messages[0].skipped));
});

test('`callhook doctor` prints the report the API answers', async () => {
  await settled(A);
  const fromApi = await diag(A);
  const fromCli = cli(db, ['doctor', 'diagco'], { env: ENV });
  const strip = (r) => ({ ...r, generated_at: undefined });
  assert.deepEqual(strip(fromCli), strip(fromApi));
  // indented for a person without --json, the same JSON
  const text = cli(db, ['doctor', 'diagco'], { json: false, env: ENV });
  assert.deepEqual(strip(JSON.parse(text)), strip(fromApi));
  const bad = cliFail(db, ['doctor', 'nosuchco']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no tenant 'nosuchco'/);
});

test('sources: the exact settings to enter on the sender, and when the last call arrived', async () => {
  const r = await api(B, 'GET', '/v1/sources');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.data.length, 1);
  const s = r.json.data[0];
  assert.equal(s.id, B.source.credential_id);
  assert.equal(s.provider, 'generic');
  assert.equal(s.url, `${server.url}/hooks/emptyco/generic`);
  assert.equal(s.method, 'POST');
  assert.equal(s.content_type, 'application/json');
  assert.deepEqual(s.auth, ['basic', 'token']);
  assert.equal(s.username, 'emptyco-pbx');
  assert.equal(s.allow_ips, '');
  for (const k of ['password', 'password_hash', 'token', 'token_hash', 'signing_secret', 'secret'])
    assert.equal(s[k], undefined, `no ${k}`);
  assert.ok(!r.text.includes(B.password) && !r.text.includes(B.token), 'no credential anywhere');
  const first = s.last_call_at;
  assert.match(first, /^\d{4}-\d\d-\d\dT/, 'emptyco received a call in the test above');
  await sleep(1100);
  const p = await postHook(server, 'emptyco', { call_id: 'e-later', event_id: 'e-later-0', status: 'ringing' }, { headers: hookAuth(B) });
  assert.equal(p.status, 200);
  const again = (await api(B, 'GET', '/v1/sources')).json.data[0].last_call_at;
  assert.ok(Date.parse(again) > Date.parse(first), `${again} after ${first}`);

  // a fresh source has no call yet
  const v = cli(db, ['source', 'add', 'emptyco', 'vapi', '--secret', 'vapi-secret-0001']);
  const list = (await api(B, 'GET', '/v1/sources')).json.data;
  const vs = list.find((x) => x.id === v.credential_id);
  assert.equal(vs.last_call_at, null);
  assert.deepEqual(vs.auth, ['signature']);
  assert.equal(vs.username, null);
});

test('rotate: the old password or token fails at once, the new one works; the signing secret is revealed and rotated', async () => {
  const id = B.source.credential_id;
  const body = (n) => ({ call_id: `rot-${n}`, event_id: `rot-${n}`, status: 'ringing' });
  // the old credentials work (and are cached by the webhook path now)
  assert.equal((await postHook(server, 'emptyco', body(1), { headers: { Authorization: basic(B.username, B.password) } })).status, 200);
  assert.equal((await postHook(server, 'emptyco', body(2), { headers: hookAuth(B) })).status, 200);

  const pw = await api(B, 'POST', `/v1/sources/${id}/rotate`, { what: 'password' });
  assert.equal(pw.status, 200, pw.text);
  assert.equal(pw.json.id, id);
  assert.equal(pw.json.rotated, 'password');
  assert.ok(pw.json.password.length >= 16);
  assert.equal((await postHook(server, 'emptyco', body(3), { headers: { Authorization: basic(B.username, B.password) } })).status, 401, 'old password');
  assert.equal((await postHook(server, 'emptyco', body(4), { headers: { Authorization: basic(B.username, pw.json.password) } })).status, 200, 'new password');

  const tok = await api(B, 'POST', `/v1/sources/${id}/rotate`, { what: 'token' });
  assert.equal(tok.status, 200, tok.text);
  assert.equal((await postHook(server, 'emptyco', body(5), { headers: { Authorization: `Bearer ${B.token}` } })).status, 401, 'old token');
  assert.equal((await postHook(server, 'emptyco', body(6), { headers: { Authorization: `Bearer ${tok.json.token}` } })).status, 200, 'new token');
  assert.equal((await postHook(server, 'emptyco', body(7), { headers: { 'X-Api-Key': tok.json.token } })).status, 200);

  // a source without a signing secret has none to show or rotate
  assert.equal((await api(B, 'GET', `/v1/sources/${id}/secret`)).status, 404);
  const none = await api(B, 'POST', `/v1/sources/${id}/rotate`, { what: 'secret' });
  assert.equal(none.status, 409);
  assert.equal(none.json.error, 'not_configured');
  assert.equal((await api(B, 'POST', `/v1/sources/${id}/rotate`, { what: 'pin' })).status, 422);

  const vapi = (await api(B, 'GET', '/v1/sources')).json.data.find((x) => x.provider === 'vapi');
  const sec = await api(B, 'GET', `/v1/sources/${vapi.id}/secret`);
  assert.deepEqual(sec.json, { id: vapi.id, provider: 'vapi', secret: 'vapi-secret-0001' });
  const chosen = await api(B, 'POST', `/v1/sources/${vapi.id}/rotate`, { what: 'secret', value: 'from-the-vapi-console-1' });
  assert.equal(chosen.json.secret, 'from-the-vapi-console-1');
  assert.equal((await api(B, 'GET', `/v1/sources/${vapi.id}/secret`)).json.secret, 'from-the-vapi-console-1');

  // the CLI rotates too
  const c = cli(db, ['source', 'rotate', 'emptyco', String(id), 'token']);
  assert.equal(c.rotated, 'token');
  const ok = await waitFor(async () => (await postHook(server, 'emptyco', body(8), { headers: { Authorization: `Bearer ${c.token}` } })).status === 200, 5000, 100);
  assert.ok(ok, 'the token rotated by the CLI works');
});

test('tenant isolation: another tenant sees only its sources; its source ids are not found', async () => {
  const a = (await api(A, 'GET', '/v1/sources')).json.data;
  assert.deepEqual(a.map((s) => s.id), [A.source.credential_id]);
  const vapi = (await api(B, 'GET', '/v1/sources')).json.data.find((x) => x.provider === 'vapi');
  // source ids are per tenant: diagco has no source with emptyco's vapi id
  assert.notEqual(vapi.id, A.source.credential_id);
  const sec = await api(A, 'GET', `/v1/sources/${vapi.id}/secret`);
  assert.equal(sec.status, 404);
  assert.ok(!sec.text.includes('from-the-vapi-console'));
  assert.equal((await api(A, 'POST', `/v1/sources/${vapi.id}/rotate`, { what: 'secret' })).status, 404);
  assert.equal((await api(B, 'GET', '/v1/sources/999/secret')).status, 404);
  const d = await diag(A);
  assert.ok(!JSON.stringify(d).includes('emptyco'), "nothing of the other tenant's in the report");
  assert.equal((await http(`${server.url}/v1/diagnostics`)).status, 401, 'an API key is needed');
});

test('usage: calls this month against the limit, over-limit calls, transcribed minutes', async () => {
  const month = new Date().toISOString().slice(0, 7);
  const a = (await api(A, 'GET', '/v1/usage')).json;
  assert.deepEqual(a, { month, calls: 6, limit: null, hard_limit: false, over_limit_calls: 0, events: 12, transcribed_minutes: 0 });
  const b = (await api(B, 'GET', '/v1/usage')).json;
  // emptyco: e-out, e-later and the rot-N posts that were accepted (1, 2, 4, 6, 7, 8), each a
  // call of its own; a limit of 1, not hard
  const calls = 2 + 6;
  assert.equal(b.calls, calls);
  assert.equal(b.limit, 1);
  assert.equal(b.over_limit_calls, calls - 1);
  const list = cli(db, ['tenant', 'list']).tenants.find((t) => t.slug === 'emptyco');
  assert.equal(list.usage.calls, b.calls, 'the same numbers as `tenant list`');
});
