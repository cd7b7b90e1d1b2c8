// Black-box tests of ingestion (docs/http-api.md, "Ingest"): the real binary on 127.0.0.1 with a
// fresh database; events are posted over HTTP and read back through the read API (and, for
// "nothing was stored", the database file).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startServer, cli, http, basic, setupTenant, sqlite, tmpDir, cleanup, fixture,
  writeConfig, hookAuth, postHook, apiGet, omit, httpChunked,
} from './lib.mjs';

const T = { timeout: 60_000 };

// Every key of the call object (docs/http-api.md, "The call object"); each one always present.
const CALL_KEYS = ['id', 'tenant', 'provider', 'external_id', 'direction', 'status', 'disposition',
  'from', 'to', 'from_raw', 'to_raw', 'caller_name', 'extension', 'started_at', 'answered_at',
  'ended_at', 'duration_sec', 'billsec', 'recording_url', 'transcript', 'summary', 'cost',
  'metadata', 'legs', 'over_limit', 'event_count', 'created_at', 'updated_at'];
const LEG_KEYS = ['id', 'direction', 'status', 'disposition', 'from', 'to', 'from_raw', 'to_raw',
  'extension', 'started_at', 'answered_at', 'ended_at', 'duration_sec', 'billsec', 'recording_url'];
const EVENT_KEYS = ['id', 'type', 'idempotency_key', 'received_at', 'sequence', 'provider_timestamp',
  'leg_id', 'content_type', 'raw'];
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

let seq = 0;
const uid = (p) => `${p}-${process.pid}-${++seq}`;

function assertError(r, status, code, field) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.ok(r.json, `error body is not JSON: ${r.text}`);
  assert.equal(r.json.error, code, r.text);
  assert.equal(typeof r.json.message, 'string', r.text);
  assert.ok(r.json.message.length > 0, 'message is empty');
  if (field !== undefined) assert.equal(r.json.field, field, r.text);
  assert.ok(r.headers.get('x-request-id'), 'X-Request-Id missing');
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
}

function assertCallShape(c) {
  for (const k of CALL_KEYS) assert.ok(Object.hasOwn(c, k), `call lacks key ${k}: ${JSON.stringify(c)}`);
  assert.match(c.id, /^c_./);
  assert.match(c.created_at, RFC3339_UTC);
  assert.match(c.updated_at, RFC3339_UTC);
  assert.ok(Array.isArray(c.legs));
  for (const l of c.legs) for (const k of LEG_KEYS) assert.ok(Object.hasOwn(l, k), `leg lacks key ${k}: ${JSON.stringify(l)}`);
}

// One directory, one database, one server for most tests; extra servers where a test needs
// other limits. The main server gets a generous failed-auth limit so that the many 401 tests
// here do not lock 127.0.0.1 out (the lockout itself is tested on a server of its own).
let dir, db, S, acme, fenced, local, twoNets, cfgLoose;

before(async () => {
  dir = tmpDir('callhook-ingest-');
  db = path.join(dir, 'callhook.db');
  acme = setupTenant(db, 'acme', { tenantArgs: ['--timezone', 'Asia/Jerusalem', '--country', '972'] });
  fenced = setupTenant(db, 'fenced', { sourceArgs: ['--allow-ip', '10.0.0.0/8'] });
  local = setupTenant(db, 'local', { sourceArgs: ['--allow-ip', '127.0.0.0/8'] });
  twoNets = setupTenant(db, 'twonets', { sourceArgs: ['--allow-ip', '10.0.0.0/8', '--allow-ip', '127.0.0.1/32'] });
  cli(db, ['tenant', 'add', 'nosource']);
  cfgLoose = writeConfig(dir, '[auth]\nfail_limit = 100000\nfail_window = 60\n', 'loose.ini');
  S = await startServer({ db, args: ['--config', cfgLoose] });
});

after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const post = (body, opts = {}) => postHook(S, opts.slug || 'acme', body, { headers: hookAuth(opts.tenant || acme, opts.auth || 'bearer'), ...opts });
async function getCall(id, key = acme.apiKey) {
  const r = await apiGet(S, `/v1/calls/${id}`, key);
  assert.equal(r.status, 200, `GET /v1/calls/${id}: ${r.status} ${r.text}`);
  return r.json;
}
const q = (s) => s.replace(/'/g, "''");
const callsWithExternalId = (ext) => Number(sqlite(db, `SELECT count(*) FROM calls WHERE external_id = '${q(ext)}';`).trim());
const eventCount = () => Number(sqlite(db, 'SELECT count(*) FROM events;').trim());

describe('single events', () => {
  test('a single event is stored and readable field by field', T, async () => {
    const ext = uid('single');
    const ev = {
      event_id: `${ext}-ring`, call_id: ext, type: 'call.ringing', direction: 'inbound', status: 'ringing',
      from: '050-123-4567', to: '03-123-4567', caller_name: 'José', extension: '1001',
      started_at: '2024-05-14T10:15:00Z', sequence: 7, timestamp: '2024-05-14T10:15:01Z',
    };
    const body = JSON.stringify(ev, null, 2);
    const r = await post(body);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    assert.ok(r.headers.get('x-request-id'));
    assert.equal(r.json.status, 'stored');
    assert.match(r.json.call_id, /^c_./);
    assert.equal(r.json.event_id, ev.event_id);
    assert.equal(callsWithExternalId(ext), 1, 'the call is in the database once the answer is 200');

    const c = await getCall(r.json.call_id);
    assertCallShape(c);
    assert.equal(c.id, r.json.call_id);
    assert.equal(c.tenant, 'acme');
    assert.equal(c.provider, 'generic');
    assert.equal(c.external_id, ext);
    assert.equal(c.direction, 'inbound');
    assert.equal(c.status, 'ringing');
    assert.equal(c.disposition, null);
    assert.equal(c.from, '+972501234567');
    assert.equal(c.to, '+97231234567');
    assert.equal(c.from_raw, '050-123-4567');
    assert.equal(c.to_raw, '03-123-4567');
    assert.equal(c.caller_name, 'José');
    assert.equal(c.extension, '1001');
    assert.equal(c.started_at, '2024-05-14T10:15:00Z');
    assert.equal(c.answered_at, null);
    assert.equal(c.ended_at, null);
    assert.equal(c.duration_sec, null);
    assert.equal(c.billsec, null);
    assert.equal(c.recording_url, null);
    assert.equal(c.transcript, null);
    assert.equal(c.summary, null);
    assert.equal(c.cost, null);
    assert.deepEqual(c.legs, []);
    assert.equal(c.over_limit, false);
    assert.equal(c.event_count, 1);
    assert.ok(Array.isArray(c.events) && c.events.length === 1, JSON.stringify(c.events));
    const e = c.events[0];
    for (const k of EVENT_KEYS) assert.ok(Object.hasOwn(e, k), `event lacks ${k}`);
    assert.equal(e.type, 'call.ringing');
    assert.equal(e.sequence, 7);
    assert.equal(e.provider_timestamp, '2024-05-14T10:15:01Z');
    assert.equal(e.leg_id, null);
    assert.equal(e.content_type, 'application/json');
    assert.equal(e.raw, body, 'raw is the body exactly as sent');
    assert.match(e.received_at, RFC3339_UTC);
    assert.equal(typeof e.idempotency_key, 'string');
  });

  test('a record with only call_id gives a call with the documented defaults', T, async () => {
    const ext = uid('minimal');
    const r = await post({ call_id: ext });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
    assert.equal(typeof r.json.event_id, 'string');
    assert.ok(r.json.event_id.length > 0);
    const c = await getCall(r.json.call_id);
    assertCallShape(c);
    assert.equal(c.status, 'queued');
    assert.equal(c.direction, 'unknown');
    for (const k of ['disposition', 'from', 'to', 'from_raw', 'to_raw', 'caller_name', 'extension',
      'started_at', 'answered_at', 'ended_at', 'duration_sec', 'billsec', 'recording_url',
      'transcript', 'summary', 'cost']) assert.equal(c[k], null, `${k} should be null`);
    assert.equal(c.event_count, 1);
  });

  test('the same event_id again is a duplicate and changes nothing', T, async () => {
    const ext = uid('dup');
    const ev = { event_id: `${ext}-e1`, call_id: ext, status: 'ringing', direction: 'inbound', from: '+44 20 7946 0958' };
    const first = await post(ev);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.status, 'stored');
    const before1 = await getCall(first.json.call_id);
    const events = eventCount();

    const again = await post(ev);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, { status: 'duplicate', call_id: first.json.call_id, event_id: ev.event_id });

    // Same id, different content: still the same delivery, still nothing changes.
    const changed = await post({ ...ev, status: 'ended', disposition: 'busy', caller_name: 'Someone Else' });
    assert.equal(changed.status, 200, changed.text);
    assert.deepEqual(changed.json, { status: 'duplicate', call_id: first.json.call_id, event_id: ev.event_id });

    const after1 = await getCall(first.json.call_id);
    assert.deepEqual(after1, before1, 'a duplicate must not change the call (event_count, updated_at, fields, events)');
    assert.equal(after1.event_count, 1);
    assert.equal(eventCount(), events, 'no event row was added');
  });

  test('the same record without event_id twice is a duplicate (hash of the canonical record)', T, async () => {
    const ext = uid('hash');
    const rec = { call_id: ext, status: 'ringing', direction: 'inbound', from: '+44 20 7946 0958', caller_name: 'דנה כהן', metadata: { a: 1, b: [1, 2] } };
    const r1 = await post(JSON.stringify(rec));
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.status, 'stored');
    assert.equal(typeof r1.json.event_id, 'string');
    assert.ok(r1.json.event_id.length > 0);
    const c1 = await getCall(r1.json.call_id);

    const r2 = await post(JSON.stringify(rec));
    assert.equal(r2.status, 200, r2.text);
    assert.deepEqual(r2.json, { status: 'duplicate', call_id: r1.json.call_id, event_id: r1.json.event_id });

    // Canonical JSON: member order and white space do not make a different record.
    const reordered = `{ "metadata": {"b": [1, 2], "a": 1},\n  "caller_name": "דנה כהן", "from": "+44 20 7946 0958",\n  "direction": "inbound", "status": "ringing", "call_id": ${JSON.stringify(ext)} }`;
    const r3 = await post(reordered);
    assert.equal(r3.status, 200, r3.text);
    assert.deepEqual(r3.json, { status: 'duplicate', call_id: r1.json.call_id, event_id: r1.json.event_id });
    assert.deepEqual(await getCall(r1.json.call_id), c1, 'duplicates changed the call');

    // A record that differs in one member is a new event of the same call.
    const r4 = await post({ ...rec, status: 'ended', disposition: 'busy' });
    assert.equal(r4.status, 200, r4.text);
    assert.equal(r4.json.status, 'stored');
    assert.equal(r4.json.call_id, r1.json.call_id);
    assert.notEqual(r4.json.event_id, r1.json.event_id);
    const c4 = await getCall(r1.json.call_id);
    assert.equal(c4.event_count, 2);
    assert.equal(c4.status, 'ended');
    assert.equal(c4.disposition, 'busy');
  });

  test('application/json with a charset parameter is accepted', T, async () => {
    const r = await post({ call_id: uid('charset') }, { contentType: 'application/json; charset=utf-8' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
  });
});

describe('batches', () => {
  test('mixed good, duplicate and bad records are judged one by one', T, async () => {
    const ext0 = uid('batch0'), ext1 = uid('batch1'), ext2 = uid('batch2');
    const pre = await post({ event_id: `${ext0}-dup`, call_id: ext0, status: 'ringing' });
    assert.equal(pre.status, 200, pre.text);
    const events = eventCount();
    const batch = [
      { event_id: `${ext1}-0`, call_id: ext1, status: 'ringing', direction: 'outbound', to: '+1 (415) 555-0142' },
      { event_id: `${ext0}-dup`, call_id: ext0, status: 'ringing' },
      { event_id: `${ext1}-2`, status: 'ringing' },
      { event_id: `${ext1}-3`, call_id: ext1, status: 'ended', disposition: 'no_answer' },
      { event_id: `${ext2}-4`, call_id: ext2, duration_sec: '12' },
    ];
    const r = await post(batch);
    assert.equal(r.status, 200, r.text);
    const b = r.json;
    assert.equal(b.stored, 2);
    assert.equal(b.duplicates, 1);
    assert.equal(b.rejected, 2);
    assert.equal(b.results.length, 5);
    b.results.forEach((x, i) => assert.equal(x.index, i, `results[${i}].index`));
    assert.equal(b.results[0].status, 'stored');
    assert.match(b.results[0].call_id, /^c_./);
    assert.equal(b.results[0].event_id, `${ext1}-0`);
    assert.deepEqual(b.results[1], { index: 1, status: 'duplicate', call_id: pre.json.call_id, event_id: `${ext0}-dup` });
    assert.equal(b.results[2].status, 'rejected');
    assert.equal(b.results[2].error, 'invalid_record');
    assert.equal(b.results[2].field, '[2].call_id');
    assert.equal(typeof b.results[2].message, 'string');
    assert.ok(b.results[2].message.length > 0);
    assert.equal(b.results[3].status, 'stored');
    assert.equal(b.results[3].call_id, b.results[0].call_id, 'both records belong to one call');
    assert.equal(b.results[3].event_id, `${ext1}-3`);
    assert.equal(b.results[4].status, 'rejected');
    assert.equal(b.results[4].error, 'invalid_record');
    assert.equal(b.results[4].field, '[4].duration_sec');

    assert.equal(eventCount(), events + 2, 'exactly the two good records were stored');
    assert.equal(callsWithExternalId(ext2), 0, 'the rejected record made no call');
    const c = await getCall(b.results[0].call_id);
    assert.equal(c.event_count, 2);
    assert.equal(c.status, 'ended');
    assert.equal(c.disposition, 'no_answer');
    assert.equal(c.direction, 'outbound');
    assert.equal(c.to, '+14155550142');
    // raw of a batch record is that record (as JSON).
    assert.equal(c.events.length, 2);
    assert.deepEqual(c.events.map((e) => JSON.parse(e.raw)), [batch[0], batch[3]]);
  });

  test('the same event_id twice in one batch: one stored, one duplicate', T, async () => {
    const ext = uid('inbatch');
    const ev = { event_id: `${ext}-1`, call_id: ext, status: 'ringing' };
    const r = await post([ev, ev]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stored, 1);
    assert.equal(r.json.duplicates, 1);
    assert.equal(r.json.rejected, 0);
    assert.deepEqual(r.json.results.map((x) => [x.index, x.status]), [[0, 'stored'], [1, 'duplicate']]);
    assert.equal(r.json.results[0].call_id, r.json.results[1].call_id);
    assert.equal((await getCall(r.json.results[0].call_id)).event_count, 1);
  });

  test('a batch where every record is bad is 422 with the same body shape', T, async () => {
    const ext = uid('allbad');
    const events = eventCount();
    const r = await post([{ status: 'ringing' }, { call_id: ext, status: 'done' }]);
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.stored, 0);
    assert.equal(r.json.duplicates, 0);
    assert.equal(r.json.rejected, 2);
    assert.equal(r.json.results.length, 2);
    assert.deepEqual(r.json.results.map((x) => [x.index, x.status, x.error, x.field]),
      [[0, 'rejected', 'invalid_record', '[0].call_id'], [1, 'rejected', 'invalid_record', '[1].status']]);
    assert.equal(eventCount(), events);
    assert.equal(callsWithExternalId(ext), 0);
  });

  test('an empty array is 422', T, async () => {
    const r = await post('[]');
    assert.equal(r.status, 422, r.text);
    assert.ok(r.json, 'body is JSON');
  });
});

describe('malformed requests', () => {
  // Accept a column that points into the offending token (1-based), or one before it (0-based).
  function assertPosition(r, line, tokStart, tokEnd) {
    assertError(r, 400, 'malformed_json');
    assert.equal(r.json.line, line, `line: ${r.text}`);
    assert.equal(typeof r.json.column, 'number', r.text);
    assert.ok(r.json.column >= tokStart - 1 && r.json.column <= tokEnd,
      `column ${r.json.column} does not point at the error (columns ${tokStart}-${tokEnd}): ${r.text}`);
  }

  test('a bad token on line 3 reports line 3 and its column', T, async () => {
    // line 3 is `  "status": ringing`; the bad token spans columns 13-19.
    const r = await post('{\n  "call_id": "m-1",\n  "status": ringing\n}');
    assertPosition(r, 3, 13, 19);
  });

  test('a trailing comma on line 2 reports line 2 and its column', T, async () => {
    // line 2 is `{"call_id":"b",}`; the `}` after the comma is column 16.
    const r = await post('[{"call_id":"a"},\n{"call_id":"b",}]');
    assertPosition(r, 2, 16, 16);
  });

  test('garbage after the value on line 1 reports line 1 and its column', T, async () => {
    // `{"call_id": "x"} trailing`: the garbage spans columns 18-25.
    const r = await post('{"call_id": "x"} trailing');
    assertPosition(r, 1, 18, 25);
  });

  test('an empty body is malformed JSON', T, async () => {
    const r = await post('');
    assertError(r, 400, 'malformed_json');
  });

  test('a content type the provider does not send is 415', T, async () => {
    const events = eventCount();
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await post(JSON.stringify({ call_id: uid('ct') }), { contentType: ct });
      assertError(r, 415, 'unsupported_media_type');
    }
    assert.equal(eventCount(), events);
  });

  test('DELETE on the hook URL is 405 with Allow (GET shows the setup page)', T, async () => {
    const r = await http(`${S.url}/hooks/acme/generic`, { method: 'DELETE', headers: hookAuth(acme) });
    assertError(r, 405, 'method_not_allowed');
    assert.match(r.headers.get('allow') || '', /\bPOST\b/);
    const g = await http(`${S.url}/hooks/acme/generic`, { headers: hookAuth(acme) });
    assert.equal(g.status, 200);
    assert.equal(g.json.provider, 'generic');
  });
});

describe('invalid records (422 naming the field)', () => {
  const cases = [
    ['call_id missing', {}, 'call_id'],
    ['call_id null', { call_id: null }, 'call_id'],
    ['call_id empty', { call_id: '' }, 'call_id'],
    ['call_id a number', { call_id: 42 }, 'call_id'],
    ['call_id too long', { call_id: 'x'.repeat(257) }, 'call_id'],
    ['event_id empty', { event_id: '', call_id: 'X' }, 'event_id'],
    ['status not in the enum', { call_id: 'X', status: 'done' }, 'status'],
    ['direction not in the enum', { call_id: 'X', direction: 'sideways' }, 'direction'],
    ['disposition not in the enum', { call_id: 'X', disposition: 'maybe' }, 'disposition'],
    ['duration_sec a string', { call_id: 'X', duration_sec: '12' }, 'duration_sec'],
    ['duration_sec negative', { call_id: 'X', duration_sec: -1 }, 'duration_sec'],
    ['duration_sec fractional', { call_id: 'X', duration_sec: 1.5 }, 'duration_sec'],
    ['billsec a string', { call_id: 'X', billsec: '0' }, 'billsec'],
    ['cost a number', { call_id: 'X', cost: 0.12 }, 'cost'],
    ['cost a string', { call_id: 'X', cost: '0.12 USD' }, 'cost'],
    ['from a number', { call_id: 'X', from: 5551234 }, 'from'],
    ['to an object', { call_id: 'X', to: {} }, 'to'],
    ['caller_name too long', { call_id: 'X', caller_name: 'א'.repeat(257) }, 'caller_name'],
    ['started_at not a time', { call_id: 'X', started_at: 'yesterday' }, 'started_at'],
    ['ended_at a boolean', { call_id: 'X', ended_at: true }, 'ended_at'],
    ['sequence negative', { call_id: 'X', sequence: -1 }, 'sequence'],
    ['sequence a string', { call_id: 'X', sequence: '3' }, 'sequence'],
    ['metadata a string', { call_id: 'X', metadata: 'vip' }, 'metadata'],
  ];
  for (const [name, rec, field] of cases) {
    test(`${name} -> 422 field ${field}`, T, async () => {
      const ext = uid('invalid');
      const body = Object.hasOwn(rec, 'call_id') && rec.call_id === 'X' ? { ...rec, call_id: ext } : rec;
      const events = eventCount();
      const r = await post(body);
      assertError(r, 422, 'invalid_record', field);
      assert.equal(eventCount(), events, 'nothing was stored');
      assert.equal(callsWithExternalId(ext), 0);
    });
  }
  test('cost with a non-number amount -> 422 naming cost', T, async () => {
    const r = await post({ call_id: uid('invalid'), cost: { amount: '0.12', currency: 'USD' } });
    assertError(r, 422, 'invalid_record');
    assert.match(r.json.field, /^cost(\.amount)?$/);
  });
});

describe('routing and authentication', () => {
  test('unknown tenant, unknown provider and a tenant without the source are the same 404', T, async () => {
    const events = eventCount();
    const bodies = [];
    for (const [slug, provider] of [['nosuchtenant', 'generic'], ['acme', 'nosuchprovider'], ['nosource', 'generic']]) {
      for (const headers of [{}, hookAuth(acme)]) {
        const r = await postHook(S, slug, { call_id: uid('nf') }, { provider, headers });
        assertError(r, 404, 'not_found');
        bodies.push(r.json);
      }
    }
    for (const b of bodies) assert.deepEqual(b, bodies[0], 'the three 404s must not tell which part is unknown');
    assert.equal(eventCount(), events);
  });

  test('bearer token, X-Api-Key and Basic all authenticate', T, async () => {
    for (const kind of ['bearer', 'apikey', 'basic']) {
      const ext = uid(`auth-${kind}`);
      const r = await post({ call_id: ext, status: 'ringing' }, { auth: kind });
      assert.equal(r.status, 200, `${kind}: ${r.text}`);
      assert.equal(r.json.status, 'stored');
      assert.equal(callsWithExternalId(ext), 1);
    }
  });

  test('missing or wrong credentials are 401 with identical bodies', T, async () => {
    const events = eventCount();
    const attempts = {
      none: {},
      'wrong bearer': { Authorization: 'Bearer tok-acme-wrong' },
      'wrong X-Api-Key': { 'X-Api-Key': 'tok-acme-wrong' },
      'wrong basic password': { Authorization: basic(acme.username, `${acme.password}x`) },
      'right password, wrong user': { Authorization: basic('someone-else', acme.password) },
      'basic not base64': { Authorization: 'Basic !!!not-base64!!!' },
      'token sent as basic password': { Authorization: basic(acme.username, acme.token) },
    };
    let first;
    for (const [name, headers] of Object.entries(attempts)) {
      const r = await postHook(S, 'acme', { call_id: uid('unauth') }, { headers });
      assertError(r, 401, 'unauthorized');
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="callhook"', name);
      if (first === undefined) first = r.text;
      assert.equal(r.text, first, `body for "${name}" differs from the others`);
    }
    assert.equal(eventCount(), events);
  });

  test('a source allow-list refuses 127.0.0.1 with 403 unless it covers it', T, async () => {
    const events = eventCount();
    for (const kind of ['bearer', 'basic']) {
      const r = await postHook(S, 'fenced', { call_id: uid('fenced') }, { headers: hookAuth(fenced, kind) });
      assertError(r, 403, 'forbidden_source');
    }
    assert.equal(eventCount(), events, 'nothing stored from a refused address');
    const ok = await postHook(S, 'local', { call_id: uid('local') }, { headers: hookAuth(local) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.status, 'stored');
    const two = await postHook(S, 'twonets', { call_id: uid('twonets') }, { headers: hookAuth(twoNets, 'apikey') });
    assert.equal(two.status, 200, two.text);
    assert.equal(two.json.status, 'stored');
  });
});

describe('limits (server started with --max-body 2048 and CALLHOOK_MAX_RECORDS=5)', () => {
  let L, ldir, ldb, lt;
  before(async () => {
    ldir = tmpDir('callhook-limits-');
    ldb = path.join(ldir, 'callhook.db');
    lt = setupTenant(ldb, 'lim');
    L = await startServer({ db: ldb, args: ['--max-body', '2048', '--config', writeConfig(ldir, '[auth]\nfail_limit = 100000\n')], env: { CALLHOOK_MAX_RECORDS: '5' } });
  });
  after(async () => { if (L) await L.stop(); cleanup(ldir); });
  const lpost = (body, o = {}) => postHook(L, 'lim', body, { headers: hookAuth(lt), ...o });
  const lEvents = () => Number(sqlite(ldb, 'SELECT count(*) FROM events;').trim());

  // A single record whose JSON text is exactly n bytes.
  function recordOfSize(n, ext) {
    const base = JSON.stringify({ call_id: ext, transcript: '' });
    const s = JSON.stringify({ call_id: ext, transcript: 'x'.repeat(n - Buffer.byteLength(base)) });
    assert.equal(Buffer.byteLength(s), n);
    return s;
  }

  test('a body of exactly max_body bytes is accepted', T, async () => {
    const r = await lpost(recordOfSize(2048, uid('fits')));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
  });

  test('a body one byte over max_body is 413 body_too_large', T, async () => {
    const events = lEvents();
    const r = await lpost(recordOfSize(2049, uid('big')));
    assertError(r, 413, 'body_too_large');
    const r2 = await lpost(recordOfSize(4000, uid('bigger')));
    assertError(r2, 413, 'body_too_large');
    assert.equal(lEvents(), events);
  });

  test('a chunked body (no Content-Length) over max_body is 413', T, async () => {
    const events = lEvents();
    const s = recordOfSize(3000, uid('chunked'));
    const r = await httpChunked(`${L.url}/hooks/lim/generic`, {
      headers: { 'Content-Type': 'application/json', ...hookAuth(lt) },
      chunks: [s.slice(0, 1000), s.slice(1000, 2000), s.slice(2000)],
    });
    assertError(r, 413, 'body_too_large');
    assert.equal(lEvents(), events);
  });

  test('max_records records are accepted; one more is 413 too_many_records', T, async () => {
    const ext = uid('five');
    const five = Array.from({ length: 5 }, (_, i) => ({ event_id: `${ext}-${i}`, call_id: ext, sequence: i }));
    const ok = await lpost(five);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.stored, 5);
    const events = lEvents();
    const ext6 = uid('six');
    const six = Array.from({ length: 6 }, (_, i) => ({ event_id: `${ext6}-${i}`, call_id: ext6, sequence: i }));
    const r = await lpost(six);
    assertError(r, 413, 'too_many_records');
    assert.equal(lEvents(), events, 'nothing of an over-long batch is stored');
  });

  test('the limits server exits 0 on SIGTERM', T, async () => {
    const res = await L.stop();
    assert.deepEqual(res, { code: 0, signal: null }, L.logs().slice(-4000));
  });
});

describe('failed-auth lockout (fail_limit = 3 via --config)', () => {
  test('after 3 failures the address gets 429 with Retry-After, but a right credential still passes (issue 9)', T, async (t) => {
    const rdir = tmpDir('callhook-lockout-');
    const rdb = path.join(rdir, 'callhook.db');
    const rt = setupTenant(rdb, 'locked');
    const cfg = writeConfig(rdir, '[auth]\nfail_limit = 3\nfail_window = 60\n');
    const R = await startServer({ db: rdb, args: ['--config', cfg] });
    t.after(async () => { await R.stop(); cleanup(rdir); });

    const good = await postHook(R, 'locked', { call_id: uid('before-lock') }, { headers: hookAuth(rt) });
    assert.equal(good.status, 200, `a right credential works before any failure: ${good.text}`);
    for (let i = 1; i <= 3; i++) {
      const r = await postHook(R, 'locked', { call_id: uid('bad') }, { headers: { Authorization: 'Bearer wrong-token' } });
      assertError(r, 401, 'unauthorized');
    }
    const locked = await postHook(R, 'locked', { call_id: uid('bad') }, { headers: { Authorization: 'Bearer wrong-token' } });
    assertError(locked, 429, 'rate_limited');
    const ra = locked.headers.get('retry-after');
    assert.match(ra || '', /^\d+$/, `Retry-After: ${ra}`);
    assert.ok(Number(ra) >= 1 && Number(ra) <= 60, `Retry-After ${ra} outside 1..60`);

    // a request that authenticates is never refused: the lockout only turns failures into 429
    const ext = uid('during-lock');
    for (const kind of ['bearer', 'basic', 'apikey']) {
      const r = await postHook(R, 'locked', { call_id: ext, event_id: `${ext}-${kind}` }, { headers: hookAuth(rt, kind) });
      assert.equal(r.status, 200, `${kind} during the lockout: ${r.text}`);
    }
    assert.equal(Number(sqlite(rdb, `SELECT count(*) FROM calls WHERE external_id = '${ext}';`).trim()), 1);

    const res = await R.stop();
    assert.deepEqual(res, { code: 0, signal: null }, R.logs().slice(-4000));
  });
});

describe('merging over HTTP', () => {
  const ENDED_UNIX = Date.parse('2024-05-14T07:18:12Z') / 1000; // 1715671092
  function events(ext) {
    return {
      ring: {
        event_id: `${ext}-ring`, call_id: ext, type: 'call.ringing', sequence: 1, timestamp: '2024-05-14T07:15:00Z',
        direction: 'inbound', status: 'ringing', from: '050-123-4567', to: '03-123-4567',
        caller_name: 'דנה כהן', started_at: '2024-05-14 10:15:00', metadata: { queue: 'sales', attempt: 1 },
      },
      answer: {
        event_id: `${ext}-answer`, call_id: ext, type: 'call.answered', sequence: 2, timestamp: '2024-05-14T10:15:06+03:00',
        status: 'in_progress', from: null, to: '03-123-4567', extension: '1001',
        answered_at: '2024-05-14T10:15:06+03:00', metadata: { agent: 'Moshe', attempt: 2 },
      },
      end: {
        event_id: `${ext}-end`, call_id: ext, type: 'call.ended', sequence: 3, timestamp: ENDED_UNIX,
        status: 'ended', disposition: 'answered', caller_name: null, ended_at: ENDED_UNIX,
        duration_sec: 192, billsec: 186, cost: { amount: 0.12, currency: 'USD' },
        recording_url: 'https://recordings.example.com/r/abc.mp3',
      },
    };
  }
  const RANK = { queued: 0, ringing: 1, in_progress: 2, ended: 3 };
  const STATUS_OF = { ring: 'ringing', answer: 'in_progress', end: 'ended' };
  const ORDERS = [
    ['ring', 'answer', 'end'], ['ring', 'end', 'answer'], ['answer', 'ring', 'end'],
    ['answer', 'end', 'ring'], ['end', 'ring', 'answer'], ['end', 'answer', 'ring'],
  ];

  test('every order of ringing/in_progress/ended, with a repeat, gives the same call', { timeout: 120_000 }, async () => {
    const finals = [];
    for (const [i, order] of ORDERS.entries()) {
      const ext = uid(`merge-${order.join('-')}`);
      const ev = events(ext);
      // The repeat goes right after the first delivery of one event, or at the end.
      const rep = order[i % 3];
      const deliveries = [...order];
      if (i % 2 === 0) deliveries.push(rep);
      else deliveries.splice(order.indexOf(rep) + 1, 0, rep);
      const seen = new Set();
      let callId;
      let maxRank = -1;
      for (const name of deliveries) {
        const r = await post(ev[name]);
        assert.equal(r.status, 200, `${order}: ${name}: ${r.text}`);
        assert.equal(r.json.status, seen.has(name) ? 'duplicate' : 'stored', `${order}: ${name}`);
        assert.equal(r.json.event_id, ev[name].event_id);
        if (callId) assert.equal(r.json.call_id, callId, 'all events land on one call');
        callId = r.json.call_id;
        seen.add(name);
        maxRank = Math.max(maxRank, RANK[STATUS_OF[name]]);
        const c = await getCall(callId);
        assert.equal(RANK[c.status], maxRank, `${order} after ${name}: status ${c.status} went backwards or did not advance`);
        if (seen.has('ring')) {
          assert.equal(c.from, '+972501234567', `${order} after ${name}: from was erased`);
          assert.equal(c.caller_name, 'דנה כהן', `${order} after ${name}: caller_name was erased`);
        }
      }
      const c = await getCall(callId);
      assertCallShape(c);
      assert.equal(c.external_id, ext);
      assert.equal(c.events.length, 3);
      finals.push(c);
    }

    const first = finals[0];
    assert.equal(first.tenant, 'acme');
    assert.equal(first.provider, 'generic');
    assert.equal(first.direction, 'inbound');
    assert.equal(first.status, 'ended');
    assert.equal(first.disposition, 'answered');
    assert.equal(first.from, '+972501234567');
    assert.equal(first.from_raw, '050-123-4567');
    assert.equal(first.to, '+97231234567');
    assert.equal(first.to_raw, '03-123-4567');
    assert.equal(first.caller_name, 'דנה כהן');
    assert.equal(first.extension, '1001');
    assert.equal(first.started_at, '2024-05-14T07:15:00Z', 'local time in Asia/Jerusalem (UTC+3 in May)');
    assert.equal(first.answered_at, '2024-05-14T07:15:06Z', 'offset +03:00');
    assert.equal(first.ended_at, '2024-05-14T07:18:12Z', 'Unix seconds');
    assert.equal(first.duration_sec, 192);
    assert.equal(first.billsec, 186);
    assert.equal(first.recording_url, 'https://recordings.example.com/r/abc.mp3');
    assert.equal(first.transcript, null);
    assert.equal(first.summary, null);
    assert.deepEqual(first.cost, { amount: 0.12, currency: 'USD' });
    assert.deepEqual(first.metadata, { queue: 'sales', attempt: 2, agent: 'Moshe' }, 'metadata merges key by key, newest wins');
    assert.deepEqual(first.legs, []);
    assert.equal(first.over_limit, false);
    assert.equal(first.event_count, 3);

    const VOLATILE = ['id', 'external_id', 'created_at', 'updated_at', 'events'];
    for (const [i, c] of finals.entries()) {
      assert.deepEqual(omit(c, VOLATILE), omit(first, VOLATILE), `order ${ORDERS[i].join(' → ')} gave a different call`);
    }
  });

  test('times without an offset are local to the tenant (winter and summer)', T, async () => {
    const cases = [
      ['2024-05-14 10:15:00', '2024-05-14T07:15:00Z'],
      ['2024-05-14T10:15:00', '2024-05-14T07:15:00Z'],
      ['2024-01-10T09:00:00', '2024-01-10T07:00:00Z'],
      ['2024-01-10T09:00:00Z', '2024-01-10T09:00:00Z'],
      ['2024-01-10T09:00:00-05:00', '2024-01-10T14:00:00Z'],
      [1704877200, '2024-01-10T09:00:00Z'],
    ];
    for (const [input, want] of cases) {
      const r = await post({ call_id: uid('tz'), started_at: input });
      assert.equal(r.status, 200, `${input}: ${r.text}`);
      const c = await getCall(r.json.call_id);
      assert.equal(c.started_at, want, `started_at ${JSON.stringify(input)}`);
    }
  });

  test('numbers are normalised to E.164 with the tenant country; raw kept', T, async () => {
    const cases = [
      ['050-123-4567', '+972501234567'],
      ['03-123-4567', '+97231234567'],
      ['+44 20 7946 0958', '+442079460958'],
      ['+1 (415) 555-0142', '+14155550142'],
      ['00 49 30 1234567', '+49301234567'],
    ];
    for (const [raw, e164] of cases) {
      const r = await post({ call_id: uid('num'), from: raw, to: raw });
      assert.equal(r.status, 200, r.text);
      const c = await getCall(r.json.call_id);
      assert.equal(c.from, e164, `from ${raw}`);
      assert.equal(c.to, e164, `to ${raw}`);
      assert.equal(c.from_raw, raw);
      assert.equal(c.to_raw, raw);
    }
  });

  test('events with leg_id appear as legs', T, async () => {
    const recs = JSON.parse(fixture('generic/ring-group-legs.json'));
    const r = await post(recs);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stored, 4, r.text);
    const ids = new Set(r.json.results.map((x) => x.call_id));
    assert.equal(ids.size, 1, 'all records belong to one call');
    const c = await getCall([...ids][0]);
    assertCallShape(c);
    assert.equal(c.legs.length, 2, JSON.stringify(c.legs));
    const a = c.legs.find((l) => l.id === 'leg-a');
    const b = c.legs.find((l) => l.id === 'leg-b');
    assert.ok(a && b, `legs ${c.legs.map((l) => l.id)}`);
    assert.equal(a.status, 'ended');
    assert.equal(a.disposition, 'no_answer');
    assert.equal(a.extension, '1001');
    assert.equal(a.direction, 'inbound');
    assert.equal(a.started_at, '2024-05-14T10:45:01Z');
    assert.equal(a.ended_at, '2024-05-14T10:45:21Z');
    assert.equal(a.answered_at, null);
    assert.equal(a.recording_url, null);
    assert.equal(b.status, 'ended');
    assert.equal(b.disposition, 'answered');
    assert.equal(b.extension, '1002');
    assert.equal(b.started_at, '2024-05-14T10:45:21Z');
    assert.equal(b.answered_at, '2024-05-14T10:45:25Z');
    assert.equal(b.ended_at, '2024-05-14T10:47:05Z');
    assert.equal(b.duration_sec, 104);
    assert.equal(b.billsec, 100);
    assert.equal(b.recording_url, 'https://recordings.example.co.il/2024/05/14/pbx1-20240514-0005-leg-b.mp3');
    // The call itself keeps its own facts.
    assert.equal(c.from, '+14155550199');
    assert.equal(c.from_raw, '+1 415 555 0199');
    assert.equal(c.caller_name, 'José Martínez');
    assert.equal(c.extension, '600');
    assert.equal(c.status, 'ended');
    assert.equal(c.disposition, 'answered');
    assert.equal(c.started_at, '2024-05-14T10:45:00Z');
    assert.equal(c.ended_at, '2024-05-14T10:47:05Z');
    assert.equal(c.duration_sec, 125);
    assert.equal(c.event_count, 4);
    assert.deepEqual(c.events.map((e) => e.leg_id), [null, 'leg-a', 'leg-b', null]);
  });
});

describe('legs against a live call', () => {
  // A ring group: the call is ringing at call level; agent 1001 does not pick up (its leg ends
  // no_answer) while agent 1002 is still ringing. The call must stay live, in every order.
  const mk = (ext) => [
    { call_id: ext, event_id: `${ext}-ring`, sequence: 1, direction: 'inbound', status: 'ringing',
      from: '+1 415 555 0100', to: '600', started_at: '2024-05-14T10:00:00Z' },
    { call_id: ext, event_id: `${ext}-a`, sequence: 2, leg_id: 'a', to: '1001', extension: '1001',
      status: 'ended', disposition: 'no_answer', started_at: '2024-05-14T10:00:01Z',
      ended_at: '2024-05-14T10:00:21Z' },
  ];
  test('an ended agent leg does not end a call that is still ringing', T, async () => {
    for (const order of [[0, 1], [1, 0]]) {
      const ext = uid('livelegs');
      const evs = mk(ext);
      let id;
      for (const i of order) {
        const r = await post(evs[i]);
        assert.equal(r.status, 200, r.text);
        id = r.json.call_id;
      }
      const c = await getCall(id);
      assert.equal(c.status, 'ringing', `order ${order}: ${JSON.stringify(c)}`);
      assert.equal(c.disposition, null);
      assert.equal(c.ended_at, null);
      assert.equal(c.to_raw, '600', 'the leg does not overwrite the dialled number');
      assert.equal(c.extension, '1001', 'a gap at call level is filled from the leg');
      assert.equal(c.legs.length, 1);
      assert.equal(c.legs[0].status, 'ended');
      assert.equal(c.legs[0].disposition, 'no_answer');
      // the call-level end arrives: now it is over, with its own verdict
      const r = await post({ call_id: ext, event_id: `${ext}-end`, sequence: 9, status: 'ended',
        disposition: 'answered', answered_at: '2024-05-14T10:00:25Z', ended_at: '2024-05-14T10:02:00Z' });
      assert.equal(r.status, 200, r.text);
      const d = await getCall(id);
      assert.equal(d.status, 'ended');
      assert.equal(d.disposition, 'answered');
      assert.equal(d.ended_at, '2024-05-14T10:02:00Z');
      assert.equal(d.duration_sec, 120);
    }
  });
  test('a call known only from legs takes its end from them', T, async () => {
    const ext = uid('legsonly');
    const r = await post([
      { call_id: ext, event_id: `${ext}-a`, leg_id: 'a', status: 'ended', disposition: 'no_answer',
        started_at: '2024-05-14T10:00:00Z', ended_at: '2024-05-14T10:00:20Z' },
      { call_id: ext, event_id: `${ext}-b`, leg_id: 'b', status: 'ended', disposition: 'answered',
        started_at: '2024-05-14T10:00:20Z', answered_at: '2024-05-14T10:00:24Z', ended_at: '2024-05-14T10:01:00Z' },
    ]);
    assert.equal(r.status, 200, r.text);
    const c = await getCall(r.json.results[0].call_id);
    assert.equal(c.status, 'ended');
    assert.equal(c.disposition, 'answered', 'one answered leg makes the call answered');
    assert.equal(c.started_at, '2024-05-14T10:00:00Z');
    assert.equal(c.answered_at, '2024-05-14T10:00:24Z');
    assert.equal(c.ended_at, '2024-05-14T10:01:00Z');
  });
  test('null inside metadata erases nothing', T, async () => {
    const ext = uid('metanull');
    let r = await post({ call_id: ext, event_id: `${ext}-1`, sequence: 1, metadata: { queue: 'sales', crm_id: 'X1' } });
    assert.equal(r.status, 200, r.text);
    r = await post({ call_id: ext, event_id: `${ext}-2`, sequence: 2, metadata: { queue: null, crm_id: 'X2', agent: 'Noa' } });
    assert.equal(r.status, 200, r.text);
    const c = await getCall(r.json.call_id);
    assert.deepEqual(c.metadata, { queue: 'sales', crm_id: 'X2', agent: 'Noa' });
  });
});

test('the main server exits 0 on SIGTERM (no leaks under ASan/LSan)', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-4000));
});
