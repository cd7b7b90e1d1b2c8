// The enrichment pipeline's engines end to end, the real daemon against loopback doubles of the
// remote services (lib-openai, lib-ucmapi, lib-media): the openai engines in Hebrew with the
// tenant's dictionary, an answer that breaks the tenant's schema, 429 + Retry-After, an engine
// that is down and one slower than the deadline, a UCM's recording API with an expired session
// and a rate limit, Twilio recordings behind HTTP Basic and a 404, a recording that arrives
// after the call completed, a corrupt file, addresses the SSRF guard refuses, a tenant changing
// engines mid-call, kill -9 mid-stage, and `callhook source media`. Every scenario has its own
// tenant (its own settings, doubles and receiver path) on one daemon, and they run concurrently;
// the daemon must then exit 0 with no sanitizer report. Assertions are on what the receiver got,
// what the doubles were sent and what the store decided, never on timings.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import twilio from 'twilio';
import { cli, cliFail, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, apiJson, sqlite, fixture } from './lib.mjs';
import { startOpenAI } from './lib-openai.mjs';
import { startUcmApi } from './lib-ucmapi.mjs';
import { startMedia } from './lib-media.mjs';
import { startReceiver } from './lib-receiver.mjs';

const T = { timeout: 120_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const KEY = 'sk-test-engines';
const TWILIO_TOKEN = 'twilio-auth-token-0123456789abcdef';
const ACCOUNT = 'AC' + '1'.repeat(32);
const HEBREW = [
  { start: 0.0, end: 1.6, text: ' שלום, אני צריך אינסטלטור' },
  { start: 1.6, end: 3.4, text: ' בתל אביב מחר בבוקר' },
];
const FIELDS_SCHEMA = {
  type: 'object',
  properties: {
    city: { type: ['string', 'null'] },
    service_category: { type: ['string', 'null'] },
    customer_name: { type: ['string', 'null'] },
    intent: { type: ['string', 'null'] },
    urgency: { type: 'string', enum: ['low', 'high'] },
  },
  required: ['city', 'service_category', 'customer_name', 'intent', 'urgency'],
  additionalProperties: false,
};

let dir, db, S, rx, media, ucm, wav, closedPort;
const doubles = [];
const tenants = {};

// A short WAV (16 kHz mono) spoken by espeak-ng, made here: the doubles serve it as the recording.
function speech(text, file) {
  execFileSync('espeak-ng', ['-s', '150', '-w', `${file}.raw.wav`, text], { timeout: 30_000 });
  execFileSync('sox', [`${file}.raw.wav`, '-r', '16000', '-c', '1', '-b', '16', file], { timeout: 30_000 });
  return readFileSync(file);
}

async function openai(behaviour) {
  const o = await startOpenAI({ key: KEY, ...behaviour });
  doubles.push(o);
  return o;
}

const oai = (o, extra = {}) => ({ enabled: true, engine: 'openai', base_url: o.url, api_key: KEY, ...extra });

// A tenant with a generic source, an API key, an endpoint at the receiver's /<slug>.
function tenant(slug) {
  const t = setupTenant(db, slug, { enrich: true });
  cli(db, ['endpoint', 'add', slug, `${rx.url}/${slug}`]);
  tenants[slug] = t;
  return t;
}
async function pipeline(slug, settings) {
  const r = await apiJson(S, tenants[slug].apiKey, 'PUT', '/v1/pipeline', settings);
  assert.equal(r.status, 200, r.text);
}
async function dictionary(slug, kind, name, synonyms) {
  const r = await apiJson(S, tenants[slug].apiKey, 'POST', '/v1/dictionaries', { kind, name, synonyms });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}
const msgs = (slug) => rx.at(`/${slug}`).map((r) => JSON.parse(r.body));
const ofCall = (slug, ext) => msgs(slug).filter((m) => m.data?.call?.external_id === ext);
const completed = (slug, ext) => ofCall(slug, ext).filter((m) => m.type === 'call.completed');
async function completion(slug, ext, ms = 60_000) {
  const [m] = await waitFor(() => { const c = completed(slug, ext); return c.length ? c : null; }, ms, `call.completed of ${ext}`);
  return m.data.call;
}
// exactly one call.completed for the call: at the receiver after a settle, and in the database
async function onlyOnce(slug, ext) {
  await sleep(1500);
  assert.equal(completed(slug, ext).length, 1, `one call.completed for ${ext}: ${ofCall(slug, ext).map((m) => m.type)}`);
  const id = completed(slug, ext)[0].data.call.id;
  assert.equal(sqlite(db, `SELECT COUNT(*) FROM messages WHERE call_id='${id}' AND type='call.completed';`).trim(), '1');
}
const ended = (ext, extra = {}) => ({
  event_id: `${ext}-end`, call_id: ext, status: 'ended', direction: 'inbound', from: '+972501234567', to: '+97235550111',
  started_at: '2024-05-14T10:15:00Z', ended_at: '2024-05-14T10:16:00Z', ...extra,
});
async function post(slug, body) {
  const r = await postHook(S, slug, body, { headers: hookAuth(tenants[slug]) });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

before(async () => {
  dir = tmpDir('callhook-engines-');
  db = path.join(dir, 'e.db');
  wav = speech('I need a plumber in Boston tomorrow morning', path.join(dir, 'rec.wav'));
  rx = await startReceiver(() => ({ status: 200 }));
  media = await startMedia({ files: { '/rec.wav': wav, '/corrupt.wav': Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt '), Buffer.alloc(200, 0xa5)]) } });
  ucm = await startUcmApi({ user: 'cdrapi', password: 'cdrapi123', files: { '2024-05/auto-1715681706-0912345678-1001.wav': wav, '2024-05/auto-2-0912345678-1001.wav': wav } });
  // a port nothing listens on: taken, then given back
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  closedPort = s.address().port;
  await new Promise((r) => s.close(r));

  for (const slug of ['heb', 'schema', 'retry', 'down', 'slow', 'late', 'corrupt', 'ssrf', 'switch']) tenant(slug);
  // UCM: a source with Basic auth for the CDRs, and its recording API set by `source media`
  cli(db, ['tenant', 'add', 'ucmco', '--timezone', 'Asia/Jerusalem', '--country', '972']);
  const src = cli(db, ['source', 'add', 'ucmco', 'ucm', '--username', 'ucm-pbx', '--password', 'pw-ucm-1']);
  const m = cli(db, ['source', 'media', 'ucmco', String(src.credential_id), '--api-url', ucm.url, '--api-user', 'cdrapi', '--api-password', 'cdrapi123']);
  assert.deepEqual(m.media, { api_url: ucm.url, api_user: 'cdrapi', api_password_set: true }, 'printed without the password');
  assert.equal(cliFail(db, ['source', 'media', 'ucmco', String(src.credential_id), '--api-url', 'ftp://x', '--api-user', 'a', '--api-password', 'b']).status, 2);
  tenants.ucmco = { apiKey: cli(db, ['apikey', 'add', 'ucmco']).api_key };
  cli(db, ['endpoint', 'add', 'ucmco', `${rx.url}/ucmco`]);
  // Twilio: "Enforce HTTP Auth on Media URLs": the Account SID and the auth token, at `source add`
  cli(db, ['tenant', 'add', 'voiceco']);
  // (the double stands in for api.twilio.com at 127.0.0.1, the one host the token may go to)
  const tw = cli(db, ['source', 'add', 'voiceco', 'twilio', '--secret', TWILIO_TOKEN, '--basic-user', ACCOUNT, '--basic-password', TWILIO_TOKEN, '--basic-hosts', '127.0.0.1']);
  assert.deepEqual(tw.media, { basic_user: ACCOUNT, basic_password_set: true, basic_hosts: '127.0.0.1' });
  tenants.voiceco = { apiKey: cli(db, ['apikey', 'add', 'voiceco']).api_key };
  cli(db, ['endpoint', 'add', 'voiceco', `${rx.url}/voiceco`]);

  S = await startServer({
    db,
    env: {
      CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8',
      CALLHOOK_ENRICH_ALLOW_PRIVATE: '127.0.0.0/8',
      CALLHOOK_ENRICH_RETRY_SCHEDULE: '1s,1s',
      CALLHOOK_ENRICH_TIMEOUT: '60',
      // the slow engine holds a worker for 30 s; the scenarios run at once
      CALLHOOK_ENRICH_THREADS: '4',
      CALLHOOK_ENRICH_RECORDINGS_DIR: path.join(dir, 'recordings'),
    },
  });
});

after(async () => {
  for (const d of doubles) await d.close().catch(() => {});
  await media?.close();
  await ucm?.close();
  if (S) await S.stop();
  await rx?.close();
  cleanup(dir);
});

describe('enrichment engines', { concurrency: true }, () => {
  it('openai engines in Hebrew: dictionary fields, segments, summary, and what the double was sent', T, async () => {
    const tr = await openai({ transcript: { segments: HEBREW, language: 'hebrew' }, chat: { content: 'הלקוח צריך אינסטלטור בתל אביב מחר בבוקר.' } });
    // the model knows the name and the urgency, not the city or the service
    const fx = await openai({ chat: { json: { city: null, service_category: null, customer_name: 'דנה', intent: 'book a plumber', urgency: 'high' } } });
    const se = await openai({ chat: { json: { label: 'positive', score: 0.4 } } });
    await pipeline('heb', {
      transcript: oai(tr, { model: 'whisper-1', language: 'he' }),
      summary: oai(tr, { model: 'gpt-4o-mini' }),
      fields: oai(fx, { model: 'gpt-4o-mini', schema: FIELDS_SCHEMA }),
      sentiment: oai(se, { model: 'gpt-4o-mini' }),
    });
    await dictionary('heb', 'city', 'תל אביב', ['Tel Aviv']);
    await dictionary('heb', 'service', 'אינסטלציה', ['אינסטלטור']);
    await post('heb', ended('heb-1', { recording_url: `${media.url}/rec.wav` }));
    const d = await completion('heb', 'heb-1');
    assert.equal(d.enrichment.state, 'done', JSON.stringify(d.enrichment));
    for (const s of ['transcript', 'summary', 'fields', 'sentiment']) assert.equal(d.enrichment.stages[s].engine, 'openai', s);
    assert.equal(d.enrichment.stages.recording.state, 'done');
    assert.equal(d.fields.city, 'תל אביב', 'the synonym-free Hebrew name, found after the prefix ב');
    assert.equal(d.fields.service_category, 'אינסטלציה', 'found through the synonym אינסטלטור');
    assert.equal(d.fields.customer_name, 'דנה', "the model's value where it has one");
    assert.equal(d.fields.urgency, 'high', "the tenant's own schema field");
    assert.match(d.transcript, /אינסטלטור/);
    assert.deepEqual(d.transcript_segments.map((s) => [s.start, s.end]), [[0, 1.6], [1.6, 3.4]]);
    assert.ok(d.transcript_segments.every((s) => typeof s.text === 'string' && s.text.length));
    assert.equal(d.summary, 'הלקוח צריך אינסטלטור בתל אביב מחר בבוקר.');
    assert.equal(d.sentiment.label, 'positive');
    // the transcription request: multipart with the model, the language, verbose_json and the file
    const tx = tr.received.filter((r) => r.path === '/v1/audio/transcriptions');
    assert.equal(tx.length, 1);
    assert.equal(tx[0].authorized, true);
    assert.equal(tx[0].fields.model, 'whisper-1');
    assert.equal(tx[0].fields.language, 'he');
    assert.equal(tx[0].fields.response_format, 'verbose_json');
    assert.equal(tx[0].file.size, wav.length);
    assert.equal(tx[0].file.sha256, createHash('sha256').update(wav).digest('hex'));
    assert.match(tx[0].fields.prompt ?? '', /תל אביב/, "the dictionary's names as the transcription hint");
    // the fields request carried the tenant's schema and the transcript
    const fr = fx.received.filter((r) => r.path === '/v1/chat/completions');
    assert.equal(fr.length, 1);
    assert.equal(fr[0].json.response_format.type, 'json_schema');
    assert.deepEqual(fr[0].json.response_format.json_schema.schema, FIELDS_SCHEMA);
    assert.ok(fr[0].json.messages.some((m) => String(m.content).includes('אינסטלטור')));
    // the webhook's top-level data (the shape automations read) is filled from the enrichment
    const top = completed('heb', 'heb-1')[0].data;
    assert.equal(top.city, 'תל אביב');
    assert.equal(top.service_category, 'אינסטלציה');
    assert.equal(top.customer_name, 'דנה');
    assert.equal(top.summary, d.summary);
    assert.equal(top.transcript, d.transcript);
    await onlyOnce('heb', 'heb-1');
  });

  it('a fields answer that breaks the schema fails the stage; the call completes once, partial', T, async () => {
    const tr = await openai({ transcript: { segments: HEBREW } });
    const fx = await openai({ chat: { json: { city: 5, service_category: null, customer_name: null, intent: null, urgency: 'high' } } });
    await pipeline('schema', { transcript: oai(tr, { model: 'whisper-1' }), fields: oai(fx, { model: 'gpt-4o-mini', schema: FIELDS_SCHEMA }) });
    await post('schema', ended('schema-1', { recording_url: `${media.url}/rec.wav` }));
    const d = await completion('schema', 'schema-1');
    assert.equal(d.enrichment.state, 'partial', JSON.stringify(d.enrichment));
    assert.equal(d.enrichment.stages.fields.state, 'failed');
    assert.match(d.enrichment.stages.fields.error, /schema/);
    assert.match(d.enrichment.stages.fields.error, /city/, 'the offending field named');
    assert.equal(d.enrichment.stages.transcript.state, 'done');
    assert.equal(d.enrichment.stages.summary.state, 'done');
    assert.equal(d.enrichment.stages.sentiment.state, 'done');
    assert.equal(fx.received.filter((r) => r.path === '/v1/chat/completions').length, 1, 'a broken answer is not retried');
    await onlyOnce('schema', 'schema-1');
  });

  it('429 with Retry-After on the transcription, then success: done at the second attempt', T, async () => {
    // Retry-After (5 s) longer than the schedule's wait (1 s): the retry is set after it
    const tr = await openai({ status: 429, retryAfter: 5, error: { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    await pipeline('retry', { transcript: oai(tr, { model: 'whisper-1' }) });
    const { call_id: id } = await post('retry', ended('retry-1', { recording_url: `${media.url}/rec.wav` }));
    await waitFor(() => tr.received.length >= 1, 30_000, 'the first transcription request');
    const seen = Date.now();
    const row = await waitFor(() => {
      const out = sqlite(db, `SELECT attempts, next_at, error FROM jobs WHERE call_id='${id}' AND stage='transcript' AND attempts=1;`).trim();
      return out ? out.split('|') : null;
    }, 10_000, 'the first attempt recorded');
    assert.match(row[2], /429/, 'the attempt says why');
    assert.ok(Number(row[1]) >= seen + 3000, `the retry waits for Retry-After: next_at ${row[1]} vs 429 seen at ${seen}`);
    tr.setBehaviour({ key: KEY, transcript: { segments: HEBREW } });
    const d = await completion('retry', 'retry-1');
    assert.equal(d.enrichment.stages.transcript.state, 'done', JSON.stringify(d.enrichment));
    assert.equal(d.enrichment.stages.transcript.attempts, 2);
    assert.equal(tr.received.filter((r) => r.path === '/v1/audio/transcriptions').length, 2);
    assert.equal(d.enrichment.state, 'done');
    assert.match(d.transcript, /בתל אביב/);
    await onlyOnce('retry', 'retry-1');
  });

  it('an engine that is down: the transcript fails with the connection error, the rest is skipped', T, async () => {
    await pipeline('down', { transcript: { enabled: true, engine: 'openai', base_url: `http://127.0.0.1:${closedPort}/v1`, api_key: KEY, model: 'whisper-1' } });
    await post('down', ended('down-1', { recording_url: `${media.url}/rec.wav` }));
    const d = await completion('down', 'down-1');
    const st = d.enrichment.stages;
    assert.equal(st.recording.state, 'done');
    assert.equal(st.transcript.state, 'failed', JSON.stringify(d.enrichment));
    assert.match(st.transcript.error, /connect/i);
    assert.equal(st.transcript.attempts, 3, 'the schedule (1s,1s) ran out');
    for (const s of ['summary', 'fields', 'sentiment']) assert.equal(st[s].state, 'skipped', s);
    assert.equal(d.enrichment.state, 'partial', 'the recording was obtained');
    await onlyOnce('down', 'down-1');
  });

  it('an engine slower than the deadline: call.completed at the deadline, once; the late answer only a call.updated', T, async () => {
    const tr = await openai({ delayMs: 30_000, transcript: { segments: HEBREW } });
    await pipeline('slow', { deadline_s: 10, transcript: oai(tr, { model: 'whisper-1' }) });
    await post('slow', ended('slow-1', { recording_url: `${media.url}/rec.wav` }));
    const d = await completion('slow', 'slow-1', 40_000);
    assert.equal(tr.received.length, 1, 'the request is still unanswered');
    const st = d.enrichment.stages;
    assert.equal(st.transcript.state, 'failed', JSON.stringify(d.enrichment));
    assert.match(st.transcript.error, /deadline/);
    for (const s of ['summary', 'fields', 'sentiment']) assert.notEqual(st[s].state, 'done', s);
    assert.equal(d.transcript, null);
    // the answer comes 30 s after the request; the stage stays failed, no second call.completed
    // the double answers 30 s after the request: the result is kept (call.updated, the stage
    // done), the stages the deadline failed stay failed, and there is no second call.completed
    const upd = await waitFor(() => ofCall('slow', 'slow-1').find((m) => m.type === 'call.updated' && m.data.call.enrichment.stages.transcript.state === 'done'), 40_000, 'the late result as call.updated');
    assert.match(upd.data.call.transcript, /אינסטלטור/);
    for (const s of ['summary', 'fields', 'sentiment']) assert.equal(upd.data.call.enrichment.stages[s].state, st[s].state, `${s} as the deadline left it`);
    assert.equal(tr.received.length, 1, 'the expired job is not taken again');
    await onlyOnce('slow', 'slow-1');
  });

  it('a corrupt recording: the recording stage fails with the decode error, call.completed once', T, async () => {
    await post('corrupt', ended('corrupt-1', { recording_url: `${media.url}/corrupt.wav` }));
    const d = await completion('corrupt', 'corrupt-1');
    const st = d.enrichment.stages;
    assert.equal(st.recording.state, 'failed', JSON.stringify(d.enrichment));
    assert.match(st.recording.error, /decode/);
    assert.equal(st.recording.attempts, 1, 'a file that is not audio is not fetched again');
    for (const s of ['transcript', 'summary', 'fields', 'sentiment']) assert.equal(st[s].state, 'skipped', s);
    assert.equal(d.enrichment.state, 'failed');
    assert.equal(d.recording, null);
    await onlyOnce('corrupt', 'corrupt-1');
  });

  it('recording URLs outside the allowed ranges are refused before any connection (the SSRF guard)', T, async () => {
    const urls = { 'ssrf-meta': 'http://169.254.169.254/latest/meta-data/', 'ssrf-private': 'http://10.0.0.1/rec.wav', 'ssrf-v6': 'http://[::1]:9/rec.wav' };
    for (const [ext, u] of Object.entries(urls)) await post('ssrf', ended(ext, { recording_url: u }));
    for (const ext of Object.keys(urls)) {
      const d = await completion('ssrf', ext);
      const st = d.enrichment.stages.recording;
      assert.equal(st.state, 'failed', JSON.stringify(d.enrichment));
      assert.match(st.error, /^refused: /, st.error);
      assert.equal(st.attempts, 1, 'a refused address is not retried');
      assert.equal(d.enrichment.state, 'failed');
      await onlyOnce('ssrf', ext);
    }
  });

  it('the tenant moves a stage off openai while a call waits for it: the stage fails saying why, the daemon lives', T, async () => {
    const tr = await openai({ delayMs: 3000, transcript: { segments: HEBREW } });
    await pipeline('switch', { transcript: oai(tr, { model: 'whisper-1' }), summary: oai(tr, { model: 'gpt-4o-mini' }) });
    await post('switch', ended('switch-1', { recording_url: `${media.url}/rec.wav` }));
    await waitFor(() => tr.received.length >= 1, 30_000, 'the transcription in flight');
    await pipeline('switch', { summary: { engine: 'extractive', base_url: null } });
    const d = await completion('switch', 'switch-1');
    const st = d.enrichment.stages;
    assert.equal(st.transcript.state, 'done', JSON.stringify(d.enrichment));
    assert.equal(st.summary.state, 'failed');
    assert.match(st.summary.error, /base_url/);
    assert.equal(st.fields.state, 'done');
    assert.equal(d.enrichment.state, 'partial');
    assert.equal(S.proc.exitCode, null, 'the daemon still runs');
    await onlyOnce('switch', 'switch-1');
  });

  it('UCM: the recording API with an expired session and a rate limit, pocketsphinx transcript', T, async () => {
    const auth = { Authorization: 'Basic ' + Buffer.from('ucm-pbx:pw-ucm-1').toString('base64') };
    const cdr = JSON.parse(fixture('ucm/answered-inbound-leg.json'));
    let r = await postHook(S, 'ucmco', cdr, { provider: 'ucm', headers: auth });
    assert.equal(r.status, 200, r.text);
    const d1 = await completion('ucmco', cdr.session, 90_000);
    assert.equal(d1.enrichment.stages.recording.state, 'done', JSON.stringify(d1.enrichment));
    assert.equal(d1.enrichment.stages.transcript.state, 'done', JSON.stringify(d1.enrichment));
    assert.equal(d1.enrichment.stages.transcript.engine, 'pocketsphinx');
    assert.equal(d1.recording.bytes, wav.length);
    assert.equal(ucm.received.logins, 1);
    // the UCM forgets the session (a reboot, a timeout) and rate limits the next request
    ucm.setBehaviour({ resetSessions: true, rateLimit: 1 });
    const cdr2 = { ...cdr, session: '1715681700999999-0912345678', uniqueid: '1715681700.99', AcctId: '1044', recordfiles: '2024-05/auto-2-0912345678-1001.wav@' };
    r = await postHook(S, 'ucmco', cdr2, { provider: 'ucm', headers: auth });
    assert.equal(r.status, 200, r.text);
    const d2 = await completion('ucmco', cdr2.session, 90_000);
    const st = d2.enrichment.stages;
    assert.equal(st.recording.state, 'done', JSON.stringify(d2.enrichment));
    assert.ok(st.recording.attempts >= 2, 'the rate limit cost an attempt');
    assert.equal(st.transcript.state, 'done');
    assert.equal(d2.enrichment.state, 'done');
    assert.equal(ucm.received.logins, 2, 'logged in again after the expired session');
    assert.ok(Array.isArray(d2.transcript_segments));
    await onlyOnce('ucmco', cdr.session);
    await onlyOnce('ucmco', cdr2.session);
  });

  it('Twilio: the recording fetched with Basic auth; a 404 fails the pipeline, the rest skipped', T, async () => {
    const tr = await openai({ transcript: { segments: HEBREW } });
    const r0 = await apiJson(S, tenants.voiceco.apiKey, 'PUT', '/v1/pipeline', { transcript: oai(tr, { model: 'whisper-1' }) });
    assert.equal(r0.status, 200, r0.text);
    const recPath = `/2010-04-01/Accounts/${ACCOUNT}/Recordings/RE${'2'.repeat(32)}`;
    const tm = await startMedia({ files: { [recPath]: wav }, auth: { user: ACCOUNT, pass: TWILIO_TOKEN } });
    doubles.push(tm);
    const send = async (params) => {
      const url = `${S.url}/hooks/voiceco/twilio`;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params) },
        body: new URLSearchParams(params).toString(),
      });
      assert.equal(res.status, 200, await res.text());
    };
    const callback = (callSid, recUrl, recSid) => send({
      AccountSid: ACCOUNT, ApiVersion: '2010-04-01', CallSid: callSid, CallStatus: 'completed', Direction: 'inbound',
      From: '+14155550100', To: '+14155550199', CallDuration: '42', Timestamp: 'Tue, 14 May 2024 10:15:49 +0000',
      SequenceNumber: '3', ...(recUrl ? { RecordingStatus: 'completed', RecordingSid: recSid, RecordingUrl: recUrl, RecordingDuration: '3' } : {}),
    });
    const ok = 'CA' + '3'.repeat(32), missing = 'CA' + '4'.repeat(32);
    await callback(ok, `${tm.url}${recPath}`, 'RE' + '2'.repeat(32));
    await callback(missing, `${tm.url}/2010-04-01/Accounts/${ACCOUNT}/Recordings/RE${'5'.repeat(32)}`, 'RE' + '5'.repeat(32));
    const d = await completion('voiceco', ok);
    assert.equal(d.enrichment.stages.recording.state, 'done', JSON.stringify(d.enrichment));
    const got = tm.received.filter((r) => r.path === recPath);
    assert.equal(got.length, 1);
    assert.equal(got[0].headers.authorization, 'Basic ' + Buffer.from(`${ACCOUNT}:${TWILIO_TOKEN}`).toString('base64'));
    assert.equal(got[0].authorized, true);
    assert.equal(d.enrichment.state, 'done');
    assert.match(d.transcript, /אינסטלטור/);
    const m = await completion('voiceco', missing);
    const st = m.enrichment.stages;
    assert.equal(st.recording.state, 'failed', JSON.stringify(m.enrichment));
    assert.match(st.recording.error, /HTTP 404/);
    for (const s of ['transcript', 'summary', 'fields', 'sentiment']) assert.equal(st[s].state, 'skipped', s);
    assert.equal(m.enrichment.state, 'failed');
    assert.equal(m.transcript, null);
    await onlyOnce('voiceco', ok);
    await onlyOnce('voiceco', missing);
    // a RecordingUrl on another host (127.0.0.2, not the listed 127.0.0.1): fetched without the
    // account's token, so the host answers 401 and the stage says why
    const elsewhere = 'CA' + '8'.repeat(32), elsewherePath = `/2010-04-01/Accounts/${ACCOUNT}/Recordings/RE${'9'.repeat(32)}`;
    const other = await startMedia({ files: { [elsewherePath]: wav }, auth: { user: ACCOUNT, pass: TWILIO_TOKEN } }, { host: '127.0.0.2' });
    doubles.push(other);
    await callback(elsewhere, `${other.url}${elsewherePath}`, 'RE' + '9'.repeat(32));
    const x = await completion('voiceco', elsewhere);
    assert.equal(x.enrichment.stages.recording.state, 'failed', JSON.stringify(x.enrichment));
    assert.match(x.enrichment.stages.recording.error, /HTTP 401.*only to 127\.0\.0\.1/);
    const asked = other.received.filter((r) => r.path === elsewherePath);
    assert.ok(asked.length >= 1);
    for (const r of asked) assert.equal(r.headers.authorization, undefined, 'no credentials to an unlisted host');
    // the usual order: the status callback first (completed at once), the recording callback later
    const later = 'CA' + '6'.repeat(32), laterRec = `/2010-04-01/Accounts/${ACCOUNT}/Recordings/RE${'7'.repeat(32)}`;
    tm.setBehaviour({ files: { [recPath]: wav, [laterRec]: wav }, auth: { user: ACCOUNT, pass: TWILIO_TOKEN } });
    await callback(later, null, null);
    const first = await completion('voiceco', later);
    assert.equal(first.enrichment.state, 'skipped');
    assert.equal(first.enrichment.reason, 'no_recording');
    await send({ AccountSid: ACCOUNT, CallSid: later, RecordingSid: 'RE' + '7'.repeat(32), RecordingUrl: `${tm.url}${laterRec}`, RecordingStatus: 'completed', RecordingDuration: '3', RecordingChannels: '1', RecordingSource: 'DialVerb' });
    const upd = await waitFor(() => ofCall('voiceco', later).find((m) => m.type === 'call.updated' && m.data.call.enrichment.state === 'done'), 30_000, 'the recording callback enriched as call.updated');
    assert.match(upd.data.call.transcript, /אינסטלטור/);
    await onlyOnce('voiceco', later);
  });

  it('a recording that appears after completion: its results arrive as call.updated, not a second call.completed', T, async () => {
    const tr = await openai({ transcript: { segments: HEBREW } });
    await pipeline('late', { transcript: oai(tr, { model: 'whisper-1' }) });
    await post('late', ended('late-1'));
    const d = await completion('late', 'late-1');
    assert.equal(d.enrichment.state, 'skipped');
    assert.equal(d.enrichment.reason, 'no_recording');
    assert.equal(d.transcript, null);
    await post('late', { ...ended('late-1'), event_id: 'late-1-rec', recording_url: `${media.url}/rec.wav` });
    const upd = await waitFor(() => ofCall('late', 'late-1').find((m) => m.type === 'call.updated' && m.data.call.enrichment?.state === 'done'), 30_000, 'call.updated with the enrichment');
    assert.match(upd.data.call.transcript, /אינסטלטור/);
    assert.equal(upd.data.call.enrichment.stages.recording.state, 'done');
    assert.equal(tr.received.length, 1);
    await onlyOnce('late', 'late-1');
  });
});

it('callhook source media: validated, replaced, cleared, never printing a password', T, () => {
  const cdb = path.join(dir, 'cli.db');
  cli(cdb, ['tenant', 'add', 'clico']);
  const id = String(cli(cdb, ['source', 'add', 'clico', 'ucm', '--username', 'ucm-pbx', '--password', 'pw-ucm-12']).credential_id);
  const stored = () => sqlite(cdb, `SELECT COALESCE(media, 'NULL') FROM credentials WHERE id=${id};`).trim();
  const set = cli(cdb, ['source', 'media', 'clico', id, '--api-url', 'https://pbx.example:8089', '--api-user', 'cdrapi', '--api-password', 'secret-ucm-pw', '--insecure-tls']);
  assert.deepEqual(set, { tenant: 'clico', source_id: Number(id), provider: 'ucm', media: { api_url: 'https://pbx.example:8089', api_user: 'cdrapi', insecure_tls: true, api_password_set: true } });
  assert.deepEqual(JSON.parse(stored()), { api_url: 'https://pbx.example:8089', api_user: 'cdrapi', api_password: 'secret-ucm-pw', insecure_tls: true });
  const text = cli(cdb, ['source', 'media', 'clico', id, '--api-url', 'https://pbx.example:8089', '--api-user', 'cdrapi', '--api-password', 'secret-ucm-pw', '--pinned-pubkey', 'sha256//AAAA'], { json: false });
  assert.ok(!text.includes('secret-ucm-pw'), text);
  assert.equal(JSON.parse(stored()).insecure_tls, undefined, 'the settings are replaced, not merged');
  assert.equal(JSON.parse(stored()).pinned_pubkey, 'sha256//AAAA');
  for (const bad of [
    ['--api-url', 'ftp://pbx', '--api-user', 'a', '--api-password', 'b'],
    ['--api-url', 'https://pbx'],
    ['--api-user', 'a', '--api-password', 'b'],
    ['--basic-user', 'AC1'],
    ['--basic-user', 'a', '--basic-password', 'b', '--basic-hosts', 'api.twilio.com,,x'],
    ['--basic-hosts', 'api.twilio.com'],
    ['--api-url', 'https://pbx', '--api-user', 'a', '--api-password', 'b', '--pinned-pubkey', 'md5//x'],
    ['--clear', '--basic-user', 'a', '--basic-password', 'b'],
    [],
  ]) {
    const r = cliFail(cdb, ['source', 'media', 'clico', id, ...bad]);
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
  }
  assert.equal(cliFail(cdb, ['source', 'media', 'clico', '999', '--basic-user', 'a', '--basic-password', 'b']).status, 1, 'no such source');
  assert.equal(cliFail(cdb, ['source', 'media', 'nobody', id, '--clear']).status, 1, 'no such tenant');
  cli(cdb, ['tenant', 'add', 'otherco']);
  assert.equal(cliFail(cdb, ['source', 'media', 'otherco', id, '--clear']).status, 1, "another tenant's source is not found");
  assert.equal(JSON.parse(stored()).pinned_pubkey, 'sha256//AAAA', 'a refused command changed nothing');
  assert.deepEqual(cli(cdb, ['source', 'media', 'clico', id, '--clear']).media, {});
  assert.equal(stored(), 'NULL');
});

it('kill -9 while a stage is in flight: the job is run again after the restart, call.completed once', T, async () => {
  const kdb = path.join(dir, 'kill.db');
  const kt = setupTenant(kdb, 'killco', { enrich: true });
  cli(kdb, ['endpoint', 'add', 'killco', `${rx.url}/killco`]);
  const tr = await openai({ delayMs: 4000, transcript: { segments: HEBREW } });
  const env = { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_ENRICH_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_ENRICH_RETRY_SCHEDULE: '1s,1s', CALLHOOK_ENRICH_RECORDINGS_DIR: path.join(dir, 'kill-recordings') };
  let K = await startServer({ db: kdb, env });
  try {
    const r0 = await apiJson(K, kt.apiKey, 'PUT', '/v1/pipeline', { transcript: oai(tr, { model: 'whisper-1' }) });
    assert.equal(r0.status, 200, r0.text);
    const r = await postHook(K, 'killco', ended('kill-1', { recording_url: `${media.url}/rec.wav` }), { headers: hookAuth(kt) });
    assert.equal(r.status, 200, r.text);
    await waitFor(() => tr.received.length >= 1, 30_000, 'the transcription request in flight');
    await K.kill9();
    tr.setBehaviour({ key: KEY, transcript: { segments: HEBREW } });
    K = await startServer({ db: kdb, env });
    const d = await completion('killco', 'kill-1');
    assert.equal(d.enrichment.state, 'done', JSON.stringify(d.enrichment));
    assert.equal(d.enrichment.stages.recording.attempts, 1, 'the recording done before the kill is kept');
    assert.equal(tr.received.filter((q) => q.path === '/v1/audio/transcriptions').length, 2, 'the transcription ran again');
    assert.match(d.transcript, /אינסטלטור/);
    await sleep(1500);
    assert.equal(completed('killco', 'kill-1').length, 1);
    assert.equal((await K.stop()).code, 0);
  } finally {
    await K.stop();
  }
});

it('the daemon stops cleanly after all that: exit 0, no sanitizer report', T, async () => {
  for (const d of doubles) await d.close(); // nothing left in flight
  const r = await S.stop();
  const logs = S.logs();
  S = null;
  const at = logs.search(/==\d+==ERROR|runtime error:/);
  assert.ok(at < 0, `sanitizer report:\n${logs.slice(Math.max(0, at - 200), at + 4000)}`);
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}`);
});
