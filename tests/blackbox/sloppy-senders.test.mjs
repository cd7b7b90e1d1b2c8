// Careless and hostile senders (issue 9, items 7, 9 and 15a) through the real binary, one
// tenant with a source for every adapter:
//   - numbers are parsed strictly and range-checked: generic, Asterisk and FreeSWITCH answer 422
//     naming the field; Twilio, UCM, Bolna, Retell and Vapi keep the record, drop the value
//     and say why in metadata.callhook_ignored (docs/providers.md#numbers); one absurd value
//     never pins a call's duration;
//   - an Asterisk/OneCom CDR from an external number to an extension, in a context callhook
//     does not know, is inbound; a CDR without `end` ends at start + duration;
//   - ids longer than 256 bytes are refused (422 naming the field) by every adapter.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import twilio from 'twilio';
import { cli, tmpDir, cleanup, startServer, postHook, apiGet, http, basic } from './lib.mjs';

const T = { timeout: 60_000 };
const TW = 'twilio-auth-token-sloppy-0123456789';
const RETELL = 'key_retell_sloppy_123';
const VAPI = 'vapi-sloppy-secret-456';
const TOKEN = 'sloppy-token-0123456789';
const FS = ['fs-pbx', 'fs-password-123'];
const UCM = ['ucm-pbx', 'ucm-password-123'];
const HUGE_ID = 'x'.repeat(100 * 1024);
let dir, db, S, apiKey;

before(async () => {
  dir = tmpDir('callhook-sloppy-');
  db = path.join(dir, 's.db');
  cli(db, ['tenant', 'add', 'acme', '--timezone', 'Asia/Jerusalem', '--country', '972']);
  for (const p of ['generic', 'asterisk', 'bolna']) cli(db, ['source', 'add', 'acme', p, '--token', TOKEN]);
  cli(db, ['source', 'add', 'acme', 'twilio', '--secret', TW]);
  cli(db, ['source', 'add', 'acme', 'retell', '--secret', RETELL]);
  cli(db, ['source', 'add', 'acme', 'vapi', '--secret', VAPI]);
  cli(db, ['source', 'add', 'acme', 'freeswitch', '--username', FS[0], '--password', FS[1]]);
  cli(db, ['source', 'add', 'acme', 'ucm', '--username', UCM[0], '--password', UCM[1]]);
  apiKey = cli(db, ['apikey', 'add', 'acme']).api_key;
  S = await startServer({ db });
});
after(async () => {
  if (S) assert.equal((await S.stop()).code, 0);
  cleanup(dir);
});

let n = 0;
const uid = (p) => `${p}-${process.pid}-${++n}`;
const bearer = { Authorization: `Bearer ${TOKEN}` };

async function stored(r) {
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.call_id, r.text);
  const c = await apiGet(S, `/v1/calls/${r.json.call_id}`, apiKey);
  assert.equal(c.status, 200, c.text);
  return c.json;
}
function refused(r, field) {
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error, 'invalid_record', r.text);
  assert.equal(r.json.field, field, r.text);
}
function ignored(call, field) {
  const why = call.metadata?.callhook_ignored?.[field];
  assert.match(why ?? '', new RegExp(`^${field.replace('.', '\\.')} must be .*ignored`), JSON.stringify(call.metadata));
}

// ---- Twilio: a bad value is dropped, the callback kept ------------------------------------

const twSid = () => `CA${uid('tw').replace(/\D/g, '').padStart(32, '0')}`;
function postTwilio(params) {
  const url = `${S.url}/hooks/acme/twilio`;
  return http(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(TW, url, params) },
    body: new URLSearchParams(params).toString(),
  });
}
const completed = (sid, seq, extra) => ({
  CallSid: sid, CallStatus: 'completed', SequenceNumber: String(seq), Direction: 'inbound',
  From: '+972547654321', To: '+97231234567', Timestamp: 'Tue, 14 May 2024 10:15:49 +0000', ...extra,
});

test('Twilio CallDuration -5, 99999999999999999999999999 and NaN are ignored, with the reason', T, async () => {
  for (const bad of ['-5', '99999999999999999999999999', 'NaN', '1e3', ' 7', '604801']) {
    const sid = twSid();
    const c = await stored(await postTwilio(completed(sid, 3, { CallDuration: bad })));
    assert.equal(c.status, 'ended', bad);
    assert.equal(c.ended_at, '2024-05-14T10:15:49Z', `${bad}: the rest of the callback is kept`);
    assert.equal(c.duration_sec, null, `${bad} is not stored`);
    assert.equal(c.billsec, null, bad);
    ignored(c, 'CallDuration');
  }
});

test('Twilio: one absurd callback does not pin the duration', T, async () => {
  const sid = twSid();
  await stored(await postTwilio(completed(sid, 3, { CallDuration: '42' })));
  const c = await stored(await postTwilio(completed(sid, 4, { CallDuration: '99999999999999999999999999' })));
  assert.equal(c.duration_sec, 42);
  assert.equal(c.billsec, 42);
});

test('Twilio: a bad Timestamp or SipResponseCode is ignored; a bad SequenceNumber is 422', T, async () => {
  const sid = twSid();
  const c = await stored(await postTwilio(completed(sid, 3, { CallDuration: '10', Timestamp: 'Tue, 14 May 2124 10:15:49 +0000', SipResponseCode: '99999' })));
  assert.equal(c.duration_sec, 10);
  assert.equal(c.ended_at, null);
  ignored(c, 'Timestamp');
  ignored(c, 'SipResponseCode');
  refused(await postTwilio(completed(twSid(), '-1', {})), 'SequenceNumber');
  refused(await postTwilio(completed(twSid(), '99999999999999999999999999', {})), 'SequenceNumber');
});

// ---- Retell and Vapi: dropped with the reason ---------------------------------------------

function postRetell(obj) {
  const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
  const ts = Date.now();
  const sig = `v=${ts},d=${createHmac('sha256', RETELL).update(body + String(ts)).digest('hex')}`;
  return postHook(S, 'acme', body, { provider: 'retell', headers: { 'x-retell-signature': sig } });
}
const retellEnded = (id, call) => ({
  event: 'call_ended',
  call: { call_id: id, direction: 'inbound', from_number: '+972547654321', to_number: '+97231234567', start_timestamp: 1715681700000, end_timestamp: 1715681760000, duration_ms: 60000, ...call },
});

test('Retell duration_ms 9223372036854775807 is ignored and does not pin the call', T, async () => {
  // the bytes: an integer a JavaScript Number cannot hold, so the body is written out
  const body = JSON.stringify(retellEnded(uid('retell'), {})).replace('"duration_ms":60000', '"duration_ms":9223372036854775807');
  assert.match(body, /9223372036854775807/);
  let c = await stored(await postRetell(body));
  assert.equal(c.status, 'ended');
  assert.equal(c.ended_at, '2024-05-14T10:16:00Z');
  assert.equal(c.duration_sec, 60, 'computed from the times, not 292 million years');
  ignored(c, 'call.duration_ms');
  // a good call_ended, then call_analyzed with a negative duration and an end in 5138
  const id2 = uid('retell');
  await stored(await postRetell(retellEnded(id2, {})));
  c = await stored(await postRetell({ ...retellEnded(id2, { duration_ms: -5, end_timestamp: 99999999999999 }), event: 'call_analyzed' }));
  assert.equal(c.duration_sec, 60);
  assert.equal(c.ended_at, '2024-05-14T10:16:00Z');
  ignored(c, 'call.duration_ms');
  ignored(c, 'call.end_timestamp');
});

test('Vapi: a cost of 5e8 and an end in 2999 are ignored with the reason', T, async () => {
  const id = uid('vapi');
  const r = await postHook(S, 'acme', {
    message: {
      type: 'end-of-call-report', call: { id, type: 'inboundPhoneCall' }, endedReason: 'customer-ended-call',
      startedAt: '2024-05-14T10:15:00Z', endedAt: '2999-01-01T00:00:00Z', cost: 5e8,
    },
  }, { provider: 'vapi', headers: { 'x-vapi-secret': VAPI } });
  const c = await stored(r);
  assert.equal(c.cost, null);
  assert.equal(c.ended_at, null);
  assert.equal(c.started_at, '2024-05-14T10:15:00Z');
  ignored(c, 'message.cost');
  ignored(c, 'message.endedAt');
});

// ---- Bolna: dropped with the reason -------------------------------------------------------

test('Bolna: durations and costs out of range are ignored with the reason', T, async () => {
  const id = uid('bolna');
  const r = await postHook(S, 'acme', {
    id, status: 'completed', updated_at: '2024-05-14T10:17:00', initiated_at: '2024-05-14T10:15:00',
    conversation_duration: 'NaN', total_cost: 5e12,
    telephony_data: { duration: '99999999999999999999999999', call_type: 'inbound', from_number: '+972547654321', to_number: '+97231234567' },
  }, { provider: 'bolna', headers: bearer });
  const c = await stored(r);
  assert.equal(c.status, 'ended');
  assert.equal(c.duration_sec, 120, 'from the times, not 10^26 s');
  assert.equal(c.billsec, null);
  assert.equal(c.cost, null);
  ignored(c, 'conversation_duration');
  ignored(c, 'telephony_data.duration');
  ignored(c, 'total_cost');
});

// ---- generic and FreeSWITCH: 422 naming the field ------------------------------------------

test('generic: out-of-range numbers are 422 naming the field', T, async () => {
  const cases = [
    [{ duration_sec: 9223372036854775807 }, 'duration_sec'],
    [{ duration_sec: 604801 }, 'duration_sec'],
    [{ billsec: -5 }, 'billsec'],
    [{ started_at: 99999999999 }, 'started_at'],
    [{ ended_at: '2150-01-01T00:00:00Z' }, 'ended_at'],
    [{ timestamp: 1 }, 'timestamp'],
    [{ cost: { amount: 1e12, currency: 'USD' } }, 'cost.amount'],
    [{ cost: { amount: -2e6, currency: 'USD' } }, 'cost.amount'],
    [{ sequence: 1e300 }, 'sequence'],
  ];
  for (const [rec, field] of cases) {
    const body = JSON.stringify({ call_id: uid('gen'), ...rec }).replace('9223372036854776000', '9223372036854775807');
    refused(await postHook(S, 'acme', body, { headers: bearer }), field);
  }
  const c = await stored(await postHook(S, 'acme', { call_id: uid('gen'), duration_sec: 604800, cost: { amount: -0.12 } }, { headers: bearer }));
  assert.equal(c.duration_sec, 604800, 'a week is the ceiling, included');
  assert.equal(c.cost.amount, -0.12, 'a credit is still a cost');
});

test('FreeSWITCH: out-of-range durations and times are 422 naming the field', T, async () => {
  const auth = { Authorization: basic(...FS) };
  const cases = [
    [{ duration: '999999999' }, 'variables.duration'],
    [{ billsec: '99999999999999999999999999' }, 'variables.billsec'],
    [{ end_epoch: '4102444801' }, 'variables.end_epoch'],
    [{ start_uepoch: '1' }, 'variables.start_uepoch'],
  ];
  for (const [vars, field] of cases)
    refused(await postHook(S, 'acme', { variables: { uuid: uid('fs'), ...vars } }, { provider: 'freeswitch', headers: auth }), field);
  refused(await postHook(S, 'acme', { variables: { uuid: uid('fs') }, callStats: { audio: { inbound: { mos: 'NaN' } } } }, { provider: 'freeswitch', headers: auth }), 'callStats.audio.inbound.mos');
});

// ---- UCM (dropped with the reason) and Asterisk (422), the shared CDR code -------------------

test('UCM: a bad duration or time is ignored with the reason; the CDR is kept', T, async () => {
  const session = uid('ucm');
  const r = await postHook(S, 'acme', {
    AcctId: '7', session, src: '0547654321', dst: '200', userfield: 'Inbound', disposition: 'ANSWERED',
    start: '2024-05-14 13:15:00', answer: '2024-05-14 13:15:04', end: '2150-05-14 13:17:00',
    duration: '-5', billsec: '99999999999999999999999999',
  }, { provider: 'ucm', headers: { Authorization: basic(...UCM) } });
  const c = await stored(r);
  assert.equal(c.direction, 'inbound');
  assert.equal(c.started_at, '2024-05-14T10:15:00Z');
  assert.notEqual(c.ended_at?.slice(0, 4), '2150');
  assert.ok(c.duration_sec === null || c.duration_sec < 604800, JSON.stringify(c));
  ignored(c, 'duration');
  ignored(c, 'billsec');
  ignored(c, 'end');
});

test("Asterisk/OneCom: from-outside, external caller to an extension, no end: inbound, ended at start + duration", T, async () => {
  const uniq = `${Date.now() / 1000}`;
  // the shape of OneCom's setup guide sample
  const c = await stored(await postHook(S, 'acme', {
    uniqueid: uniq, src: '0547654321', dst: '200', dcontext: 'from-outside', channel: 'SIP/trunk-00000001',
    dstchannel: 'SIP/200-00000002', start: '2024-05-14 13:15:00', answer: '2024-05-14 13:15:05',
    duration: '65', billsec: '60', disposition: 'ANSWERED',
  }, { provider: 'asterisk', headers: bearer }));
  assert.equal(c.direction, 'inbound');
  assert.equal(c.from, '+972547654321');
  assert.equal(c.started_at, '2024-05-14T10:15:00Z');
  assert.equal(c.ended_at, '2024-05-14T10:16:05Z');
  assert.equal(c.duration_sec, 65);
  // an unknown context: the numbers' shapes decide
  const shapes = [['0547654321', '201', 'inbound'], ['201', '0547654321', 'outbound'], ['201', '202', 'internal']];
  for (const [src, dst, dir] of shapes) {
    const d = await stored(await postHook(S, 'acme', { uniqueid: uid('ast'), src, dst, dcontext: 'my-own-context', start: '2024-05-14 13:15:00', duration: '5' }, { provider: 'asterisk', headers: bearer }));
    assert.equal(d.direction, dir, `${src} → ${dst}`);
  }
  for (const ctx of ['from-pstn', 'from-trunk-sip-1', 'ext-did-0001', 'from-pstn-e164-us']) {
    const d = await stored(await postHook(S, 'acme', { uniqueid: uid('ast'), src: '035551234', dst: '035559876', dcontext: ctx, start: '2024-05-14 13:15:00', duration: '5' }, { provider: 'asterisk', headers: bearer }));
    assert.equal(d.direction, 'inbound', ctx);
  }
});

test('Asterisk/OneCom: out-of-range numbers are 422 naming the field', T, async () => {
  const cases = [[{ duration: 'NaN' }, 'duration'], [{ billsec: '-5' }, 'billsec'], [{ duration: '99999999999999999999999999' }, 'duration'],
    [{ end: '4102444801' }, 'end'], [{ start: '2150-01-01 00:00:00' }, 'start'], [{ sequence: '99999999999999999999999999' }, 'sequence']];
  for (const [cdr, field] of cases)
    refused(await postHook(S, 'acme', { uniqueid: uid('ast'), src: '200', dst: '201', start: '2024-05-14 13:15:00', ...cdr }, { provider: 'asterisk', headers: bearer }), field);
});

// ---- ids: 256 bytes at most, everywhere ------------------------------------------------------

test('ids of 100 KB are refused by every adapter, naming the field', T, async () => {
  refused(await postHook(S, 'acme', { call_id: HUGE_ID }, { headers: bearer }), 'call_id');
  refused(await postTwilio(completed(HUGE_ID, 1, {})), 'CallSid');
  refused(await postTwilio(completed(twSid(), 1, { ParentCallSid: HUGE_ID })), 'ParentCallSid');
  refused(await postTwilio({ CallSid: twSid(), RecordingSid: HUGE_ID, RecordingStatus: 'completed' }), 'RecordingSid');
  refused(await postTwilio({ CallSid: twSid(), RecordingSid: 'RE1', RecordingStatus: HUGE_ID }), 'RecordingStatus');
  refused(await postRetell(retellEnded(HUGE_ID, {})), 'call.call_id');
  refused(await postHook(S, 'acme', { message: { type: 'end-of-call-report', call: { id: HUGE_ID } } }, { provider: 'vapi', headers: { 'x-vapi-secret': VAPI } }), 'message.call.id');
  refused(await postHook(S, 'acme', { id: HUGE_ID, status: 'completed' }, { provider: 'bolna', headers: bearer }), 'id');
  refused(await postHook(S, 'acme', { variables: { uuid: HUGE_ID } }, { provider: 'freeswitch', headers: { Authorization: basic(...FS) } }), 'variables.uuid');
  refused(await postHook(S, 'acme', { variables: { uuid: uid('fs'), call_uuid: HUGE_ID } }, { provider: 'freeswitch', headers: { Authorization: basic(...FS) } }), 'variables.call_uuid');
  refused(await postHook(S, 'acme', { session: HUGE_ID, AcctId: '1' }, { provider: 'ucm', headers: { Authorization: basic(...UCM) } }), 'session');
  refused(await postHook(S, 'acme', { uniqueid: HUGE_ID }, { provider: 'asterisk', headers: bearer }), 'uniqueid');
  refused(await postHook(S, 'acme', { uniqueid: uid('ast'), linkedid: HUGE_ID }, { provider: 'asterisk', headers: bearer }), 'linkedid');
  // 256 bytes is still an id
  const c = await stored(await postHook(S, 'acme', { uniqueid: 'u'.repeat(256) }, { provider: 'asterisk', headers: bearer }));
  assert.equal(c.external_id.length, 256);
});
