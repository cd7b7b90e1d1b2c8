// Retell and Vapi adapters over HTTP: Retell requests signed by an independent computation
// (node:crypto) with the current time, stale and altered ones refused; Vapi's shared secret;
// events in any order converge; message types that are not call records are answered "ignored".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { cli, tmpDir, cleanup, startServer, postHook, apiGet, omit, listAllCalls, permutations } from './lib.mjs';

const T = { timeout: 120_000 };
const RETELL_KEY = 'key_retell_webhook_badge_123';
const VAPI_SECRET = 'vapi-server-url-secret-456';
let dir, db, S, apiKey;

before(async () => {
  dir = tmpDir('callhook-voiceai-');
  db = path.join(dir, 'v.db');
  cli(db, ['tenant', 'add', 'aico', '--features', 'none', '--timezone', 'UTC', '--country', '1']);
  cli(db, ['source', 'add', 'aico', 'retell', '--secret', RETELL_KEY]);
  cli(db, ['source', 'add', 'aico', 'vapi', '--secret', VAPI_SECRET]);
  apiKey = cli(db, ['apikey', 'add', 'aico']).api_key;
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

function retellSig(body, ts = Date.now(), key = RETELL_KEY) {
  return `v=${ts},d=${createHmac('sha256', key).update(body + String(ts)).digest('hex')}`;
}
const postRetell = (body, sig = retellSig(body)) => postHook(S, 'aico', body, { provider: 'retell', headers: { 'x-retell-signature': sig } });
const postVapi = (obj, secret = VAPI_SECRET) => postHook(S, 'aico', JSON.stringify(obj), { provider: 'vapi', headers: { 'x-vapi-secret': secret } });
async function callByExternal(ext) {
  const c = (await listAllCalls(S, apiKey)).calls.find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed`);
  return (await apiGet(S, `/v1/calls/${c.id}`, apiKey)).json;
}

const retellCall = (id, extra = {}) => ({
  call_id: id, agent_id: 'agent_1', call_type: 'phone_call', direction: 'outbound',
  from_number: '+12137771234', to_number: '+12137771235', start_timestamp: 1714608475945, ...extra,
});

test('Retell: call_started, call_ended, call_analyzed in every order converge', T, async () => {
  const finals = [];
  const orders = permutations(3); // all 6
  for (const [n, order] of orders.entries()) {
    const id = `ret-${process.pid}-${n}`;
    const ended = retellCall(id, { call_status: 'ended', end_timestamp: 1714608491736, duration_ms: 15791,
      disconnection_reason: 'user_hangup', transcript: 'Agent: hi\nUser: hello', recording_url: 'https://r.example/rec.wav' });
    const bodies = [
      JSON.stringify({ event: 'call_started', call: retellCall(id, { call_status: 'ongoing' }) }),
      JSON.stringify({ event: 'call_ended', call: ended }),
      JSON.stringify({ event: 'call_analyzed', call: { ...ended, call_analysis: { call_summary: 'Booked a demo.', user_sentiment: 'Positive', call_successful: true } } }),
    ];
    for (const k of [...order, order[0]]) {
      const r = await postRetell(bodies[k]);
      assert.equal(r.status, 200, r.text);
    }
    finals.push(await callByExternal(id));
  }
  const c = finals[0];
  assert.equal(c.provider, 'retell');
  assert.equal(c.status, 'ended');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.direction, 'outbound');
  assert.equal(c.started_at, '2024-05-02T00:07:55.945Z');
  assert.equal(c.ended_at, '2024-05-02T00:08:11.736Z');
  assert.equal(c.duration_sec, 16);
  assert.equal(c.summary, 'Booked a demo.');
  assert.equal(c.transcript, 'Agent: hi\nUser: hello');
  assert.equal(c.metadata.call_analysis.user_sentiment, 'Positive');
  assert.equal(c.event_count, 3);
  for (const [i, f] of finals.entries())
    assert.deepEqual(omit(f, ['id', 'external_id', 'created_at', 'updated_at', 'events']), omit(c, ['id', 'external_id', 'created_at', 'updated_at', 'events']), `order ${orders[i]}`);
});

test('Retell: a stale timestamp, a changed byte, another key or no signature is 401', T, async () => {
  const body = JSON.stringify({ event: 'call_started', call: retellCall(`ret-bad-${process.pid}`) });
  let r = await postRetell(body, retellSig(body, Date.now() - 6 * 60 * 1000));
  assert.equal(r.status, 401);
  r = await postRetell(body.replace('agent_1', 'agent_2'), retellSig(body));
  assert.equal(r.status, 401);
  r = await postRetell(body, retellSig(body, Date.now(), 'another-key'));
  assert.equal(r.status, 401);
  r = await postHook(S, 'aico', body, { provider: 'retell' });
  assert.equal(r.status, 401);
  r = await postRetell(JSON.stringify({ event: 'call_ended', call: retellCall(`ret-busy-${process.pid}`, { disconnection_reason: 'dial_busy' }) }));
  assert.equal(r.status, 200);
  assert.equal((await callByExternal(`ret-busy-${process.pid}`)).disposition, 'busy');
});

test('Vapi: status updates and the end-of-call report in any order; other messages ignored', T, async () => {
  const id = `vapi-${process.pid}`;
  const call = { id, type: 'inboundPhoneCall' };
  const report = { message: { type: 'end-of-call-report', endedReason: 'customer-ended-call', cost: 0.1234,
    startedAt: '2024-05-14T10:15:00.000Z', endedAt: '2024-05-14T10:16:42.000Z',
    artifact: { transcript: 'AI: Hi\nUser: Hello', recordingUrl: 'https://storage.vapi.ai/x.wav', messages: [] },
    analysis: { summary: 'Customer asked about pricing.', structuredData: { plan: 'pro' }, successEvaluation: 'true' },
    call, customer: { number: '+14155550100' }, phoneNumber: { number: '+14155550199' } } };
  const ringing = { message: { type: 'status-update', status: 'ringing', call } };
  const inprog = { message: { type: 'status-update', status: 'in-progress', call } };
  for (const m of [report, inprog, ringing, report]) {
    const r = await postVapi(m);
    assert.equal(r.status, 200, r.text);
  }
  const c = await callByExternal(id);
  assert.equal(c.provider, 'vapi');
  assert.equal(c.status, 'ended');
  assert.equal(c.direction, 'inbound');
  assert.equal(c.from, '+14155550100');
  assert.equal(c.to, '+14155550199');
  assert.deepEqual(c.cost, { amount: 0.1234, currency: 'USD' });
  assert.equal(c.duration_sec, 102);
  assert.equal(c.summary, 'Customer asked about pricing.');
  assert.deepEqual(c.metadata.structured_data, { plan: 'pro' });
  assert.equal(c.event_count, 3);
  const ign = await postVapi({ message: { type: 'transcript', transcript: 'partial', call } });
  assert.equal(ign.status, 200);
  assert.equal(ign.json.status, 'ignored');
  assert.equal((await callByExternal(id)).event_count, 3, 'nothing stored for it');
  const bad = await postVapi(report, 'wrong-secret');
  assert.equal(bad.status, 401);
});

test('the server exits 0 on SIGTERM', T, async () => {
  assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-3000));
});
