// Asterisk / OneCom adapter: CDR JSON single and batch, linkedid calls with legs, every order,
// and the OneCom URL that finds the tenant from the credential.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, fixture, postHook, apiGet, omit, listAllCalls } from './lib.mjs';

const T = { timeout: 120_000 };
let dir, db, S;
const ten = {};

before(async () => {
  dir = tmpDir('callhook-asterisk-');
  db = path.join(dir, 'a.db');
  for (const [slug, tz, cc] of [['pbxone', 'Asia/Jerusalem', '972'], ['pbxtwo', 'America/New_York', '1']]) {
    cli(db, ['tenant', 'add', slug, '--timezone', tz, '--country', cc]);
    const token = `tok-${slug}-${Math.random().toString(36).slice(2)}`;
    cli(db, ['source', 'add', slug, 'asterisk', '--token', token]);
    ten[slug] = { token, apiKey: cli(db, ['apikey', 'add', slug]).api_key };
  }
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const auth = (slug) => ({ Authorization: `Bearer ${ten[slug].token}` });
const post = (body, slug = 'pbxone') => postHook(S, slug, body, { provider: 'asterisk', headers: auth(slug) });
async function calls(slug) {
  return (await listAllCalls(S, ten[slug].apiKey)).calls;
}
async function callByExternal(ext, slug = 'pbxone') {
  const c = (await calls(slug)).find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed for ${slug}`);
  const r = await apiGet(S, `/v1/calls/${c.id}`, ten[slug].apiKey);
  assert.equal(r.status, 200);
  return r.json;
}

test('single CDRs: answered internal, unanswered inbound, failed outbound', T, async () => {
  let r = await post(fixture('asterisk/answered-internal.json'));
  assert.equal(r.status, 200, r.text);
  let c = await callByExternal('1715681700.1');
  assert.equal(c.provider, 'asterisk');
  assert.equal(c.direction, 'internal');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.caller_name, 'Alice');
  assert.equal(c.extension, '1002');
  assert.equal(c.started_at, '2024-05-14T07:15:00Z');
  assert.equal(c.answered_at, '2024-05-14T07:15:04Z');
  assert.equal(c.duration_sec, 106);
  assert.equal(c.billsec, 102);
  assert.equal(c.legs.length, 0, 'the CDR of the oldest channel is the call itself');
  assert.equal(c.events[0].idempotency_key, 'asterisk:1715681700.1:5');

  r = await post(fixture('asterisk/no-answer-inbound.json'));
  assert.equal(r.status, 200, r.text);
  c = await callByExternal('1715682000.3');
  assert.equal(c.direction, 'inbound');
  assert.equal(c.disposition, 'no_answer');
  assert.equal(c.answered_at, null);
  assert.equal(c.from, '+14155550100');
  assert.equal(c.caller_name, null);

  r = await post(fixture('asterisk/outbound-failed.json'));
  assert.equal(r.status, 200, r.text);
  c = await callByExternal('1715700000.20');
  assert.equal(c.direction, 'outbound', 'from-internal through a trunk is outbound');
  assert.equal(c.disposition, 'failed');
  assert.equal(c.to, '+49301234567');
});

test('a transfer (three CDRs, one linkedid) in every order with repeats converges', T, async () => {
  const cdrs = JSON.parse(fixture('asterisk/transfer-three-cdrs.json'));
  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const finals = [];
  for (const [n, order] of orders.entries()) {
    const linked = `1715690000.${100 + n}`;
    const mine = cdrs.map((x) => ({ ...x, linkedid: linked, uniqueid: x.uniqueid === '1715690000.10' ? linked : `${x.uniqueid}${n}` }));
    for (const k of [...order, order[1]]) {
      const r = await post(mine[k]);
      assert.equal(r.status, 200, r.text);
    }
    finals.push(await callByExternal(linked));
  }
  const c = finals[0];
  assert.equal(c.direction, 'inbound');
  assert.equal(c.from, '+972501234567', 'realsrc is the real caller');
  assert.equal(c.to_raw, '600');
  assert.equal(c.caller_name, 'Dana Levi');
  assert.equal(c.extension, '1001');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.started_at, '2024-05-14T10:00:00Z');
  assert.equal(c.ended_at, '2024-05-14T10:04:00Z');
  assert.equal(c.duration_sec, 240);
  assert.equal(c.event_count, 3);
  assert.equal(c.legs.length, 1, 'two CDRs of one channel are one leg');
  assert.equal(c.legs[0].to_raw, '1002', 'the newer CDR (sequence 3) of the leg wins');
  assert.equal(c.legs[0].disposition, 'answered');
  const VOLATILE = ['id', 'external_id', 'created_at', 'updated_at', 'events', 'legs'];
  for (const [i, f] of finals.entries())
    assert.deepEqual(omit(f, VOLATILE), omit(c, VOLATILE), `order ${orders[i]} differs`);
});

test('a batch answers per record; a bad record does not reject the others', T, async () => {
  const good = JSON.parse(fixture('asterisk/answered-internal.json'));
  const r = await post([
    { ...good, uniqueid: 'b-1', linkedid: 'b-1' },
    { ...good, uniqueid: 'b-2', linkedid: 'b-2', start: 'not a time' },
    { ...good, uniqueid: 'b-1', linkedid: 'b-1' },
    { src: '1001' },
  ]);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results.map((x) => x.status), ['stored', 'rejected', 'duplicate', 'rejected']);
  assert.equal(r.json.results[1].field, '[1].start');
  assert.equal(r.json.results[3].field, '[3].uniqueid');
});

test('POST /api/onecom/webhook: the tenant is the owner of the credential', T, async () => {
  const cdr = JSON.parse(fixture('asterisk/answered-internal.json'));
  for (const slug of ['pbxone', 'pbxtwo']) {
    const r = await fetch(`${S.url}/api/onecom/webhook`, {
      method: 'POST',
      headers: { ...auth(slug), 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...cdr, uniqueid: `oc-${slug}`, linkedid: `oc-${slug}` }),
    });
    assert.equal(r.status, 200, await r.text());
  }
  const one = (await calls('pbxone')).map((c) => c.external_id);
  const two = (await calls('pbxtwo')).map((c) => c.external_id);
  assert.ok(one.includes('oc-pbxone') && !one.includes('oc-pbxtwo'), `each CDR lands in its own tenant: ${one} / ${two}`);
  assert.ok(two.includes('oc-pbxtwo') && !two.includes('oc-pbxone'));
  const c = await callByExternal('oc-pbxtwo', 'pbxtwo');
  assert.equal(c.started_at, '2024-05-14T14:15:00Z', 'local time of the owning tenant (New York, UTC-4)');
  const bad = await fetch(`${S.url}/api/onecom/webhook`, {
    method: 'POST', headers: { Authorization: 'Bearer nope', 'Content-Type': 'application/json' }, body: JSON.stringify(cdr),
  });
  assert.equal(bad.status, 401);
});

test('the server exits 0 on SIGTERM', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-3000));
});
