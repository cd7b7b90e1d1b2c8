// Grandstream UCM / CloudUCM adapter: every payload shape the firmware sends, field by field
// after normalisation, every delivery order of a multi-leg call, and its failure answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, fixture, postHook, apiGet, basic, omit, listAllCalls } from './lib.mjs';

const T = { timeout: 120_000 };
let dir, db, S, t;

before(async () => {
  dir = tmpDir('callhook-ucm-');
  db = path.join(dir, 'ucm.db');
  cli(db, ['tenant', 'add', 'ucmco', '--features', 'none', '--timezone', 'Asia/Jerusalem', '--country', '972']);
  cli(db, ['source', 'add', 'ucmco', 'ucm', '--username', 'ucm-pbx', '--password', 'pw-ucm-1']);
  t = { apiKey: cli(db, ['apikey', 'add', 'ucmco']).api_key };
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const auth = { Authorization: basic('ucm-pbx', 'pw-ucm-1') };
const post = (body, headers = auth) => postHook(S, 'ucmco', body, { provider: 'ucm', headers });
async function callByExternal(ext) {
  const { calls: all } = await listAllCalls(S, t.apiKey);
  const c = all.find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed`);
  const r = await apiGet(S, `/v1/calls/${c.id}`, t.apiKey);
  assert.equal(r.status, 200);
  return r.json;
}

test('a flat answered inbound CDR (all values strings, PBX-local times)', T, async () => {
  const r = await post(fixture('ucm/answered-inbound-leg.json'));
  assert.equal(r.status, 200, r.text);
  const c = await callByExternal('1715681700123456-0912345678');
  assert.equal(c.provider, 'ucm');
  assert.equal(c.direction, 'inbound');
  assert.equal(c.status, 'ended');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.from_raw, '0912345678');
  // 09 + 8 digits is one digit too many for an Israeli number: libphonenumber does not make
  // it E.164, so the number stays as sent
  assert.equal(c.from, '0912345678');
  assert.equal(c.to_raw, '1001');
  assert.equal(c.caller_name, 'ACME Ltd');
  assert.equal(c.extension, '1001', 'dstanswer names the agent who answered');
  assert.equal(c.started_at, '2024-05-14T07:15:00Z', 'Asia/Jerusalem is UTC+3 in May');
  assert.equal(c.answered_at, '2024-05-14T07:15:06Z');
  assert.equal(c.ended_at, '2024-05-14T07:18:12Z');
  assert.equal(c.duration_sec, 192);
  assert.equal(c.billsec, 186);
  assert.equal(c.recording_url, '2024-05/auto-1715681706-0912345678-1001.wav', 'trailing @ removed');
  assert.equal(c.legs.length, 1);
  assert.equal(c.events.length, 1);
  assert.equal(c.events[0].idempotency_key, 'ucm:1715681700123456-0912345678:1043');
  // the same CDR again (the UCM replays its buffer after an outage): nothing changes
  const again = await post(fixture('ucm/answered-inbound-leg.json'));
  assert.equal(again.status, 200);
  assert.equal(again.json.status, 'duplicate');
  const c2 = await callByExternal('1715681700123456-0912345678');
  assert.deepEqual(omit(c2, ['updated_at']), omit(c, ['updated_at']));
});

test('cdr_root with a grouped queue call and a flat internal call', T, async () => {
  const r = await post(fixture('ucm/cdr-root-queue-and-internal.json'));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stored, 4, r.text);
  const q = await callByExternal('1715681700555000-0912345678');
  assert.equal(q.direction, 'inbound');
  assert.equal(q.disposition, 'answered');
  assert.equal(q.to_raw, '6500', 'the main CDR keeps the dialled queue; agent legs do not overwrite it');
  assert.equal(q.extension, '1001', 'the answering agent comes from the sub CDR');
  assert.equal(q.recording_url, '2024-05/q-6500-0912345678-1715681712.wav');
  assert.equal(q.started_at, '2024-05-14T07:15:00Z');
  assert.equal(q.ended_at, '2024-05-14T07:17:32Z');
  assert.equal(q.duration_sec, 152);
  assert.equal(q.caller_name, null, 'a caller name equal to the number is no name');
  assert.equal(q.legs.length, 2);
  const [l1, l2] = [q.legs.find((l) => l.id === '1715681708.66'), q.legs.find((l) => l.id === '1715681701.67')];
  assert.equal(l1.disposition, 'answered');
  assert.equal(l1.extension, '1001');
  assert.equal(l2.disposition, 'no_answer');
  assert.equal(l2.answered_at, null);
  assert.equal(q.metadata.action_type, 'QUEUE[6500]');
  assert.equal(q.metadata.src_trunk_name, 'SIP-Provider');

  const i = await callByExternal('1715682000777000-1001');
  assert.equal(i.direction, 'internal');
  assert.equal(i.caller_name, 'Alice');
  assert.equal(i.extension, '1002');
});

test('busy outbound to an international number, non-ASCII caller name', T, async () => {
  const r = await post(fixture('ucm/busy-outbound-international.json'));
  assert.equal(r.status, 200, r.text);
  const c = await callByExternal('1715673600111000-1003');
  assert.equal(c.direction, 'outbound');
  assert.equal(c.disposition, 'busy');
  assert.equal(c.status, 'ended');
  assert.equal(c.answered_at, null, 'answer = start on an unanswered leg is not an answer');
  assert.equal(c.to, '+44207946095');
  assert.equal(c.caller_name, 'נועה כהן');
  assert.equal(c.billsec, 0);
});

test('a ring group delivered part by part in every order, with repeats, converges', T, async () => {
  const g = JSON.parse(fixture('ucm/ring-group-sub-cdr-array.json'));
  const parts = [
    { cdr: g.cdr, main_cdr: g.main_cdr },
    { cdr: g.cdr, sub_cdr_1: g.sub_cdr_1[0] },
    { cdr: g.cdr, sub_cdr_2: g.sub_cdr_1[1] },
  ];
  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const finals = [];
  for (const [n, order] of orders.entries()) {
    // a fresh session per order so each order builds its own call
    const sess = `ring-${process.pid}-${n}`;
    const withSession = (p) => JSON.parse(JSON.stringify(p).replaceAll('1715677200222000-14155550123', sess));
    for (const k of [...order, order[0]]) { // the first part is delivered twice
      const r = await post(withSession(parts[k]));
      assert.equal(r.status, 200, r.text);
    }
    finals.push(await callByExternal(sess));
  }
  const first = finals[0];
  assert.equal(first.disposition, 'answered');
  assert.equal(first.extension, '1002');
  assert.equal(first.to_raw, '600');
  assert.equal(first.from, '+14155550123');
  assert.equal(first.caller_name, 'José Martínez');
  assert.equal(first.recording_url, '2024-05/auto-1715677209-14155550123-1002.wav');
  assert.equal(first.legs.length, 2);
  assert.equal(first.event_count, 3, 'repeats are not new events');
  const VOLATILE = ['id', 'external_id', 'created_at', 'updated_at', 'events'];
  for (const [i, c] of finals.entries())
    assert.deepEqual(omit(c, VOLATILE), omit(first, VOLATILE), `order ${orders[i]} gave a different call`);
});

test('errors: bad credentials, wrong type, bad time, no session, malformed JSON', T, async () => {
  let r = await post(fixture('ucm/answered-inbound-leg.json'), { Authorization: basic('ucm-pbx', 'wrong') });
  assert.equal(r.status, 401);
  r = await postHook(S, 'ucmco', '{}', { provider: 'ucm', headers: auth, contentType: 'application/xml' });
  assert.equal(r.status, 415);
  // an unusable time is dropped with the reason, the CDR kept (docs/providers.md#numbers)
  r = await post({ AcctId: '1', session: 's-bad', start: '14/05/2024 10:00' });
  assert.equal(r.status, 200, r.text);
  const bad = await apiGet(S, `/v1/calls/${r.json.call_id}`, t.apiKey);
  assert.equal(bad.json.started_at, null);
  assert.match(bad.json.metadata.callhook_ignored.start, /^start must be a time/);
  r = await post({ AcctId: '1', src: '1001' });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'session');
  r = await post('{"cdr_root": [');
  assert.equal(r.status, 400);
  assert.ok(r.json.line >= 1 && r.json.column >= 1);
  r = await post({ cdr_root: [{ AcctId: '9', session: 's-ok', disposition: 'ANSWERED' }, { AcctId: '10', session: 's-ok', disposition: 'MAYBE' }] });
  assert.equal(r.status, 200, 'one bad row does not reject the others');
  assert.equal(r.json.stored, 1);
  assert.equal(r.json.results[1].status, 'rejected');
  assert.equal(r.json.results[1].field, '[1].disposition');
});

test('the URL Grandstream integrations already use: POST /api/webhook/cdr/{tenant}', T, async () => {
  const row = JSON.parse(fixture('ucm/busy-outbound-international.json'));
  row.session = `legacy-${process.pid}`;
  const r = await fetch(`${S.url}/api/webhook/cdr/ucmco`, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(row),
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).status, 'stored');
  const c = await callByExternal(`legacy-${process.pid}`);
  assert.equal(c.provider, 'ucm');
  assert.equal(c.disposition, 'busy');
  const bad = await fetch(`${S.url}/api/webhook/cdr/ucmco`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(bad.status, 401);
  const nobody = await fetch(`${S.url}/api/webhook/cdr/no-such-tenant`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(nobody.status, 404);
});

test('GET on the webhook URL: setup information, last call only when authenticated, no secrets', T, async () => {
  for (const url of [`${S.url}/hooks/ucmco/ucm`, `${S.url}/api/webhook/cdr/ucmco`]) {
    let r = await fetch(url);
    assert.equal(r.status, 200);
    let j = await r.json();
    assert.equal(j.provider, 'ucm');
    assert.equal(j.method, 'POST');
    assert.equal(j.content_type, 'application/json');
    assert.equal(j.url, url, 'the URL to paste into the PBX');
    assert.match(j.authentication, /Basic/);
    assert.match(j.fields, /session/);
    assert.match(j.example, /^curl -X POST/);
    assert.equal(j.authenticated, false);
    assert.equal('last_received_at' in j, false, 'no activity shown without credentials');
    r = await fetch(url, { headers: auth });
    j = await r.json();
    assert.equal(j.authenticated, true);
    assert.match(j.last_received_at, /^\d{4}-\d\d-\d\dT/, 'this tenant has received UCM calls');
    const text = JSON.stringify(j);
    assert.ok(!text.includes('pw-ucm-1') && !text.includes('ucm-pbx'), 'no credential in the page');
    r = await fetch(url, { headers: { ...auth, Accept: 'text/html,*/*' } });
    assert.match(r.headers.get('content-type'), /^text\/html/);
    const html = await r.text();
    assert.match(html, /<h1>Webhook setup<\/h1>/);
    assert.ok(html.includes('Grandstream'));
  }
  assert.equal((await fetch(`${S.url}/hooks/no-such-tenant/ucm`)).status, 404);
  assert.equal((await fetch(`${S.url}/hooks/ucmco/no-such-provider`)).status, 404);
  assert.equal((await fetch(`${S.url}/hooks/ucmco/generic`)).status, 404, 'a provider this tenant has no source for');
  const put = await fetch(`${S.url}/hooks/ucmco/ucm`, { method: 'PUT' });
  assert.equal(put.status, 405);
  assert.match(put.headers.get('allow'), /GET/);
});

test('the server exits 0 on SIGTERM (no leaks under ASan)', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-3000));
});
