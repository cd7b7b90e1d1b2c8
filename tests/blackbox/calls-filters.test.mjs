// GET /v1/calls filters served by indexes (docs/http-api.md "GET /v1/calls",
// docs/internals/call-search.md), against the real binary: every filter returns exactly the
// right calls, alone, combined and paged one call at a time; numbers as sent or in E.164, on
// either side; text in Hebrew and Latin, any ASCII case, across caller name, numbers,
// transcript and summary, and a search of fewer than 3 characters refused; provider; the
// per-call delivery summary following its deliveries (loopback receiver) as they succeed, fail,
// are retried, dead-lettered and replayed, and the `delivery` filter agreeing with it; a
// database at schema version 7 migrated and filled in when the daemon opens it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, apiGet, apiJson, listAllCalls,
  writeConfig, sqlite,
} from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

const T = { timeout: 90_000 };
let dir, db, S, acme, other, rx;
const asteriskToken = `tok-ast-${Math.random().toString(36).slice(2)}`;
const id = {}; // name -> call id
const nameOf = (callId) => Object.keys(id).find((k) => id[k] === callId) ?? `?${callId}`;
let receiverStatus = 200;

// name, then the call's one event (generic provider): started_at gives the list's order
const CALLS = [
  ['dana', { direction: 'inbound', status: 'ended', disposition: 'answered', from: '050-123-4567', to: '03-123-4567', caller_name: 'דנה כהן', extension: '1001', started_at: '2024-05-14T07:15:00Z', transcript: 'Caller: I never got INVOICE 4471.', summary: 'Billing question' }],
  ['pepe', { direction: 'outbound', status: 'ended', disposition: 'no_answer', from: '03-123-4567', to: '+1 415 555 0142', caller_name: 'José "Pepe" Müller', extension: '1002', started_at: '2024-05-14T08:02:00Z' }],
  ['internal', { direction: 'internal', status: 'ended', disposition: 'answered', from: '1001', to: '1003', extension: '1001', started_at: '2024-05-14T09:00:00Z', summary: 'שיחה פנימית על ההזמנה' }],
  ['back', { direction: 'inbound', status: 'ended', disposition: 'busy', from: '+972501234567', to: '03-123-4567', caller_name: 'Dana Cohen', extension: '1003', started_at: '2024-05-14T10:30:00Z', transcript: 'voicemail about the invoice' }],
  ['ring', { direction: 'inbound', status: 'ringing', from: '054-765-4321', to: '03-123-4567', started_at: '2024-05-14T11:00:00Z' }],
];
const NEWEST_FIRST = ['ast', 'ring', 'back', 'internal', 'pepe', 'dana'];

async function post(name, ev, n = 1) {
  const r = await postHook(S, 'acme', { event_id: `${name}-${n}`, call_id: `call-${name}`, ...ev }, { headers: hookAuth(acme) });
  assert.equal(r.status, 200, r.text);
  id[name] = r.json.call_id;
}

async function list(query, key = acme.apiKey) {
  const { calls } = await listAllCalls(S, key, query);
  return calls.map((c) => nameOf(c.id));
}

async function call(name) {
  const r = await apiGet(S, `/v1/calls/${id[name]}`, acme.apiKey);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

before(async () => {
  dir = tmpDir('callhook-filters-');
  db = path.join(dir, 'f.db');
  acme = setupTenant(db, 'acme', { tenantArgs: ['--country', '972'] });
  other = setupTenant(db, 'other', { tenantArgs: ['--country', '972'] });
  cli(db, ['source', 'add', 'acme', 'asterisk', '--token', asteriskToken]);
  rx = await startReceiver(() => ({ status: receiverStatus }));
  const cfg = writeConfig(dir, '[auth]\nfail_limit = 100000\nfail_window = 60\n');
  S = await startServer({ db, args: ['--config', cfg], env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' } });
  for (const [name, ev] of CALLS) await post(name, ev);
  // a call of another provider (Asterisk's CDR), the newest
  const r = await postHook(S, 'acme', {
    accountcode: '', src: '0529998877', dst: '5000', dcontext: 'from-pstn', clid: '"Avi" <0529998877>',
    channel: 'PJSIP/trunk-00000003', dstchannel: 'PJSIP/1005-00000004', lastapp: 'Dial', lastdata: 'PJSIP/1005,20',
    start: '2024-05-14 12:00:00', answer: '2024-05-14 12:00:05', end: '2024-05-14 12:01:00', duration: 60, billsec: 55,
    disposition: 'ANSWERED', amaflags: 'DOCUMENTATION', uniqueid: '1715690000.77', userfield: '',
  }, { provider: 'asterisk', headers: { Authorization: `Bearer ${asteriskToken}` } });
  assert.equal(r.status, 200, r.text);
  id.ast = r.json.call_id ?? r.json.results?.[0]?.call_id;
  assert.ok(id.ast, r.text);
  // another tenant's call with the same number and words: never in acme's lists
  const o = await postHook(S, 'other', { event_id: 'o-1', call_id: 'o-1', direction: 'inbound', status: 'ended', from: '050-123-4567', caller_name: 'דנה כהן', transcript: 'invoice 4471', extension: '1001', started_at: '2024-05-14T07:16:00Z' }, { headers: hookAuth(other) });
  assert.equal(o.status, 200, o.text);
});

after(async () => {
  if (S) await S.stop();
  if (rx) await rx.close();
  cleanup(dir);
});

test('every filter returns exactly its calls, newest first', T, async () => {
  assert.deepEqual(await list(''), NEWEST_FIRST);
  const cases = [
    // numbers: as sent or E.164 (the tenant's country normalises), on either side
    ['number=050-123-4567', ['back', 'dana']], // its E.164 form is "back"'s number as sent
    ['number=0501234567', ['back', 'dana']], // E.164 of it: +972501234567, sent so by "back"
    ['number=%2B972501234567', ['back', 'dana']],
    ['number=%2B97231234567', ['ring', 'back', 'pepe', 'dana']],
    ['number=03-123-4567', ['ring', 'back', 'pepe', 'dana']],
    ['number=%2B14155550142', ['pepe']],
    ['number=1003', ['internal']],
    ['number=%2B97250123', []],
    ['number=0000000', []],
    ['extension=1001', ['internal', 'dana']],
    ['extension=1003', ['back']],
    ['extension=100', []],
    ['provider=generic', ['ring', 'back', 'internal', 'pepe', 'dana']],
    ['provider=asterisk', ['ast']],
    ['provider=twilio', []],
    // text: caller name, numbers, transcript, summary; ASCII letters in any case; Hebrew
    [`q=${encodeURIComponent('כהן')}`, ['dana']],
    [`q=${encodeURIComponent('הזמנה')}`, ['internal']],
    ['q=invoice', ['back', 'dana']],
    ['q=INVOICE%204471', ['dana']],
    ['q=Pepe', ['pepe']],
    [`q=${encodeURIComponent('Müller')}`, ['pepe']],
    ['q=dana', ['back']], // "Dana Cohen"; דנה is another word
    ['q=billing', ['dana']],
    ['q=765-4321', ['ring']],
    ['q=nothing-matches-this', []],
    ['q=%22Pepe%22', ['pepe']], // a double quote is a character, not FTS syntax
    ['direction=inbound', ['ast', 'ring', 'back', 'dana']],
    ['disposition=answered', ['ast', 'internal', 'dana']],
    ['direction=inbound&disposition=answered', ['ast', 'dana']],
    ['direction=outbound&disposition=answered', []],
    ['q=avi', ['ast']],
    ['since=2024-05-14T08:00:00Z&until=2024-05-14T10:30:00Z', ['internal', 'pepe']],
    // combined
    ['number=%2B972501234567&q=invoice', ['back', 'dana']],
    ['number=%2B972501234567&extension=1003', ['back']],
    ['number=%2B972501234567&since=2024-05-14T08:00:00Z', ['back']],
    ['q=invoice&direction=inbound&disposition=busy', ['back']],
    ['q=invoice&extension=1001', ['dana']],
    ['extension=1001&provider=generic&disposition=answered', ['internal', 'dana']],
    ['delivery=none', NEWEST_FIRST],
    ['delivery=failed', []],
  ];
  for (const [q, want] of cases) {
    assert.deepEqual(await list(q), want, q);
    // paged one call at a time: the same calls, in the same order
    const { calls, pages } = await listAllCalls(S, acme.apiKey, q, { limit: 1 });
    assert.deepEqual(calls.map((c) => nameOf(c.id)), want, `${q}, one per page`);
    assert.equal(pages.length, Math.max(1, want.length), q);
  }
  // the other tenant sees only its own call, whatever the filter
  for (const q of ['number=050-123-4567', 'q=invoice', `q=${encodeURIComponent('כהן')}`, 'extension=1001', 'provider=generic', 'delivery=none']) {
    const { calls } = await listAllCalls(S, other.apiKey, q);
    assert.deepEqual(calls.map((c) => c.external_id), ['o-1'], q);
  }
});

test('bad filter values are refused with 400 naming the parameter', T, async () => {
  for (const [q, field] of [['q=ab', 'q'], [`q=${encodeURIComponent('כה')}`, 'q'], ['q=a', 'q'], ['delivery=pending', 'delivery'], ['delivery=', 'delivery']]) {
    const r = await apiGet(S, `/v1/calls?${q}`, acme.apiKey);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.json.error, 'bad_request');
    assert.equal(r.json.field, field, q);
    if (field === 'q') assert.match(r.json.message, /at least 3 characters/);
  }
  // three characters, even of a script of several bytes each, are enough
  assert.equal((await apiGet(S, `/v1/calls?q=${encodeURIComponent('כהן')}`, acme.apiKey)).status, 200);
  // the export takes the same filters
  const r = await apiGet(S, '/v1/calls/export?format=json&provider=asterisk', acme.apiKey);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text).map((c) => nameOf(c.id)), ['ast']);
  assert.equal((await apiGet(S, '/v1/calls/export?format=json&q=ab', acme.apiKey)).status, 400);
});

test('the delivery summary follows the deliveries, and the delivery filter with it', T, async () => {
  const none = { state: 'none', total: 0, succeeded: 0, failed: 0, pending: 0 };
  assert.deepEqual((await call('dana')).delivery, none);
  for (const c of (await listAllCalls(S, acme.apiKey, '')).calls) assert.deepEqual(c.delivery, none);

  cli(db, ['delivery', 'schedule', 'acme', '1h']); // a failed attempt waits an hour: retrying
  const ep = cli(db, ['endpoint', 'add', 'acme', `${rx.url}/hook`, '--kind', 'generic', '--events', 'call.ended']);
  // delivered: the receiver answers 200
  await post('ok', { direction: 'internal', status: 'ended', disposition: 'answered', from: '2001', to: '2002', started_at: '2024-05-15T07:00:00Z' });
  const delivered = await waitFor(async () => {
    const d = (await call('ok')).delivery;
    return d.state === 'delivered' ? d : null;
  }, 20_000);
  assert.ok(delivered, `not delivered: ${JSON.stringify((await call('ok')).delivery)}, the receiver got ${rx.requests.length} requests; ${JSON.stringify(cli(db, ['delivery', 'list', 'acme']))}`);
  assert.deepEqual(delivered, { state: 'delivered', total: 1, succeeded: 1, failed: 0, pending: 0 });

  // retrying: the receiver answers 500, the retry is an hour away
  receiverStatus = 500;
  await post('bad', { direction: 'internal', status: 'ended', disposition: 'answered', from: '2001', to: '2003', started_at: '2024-05-15T08:00:00Z' });
  const retrying = await waitFor(async () => {
    const d = (await call('bad')).delivery;
    return d.state === 'retrying' && rx.at('/hook').length >= 2 ? d : null;
  }, 20_000);
  assert.deepEqual(retrying, { state: 'retrying', total: 1, succeeded: 0, failed: 0, pending: 1 });
  assert.deepEqual(await list('delivery=retrying'), ['bad']);
  assert.deepEqual(await list('delivery=delivered'), ['ok']);
  assert.deepEqual(await list('delivery=failed'), []);
  assert.deepEqual(await list('delivery=none'), NEWEST_FIRST);
  // the list carries the same summary as the call
  const listed = (await listAllCalls(S, acme.apiKey, 'delivery=retrying')).calls[0];
  assert.deepEqual(listed.delivery, retrying);

  // failed: disabling the endpoint dead-letters what waits for it
  cli(db, ['endpoint', 'disable', 'acme', String(ep.id)]);
  const failed = await waitFor(async () => {
    const d = (await call('bad')).delivery;
    return d.state === 'failed' ? d : null;
  }, 20_000);
  assert.deepEqual(failed, { state: 'failed', total: 1, succeeded: 0, failed: 1, pending: 0 });
  assert.deepEqual(await list('delivery=failed'), ['bad']);
  assert.deepEqual(await list('delivery=retrying'), []);
  assert.deepEqual(await list('delivery=failed&direction=internal&since=2024-05-15T00:00:00Z'), ['bad']);

  // replayed once the receiver is back: delivered
  receiverStatus = 200;
  cli(db, ['endpoint', 'enable', 'acme', String(ep.id)]);
  const dl = cli(db, ['delivery', 'list', 'acme', '--state', 'failed']).deliveries;
  assert.equal(dl.length, 1);
  const rp = await apiJson(S, acme.apiKey, 'POST', `/v1/deliveries/${dl[0].id}/replay`);
  assert.equal(rp.status, 202, rp.text);
  const again = await waitFor(async () => {
    const d = (await call('bad')).delivery;
    return d.state === 'delivered' ? d : null;
  }, 20_000);
  assert.ok(again, `not delivered again: ${JSON.stringify((await call('bad')).delivery)}, the receiver got ${rx.requests.length} requests; ${JSON.stringify(cli(db, ['delivery', 'show', 'acme', String(dl[0].id)]))}`);
  assert.deepEqual(again, { state: 'delivered', total: 1, succeeded: 1, failed: 0, pending: 0 });
  assert.deepEqual(await list('delivery=delivered'), ['bad', 'ok']);
  assert.deepEqual(await list('delivery=failed'), []);
  cli(db, ['endpoint', 'remove', 'acme', String(ep.id)]);
});

test('a database at schema version 7 is migrated and its calls filled into the indexes', T, async () => {
  await S.stop();
  S = null;
  // what migrations 10 to 12 added, taken away: the database of the previous version, calls and
  // deliveries included
  sqlite(db, `
    DROP TRIGGER deliveries_call_insert; DROP TRIGGER deliveries_call_update; DROP TRIGGER deliveries_call_delete;
    DROP TRIGGER calls_fts_insert; DROP TRIGGER calls_fts_update; DROP TABLE calls_fts; DROP TABLE calls_fts_dirty;
    DROP INDEX calls_from_raw; DROP INDEX calls_to_raw; DROP INDEX calls_from_e164; DROP INDEX calls_to_e164;
    DROP TRIGGER calls_lead_insert; DROP TRIGGER calls_lead_update; DROP TABLE call_lead;
    DROP INDEX calls_delivery; DROP INDEX calls_extension; DROP INDEX calls_provider;
    DROP INDEX calls_direction; DROP INDEX calls_disposition;
    ALTER TABLE calls DROP COLUMN delivery_state; ALTER TABLE calls DROP COLUMN delivery_total;
    ALTER TABLE calls DROP COLUMN delivery_succeeded; ALTER TABLE calls DROP COLUMN delivery_failed;
    ALTER TABLE calls DROP COLUMN delivery_pending;
    INSERT INTO deliveries(tenant_id, endpoint_id, message_id, call_id, state, attempts, created_at, updated_at)
      SELECT tenant_id, 99, 'm-old', id, 'failed', 3, 1, 1 FROM calls WHERE external_id='call-pepe';
    PRAGMA user_version=7;`);
  assert.equal(sqlite(db, 'PRAGMA user_version').trim(), '7');
  const cfg = writeConfig(dir, '[auth]\nfail_limit = 100000\nfail_window = 60\n');
  S = await startServer({ db, args: ['--config', cfg], env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' } });
  assert.equal(sqlite(db, 'PRAGMA user_version').trim(), '12');
  assert.deepEqual(await list('number=%2B972501234567'), ['back', 'dana']);
  assert.deepEqual(await list('number=03-123-4567'), ['ring', 'back', 'pepe', 'dana']);
  assert.deepEqual(await list('q=invoice'), ['back', 'dana']);
  assert.deepEqual(await list(`q=${encodeURIComponent('כהן')}`), ['dana']);
  assert.deepEqual(await list('extension=1001'), ['internal', 'dana']);
  assert.deepEqual(await list('delivery=failed'), ['pepe']);
  assert.deepEqual(await list('delivery=delivered'), ['bad', 'ok']);
  assert.deepEqual((await call('pepe')).delivery, { state: 'failed', total: 1, succeeded: 0, failed: 1, pending: 0 });
  // and the triggers work on the migrated database: a new call is found at once
  await post('late', { direction: 'inbound', status: 'ended', from: '058-111-2222', caller_name: 'Zohar Late', extension: '1009', started_at: '2024-05-16T07:00:00Z' });
  assert.deepEqual(await list('number=%2B972581112222'), ['late']);
  assert.deepEqual(await list('q=zohar'), ['late']);
  assert.deepEqual(await list('extension=1009'), ['late']);
});

test('text older than the newest 2,000 calls is found by the text index, paged alike', T, async () => {
  // 2,100 newer calls without those words: the newest-calls window holds none of the matches,
  // so the answers below come from the FTS5 index (on the database migrated above)
  const n = 2100, batch = 700;
  for (let b = 0; b < n / batch; b++) {
    const events = [];
    for (let i = b * batch; i < (b + 1) * batch; i++) {
      const t = new Date(Date.UTC(2024, 5, 1) + i * 60_000).toISOString();
      events.push({ event_id: `fill-${i}`, call_id: `fill-${i}`, direction: 'internal', status: 'ended', disposition: 'answered', from: '3000', to: '3001', extension: '7777', caller_name: 'Filler Person', transcript: 'nothing to see here', started_at: t });
    }
    const r = await postHook(S, 'acme', events, { headers: hookAuth(acme) });
    assert.equal(r.status, 200, r.text.slice(0, 300));
  }
  assert.deepEqual(await list('q=invoice'), ['back', 'dana']);
  assert.deepEqual(await list(`q=${encodeURIComponent('כהן')}`), ['dana']);
  assert.deepEqual(await list(`q=${encodeURIComponent('הזמנה')}`), ['internal']);
  assert.deepEqual(await list('q=INVOICE%204471'), ['dana']);
  assert.deepEqual(await list('q=zohar'), ['late']);
  assert.deepEqual(await list('q=nothing-matches-this'), []);
  assert.deepEqual(await list('q=invoice&extension=1003'), ['back']);
  const { calls, pages } = await listAllCalls(S, acme.apiKey, 'q=invoice', { limit: 1 });
  assert.deepEqual(calls.map((c) => nameOf(c.id)), ['back', 'dana']);
  assert.equal(pages.length, 2);
  // a common word: the window's page, newest first
  const common = await apiGet(S, '/v1/calls?q=filler%20person&limit=3', acme.apiKey);
  assert.equal(common.status, 200);
  assert.deepEqual(common.json.data.map((c) => c.external_id), ['fill-2099', 'fill-2098', 'fill-2097']);
  const all = await listAllCalls(S, acme.apiKey, 'q=see%20here', { limit: 500 });
  assert.equal(all.calls.length, n);
  assert.equal(new Set(all.calls.map((c) => c.id)).size, n);
});
