// Bolna adapter: the execution object posted at every status; zeros and nulls before
// `completed` erase nothing; cost in cents; transcript, summary and extracted data kept; the
// fixed URL /api/webhooks/bolna/call-status finds the tenant from the credential.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, fixture, postHook, apiGet, omit, listAllCalls, permutations } from './lib.mjs';

const T = { timeout: 120_000 };
let dir, db, S;
const ten = {};

before(async () => {
  dir = tmpDir('callhook-bolna-');
  db = path.join(dir, 'b.db');
  // tenant 1: Bolna's documented way, the sender's addresses (here: loopback)
  cli(db, ['tenant', 'add', 'dental', '--features', 'none', '--timezone', 'America/Los_Angeles', '--country', '1']);
  cli(db, ['source', 'add', 'dental', 'bolna', '--allow-ip', '127.0.0.1/32,::1/128']);
  ten.dental = { apiKey: cli(db, ['apikey', 'add', 'dental']).api_key };
  // tenant 2: a token in the URL it gives Bolna, for the fixed URL
  cli(db, ['tenant', 'add', 'clinic', '--features', 'none', '--timezone', 'UTC', '--country', '91']);
  ten.clinic = { token: 'bolna-clinic-token-123', apiKey: null };
  cli(db, ['source', 'add', 'clinic', 'bolna', '--token', ten.clinic.token]);
  ten.clinic.apiKey = cli(db, ['apikey', 'add', 'clinic']).api_key;
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const post = (body) => postHook(S, 'dental', body, { provider: 'bolna' });
async function callByExternal(ext, slug = 'dental') {
  const c = (await listAllCalls(S, ten[slug].apiKey)).calls.find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed for ${slug}`);
  return (await apiGet(S, `/v1/calls/${c.id}`, ten[slug].apiKey)).json;
}
const files = ['ringing', 'in-progress', 'call-disconnected', 'completed'];

test('every order of the four status posts, with repeats, gives the final call', T, async () => {
  const bodies = files.map((f) => JSON.parse(fixture(`bolna/${f}.json`)));
  const orders = permutations(4); // all 24
  const finals = [];
  for (const [n, order] of orders.entries()) {
    const id = `exec-${process.pid}-${n}`;
    for (const k of [...order, order[0], 3]) {
      const r = await post({ ...bodies[k], id });
      assert.equal(r.status, 200, await r.text);
    }
    finals.push(await callByExternal(id));
  }
  const c = finals[0];
  assert.equal(c.provider, 'bolna');
  assert.equal(c.status, 'ended');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.direction, 'inbound');
  assert.equal(c.from, '+14155550123');
  assert.equal(c.to, '+14155550999');
  assert.equal(c.duration_sec, 122, 'telephony_data.duration is a string');
  assert.equal(c.billsec, 122, 'conversation_duration 121.6 s rounded');
  assert.deepEqual(c.cost, { amount: 0.184, currency: 'USD' }, 'total_cost is in cents');
  assert.match(c.transcript, /^assistant: Good morning/);
  assert.equal(c.summary, 'Caller asked to book a cleaning appointment next week.');
  assert.deepEqual(c.metadata.extracted_data, { intent: 'booking', preferred_day: 'Tuesday' });
  assert.equal(c.metadata.hangup_reason, 'Normal Hangup');
  assert.equal(c.recording_url, 'https://recordings.example.net/twilio/CA5e0c3b1d2a4f49b8a7c6d5e4f3a2b1c0.mp3');
  assert.equal(c.answered_at, '2025-11-03T09:03:38Z');
  assert.equal(c.ended_at, '2025-11-03T09:05:40.120Z');
  assert.equal(c.event_count, 4, 'repeats are duplicates');
  const VOLATILE = ['id', 'external_id', 'created_at', 'updated_at', 'events'];
  for (const [i, f] of finals.entries()) assert.deepEqual(omit(f, VOLATILE), omit(c, VOLATILE), `order ${orders[i]} differs`);
});

test('zeros before completed erase nothing: completed first, then a late call-disconnected', T, async () => {
  const id = `exec-late-${process.pid}`;
  let r = await post({ ...JSON.parse(fixture('bolna/completed.json')), id });
  assert.equal(r.status, 200);
  r = await post({ ...JSON.parse(fixture('bolna/call-disconnected.json')), id });
  assert.equal(r.status, 200);
  const c = await callByExternal(id);
  assert.deepEqual(c.cost, { amount: 0.184, currency: 'USD' });
  assert.equal(c.duration_sec, 122);
  assert.ok(c.transcript && c.recording_url);
});

test('busy outbound call to India', T, async () => {
  const r = await post(fixture('bolna/busy-outbound.json'));
  assert.equal(r.status, 200, await r.text);
  const c = await callByExternal('7c1d2e3f-0000-4000-8000-000000000001');
  assert.equal(c.direction, 'outbound');
  assert.equal(c.disposition, 'busy');
  assert.equal(c.to, '+919876543210');
  assert.equal(c.cost, null, 'a 0 cost on a call that did not connect is not a cost');
});

test('bad input: unknown status, no id, wrong address', T, async () => {
  let r = await post({ id: 'x', status: 'exploded' });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'status');
  r = await post({ status: 'completed' });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'id');
});

test('POST /api/webhooks/bolna/call-status?token=…: the tenant owns the token', T, async () => {
  const body = { ...JSON.parse(fixture('bolna/completed.json')), id: `fixed-${process.pid}` };
  let r = await fetch(`${S.url}/api/webhooks/bolna/call-status?token=${ten.clinic.token}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, await r.text());
  const c = await callByExternal(`fixed-${process.pid}`, 'clinic');
  assert.equal(c.disposition, 'answered');
  const dental = (await listAllCalls(S, ten.dental.apiKey)).calls.map((x) => x.external_id);
  assert.ok(!dental.includes(`fixed-${process.pid}`), 'not in the other tenant');
  r = await fetch(`${S.url}/api/webhooks/bolna/call-status?token=wrong-token-000`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  // the other tenant trusts loopback by address, but a request that presents a (wrong) secret
  // is never taken as an address-only one: it is refused, not misrouted
  assert.equal(r.status, 401);
});

test('the shared URL refuses to guess when two tenants trust the same address', T, async () => {
  cli(db, ['tenant', 'add', 'lab', '--features', 'none', '--timezone', 'UTC', '--country', '1']);
  cli(db, ['source', 'add', 'lab', 'bolna', '--allow-ip', '127.0.0.0/8,::1/128']);
  const body = { ...JSON.parse(fixture('bolna/completed.json')), id: `shared-${process.pid}` };
  // give the source cache time to expire, then post without a token
  await new Promise((r) => setTimeout(r, 2100));
  const r = await fetch(`${S.url}/api/webhooks/bolna/call-status`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(r.status, 401);
  assert.match((await r.json()).message, /several tenants/);
  // the per-tenant URL still works for the address-only source
  const ok = await post({ ...body, id: `own-${process.pid}` });
  assert.equal(ok.status, 200);
});

test('the server exits 0 on SIGTERM', T, async () => {
  assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-3000));
});
