// Black-box tests of the read API (docs/http-api.md, "Read API"): list with filters and cursor
// pagination, one call with legs and events, export as JSON and CSV. The data set is the
// generic fixtures, posted once to a fresh database.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startServer, http, setupTenant, tmpDir, cleanup, fixture,
  writeConfig, hookAuth, postHook, apiGet, listAllCalls, parseCsv,
} from './lib.mjs';

const T = { timeout: 60_000 };
const CALL_KEYS = ['id', 'tenant', 'provider', 'external_id', 'direction', 'status', 'disposition',
  'from', 'to', 'from_raw', 'to_raw', 'caller_name', 'extension', 'started_at', 'answered_at',
  'ended_at', 'duration_sec', 'billsec', 'recording_url', 'transcript', 'summary', 'cost',
  'metadata', 'legs', 'over_limit', 'event_count', 'version', 'created_at', 'updated_at'];
// Scalar fields of the call object: the CSV columns (cost flattened).
const CSV_COLUMNS = ['id', 'tenant', 'provider', 'external_id', 'direction', 'status', 'disposition',
  'from', 'to', 'from_raw', 'to_raw', 'caller_name', 'extension', 'started_at', 'answered_at',
  'ended_at', 'duration_sec', 'billsec', 'recording_url', 'transcript', 'summary', 'cost_amount',
  'cost_currency', 'over_limit', 'event_count', 'created_at', 'updated_at'];

// name -> fixture file; posted in this order, which is also the order of started_at.
const DATA = [
  ['answered', 'generic/inbound-answered.json'], // 07:15Z inbound answered, ext 1001, דנה כהן
  ['noanswer', 'generic/outbound-no-answer.json'], // 08:02Z outbound no_answer, ext 1002, José "Pepe"…
  ['internal', 'generic/internal.json'], // 09:00Z internal answered, ext 1001
  ['busy', 'generic/inbound-busy.json'], // 10:30Z inbound busy, ext 1003
  ['legs', 'generic/ring-group-legs.json'], // 10:45Z inbound answered, two legs
  ['ringing', 'generic/inbound-ringing.json'], // 11:00Z inbound ringing
];
const NEWEST_FIRST = ['ringing', 'legs', 'busy', 'internal', 'noanswer', 'answered'];

let dir, db, S, acme, verco;
const id = {}; // name -> public call id
const sent = {}; // name -> body text as posted
const nameOf = (callId) => Object.keys(id).find((k) => id[k] === callId) ?? `?${callId}`;

before(async () => {
  dir = tmpDir('callhook-readapi-');
  db = path.join(dir, 'callhook.db');
  acme = setupTenant(db, 'acme', { tenantArgs: ['--timezone', 'Asia/Jerusalem', '--country', '972'] });
  // the version tests' calls, in a tenant of their own so acme's list stays the six above
  verco = setupTenant(db, 'verco', { tenantArgs: ['--country', '1'] });
  const cfg = writeConfig(dir, '[auth]\nfail_limit = 100000\nfail_window = 60\n');
  S = await startServer({ db, args: ['--config', cfg] });
  for (const [name, file] of DATA) {
    const body = fixture(file);
    sent[name] = body;
    const r = await postHook(S, 'acme', body, { headers: hookAuth(acme) });
    if (r.status !== 200) throw new Error(`posting ${file}: ${r.status} ${r.text}`);
    const callIds = r.json.results ? [...new Set(r.json.results.map((x) => x.call_id))] : [r.json.call_id];
    if (callIds.length !== 1 || !callIds[0]) throw new Error(`posting ${file}: ${r.text}`);
    id[name] = callIds[0];
  }
});

after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const get = (p, key = acme.apiKey) => apiGet(S, p, key);

function assertError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.equal(r.json?.error, code, r.text);
  assert.equal(typeof r.json.message, 'string');
  assert.ok(r.headers.get('x-request-id'), 'X-Request-Id missing');
}

// All calls for a query (walking every page); returns the names, in the order served.
async function names(query) {
  const { calls } = await listAllCalls(S, acme.apiKey, query);
  return calls.map((c) => nameOf(c.id));
}

describe('authentication', () => {
  test('GET /v1/calls without a key, with a wrong key or a webhook token is 401', T, async () => {
    for (const headers of [{}, { Authorization: 'Bearer chk_wrong' }, { Authorization: `Bearer ${acme.apiKey}x` },
      { Authorization: `Bearer ${acme.token}` }, { 'X-Api-Key': acme.apiKey }]) {
      const r = await http(`${S.url}/v1/calls`, { headers });
      assertError(r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') || '', /^Bearer /, 'the read API asks for a Bearer key');
    }
    for (const p of [`/v1/calls/${id.answered}`, '/v1/calls/export?format=json']) {
      assertError(await get(p, null), 401, 'unauthorized');
      assertError(await get(p, 'chk_wrong'), 401, 'unauthorized');
    }
  });
});

describe('GET /v1/calls', () => {
  test('lists every call newest first, each with every key', T, async () => {
    const r = await get('/v1/calls');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    assert.ok(r.headers.get('x-request-id'));
    assert.deepEqual(Object.keys(r.json).sort(), ['data', 'next_cursor']);
    assert.equal(r.json.next_cursor, null, 'six calls fit in the default page of 50');
    assert.deepEqual(r.json.data.map((c) => nameOf(c.id)), NEWEST_FIRST);
    for (const c of r.json.data) {
      for (const k of CALL_KEYS) assert.ok(Object.hasOwn(c, k), `${nameOf(c.id)} lacks ${k}`);
      assert.equal(c.tenant, 'acme');
      assert.equal(c.provider, 'generic');
      assert.equal(c.version, c.event_count, `${nameOf(c.id)}: one version per stored event`);
    }
    const a = r.json.data.find((c) => c.id === id.answered);
    assert.equal(a.external_id, 'pbx1-20240514-0001');
    assert.equal(a.direction, 'inbound');
    assert.equal(a.status, 'ended');
    assert.equal(a.disposition, 'answered');
    assert.equal(a.from, '+972501234567');
    assert.equal(a.to, '+97231234567');
    assert.equal(a.from_raw, '050-123-4567');
    assert.equal(a.to_raw, '03-123-4567');
    assert.equal(a.caller_name, 'דנה כהן');
    assert.equal(a.extension, '1001');
    assert.equal(a.started_at, '2024-05-14T07:15:00Z');
    assert.equal(a.answered_at, '2024-05-14T07:15:06Z');
    assert.equal(a.ended_at, '2024-05-14T07:18:12Z');
    assert.equal(a.duration_sec, 192);
    assert.equal(a.billsec, 186);
    assert.equal(a.recording_url, 'https://recordings.example.co.il/2024/05/14/pbx1-20240514-0001.mp3');
    assert.equal(a.transcript, 'Caller: Hi, I never got invoice 4471.\nAgent: Sorry, I will resend it, today.');
    assert.equal(a.summary, 'Billing question; invoice 4471 resent.');
    assert.deepEqual(a.cost, { amount: 0.12, currency: 'USD' });
    assert.deepEqual(a.metadata, { queue: 'billing', agent: 'Moshe Levi' });
    assert.deepEqual(a.legs, []);
    assert.equal(a.over_limit, false);
    assert.equal(a.event_count, 3);
    const n = r.json.data.find((c) => c.id === id.noanswer);
    assert.equal(n.caller_name, 'José "Pepe" Álvarez, Ventas');
    assert.equal(n.to, '+14155550142');
    assert.equal(n.direction, 'outbound');
    assert.equal(n.disposition, 'no_answer');
    assert.deepEqual(n.cost, { amount: 0, currency: 'USD' });
    const g = r.json.data.find((c) => c.id === id.ringing);
    assert.equal(g.status, 'ringing');
    assert.equal(g.disposition, null);
    assert.equal(g.from, '+49301234567');
    assert.equal(g.caller_name, 'Jürgen Müller');
  });

  test('cursor pagination with limit=2 walks every call exactly once, in order', T, async () => {
    const { calls, pages } = await listAllCalls(S, acme.apiKey, '', { limit: 2 });
    assert.ok(pages.length >= 3 && pages.length <= 4, `${pages.length} pages`);
    for (const p of pages) assert.ok(p.data.length <= 2, `page of ${p.data.length}`);
    for (const p of pages.slice(0, 3)) assert.equal(p.data.length, 2);
    for (const p of pages.slice(0, -1)) assert.equal(typeof p.next_cursor, 'string');
    assert.deepEqual(calls.map((c) => nameOf(c.id)), NEWEST_FIRST);
    // With a filter the pages still cover exactly the matching calls.
    const { calls: inbound } = await listAllCalls(S, acme.apiKey, 'direction=inbound', { limit: 2 });
    assert.deepEqual(inbound.map((c) => nameOf(c.id)), ['ringing', 'legs', 'busy', 'answered']);
  });

  const FILTERS = [
    ['direction=inbound', ['ringing', 'legs', 'busy', 'answered']],
    ['direction=outbound', ['noanswer']],
    ['direction=internal', ['internal']],
    ['status=ringing', ['ringing']],
    ['status=ended', ['legs', 'busy', 'internal', 'noanswer', 'answered']],
    ['status=in_progress', []],
    ['disposition=busy', ['busy']],
    ['disposition=no_answer', ['noanswer']],
    ['disposition=answered', ['legs', 'internal', 'answered']],
    ['number=%2B972501234567', ['answered']],
    ['number=050-123-4567', ['answered']],
    ['number=%2B14155550142', ['noanswer']],
    ['number=%2B442079460958', ['busy']],
    ['number=%2B97231234567', ['ringing', 'legs', 'busy', 'noanswer', 'answered']],
    ['number=1002', ['internal']],
    ['number=%2B97250123', []],
    ['extension=1001', ['internal', 'answered']],
    ['extension=1003', ['busy']],
    ['extension=100', []],
    [`q=${encodeURIComponent('כהן')}`, ['answered']],
    ['q=Pepe', ['noanswer']],
    [`q=${encodeURIComponent('Müller')}`, ['ringing']],
    ['q=invoice%204471', ['answered']],
    ['q=resent', ['answered']],
    ['q=7946', ['busy']],
    ['q=nothing-matches-this', []],
    ['since=2024-05-14T10:00:00Z', ['ringing', 'legs', 'busy']],
    ['since=2024-05-14T13:00:00%2B03:00', ['ringing', 'legs', 'busy']],
    [`since=${Date.parse('2024-05-14T10:00:00Z') / 1000}`, ['ringing', 'legs', 'busy']],
    ['until=2024-05-14T08:30:00Z', ['noanswer', 'answered']],
    ['since=2024-05-14T08:30:00Z&until=2024-05-14T10:40:00Z', ['busy', 'internal']],
    ['direction=inbound&disposition=answered', ['legs', 'answered']],
    ['direction=inbound&extension=1001', ['answered']],
  ];
  for (const [query, want] of FILTERS) {
    test(`filter ${decodeURIComponent(query)}`, T, async () => {
      assert.deepEqual(await names(query), want);
    });
  }

  test('bad query parameters are 400', T, async () => {
    for (const query of ['direction=sideways', 'status=done', 'disposition=maybe', 'cursor=not-a-cursor',
      'since=yesterday', 'until=2024-13-45T99:00:00Z', 'limit=0', 'limit=501', 'limit=abc']) {
      const r = await get(`/v1/calls?${query}`);
      assertError(r, 400, 'bad_request');
    }
  });

  test('limit=500 is accepted', T, async () => {
    const r = await get('/v1/calls?limit=500');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.length, 6);
  });
});

describe('GET /v1/calls/{id}', () => {
  test('a call from a single-object post: its event raw is the body exactly as sent', T, async () => {
    const r = await get(`/v1/calls/${id.noanswer}`);
    assert.equal(r.status, 200, r.text);
    const c = r.json;
    for (const k of CALL_KEYS) assert.ok(Object.hasOwn(c, k), `lacks ${k}`);
    assert.equal(c.id, id.noanswer);
    assert.equal(c.external_id, 'pbx1-20240514-0002');
    assert.equal(c.events.length, 1);
    const e = c.events[0];
    assert.equal(e.raw, sent.noanswer, 'raw differs from the body posted');
    assert.equal(e.type, 'call.ended');
    assert.equal(e.sequence, 4);
    assert.equal(e.provider_timestamp, '2024-05-14T08:02:31Z');
    assert.equal(e.leg_id, null);
    assert.equal(e.content_type, 'application/json');
    assert.equal(typeof e.idempotency_key, 'string');
    assert.ok(e.idempotency_key.length > 0);
    assert.match(e.received_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  });

  test('a call from a batch: events oldest first, raw of each record', T, async () => {
    const c = (await get(`/v1/calls/${id.answered}`)).json;
    const recs = JSON.parse(sent.answered);
    assert.equal(c.events.length, 3);
    assert.deepEqual(c.events.map((e) => e.type), ['call.ringing', 'call.answered', 'call.ended']);
    assert.deepEqual(c.events.map((e) => e.sequence), [1, 2, 3]);
    assert.deepEqual(c.events.map((e) => e.provider_timestamp), ['2024-05-14T07:15:00Z', '2024-05-14T07:15:06Z', '2024-05-14T07:18:12Z']);
    assert.deepEqual(c.events.map((e) => JSON.parse(e.raw)), recs);
    assert.equal(new Set(c.events.map((e) => e.idempotency_key)).size, 3);
    assert.equal(new Set(c.events.map((e) => e.id)).size, 3);
  });

  test('a call with legs lists them', T, async () => {
    const c = (await get(`/v1/calls/${id.legs}`)).json;
    assert.deepEqual(c.legs.map((l) => l.id).sort(), ['leg-a', 'leg-b']);
    const b = c.legs.find((l) => l.id === 'leg-b');
    assert.equal(b.disposition, 'answered');
    assert.equal(b.extension, '1002');
    assert.equal(b.billsec, 100);
    assert.deepEqual(c.events.map((e) => e.leg_id), [null, 'leg-a', 'leg-b', null]);
    assert.equal(c.event_count, 4);
  });

  test('an unknown id is 404', T, async () => {
    for (const bad of ['c_doesnotexist', 'nothing', id.answered + 'x']) {
      assertError(await get(`/v1/calls/${bad}`), 404, 'not_found');
    }
  });
});

// A string cell as the CSV export writes it: one a spreadsheet would run as a formula gets a
// leading ' (an E.164 number is left alone; export.test.mjs tests the rule itself).
const csvString = (v) => (/^[=+\-@\t\r]/.test(v) && !/^\+[0-9]{6,15}$/.test(v) ? `'${v}` : v);

describe('GET /v1/calls/export', () => {
  test('format=json is an array of every matching call, streamed', T, async () => {
    const list = (await get('/v1/calls?limit=500')).json.data;
    const r = await get('/v1/calls/export?format=json');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    assert.equal(r.headers.get('transfer-encoding'), 'chunked');
    const arr = JSON.parse(r.text);
    assert.ok(Array.isArray(arr));
    const byId = (a) => [...a].sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(byId(arr), byId(list), 'export objects equal the list objects');

    const f = await get('/v1/calls/export?format=json&direction=inbound&disposition=answered');
    assert.equal(f.status, 200, f.text);
    assert.deepEqual(JSON.parse(f.text).map((c) => nameOf(c.id)).sort(), ['answered', 'legs']);
    const none = await get('/v1/calls/export?format=json&q=nothing-matches-this');
    assert.equal(none.status, 200, none.text);
    assert.deepEqual(JSON.parse(none.text), []);
  });

  test('format=csv has a header and one correctly quoted row per call', T, async () => {
    const list = (await get('/v1/calls?limit=500')).json.data;
    const r = await get('/v1/calls/export?format=csv');
    assert.equal(r.status, 200, r.text);
    const rows = parseCsv(r.text);
    const header = rows[0];
    for (const col of CSV_COLUMNS) assert.ok(header.includes(col), `CSV header lacks ${col}: ${header}`);
    assert.equal(new Set(header).size, header.length, 'duplicate columns');
    assert.equal(rows.length - 1, list.length, 'one row per call');
    const col = (row, name) => row[header.indexOf(name)];
    for (const row of rows.slice(1)) {
      assert.equal(row.length, header.length, `row has ${row.length} fields, header ${header.length}: ${row}`);
      const c = list.find((x) => x.id === col(row, 'id'));
      assert.ok(c, `CSV row for unknown id ${col(row, 'id')}`);
      const flat = { ...c, cost_amount: c.cost ? c.cost.amount : null, cost_currency: c.cost ? c.cost.currency : null };
      for (const name of CSV_COLUMNS) {
        const cell = col(row, name);
        const v = flat[name];
        if (v === null) assert.equal(cell, '', `${nameOf(c.id)}.${name} should be empty`);
        else if (typeof v === 'number') assert.equal(Number(cell), v, `${nameOf(c.id)}.${name}: "${cell}"`);
        else if (typeof v === 'boolean') assert.ok([String(v), v ? '1' : '0'].includes(cell), `${nameOf(c.id)}.${name}: "${cell}"`);
        else assert.equal(cell, csvString(v), `${nameOf(c.id)}.${name}`);
      }
    }
    // The fields that need quoting came through intact.
    const byName = (n) => rows.slice(1).find((row) => col(row, 'id') === id[n]);
    assert.equal(col(byName('noanswer'), 'caller_name'), 'José "Pepe" Álvarez, Ventas');
    assert.equal(col(byName('answered'), 'transcript'), 'Caller: Hi, I never got invoice 4471.\nAgent: Sorry, I will resend it, today.');
    assert.equal(col(byName('answered'), 'caller_name'), 'דנה כהן');

    const f = await get('/v1/calls/export?format=csv&disposition=busy');
    assert.equal(f.status, 200, f.text);
    const frows = parseCsv(f.text);
    assert.equal(frows.length, 2, f.text);
    assert.equal(frows[1][frows[0].indexOf('id')], id.busy);
  });

  test('an unknown format or a bad filter is 400', T, async () => {
    assertError(await get('/v1/calls/export?format=xml'), 400, 'bad_request');
    assertError(await get('/v1/calls/export?format=json&status=done'), 400, 'bad_request');
  });
});

describe('version', () => {
  const post = (body) => postHook(S, 'verco', body, { headers: hookAuth(verco) });
  const getV = (p) => get(p, verco.apiKey);
  // The call as GET /v1/calls/{id}, the list and the JSON export show it: all three must agree.
  async function versions(callId) {
    const one = await getV(`/v1/calls/${callId}`);
    assert.equal(one.status, 200, one.text);
    const list = await getV('/v1/calls?limit=500');
    assert.equal(list.status, 200, list.text);
    const exp = await getV('/v1/calls/export?format=json');
    assert.equal(exp.status, 200, exp.text);
    const inList = list.json.data.find((c) => c.id === callId);
    const inExport = JSON.parse(exp.text).find((c) => c.id === callId);
    assert.ok(inList && inExport, 'the call is listed and exported');
    const { events, ...call } = one.json;
    assert.ok(events.length >= 1);
    assert.deepEqual(inList, call, 'the list shows the same state');
    assert.deepEqual(inExport, call, 'the export shows the same state');
    return call;
  }

  test('1 after the first event, +1 per stored event, a duplicate changes nothing', T, async () => {
    const ext = 'ver-1';
    const ev = (n, extra = {}) => ({ call_id: ext, event_id: `${ext}-${n}`, ...extra });
    const ok = async (body, stored) => {
      const r = await post(body);
      assert.equal(r.status, 200, r.text);
      const res = r.json.results ?? [r.json];
      assert.deepEqual(res.map((x) => x.status), stored, r.text);
      return res[0].call_id;
    };
    const callId = await ok(ev(1, { direction: 'inbound', status: 'ringing', from: '+14155550101' }), ['stored']);
    let c = await versions(callId);
    assert.equal(c.version, 1, 'a new call is version 1');
    assert.equal(c.status, 'ringing');

    await ok(ev(2, { status: 'in_progress', answered_at: '2026-11-23T10:00:05Z' }), ['stored']);
    c = await versions(callId);
    assert.equal(c.version, 2);
    assert.equal(c.status, 'in_progress');

    // the same event again (same event_id): a duplicate, nothing stored, nothing changes
    const before = c;
    await ok(ev(2, { status: 'in_progress', answered_at: '2026-11-23T10:00:05Z' }), ['duplicate']);
    c = await versions(callId);
    assert.equal(c.version, 2, 'a duplicate does not change the version');
    assert.deepEqual(c, before, 'a duplicate does not change the call');

    // a batch: each stored record is one step; its duplicate record none
    await ok([ev(3, { status: 'ended', disposition: 'answered', ended_at: '2026-11-23T10:01:00Z' }), ev(1, { status: 'ringing' }),
      ev(4, { summary: 'Wants a quote' })], ['stored', 'duplicate', 'stored']);
    c = await versions(callId);
    assert.equal(c.version, 4);
    assert.equal(c.event_count, 4);
    assert.equal(c.summary, 'Wants a quote');

    // another call's events leave this one's version alone
    const other = await ok({ call_id: 'ver-2', event_id: 'ver-2-1', direction: 'outbound', to: '+14155550102' }, ['stored']);
    assert.notEqual(other, callId);
    assert.equal((await versions(other)).version, 1);
    assert.equal((await versions(callId)).version, 4);
  });
});

test('the server exits 0 on SIGTERM (no leaks under ASan/LSan)', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-4000));
});
