// The webhooks API with an API key: endpoints (create, read, change, disable, rotate, test,
// recover, remove), deliveries (list, one with its attempts, replay), skips and the retry
// schedule. Deliveries go to a receiver on a loopback port and are verified with npm
// `standardwebhooks`. Another tenant's endpoints and deliveries are "not found".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, http, apiJson } from './lib.mjs';
import { waitFor, parseMetrics, metricValue } from './lib-ops.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

let dir, db, server, rx, A, B;

before(async () => {
  dir = tmpDir('callhook-webhooks-api-');
  db = path.join(dir, 'w.db');
  rx = await startReceiver(() => ({ status: 200 }));
  A = setupTenant(db, 'apico');
  B = setupTenant(db, 'otherco');
  server = await startServer({
    db,
    env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_DELIVERY_RETRY_SCHEDULE: '1s,1s' },
  });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const api = (t, method, p, body, headers = {}) => apiJson(server, t.apiKey, method, p, body, headers);

test('endpoints: create shows the secret once, list/get never; bad input is a 422 naming the field', async () => {
  const r = await api(A, 'POST', '/v1/endpoints', {
    url: `${rx.url}/a`, kind: 'inbound', events: ['call.started', 'call.ended'],
    headers: { 'X-Team': 'sales' }, timeout_ms: 5000, rate_limit_per_min: 600,
  });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.secret, /^whsec_[A-Za-z0-9+/=]{32}$/);
  assert.equal(r.json.kind, 'inbound');
  assert.equal(r.json.events, 'call.started,call.ended');
  assert.deepEqual(r.json.headers, { 'X-Team': 'sales' });
  assert.equal(r.json.timeout_ms, 5000);
  assert.equal(r.json.enabled, true);
  const list = await api(A, 'GET', '/v1/endpoints');
  assert.equal(list.status, 200);
  assert.equal(list.json.endpoints.length, 1);
  assert.equal(list.json.endpoints[0].secret, undefined, 'lists never show the secret');
  assert.ok(!list.text.includes(r.json.secret));
  const one = await api(A, 'GET', `/v1/endpoints/${r.json.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.json.url, `${rx.url}/a`);
  assert.equal(one.json.secret, undefined);

  const bad = [
    [{ url: 'ftp://x.example/' }, 'url'],
    [{ url: 'http://' }, 'url'],
    [{ url: 'https://x.example/' + 'a'.repeat(3000) }, 'url'],
    [{ kind: 'inbound' }, 'url'],
    [{ url: 'https://x.example/', kind: 'sideways' }, 'kind'],
    [{ url: 'https://x.example/', events: ['call.exploded'] }, 'events'],
    [{ url: 'https://x.example/', events: [] }, 'events'],
    [{ url: 'https://x.example/', headers: { 'webhook-signature': 'x' } }, 'headers'],
    [{ url: 'https://x.example/', headers: { 'X-A': 'b\r\nX-Injected: 1' } }, 'headers'],
    [{ url: 'https://x.example/', timeout_ms: 10 }, 'timeout_ms'],
    [{ url: 'https://x.example/', rate_limit_per_min: -1 }, 'rate_limit_per_min'],
    [{ url: 'https://x.example/', enabled: 'yes' }, 'enabled'],
    [{ url: 'https://x.example/', colour: 'red' }, 'colour'],
  ];
  for (const [body, field] of bad) {
    const b = await api(A, 'POST', '/v1/endpoints', body);
    assert.equal(b.status, 422, `${JSON.stringify(body)}: ${b.text}`);
    assert.equal(b.json.field, field, JSON.stringify(body));
    assert.ok(b.json.message.length > 5);
  }
  assert.equal((await api(A, 'POST', '/v1/endpoints', '{"url":')).status, 400);
  assert.equal((await api(A, 'POST', '/v1/endpoints', '[1]')).status, 400);
  const ct = await api(A, 'POST', '/v1/endpoints', JSON.stringify({ url: 'https://x.example/' }), { 'Content-Type': 'text/plain' });
  assert.equal(ct.status, 415);
  assert.equal((await api(A, 'GET', '/v1/endpoints')).json.endpoints.length, 1, 'nothing bad was saved');
  assert.equal((await api(A, 'PUT', '/v1/endpoints')).status, 405);
  const unauth = await http(`${server.url}/v1/endpoints`);
  assert.equal(unauth.status, 401);
});

test('a delivery through an API-made endpoint is signed with the secret the API returned; list, get, replay', async () => {
  const e = (await api(A, 'POST', '/v1/endpoints', { url: `${rx.url}/deliv`, kind: 'generic', events: 'call.started' })).json;
  const r = await postHook(server, A.slug, { call_id: 'api-1', event_id: 'api-1a', direction: 'internal', status: 'ringing' }, { headers: hookAuth(A) });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => rx.at('/deliv').length === 1, 10_000);
  const msg = verify(e.secret, rx.at('/deliv')[0]);
  assert.equal(msg.type, 'call.started');
  assert.equal(msg.data.call_id, r.json.call_id);

  const list = await waitFor(async () => {
    const l = await api(A, 'GET', `/v1/deliveries?endpoint_id=${e.id}&state=succeeded`);
    return l.json.deliveries.length === 1 ? l : null;
  }, 10_000);
  const d = list.json.deliveries[0];
  assert.equal(d.message_id, msg.id);
  const one = await api(A, 'GET', `/v1/deliveries/${d.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.json.attempt_log.length, 1);
  assert.equal(one.json.attempt_log[0].status, 200);
  assert.equal(one.json.payload.id, msg.id);

  const rep = await api(A, 'POST', `/v1/deliveries/${d.id}/replay`);
  assert.equal(rep.status, 202, rep.text);
  await waitFor(() => rx.at('/deliv').length === 2, 10_000);
  assert.equal(rx.at('/deliv')[1].headers['webhook-id'], msg.id, 'a replay keeps the webhook-id');
  const after = await waitFor(async () => {
    const x = await api(A, 'GET', `/v1/deliveries/${d.id}`);
    return x.json.attempt_log.length === 2 ? x : null;
  }, 10_000);
  assert.equal(after.json.attempt_log[1].trigger, 'manual');

  const m0 = parseMetrics((await http(`${server.url}/metrics`)).text);
  assert.ok(metricValue(m0, 'callhook_webhook_attempts_total', { outcome: 'succeeded' }) >= 2);
  assert.equal(metricValue(m0, 'callhook_webhook_in_flight'), 0);
  assert.ok(metricValue(m0, 'callhook_http_requests_total', { route: 'webhooks', code: '202' }) >= 1);

  for (const q of ['state=lost', 'limit=0', 'limit=501', 'endpoint_id=x', 'before=-3'])
    assert.equal((await api(A, 'GET', `/v1/deliveries?${q}`)).status, 400, q);
  assert.equal((await api(A, 'GET', '/v1/deliveries/999999')).status, 404);
  assert.equal((await api(A, 'POST', '/v1/deliveries/999999/replay')).status, 404);
});

test('PATCH changes what is given, disable stops deliveries, enable resumes; rotate; test; recover; DELETE', async () => {
  const e = (await api(A, 'POST', '/v1/endpoints', { url: `${rx.url}/p1`, events: ['test'] })).json;
  let p = await api(A, 'PATCH', `/v1/endpoints/${e.id}`, { url: `${rx.url}/p2`, timeout_ms: 2000 });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.url, `${rx.url}/p2`);
  assert.equal(p.json.timeout_ms, 2000);
  assert.equal(p.json.events, 'test', 'fields not given are kept');
  assert.equal((await api(A, 'PATCH', `/v1/endpoints/${e.id}`, { kind: 'nope' })).status, 422);

  p = await api(A, 'PATCH', `/v1/endpoints/${e.id}`, { enabled: false });
  assert.equal(p.json.enabled, false);
  assert.ok(p.json.disabled_reason);
  const t0 = await api(A, 'POST', `/v1/endpoints/${e.id}/test`);
  assert.equal(t0.status, 409, 'a disabled endpoint takes no test');
  assert.equal(t0.json.error, 'endpoint_disabled');
  assert.equal((await api(A, 'POST', `/v1/endpoints/${e.id}/recover`, { since: '2020-01-01T00:00:00Z' })).status, 409);

  p = await api(A, 'PATCH', `/v1/endpoints/${e.id}`, { enabled: true });
  assert.equal(p.json.enabled, true);
  assert.equal(p.json.disabled_reason, null);
  // the receiver fails the first test event: a test is one attempt, so it is failed at once
  rx.setHandler((rec, n) => (rec.path === '/p2' && n === 1 ? { status: 500 } : { status: 200 }));
  const t1 = await api(A, 'POST', `/v1/endpoints/${e.id}/test`);
  assert.equal(t1.status, 202);
  await waitFor(async () => (await api(A, 'GET', `/v1/deliveries/${t1.json.delivery_id}`)).json.state === 'failed', 10_000);
  assert.equal(rx.at('/p2').length, 1);
  const since = new Date(Date.now() - 60_000).toISOString();
  const rec = await api(A, 'POST', `/v1/endpoints/${e.id}/recover`, { since });
  assert.equal(rec.status, 202, rec.text);
  assert.equal(rec.json.replayed, 1, 'the test message that failed');
  await waitFor(() => rx.at('/p2').length === 2, 10_000);
  await waitFor(async () => (await api(A, 'GET', `/v1/deliveries/${t1.json.delivery_id}`)).json.state === 'succeeded', 10_000);
  assert.equal(rx.at('/p2')[0].headers['webhook-id'], rx.at('/p2')[1].headers['webhook-id']);
  assert.equal((await api(A, 'POST', `/v1/endpoints/${e.id}/recover`, { since: 'yesterday' })).status, 422);

  const rot = await api(A, 'POST', `/v1/endpoints/${e.id}/rotate`);
  assert.equal(rot.status, 200);
  assert.notEqual(rot.json.secret, e.secret);
  assert.ok(rot.json.secret_rotating_until);
  const t2 = await api(A, 'POST', `/v1/endpoints/${e.id}/test`);
  assert.equal(t2.status, 202);
  await waitFor(() => rx.at('/p2').length === 3, 10_000);
  const m = verify(rot.json.secret, rx.at('/p2')[2]);
  verify(e.secret, rx.at('/p2')[2]);
  assert.equal(m.type, 'test');

  assert.equal((await api(A, 'DELETE', `/v1/endpoints/${e.id}`)).status, 200);
  assert.equal((await api(A, 'GET', `/v1/endpoints/${e.id}`)).status, 404);
  assert.equal((await api(A, 'DELETE', `/v1/endpoints/${e.id}`)).status, 404);
  const again = (await api(A, 'POST', '/v1/endpoints', { url: `${rx.url}/p3` })).json;
  assert.ok(again.id > e.id, 'a removed endpoint id is never reused');
  await api(A, 'DELETE', `/v1/endpoints/${again.id}`);
});

test('skips and the retry schedule', async () => {
  const r = await postHook(server, A.slug, { call_id: 'api-out', event_id: 'o1', direction: 'outbound', status: 'ringing' }, { headers: hookAuth(A) });
  assert.equal(r.status, 200);
  const s = await api(A, 'GET', '/v1/webhooks/skipped');
  assert.equal(s.status, 200);
  const out = s.json.skipped.find((x) => /outbound/.test(x.reason));
  assert.ok(out, JSON.stringify(s.json));
  assert.ok(out.count >= 1);

  let g = await api(A, 'GET', '/v1/webhooks/retry-schedule');
  assert.deepEqual(g.json, { retry_schedule: '1s,1s', default: true });
  g = await api(A, 'PUT', '/v1/webhooks/retry-schedule', { retry_schedule: '10s,1m,1h' });
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.json, { retry_schedule: '10s,1m,1h', default: false });
  const bad = await api(A, 'PUT', '/v1/webhooks/retry-schedule', { retry_schedule: '10 parsecs' });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.field, 'retry_schedule');
  g = await api(A, 'PUT', '/v1/webhooks/retry-schedule', { retry_schedule: null });
  assert.equal(g.json.default, true);
});

test('tenant isolation: another tenant sees none of it and cannot touch it', async () => {
  const e = (await api(A, 'POST', '/v1/endpoints', { url: `${rx.url}/iso`, events: ['test'] })).json;
  const t = (await api(A, 'POST', `/v1/endpoints/${e.id}/test`)).json;
  assert.equal((await api(B, 'GET', '/v1/endpoints')).json.endpoints.length, 0);
  assert.equal((await api(B, 'GET', '/v1/deliveries')).json.deliveries.length, 0);
  for (const [m, p, body] of [
    ['GET', `/v1/endpoints/${e.id}`],
    ['PATCH', `/v1/endpoints/${e.id}`, { enabled: false }],
    ['DELETE', `/v1/endpoints/${e.id}`],
    ['POST', `/v1/endpoints/${e.id}/rotate`],
    ['POST', `/v1/endpoints/${e.id}/test`],
    ['POST', `/v1/endpoints/${e.id}/recover`, { since: '2020-01-01T00:00:00Z' }],
    ['GET', `/v1/deliveries/${t.delivery_id}`],
    ['POST', `/v1/deliveries/${t.delivery_id}/replay`],
  ]) {
    const r = await api(B, m, p, body);
    assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
  }
  const still = await api(A, 'GET', `/v1/endpoints/${e.id}`);
  assert.equal(still.json.enabled, true);
  assert.equal((await api(B, 'GET', '/v1/webhooks/skipped')).json.skipped.length, 0);
});

test('one API call is one transaction: an endpoint created disabled is never enabled, a refused PATCH changes nothing', async () => {
  // created disabled in the same write that creates it (before: a second transaction after
  // the first had already committed an enabled endpoint)
  const c = await api(A, 'POST', '/v1/endpoints', { url: `${rx.url}/atomic`, enabled: false });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.enabled, false);
  assert.equal(c.json.disabled_reason, 'disabled when created');
  assert.match(c.json.secret, /^whsec_/);
  // another tenant's PATCH of url and enabled together: 404, and neither part happened
  const p = await api(B, 'PATCH', `/v1/endpoints/${c.json.id}`, { url: `${rx.url}/stolen`, enabled: true });
  assert.equal(p.status, 404, p.text);
  const after1 = await api(A, 'GET', `/v1/endpoints/${c.json.id}`);
  assert.equal(after1.json.url, `${rx.url}/atomic`);
  assert.equal(after1.json.enabled, false);
  // a test message to a disabled endpoint is a 409 with its own code, and queues nothing
  const before = (await api(A, 'GET', `/v1/deliveries?endpoint_id=${c.json.id}`)).json.deliveries.length;
  const t = await api(A, 'POST', `/v1/endpoints/${c.json.id}/test`);
  assert.equal(t.status, 409, t.text);
  assert.equal(t.json.error, 'endpoint_disabled');
  assert.equal((await api(A, 'GET', `/v1/deliveries?endpoint_id=${c.json.id}`)).json.deliveries.length, before);
  // the owner's PATCH of both: both happen
  const ok = await api(A, 'PATCH', `/v1/endpoints/${c.json.id}`, { url: `${rx.url}/atomic2`, enabled: true });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.url, `${rx.url}/atomic2`);
  assert.equal(ok.json.enabled, true);
  assert.equal(ok.json.disabled_reason, null);
});
