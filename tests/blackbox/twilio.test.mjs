// Twilio adapter: requests signed by Twilio's own npm library (twilio.getExpectedTwilioSignature)
// are accepted, with and without the default port, behind a public URL; a one-byte change, a
// wrong token or a missing signature is 401; status callbacks in any order converge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import twilio from 'twilio';
import { cli, tmpDir, cleanup, startServer, apiGet, omit, listAllCalls, sampleOrders } from './lib.mjs';

const T = { timeout: 120_000 };
const TOKEN = 'twilio-auth-token-0123456789abcdef';
let dir, db, S, P, apiKey;

before(async () => {
  dir = tmpDir('callhook-twilio-');
  db = path.join(dir, 't.db');
  cli(db, ['tenant', 'add', 'voiceco', '--features', 'none', '--timezone', 'UTC', '--country', '1']);
  cli(db, ['source', 'add', 'voiceco', 'twilio', '--secret', TOKEN]);
  apiKey = cli(db, ['apikey', 'add', 'voiceco']).api_key;
  S = await startServer({ db });
  // a second daemon (its own database: one daemon per database) that knows it is reached
  // through a public https URL
  const db2 = path.join(dir, 't2.db');
  cli(db2, ['tenant', 'add', 'voiceco', '--features', 'none', '--timezone', 'UTC', '--country', '1']);
  cli(db2, ['source', 'add', 'voiceco', 'twilio', '--secret', TOKEN]);
  P = await startServer({ db: db2, args: ['--public-url', 'https://hooks.example.com/'] });
});
after(async () => {
  for (const s of [S, P]) if (s) await s.stop();
  cleanup(dir);
});

const form = (params) => new URLSearchParams(params).toString();
function signed(url, params, token = TOKEN) {
  return twilio.getExpectedTwilioSignature(token, url, params);
}
async function postForm(server, pathAndQuery, params, { signUrl, signature, token } = {}) {
  const url = `${server.url}${pathAndQuery}`;
  const sig = signature ?? signed(signUrl ?? url, params, token);
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': sig },
    body: form(params),
  });
}
async function callByExternal(ext) {
  const c = (await listAllCalls(S, apiKey)).calls.find((x) => x.external_id === ext);
  assert.ok(c, `call ${ext} listed`);
  return (await apiGet(S, `/v1/calls/${c.id}`, apiKey)).json;
}

const sid = (n) => `CA${String(n).padStart(32, '0')}`;
const cb = (callSid, seq, status, extra = {}) => ({
  AccountSid: 'AC00000000000000000000000000000000', ApiVersion: '2010-04-01', CallSid: callSid,
  CallStatus: status, Direction: 'outbound-api', From: '+14155550100', To: '+14155550199',
  Timestamp: ['Tue, 14 May 2024 10:15:00 +0000', 'Tue, 14 May 2024 10:15:03 +0000', 'Tue, 14 May 2024 10:15:07 +0000', 'Tue, 14 May 2024 10:15:49 +0000'][seq],
  CallbackSource: 'call-progress-events', SequenceNumber: String(seq), ...extra,
});

test("requests signed by Twilio's library are accepted; the official test vector holds", T, async () => {
  // the vector from twilio-python's own tests, through the npm library: our reference point
  assert.equal(twilio.getExpectedTwilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2',
    { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' }),
  'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  const r = await postForm(S, '/hooks/voiceco/twilio?tenant=voiceco&x=%2F1', cb(sid(1), 3, 'completed', { CallDuration: '42', SipResponseCode: '200' }));
  assert.equal(r.status, 200, await r.text());
  const c = await callByExternal(sid(1));
  assert.equal(c.provider, 'twilio');
  assert.equal(c.status, 'ended');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.duration_sec, 42);
  assert.equal(c.direction, 'outbound');
  assert.equal(c.ended_at, '2024-05-14T10:15:49Z');
  assert.equal(c.metadata.sip_response_code, '200');
});

test('a one-byte change, a wrong token, a stale URL or no signature is 401 and stores nothing', T, async () => {
  const p = cb(sid(2), 3, 'completed', { CallDuration: '42' });
  const url = `${S.url}/hooks/voiceco/twilio`;
  const good = signed(url, p);
  const tampered = { ...p, CallDuration: '43' }; // body changed after signing
  let r = await postForm(S, '/hooks/voiceco/twilio', tampered, { signature: good });
  assert.equal(r.status, 401);
  r = await postForm(S, '/hooks/voiceco/twilio', p, { token: 'another-token-0123456789' });
  assert.equal(r.status, 401);
  r = await postForm(S, '/hooks/voiceco/twilio', p, { signUrl: `${url}?x=1` }); // another URL
  assert.equal(r.status, 401);
  r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form(p) });
  assert.equal(r.status, 401);
  const flipped = good.slice(0, -2) + (good.at(-2) === 'A' ? 'B' : 'A') + good.at(-1);
  r = await postForm(S, '/hooks/voiceco/twilio', p, { signature: flipped });
  assert.equal(r.status, 401);
  assert.equal((await listAllCalls(S, apiKey)).calls.some((c) => c.external_id === sid(2)), false);
});

test('behind a public URL: signed over https://hooks.example.com/..., with and without :443', T, async () => {
  for (const [n, signUrl] of [[3, 'https://hooks.example.com/hooks/voiceco/twilio?a=1'],
    [4, 'https://hooks.example.com:443/hooks/voiceco/twilio?a=1']]) {
    const p = cb(sid(n), 1, 'ringing');
    const r = await postForm(P, '/hooks/voiceco/twilio?a=1', p, { signUrl });
    assert.equal(r.status, 200, `${signUrl}: ${await r.text()}`);
  }
  // signed for the local address, but this daemon is reached through the public URL
  const r = await postForm(P, '/hooks/voiceco/twilio?a=1', cb(sid(5), 1, 'ringing'), { signUrl: `${P.url}/hooks/voiceco/twilio?a=1` });
  assert.equal(r.status, 401);
});

test('JSON bodies are covered by bodySHA256', T, async () => {
  const body = JSON.stringify({ CallSid: sid(6), CallStatus: 'ringing', SequenceNumber: '1', From: '+14155550100' });
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256').update(body).digest('hex');
  const url = `${S.url}/hooks/voiceco/twilio?bodySHA256=${hash}`;
  const sig = signed(url, {});
  assert.ok(twilio.validateRequestWithBody(TOKEN, sig, url, body), 'the library agrees with our signing');
  let r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Twilio-Signature': sig }, body });
  assert.equal(r.status, 200, await r.text());
  r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Twilio-Signature': sig }, body: body.replace('ringing', 'busy') });
  assert.equal(r.status, 401, 'a body that does not match its hash');
});

test('status callbacks out of order, a child leg and a recording converge to one call', T, async () => {
  const finals = [];
  const orders = sampleOrders(6, 40); // 40 of the 720 orders, seeded
  for (const [n, order] of orders.entries()) {
    const s = sid(100 + n), child = sid(200 + n);
    const events = [
      cb(s, 0, 'initiated'), cb(s, 1, 'ringing'), cb(s, 2, 'in-progress', { AnsweredBy: 'human' }),
      cb(s, 3, 'completed', { CallDuration: '42' }),
      { ...cb(child, 2, 'completed', { CallDuration: '30' }), ParentCallSid: s, Direction: 'outbound-dial', To: '+14155550111' },
      { AccountSid: 'AC00000000000000000000000000000000', CallSid: s, RecordingSid: `RE${n}`, RecordingStatus: 'completed',
        RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE${n}`, RecordingDuration: '41' },
    ];
    for (const k of [...order, order[0]]) {
      const r = await postForm(S, '/hooks/voiceco/twilio', events[k]);
      assert.equal(r.status, 200, await r.text());
    }
    finals.push(await callByExternal(s));
  }
  const c = finals[0];
  assert.equal(c.status, 'ended');
  assert.equal(c.disposition, 'answered');
  assert.equal(c.started_at, '2024-05-14T10:15:00Z');
  assert.equal(c.answered_at, '2024-05-14T10:15:07Z');
  assert.equal(c.ended_at, '2024-05-14T10:15:49Z');
  assert.equal(c.duration_sec, 42);
  assert.equal(c.to, '+14155550199', 'the child leg does not overwrite the number called');
  assert.equal(c.metadata.answered_by, 'human');
  assert.match(c.recording_url, /Recordings\/RE0$/);
  assert.equal(c.legs.length, 1);
  assert.equal(c.legs[0].to, '+14155550111');
  assert.equal(c.event_count, 6);
  const VOLATILE = ['id', 'external_id', 'created_at', 'updated_at', 'events', 'recording_url', 'metadata', 'legs'];
  for (const [i, f] of finals.entries()) {
    assert.deepEqual(omit(f, VOLATILE), omit(c, VOLATILE), `order ${orders[i]} differs`);
    assert.equal(f.metadata.answered_by, 'human');
    assert.equal(f.legs.length, 1);
  }
});

test('both servers exit 0 on SIGTERM', T, async () => {
  for (const s of [S, P]) assert.deepEqual(await s.stop(), { code: 0, signal: null }, s.logs().slice(-3000));
});
