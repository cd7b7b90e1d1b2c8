// Issue 9, items 13 and 15b: what a tenant may set on its endpoints and sources.
// - hop-by-hop and framing headers (Connection, Transfer-Encoding, …) are refused by the API
//   (POST and PATCH) and the CLI with the header's name, and ignored when sending for an
//   endpoint saved before the rule;
// - at most delivery.max_endpoints endpoints per tenant (409 / exit 1 with a clear message);
// - a tenant's retry schedule waits at least 1 s between attempts;
// - `source add --allow-ip 0.0.0.0/0` (or ::/0, or a very short prefix) warns, and still works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, cli, tmpDir, cleanup, startServer, setupTenant, apiJson, sqlite, postHook, hookAuth } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

const T = { timeout: 60_000 };
const MAX = 4;
let dir, db, server, rx, A;

before(async () => {
  dir = tmpDir('callhook-endpoint-rules-');
  db = path.join(dir, 'r.db');
  rx = await startReceiver(() => ({ status: 200 }));
  A = setupTenant(db, 'rulesco');
  server = await startServer({
    db,
    env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_DELIVERY_MAX_ENDPOINTS: String(MAX) },
  });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

const api = (method, p, body) => apiJson(server, A.apiKey, method, p, body);

// Runs the CLI expecting it to fail; {code, err}.
function cliErr(args, env = {}) {
  const r = spawnSync(BIN, [...args, '--db', db], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  assert.notEqual(r.status, 0, `callhook ${args.join(' ')} should fail:\n${r.stdout}`);
  return { code: r.status, err: r.stderr };
}

const REFUSED = ['Connection', 'Keep-Alive', 'Proxy-Connection', 'Transfer-Encoding', 'TE', 'Trailer', 'Upgrade',
  'Content-Length', 'Host', 'Expect', 'Proxy-Authorization', 'Content-Type', 'Content-Encoding', 'webhook-id'];

test('hop-by-hop and framing headers: 422 naming the header on POST and PATCH, an error in the CLI', T, async () => {
  for (const name of REFUSED) {
    for (const variant of [name, name.toLowerCase()]) {
      const r = await api('POST', '/v1/endpoints', { url: `${rx.url}/x`, headers: { 'X-Ok': '1', [variant]: 'chunked' } });
      assert.equal(r.status, 422, `${variant}: ${r.text}`);
      assert.equal(r.json.field, 'headers');
      assert.ok(r.json.message.includes(`'${variant}'`), `the message names ${variant}: ${r.json.message}`);
    }
    const c = cliErr(['endpoint', 'add', 'rulesco', `${rx.url}/x`, '--header', `${name}: chunked`]);
    assert.equal(c.code, 2, name);
    assert.ok(c.err.includes(`'${name}'`), `the CLI names ${name}: ${c.err}`);
  }
  const ok = await api('POST', '/v1/endpoints', { url: `${rx.url}/ok`, headers: { Authorization: 'Bearer abc', 'X-Team': 'sales' } });
  assert.equal(ok.status, 201, ok.text);
  const p = await api('PATCH', `/v1/endpoints/${ok.json.id}`, { headers: { 'Transfer-Encoding': 'chunked' } });
  assert.equal(p.status, 422, p.text);
  assert.match(p.json.message, /'Transfer-Encoding'/);
  const list = (await api('GET', '/v1/endpoints')).json.endpoints;
  assert.equal(list.length, 1, 'nothing refused was saved');
  assert.deepEqual(list[0].headers, { Authorization: 'Bearer abc', 'X-Team': 'sales' }, 'the PATCH changed nothing');
  assert.equal((await api('DELETE', `/v1/endpoints/${ok.json.id}`)).status, 200);
});

test('an endpoint saved before the rule: its framing headers are not sent, the others are', T, async () => {
  const e = await api('POST', '/v1/endpoints', { url: `${rx.url}/old`, headers: { 'X-Keep': 'yes' } });
  assert.equal(e.status, 201, e.text);
  sqlite(db, `UPDATE endpoints SET headers='{"Connection":"close","Transfer-Encoding":"chunked","X-Keep":"yes"}' WHERE id=${e.json.id}`);
  for (let i = 0; i < 2; i++) {
    const t = await api('POST', `/v1/endpoints/${e.json.id}/test`);
    assert.equal(t.status, 202, t.text);
    assert.ok(await waitFor(() => rx.at('/old').length === i + 1, 15_000), `test message ${i + 1} delivered`);
  }
  for (const got of rx.at('/old')) {
    assert.equal(got.headers['x-keep'], 'yes');
    assert.equal(got.headers['transfer-encoding'], undefined, 'no Transfer-Encoding sent');
    assert.notEqual(got.headers.connection, 'close', 'no Connection header sent');
    assert.equal(got.headers['content-length'], String(Buffer.byteLength(got.body)));
    assert.equal(JSON.parse(got.body).type, 'test');
  }
  assert.equal((await api('DELETE', `/v1/endpoints/${e.json.id}`)).status, 200);
});

test('a tenant schedule saved before the 1 s rule is held to 1 s when retrying', T, async () => {
  rx.setHandler((r) => ({ status: r.path === '/floor' ? 500 : 200 }));
  const e = await api('POST', '/v1/endpoints', { url: `${rx.url}/floor`, events: ['call.started'] });
  assert.equal(e.status, 201, e.text);
  sqlite(db, "UPDATE tenants SET retry_schedule='100ms,100ms' WHERE slug='rulesco'");
  const h = await postHook(server, A.slug, { call_id: 'floor-1', direction: 'internal', status: 'ringing' }, { headers: hookAuth(A) });
  assert.ok(h.status < 300, h.text);
  assert.ok(await waitFor(() => rx.at('/floor').length >= 3, 15_000), 'three attempts');
  const [a1, a2, a3] = rx.at('/floor');
  // 1 s with Svix's ±20 % jitter: at least 800 ms apart, not the 100 ms saved
  assert.ok(a2.at - a1.at >= 750, `${a2.at - a1.at} ms between attempts 1 and 2`);
  assert.ok(a3.at - a2.at >= 750, `${a3.at - a2.at} ms between attempts 2 and 3`);
  sqlite(db, "UPDATE tenants SET retry_schedule=NULL WHERE slug='rulesco'");
  assert.equal((await api('DELETE', `/v1/endpoints/${e.json.id}`)).status, 200);
  rx.setHandler(() => ({ status: 200 }));
});

test(`at most ${MAX} endpoints per tenant: 409 from the API, an error from the CLI`, T, async () => {
  const n = (await api('GET', '/v1/endpoints')).json.endpoints.length;
  for (let i = n; i < MAX; i++) {
    const r = i % 2 ? await api('POST', '/v1/endpoints', { url: `${rx.url}/e${i}` })
      : { status: 201, json: cli(db, ['endpoint', 'add', 'rulesco', `${rx.url}/e${i}`], { env: { CALLHOOK_DELIVERY_MAX_ENDPOINTS: String(MAX) } }) };
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  const over = await api('POST', '/v1/endpoints', { url: `${rx.url}/over` });
  assert.equal(over.status, 409, over.text);
  assert.equal(over.json.error, 'endpoint_limit');
  assert.match(over.json.message, new RegExp(`${MAX} endpoints`));
  const c = cliErr(['endpoint', 'add', 'rulesco', `${rx.url}/over`], { CALLHOOK_DELIVERY_MAX_ENDPOINTS: String(MAX) });
  assert.equal(c.code, 1);
  assert.match(c.err, /endpoints, the most allowed \(delivery\.max_endpoints\)/);
  const dflt = cli(db, ['endpoint', 'list', 'rulesco']).endpoints.length;
  assert.equal(dflt, MAX, 'nothing over the cap was saved');
  // removing one makes room again
  const first = (await api('GET', '/v1/endpoints')).json.endpoints[0];
  assert.equal((await api('DELETE', `/v1/endpoints/${first.id}`)).status, 200);
  assert.equal((await api('POST', '/v1/endpoints', { url: `${rx.url}/again` })).status, 201);
});

test('a tenant retry schedule waits at least 1 s: 422 naming the field, an error in the CLI', T, async () => {
  for (const s of ['500ms,5m', '1s,999ms', '0s']) {
    const r = await api('PUT', '/v1/webhooks/retry-schedule', { retry_schedule: s });
    assert.equal(r.status, 422, `${s}: ${r.text}`);
    assert.equal(r.json.field, 'retry_schedule');
    assert.ok(r.json.message.includes('retry schedule'), r.json.message);
  }
  const first = await api('PUT', '/v1/webhooks/retry-schedule', { retry_schedule: '500ms,5m' });
  assert.match(first.json.message, /entry 1 .*shorter than 1 s/);
  const c = cliErr(['delivery', 'schedule', 'rulesco', '200ms,1s']);
  assert.equal(c.code, 2);
  assert.match(c.err, /entry 1 of the retry schedule \(200 ms\) is shorter than 1 s/);
  const ok = await api('PUT', '/v1/webhooks/retry-schedule', { retry_schedule: '1s,1000ms,5m' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(cli(db, ['delivery', 'schedule', 'rulesco', '2s,10s']).retry_schedule, '2s,10s');
});

test('--allow-ip that allows every address (or nearly): a warning, and the source is still added', T, () => {
  for (const cidr of ['0.0.0.0/0', '::/0', '10.0.0.0/4', '2000::/12', '::ffff:0.0.0.0/96']) {
    const r = spawnSync(BIN, ['source', 'add', 'rulesco', 'ucm', '--allow-ip', `203.0.113.7/32,${cidr}`, '--db', db, '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: --allow-ip/, cidr);
    assert.ok(r.stderr.includes(cidr), `the warning names ${cidr}: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).allow_ips, `203.0.113.7/32,${cidr}`);
  }
  for (const cidr of ['203.0.113.0/24', '10.0.0.0/8', '2001:db8::/32']) {
    const r = spawnSync(BIN, ['source', 'add', 'rulesco', 'ucm', '--allow-ip', cidr, '--db', db, '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/, cidr);
  }
});

test('the server exits 0 on SIGTERM', T, async () => {
  assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.logs().slice(-3000));
});
