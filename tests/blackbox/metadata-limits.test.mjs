// Metadata limits (docs/merge.md, "Metadata limits"): an event whose metadata is too large, too
// deep or has too many keys is refused with 422 metadata_too_large before anything is written; a
// call whose metadata reached its per-call limit keeps storing events (their metadata is not kept,
// and the stored event says why); real provider payloads are far below every limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import {
  cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, apiGet, listAllCalls, sqlite, fixture,
} from './lib.mjs';

const T = { timeout: 120_000 };
const RETELL_KEY = 'key_retell_meta_limits';
const VAPI_SECRET = 'vapi-meta-limits-secret';
let dir, db, S, t;
let n = 0;
const uid = (p) => `${p}-${process.pid}-${++n}`;

before(async () => {
  dir = tmpDir('callhook-metadata-');
  db = path.join(dir, 'm.db');
  t = setupTenant(db, 'meta');
  cli(db, ['source', 'add', 'meta', 'retell', '--secret', RETELL_KEY]);
  cli(db, ['source', 'add', 'meta', 'vapi', '--secret', VAPI_SECRET]);
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const post = (body) => postHook(S, 'meta', body, { headers: hookAuth(t) });
const keys = (count, prefix, value = (i) => i) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, value(i)]));
const nested = (levels) => (levels === 0 ? 'leaf' : { d: nested(levels - 1) });
const eventsOf = (callId) => Number(sqlite(db, `SELECT count(*) FROM events WHERE idem_key LIKE 'generic:${callId}/%'`).trim());

async function callByExternal(ext) {
  const c = (await listAllCalls(S, t.apiKey)).calls.find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed`);
  return (await apiGet(S, `/v1/calls/${c.id}`, t.apiKey)).json;
}

function assertTooLarge(r, field, what) {
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error, 'metadata_too_large', r.text);
  assert.equal(r.json.field, field, r.text);
  assert.match(r.json.message, what, r.text);
}

test('an event with 60,000 metadata keys is refused with 422 and nothing is stored', T, async () => {
  const id = uid('wide');
  const r = await post({ call_id: id, event_id: `${id}/1`, status: 'ringing', metadata: keys(60000, 'k') });
  assertTooLarge(r, 'metadata', /60000 keys.*at most 500 per event/);
  assert.equal(eventsOf(id), 0);
  // keys are counted at every depth: 501 spread over nested objects are too many as well
  const r2 = await post({ call_id: id, event_id: `${id}/2`, metadata: { a: keys(250, 'a'), b: keys(249, 'b') } });
  assertTooLarge(r2, 'metadata', /501 keys/);
  // 500 is allowed
  const ok = await post({ call_id: id, event_id: `${id}/3`, metadata: { a: keys(250, 'a'), b: keys(248, 'b') } });
  assert.equal(ok.status, 200, ok.text);
});

test('deep nesting and a large serialized size are refused with 422', T, async () => {
  const id = uid('deep');
  // nested(n): the metadata object and n - 1 objects inside it, n levels
  const deep = await post({ call_id: id, event_id: `${id}/1`, metadata: nested(11) });
  assertTooLarge(deep, 'metadata', /nested more than 10 levels/);
  const veryDeep = await post({ call_id: id, event_id: `${id}/2`, metadata: nested(1500) });
  assertTooLarge(veryDeep, 'metadata', /nested more than 10 levels/);
  const big = await post({ call_id: id, event_id: `${id}/3`, metadata: { blob: 'x'.repeat(65 * 1024) } });
  assertTooLarge(big, 'metadata', /bytes as JSON; at most 65536 per event/);
  assert.equal(eventsOf(id), 0);
  const ok = await post({ call_id: id, event_id: `${id}/4`, metadata: nested(10) });
  assert.equal(ok.status, 200, ok.text);
});

test('a batch with one oversized record is refused whole, naming the record', T, async () => {
  const id = uid('batch');
  const r = await post([
    { call_id: id, event_id: `${id}/1`, status: 'ringing', metadata: { queue: 'support' } },
    { call_id: id, event_id: `${id}/2`, status: 'ended', metadata: keys(600, 'k') },
  ]);
  assertTooLarge(r, '[1].metadata', /600 keys/);
  assert.equal(eventsOf(id), 0);
});

test('the per-call key limit: events beyond it are stored without their metadata', T, async () => {
  const id = uid('call');
  // 4 events of 500 distinct keys reach the call's 2000 keys
  for (let i = 1; i <= 4; i++) {
    const r = await post({ call_id: id, event_id: `${id}/${i}`, sequence: i, status: 'in_progress', metadata: keys(500, `e${i}_`) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
  }
  // more distinct keys: stored (2xx, so the sender does not retry), metadata not kept
  for (let i = 5; i <= 7; i++) {
    const r = await post({ call_id: id, event_id: `${id}/${i}`, sequence: i, status: i === 7 ? 'ended' : 'in_progress',
      ended_at: i === 7 ? '2024-05-14T10:18:12Z' : undefined, metadata: keys(500, `e${i}_`) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'stored');
  }
  // a repeat is a duplicate, as always
  const again = await post({ call_id: id, event_id: `${id}/6`, sequence: 6, status: 'in_progress', metadata: keys(500, 'e6_') });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.status, 'duplicate');
  // a later value for a key the call has is still taken: it adds no key
  const upd = await post({ call_id: id, event_id: `${id}/8`, sequence: 8, metadata: { e1_0: 'updated' } });
  assert.equal(upd.status, 200, upd.text);

  const c = await callByExternal(id);
  assert.equal(Object.keys(c.metadata).length, 2000);
  assert.equal(c.metadata.e1_0, 'updated');
  assert.equal(c.metadata.e4_499, 499);
  assert.ok(!('e5_0' in c.metadata) && !('e7_0' in c.metadata), 'keys beyond the limit are not added');
  assert.equal(c.status, 'ended', 'the rest of an event beyond the limit still merges');
  assert.equal(c.event_count, 8);
  // the stored event says why, and keeps its raw body
  const norm = JSON.parse(sqlite(db, `SELECT norm FROM events WHERE idem_key='generic:${id}/5'`));
  assert.match(norm.metadata_dropped, /2500 keys; at most 2000 per call/);
  assert.equal(norm.metadata, undefined);
  const raw = sqlite(db, `SELECT raw FROM events WHERE idem_key='generic:${id}/5'`);
  assert.match(raw, /e5_499/);
});

test('the per-call bytes limit counts what the events keep; verbatim repeats are kept once', T, async () => {
  // 9 events of 30,000 bytes with distinct keys: the 9th takes the call past 256 KiB
  const id = uid('bytes');
  for (let i = 1; i <= 9; i++) {
    const r = await post({ call_id: id, event_id: `${id}/${i}`, sequence: i, metadata: { [`blob${i}`]: 'x'.repeat(30000) } });
    assert.equal(r.status, 200, r.text);
  }
  let c = await callByExternal(id);
  assert.deepEqual(Object.keys(c.metadata).sort(), ['blob1', 'blob2', 'blob3', 'blob4', 'blob5', 'blob6', 'blob7', 'blob8']);
  let norm = JSON.parse(sqlite(db, `SELECT norm FROM events WHERE idem_key='generic:${id}/9'`));
  assert.match(norm.metadata_dropped, /events would keep \d+ bytes of metadata; at most 262144 per call/);

  // the same key with a new value each time: the merged value stays small, but every merge
  // reads back what the events keep, so the 9th value is not kept either
  const id2 = uid('values');
  for (let i = 1; i <= 12; i++) {
    const r = await post({ call_id: id2, event_id: `${id2}/${i}`, sequence: i, metadata: { note: `${i}:`.padEnd(30000, 'y') } });
    assert.equal(r.status, 200, r.text);
  }
  c = await callByExternal(id2);
  assert.ok(c.metadata.note.startsWith('8:'), `the newest kept value wins: ${c.metadata.note.slice(0, 4)}`);
  assert.equal(c.event_count, 12);

  // the same metadata 40 times (a provider repeating the call's metadata in every update) is
  // kept once: nothing is dropped and later new metadata still fits
  const id3 = uid('repeat');
  const same = { crm: 'z'.repeat(30000) };
  for (let i = 1; i <= 40; i++) {
    const r = await post({ call_id: id3, event_id: `${id3}/${i}`, sequence: i, metadata: same });
    assert.equal(r.status, 200, r.text);
  }
  const last = await post({ call_id: id3, event_id: `${id3}/41`, sequence: 41, metadata: { outcome: 'w'.repeat(30000) } });
  assert.equal(last.status, 200, last.text);
  c = await callByExternal(id3);
  assert.equal(c.metadata.crm, same.crm);
  assert.equal(c.metadata.outcome.length, 30000);
  assert.equal(Number(sqlite(db, `SELECT count(*) FROM events WHERE idem_key LIKE 'generic:${id3}/%' AND norm LIKE '%metadata_dropped%'`).trim()), 0);
  norm = JSON.parse(sqlite(db, `SELECT norm FROM events WHERE idem_key='generic:${id3}/7'`));
  assert.equal(norm.metadata_as, `generic:${id3}/1`);
  assert.equal(norm.metadata, undefined);
});

test('real payloads are far below the limits: generic fixtures, Retell and Vapi with analysis', T, async () => {
  for (const f of ['inbound-answered', 'inbound-busy', 'inbound-ringing', 'internal', 'outbound-no-answer', 'ring-group-legs']) {
    const r = await post(fixture(`generic/${f}.json`));
    assert.equal(r.status, 200, `${f}: ${r.text}`);
  }
  // Retell: a long call with many transcript updates, each repeating the call's metadata, then
  // the analysis (custom analysis data and a long summary)
  const rid = uid('retell');
  const callMeta = keys(20, 'crm_', (i) => `value-${i}-`.padEnd(40, 'z'));
  const call = (extra) => ({ call_id: rid, agent_id: 'agent_1', call_type: 'phone_call', direction: 'inbound',
    from_number: '+12137771234', to_number: '+12137771235', start_timestamp: 1714608475945, metadata: callMeta, ...extra });
  const retell = (body) => {
    const ts = Date.now();
    const sig = `v=${ts},d=${createHmac('sha256', RETELL_KEY).update(body + String(ts)).digest('hex')}`;
    return postHook(S, 'meta', body, { provider: 'retell', headers: { 'x-retell-signature': sig } });
  };
  let transcript = '';
  for (let i = 0; i < 60; i++) {
    transcript += `Agent: turn ${i} of a long conversation about an appointment.\n`;
    const r = await retell(JSON.stringify({ event: 'transcript_updated', call: call({ call_status: 'ongoing', transcript }) }));
    assert.equal(r.status, 200, r.text);
  }
  const analysis = { call_summary: 'The caller booked a follow-up. '.repeat(60), user_sentiment: 'Positive',
    call_successful: true, in_voicemail: false, custom_analysis_data: keys(60, 'field_', (i) => `answer ${i}`.padEnd(80, '.')) };
  const ended = call({ call_status: 'ended', end_timestamp: 1714608491736, duration_ms: 15791,
    disconnection_reason: 'user_hangup', transcript });
  let r = await retell(JSON.stringify({ event: 'call_ended', call: ended }));
  assert.equal(r.status, 200, r.text);
  r = await retell(JSON.stringify({ event: 'call_analyzed', call: { ...ended, call_analysis: analysis } }));
  assert.equal(r.status, 200, r.text);
  const rc = await callByExternal(rid);
  assert.equal(rc.metadata.call_analysis.custom_analysis_data.field_59, analysis.custom_analysis_data.field_59);
  assert.equal(rc.metadata.retell_metadata.crm_19, callMeta.crm_19);
  assert.equal(Number(sqlite(db, "SELECT count(*) FROM events WHERE norm LIKE '%metadata_dropped%' AND provider='retell'").trim()), 0);
  // the updates repeat the call's metadata verbatim: stored once, the others name that event
  assert.equal(Number(sqlite(db, "SELECT count(*) FROM events WHERE norm LIKE '%\"metadata_as\"%' AND provider='retell'").trim()), 59);

  // Vapi: an end-of-call report with a sizeable structured-data object
  const vid = uid('vapi');
  r = await postHook(S, 'meta', JSON.stringify({ message: { type: 'end-of-call-report', endedReason: 'customer-ended-call',
    call: { id: vid, type: 'inboundPhoneCall', customer: { number: '+14155550123' } },
    startedAt: '2024-05-14T10:00:00Z', endedAt: '2024-05-14T10:05:00Z', cost: 0.42,
    analysis: { summary: 'Booked.', successEvaluation: 'true',
      structuredData: { intake: keys(80, 'q_', (i) => `an answer to question ${i}`), tags: ['a', 'b', 'c'] } } } }),
  { provider: 'vapi', headers: { 'x-vapi-secret': VAPI_SECRET } });
  assert.equal(r.status, 200, r.text);
  const vc = await callByExternal(vid);
  assert.equal(vc.metadata.structured_data.intake.q_79, 'an answer to question 79');
});
