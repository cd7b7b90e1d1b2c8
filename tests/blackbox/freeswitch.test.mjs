// FreeSWITCH mod_json_cdr adapter: every fixture in the three body encodings mod_json_cdr sends
// (raw JSON, cdr=<urlencoded JSON>, cdr=<base64 JSON>), checked field by field after
// normalisation; encode-values (URL-encoded values inside the JSON); a two-leg call (A-leg and
// B-leg CDRs sharing call_uuid) in both orders with a repeat; 400/401/415/422; SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, fixture, postHook, apiGet, omit, listAllCalls, basic, http } from './lib.mjs';

const T = { timeout: 120_000 };
const SLUG = 'fsco';
const USER = 'fs-json-cdr';
const PASS = `pw-${Math.random().toString(36).slice(2)}`;
let dir, db, S, apiKey;

before(async () => {
  dir = tmpDir('callhook-freeswitch-');
  db = path.join(dir, 'f.db');
  cli(db, ['tenant', 'add', SLUG, '--features', 'none', '--timezone', 'Asia/Jerusalem', '--country', '972']);
  cli(db, ['source', 'add', SLUG, 'freeswitch', '--username', USER, '--password', PASS]);
  apiKey = cli(db, ['apikey', 'add', SLUG]).api_key;
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const AUTH = { Authorization: basic(USER, PASS) };
const CT = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
  base64: 'application/x-www-form-base64-encoded',
};
// The body mod_json_cdr sends for the CDR text with `encode` = false / true / base64.
function encode(text, enc) {
  if (enc === 'json') return text;
  if (enc === 'form') return new URLSearchParams({ cdr: text }).toString();
  return `cdr=${Buffer.from(text, 'utf8').toString('base64')}`; // base64 is not URL-encoded
}
const post = (body, contentType, headers = AUTH) =>
  postHook(S, SLUG, body, { provider: 'freeswitch', headers, contentType });

async function calls() {
  return (await listAllCalls(S, apiKey)).calls;
}
async function callByExternal(ext) {
  const c = (await calls()).find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed`);
  const r = await apiGet(S, `/v1/calls/${c.id}`, apiKey);
  assert.equal(r.status, 200);
  return r.json;
}

// A copy of a fixture whose channel uuids end in a new suffix, so that each delivery below is
// a call of its own (mod_json_cdr's idempotency key is the channel uuid).
function withUuids(text, uuids, suffix) {
  let out = text;
  for (const u of uuids) out = out.replaceAll(u, u.slice(0, -suffix.length) + suffix);
  return out;
}
const re = (u, suffix) => u.slice(0, -suffix.length) + suffix;

const A = '3f8e6b2a-7c41-4d2e-b5a9-0e1f2d3c4a01';
const B = '9c1d4e7f-2a3b-4c5d-8e9f-0a1b2c3d4b02';
const N = '5b2c7d8e-1f3a-4b6c-9d0e-2f4a6c8e0c03';
const O = '7e4f1a2b-3c5d-4e6f-8a9b-1c2d3e4f5d04';
const E = '2a9b8c7d-6e5f-4a3b-9c1d-0e2f4a6b7e05';

// What each single-CDR fixture normalises to (uuid = the fixture's channel uuid after renaming).
const SINGLE = [
  {
    file: 'no-answer-inbound.json', uuid: N,
    want: (u) => ({
      provider: 'freeswitch', status: 'ended', direction: 'inbound', disposition: 'no_answer',
      from: '+14155550100', from_raw: '+14155550100', to: '+97235551234', to_raw: '035551234',
      caller_name: null, extension: null, recording_url: null,
      started_at: '2024-05-14T10:20:00.250Z', answered_at: null, ended_at: '2024-05-14T10:20:30.750Z',
      duration_sec: 30, billsec: 0,
      metadata: { hangup_cause: 'NO_ANSWER', sip_hangup_disposition: 'send_refuse', switchname: 'pbx-tlv-1', mos: 0 },
      external_id: u,
    }),
  },
  {
    file: 'outbound-busy.json', uuid: O,
    want: (u) => ({
      provider: 'freeswitch', status: 'ended', direction: 'outbound', disposition: 'busy',
      from: '+97235551234', from_raw: '035551234', to: '+972541234567', to_raw: '0541234567',
      caller_name: 'Acme Ltd', extension: null, recording_url: null,
      started_at: '2024-05-14T12:33:20Z', answered_at: null, ended_at: '2024-05-14T12:33:26.400Z',
      duration_sec: 6, billsec: 0,
      metadata: { hangup_cause: 'USER_BUSY', sip_hangup_disposition: 'recv_refuse', switchname: 'pbx-tlv-1', mos: 0 },
      external_id: u,
    }),
  },
  {
    file: 'encoded-values.json', uuid: E,
    want: (u) => ({
      provider: 'freeswitch', status: 'ended', direction: 'inbound', disposition: 'answered',
      from: '+972501234567', from_raw: '+972501234567', to: '+97235551234', to_raw: '+97235551234',
      caller_name: 'דנה לוי', extension: null,
      recording_url: `/var/lib/freeswitch/recordings/2024-05-14/${u}.wav`,
      started_at: '2024-05-14T14:00:00Z', answered_at: '2024-05-14T14:00:03.250Z', ended_at: '2024-05-14T14:00:45Z',
      duration_sec: 45, billsec: 42,
      metadata: { hangup_cause: 'NORMAL_CLEARING', sip_hangup_disposition: 'send_bye', switchname: 'pbx-tlv-1', mos: 3.97 },
      external_id: u,
    }),
  },
];

function checkFields(c, want, what) {
  for (const [k, v] of Object.entries(want)) assert.deepEqual(c[k], v, `${what}: ${k}`);
}

test('the fixtures really are encode-values bodies where they say so', T, () => {
  const enc = JSON.parse(fixture('freeswitch/encoded-values.json'));
  assert.equal(enc.variables.caller_id_number, '%2B972501234567');
  assert.match(enc.variables.caller_id_name, /^%D7%93/);
  const plain = JSON.parse(fixture('freeswitch/inbound-bridged-a-leg.json'));
  assert.equal(plain.variables.caller_id_number, '0501234567');
  for (const f of ['inbound-bridged-a-leg.json', 'inbound-bridged-b-leg.json', 'no-answer-inbound.json', 'outbound-busy.json', 'encoded-values.json']) {
    const j = JSON.parse(fixture(`freeswitch/${f}`));
    for (const k of ['core-uuid', 'switchname', 'channel_data', 'callStats', 'variables', 'app_log', 'callflow'])
      assert.ok(k in j, `${f} has ${k}`);
  }
});

test('single CDRs in each encoding normalise field by field; raw body and content type kept', T, async () => {
  for (const [n, enc] of ['json', 'form', 'base64'].entries()) {
    for (const f of SINGLE) {
      const sfx = `e${n}`;
      const text = withUuids(fixture(`freeswitch/${f.file}`), [f.uuid], sfx);
      const body = encode(text, enc);
      const r = await post(body, CT[enc]);
      assert.equal(r.status, 200, `${f.file} as ${enc}: ${r.text}`);
      assert.equal(r.json.status, 'stored', r.text);
      const u = re(f.uuid, sfx);
      const c = await callByExternal(u);
      checkFields(c, f.want(u), `${f.file} as ${enc}`);
      assert.equal(c.legs.length, 0, 'the CDR whose uuid is call_uuid is the call itself');
      assert.equal(c.event_count, 1);
      const ev = c.events[0];
      assert.equal(ev.idempotency_key, `freeswitch:${u}`);
      assert.equal(ev.leg_id, null);
      assert.equal(ev.sequence, null);
      assert.equal(ev.provider_timestamp, c.ended_at, 'ts is the end time');
      assert.equal(ev.content_type, CT[enc]);
      assert.equal(ev.raw, body, 'raw is the request body as received');
      // a retry of the same delivery changes nothing
      const again = await post(body, CT[enc]);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.status, 'duplicate', again.text);
    }
  }
});

test("base64 digits '+' and '/' are not form escapes; unpadded base64 is accepted", T, async () => {
  const j = JSON.parse(withUuids(fixture('freeswitch/outbound-busy.json'), [O], 'pl'));
  let name = 'Acme ~~~??? Ltd';
  let b64 = '';
  for (let i = 0; i < 3; i++) {
    j.variables.caller_id_name = name;
    b64 = Buffer.from(JSON.stringify(j)).toString('base64');
    if (b64.includes('+') && b64.includes('/')) break;
    name = `x${name}`;
  }
  assert.ok(b64.includes('+') && b64.includes('/'), 'the body exercises + and /');
  let r = await post(`cdr=${b64}`, CT.base64);
  assert.equal(r.status, 200, r.text);
  let c = await callByExternal(re(O, 'pl'));
  assert.equal(c.caller_name, name);
  // a sender that URL-encodes the parameter anyway, without padding
  j.variables.uuid = j.variables.call_uuid = re(O, 'pu');
  for (let i = 0; i < 3 && (Buffer.from(JSON.stringify(j)).toString('base64').match(/=*$/)[0].length === 0); i++)
    j.variables.caller_id_name += 'y';
  b64 = Buffer.from(JSON.stringify(j)).toString('base64');
  assert.ok(b64.endsWith('='));
  r = await post(`cdr=${encodeURIComponent(b64.replace(/=+$/, ''))}`, CT.base64);
  assert.equal(r.status, 200, r.text);
  c = await callByExternal(re(O, 'pu'));
  assert.equal(c.disposition, 'busy');
});

test('a two-leg call (A-leg + B-leg sharing call_uuid), both orders and a repeat, converges', T, async () => {
  const aText = fixture('freeswitch/inbound-bridged-a-leg.json');
  const bText = fixture('freeswitch/inbound-bridged-b-leg.json');
  const finals = [];
  const runs = [['json', ['a', 'b', 'a']], ['form', ['b', 'a', 'b']], ['base64', ['a', 'b', 'b']], ['json', ['b', 'a', 'a']]];
  for (const [n, [enc, order]] of runs.entries()) {
    const sfx = `r${n}`;
    const bodies = { a: encode(withUuids(aText, [A, B], sfx), enc), b: encode(withUuids(bText, [A, B], sfx), enc) };
    const seen = new Set();
    for (const k of order) {
      const r = await post(bodies[k], CT[enc]);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, seen.has(k) ? 'duplicate' : 'stored', r.text);
      seen.add(k);
    }
    finals.push(await callByExternal(re(A, sfx)));
  }
  const c = finals[0];
  const a = re(A, 'r0');
  const b = re(B, 'r0');
  checkFields(c, {
    provider: 'freeswitch', status: 'ended', direction: 'inbound', disposition: 'answered',
    from: '+972501234567', from_raw: '0501234567', to: '+97235551234', to_raw: '035551234',
    caller_name: 'Dana Levi', extension: '1001',
    recording_url: `/var/lib/freeswitch/recordings/2024-05-14/${a}.wav`,
    started_at: '2024-05-14T10:15:00.123Z', answered_at: '2024-05-14T10:15:04.502Z', ended_at: '2024-05-14T10:16:50.987Z',
    duration_sec: 110, billsec: 106,
    metadata: { hangup_cause: 'NORMAL_CLEARING', sip_hangup_disposition: 'recv_bye', switchname: 'pbx-tlv-1', mos: 4.38 },
    event_count: 2,
  }, 'A-leg call');
  assert.equal(c.legs.length, 1, 'the B-leg is the one leg');
  const leg = c.legs[0];
  assert.equal(leg.id, b);
  assert.equal(leg.direction, 'outbound');
  assert.equal(leg.disposition, 'answered');
  assert.equal(leg.to_raw, '1001');
  assert.equal(leg.from_raw, '0501234567');
  assert.equal(leg.started_at, '2024-05-14T10:15:01.002Z');
  assert.equal(leg.billsec, 106);
  assert.equal(leg.status, 'ended');
  assert.equal(leg.from, '+972501234567');
  assert.equal(leg.caller_name, 'Dana Levi');
  assert.equal(leg.extension, '1001');
  assert.equal(leg.answered_at, '2024-05-14T10:15:04.498Z');
  assert.equal(leg.ended_at, '2024-05-14T10:16:50.987Z');
  assert.equal(leg.duration_sec, 109);
  assert.deepEqual(c.events.map((e) => e.leg_id).sort(), [b, null].sort());
  assert.deepEqual(c.events.map((e) => e.idempotency_key).sort(), [`freeswitch:${a}`, `freeswitch:${b}`].sort());
  const VOLATILE = ['id', 'external_id', 'created_at', 'updated_at', 'events', 'legs', 'recording_url'];
  for (const [i, f] of finals.entries()) {
    assert.deepEqual(omit(f, VOLATILE), omit(c, VOLATILE), `run ${i} (${runs[i][0]}, ${runs[i][1]}) differs`);
    assert.equal(f.legs.length, 1);
    assert.deepEqual(omit(f.legs[0], ['id']), omit(c.legs[0], ['id']), `run ${i}: the leg differs`);
  }
});

test('a B-leg alone makes a call known only from its leg', T, async () => {
  const r = await post(withUuids(fixture('freeswitch/inbound-bridged-b-leg.json'), [A, B], 'bl'), CT.json);
  assert.equal(r.status, 200, r.text);
  const c = await callByExternal(re(A, 'bl'));
  assert.equal(c.legs.length, 1);
  assert.equal(c.disposition, 'answered');
  assert.equal(c.status, 'ended');
});

test('the uuid of the URL stands in for a missing variables.uuid', T, async () => {
  const j = JSON.parse(fixture('freeswitch/no-answer-inbound.json'));
  delete j.variables.uuid;
  delete j.variables.call_uuid;
  const u = re(N, 'qq');
  const r = await http(`${S.url}/hooks/${SLUG}/freeswitch?uuid=${u}`, {
    method: 'POST', headers: { ...AUTH, 'Content-Type': CT.json }, body: JSON.stringify(j),
  });
  assert.equal(r.status, 200, r.text);
  const c = await callByExternal(u);
  assert.equal(c.disposition, 'no_answer');
});

test('bad bodies: 400 (malformed JSON with line and column, bad encoding), 422 with a field', T, async () => {
  const before = (await calls()).length;
  // malformed JSON, raw and inside cdr=
  let r = await post('{\n  "variables": {"uuid" "x"}\n}', CT.json);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error, 'malformed_json');
  assert.equal(r.json.line, 2);
  assert.ok(r.json.column > 0, r.text);
  r = await post(encode('{"variables":', 'form'), CT.form);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error, 'malformed_json');
  assert.ok(r.json.line >= 1 && r.json.column >= 1, r.text);
  r = await post(encode('{"variables": [1,,2]}', 'base64'), CT.base64);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error, 'malformed_json');
  assert.equal(r.json.line, 1);
  // bad URL-encoding / base64
  for (const [body, ct] of [['cdr=%7B%ZZ', CT.form], ['cdr=%FF%FE', CT.form], ['cdr=@@not*base64@@', CT.base64], ['cdr=eyJ2Y', CT.base64], ['cdr=%G0', CT.base64]]) {
    r = await post(body, ct);
    assert.equal(r.status, 400, `${body}: ${r.text}`);
    assert.equal(r.json.error, 'malformed_body', `${body}: ${r.text}`);
  }
  // unknown shapes
  const cases = [
    ['{"uuid":"x","caller_id_number":"1001"}', CT.json, 'variables'],
    ['[1,2,3]', CT.json, 'variables'],
    ['{"variables":"none"}', CT.json, 'variables'],
    ['uuid=x&cdr_json=%7B%7D', CT.form, 'cdr'],
    ['json=eyJ9', CT.base64, 'cdr'],
    [JSON.stringify({ variables: { caller_id_number: '1001' } }), CT.json, 'variables.uuid'],
    [JSON.stringify({ variables: { uuid: 'bad-1', start_epoch: 'yesterday' } }), CT.json, 'variables.start_epoch'],
    [JSON.stringify({ variables: { uuid: 'bad-2', billsec: '-5' } }), CT.json, 'variables.billsec'],
    [JSON.stringify({ variables: { uuid: 'bad-3', caller_id_name: '%FF%FE' } }), CT.json, 'variables.caller_id_name'],
    [JSON.stringify({ variables: { uuid: 'bad-4', caller_id_number: '10%00' } }), CT.json, 'variables.caller_id_number'],
  ];
  for (const [body, ct, field] of cases) {
    r = await post(body, ct);
    assert.equal(r.status, 422, `${body}: ${r.text}`);
    assert.equal(r.json.field, field, `${body}: ${r.text}`);
  }
  assert.equal((await calls()).length, before, 'nothing was stored');
});

test('401 without the right credentials; 415 for other media types', T, async () => {
  const before = (await calls()).length;
  const body = withUuids(fixture('freeswitch/no-answer-inbound.json'), [N], 'au');
  for (const headers of [{}, { Authorization: basic(USER, 'wrong') }, { Authorization: basic('someone', PASS) }, { Authorization: 'Bearer nope' }]) {
    const r = await post(body, CT.json, headers);
    assert.equal(r.status, 401, r.text);
  }
  for (const ct of ['text/xml', 'application/xml', 'text/plain', 'multipart/form-data; boundary=x']) {
    const r = await post(body, ct);
    assert.equal(r.status, 415, `${ct}: ${r.text}`);
    assert.equal(r.json.error, 'unsupported_media_type');
  }
  const r = await post(body, null);
  assert.equal(r.status, 415, r.text);
  assert.equal((await calls()).length, before, 'nothing was stored');
  // parameters on the media type are fine
  const ok = await post(body, 'application/json; charset=utf-8');
  assert.equal(ok.status, 200, ok.text);
});

test('the server exits 0 on SIGTERM', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-3000));
});
