// The enrichment settings and a call's trace through the real daemon and the CLI: GET/PUT
// /v1/pipeline (every key validated, 422 naming it; secrets never echoed; a PUT changes only
// what it names), `callhook pipeline show|set` on the same rules, dictionaries through the API
// and the CLI, tenants kept apart (another tenant's pipeline, dictionary, call trace and
// recording are not found), and GET /v1/calls/{id}/trace = `callhook call trace`: the events in
// received order, the status changes, the pipeline's stages (a recording fetched from a loopback
// media server), the messages with their deliveries and attempts, and the lifecycle events no
// endpoint took (skipped, with routing's reason).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { cli, cliFail, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, apiJson } from './lib.mjs';
import { waitFor, sleep } from './lib-ops.mjs';
import { startMedia } from './lib-media.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

let dir, db, server, rx, media, endpoint;
let A, B, C, S; // A: traced, with an endpoint; B: the other tenant; C: no endpoint; S: settings

// One second of a 440 Hz tone, 8 kHz 16-bit mono PCM WAV: a recording the fetch stage measures.
function wav(seconds = 1, rate = 8000) {
  const n = seconds * rate;
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n * 2, 4); b.write('WAVE', 8); b.write('fmt ', 12);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return b;
}

before(async () => {
  dir = tmpDir('callhook-pipeline-api-');
  db = path.join(dir, 'p.db');
  A = setupTenant(db, 'traceco', { enrich: true });
  B = setupTenant(db, 'otherco');
  C = setupTenant(db, 'lonelyco');
  S = setupTenant(db, 'settingsco');
  media = await startMedia({ files: { '/rec.wav': wav() } });
  rx = await startReceiver(() => ({ status: 200 }));
  endpoint = cli(db, ['endpoint', 'add', 'traceco', `${rx.url}/hook`]);
  server = await startServer({
    db,
    env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_ENRICH_ALLOW_PRIVATE: '127.0.0.0/8' },
  });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  await media?.close();
  cleanup(dir);
});

const api = (t, method, p, body) => apiJson(server, t.apiKey, method, p, body);

// ---- /v1/pipeline ----------------------------------------------------------------------

test('GET /v1/pipeline: the defaults, every stage on with the embedded engines', async () => {
  const r = await api(S, 'GET', '/v1/pipeline');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.deadline_s, 600);
  assert.equal(r.json.retention_days, 90);
  const stages = ['recording', 'transcript', 'summary', 'fields', 'sentiment'];
  for (const s of stages) assert.equal(r.json[s].enabled, true, s);
  assert.equal(r.json.transcript.engine, 'pocketsphinx');
  assert.equal(r.json.summary.api_key_set, false);
});

test('PUT /v1/pipeline refuses a bad key with 422 naming it, and writes nothing', async () => {
  const before = (await api(S, 'GET', '/v1/pipeline')).json;
  const cases = [
    [{ deadline_s: 300, nope: 1 }, /\bnope\b/],
    [{ summary: { engine: 'bogus' } }, /summary\.engine/],
    [{ transcript: { engine: 'openai' } }, /transcript\.base_url/],
    [{ fields: { schema: { type: 'object', properties: { city: { type: 'string', pattern: '^[A-Z]' } } } } }, /fields\.schema.*pattern/],
    [{ deadline_s: 'soon' }, /deadline_s/],
    [{ sentiment: { enabled: 'yes' } }, /sentiment\.enabled/],
  ];
  for (const [body, re] of cases) {
    const r = await api(S, 'PUT', '/v1/pipeline', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)} → ${r.status} ${r.text}`);
    assert.equal(r.json.error, 'invalid_setting');
    assert.match(r.json.message, re, JSON.stringify(body));
  }
  assert.equal((await api(S, 'PUT', '/v1/pipeline', '[1]')).status, 400, 'a body that is not an object');
  assert.deepEqual((await api(S, 'GET', '/v1/pipeline')).json, before, 'a refused PUT changed nothing');
});

test('PUT /v1/pipeline never echoes a secret, and a partial patch keeps the other settings', async () => {
  const secret = 'sk-NEVER-SHOWN-4242';
  let r = await api(S, 'PUT', '/v1/pipeline', {
    deadline_s: 120,
    summary: { engine: 'openai', base_url: 'http://127.0.0.1:9/v1', model: 'tiny', api_key: secret },
  });
  assert.equal(r.status, 200, r.text);
  assert.ok(!r.text.includes(secret), 'PUT answer holds the key');
  assert.equal(r.json.summary.api_key_set, true);
  assert.equal(r.json.summary.api_key, undefined);
  r = await api(S, 'PUT', '/v1/pipeline', { retention_days: 7 });
  assert.equal(r.status, 200, r.text);
  const got = await api(S, 'GET', '/v1/pipeline');
  assert.ok(!got.text.includes(secret), 'GET holds the key');
  assert.equal(got.json.deadline_s, 120, 'kept from the first PUT');
  assert.equal(got.json.retention_days, 7);
  assert.equal(got.json.summary.engine, 'openai');
  assert.equal(got.json.summary.model, 'tiny');
  assert.equal(got.json.summary.api_key_set, true, 'the key is kept, not shown');
  const shown = cli(db, ['pipeline', 'show', 'settingsco']);
  assert.deepEqual(shown, got.json, 'the CLI shows what the API shows');
  assert.ok(!JSON.stringify(shown).includes(secret));
});

test('callhook pipeline set: the same rules as PUT (exit 2 naming the key), the same store', async () => {
  let f = cliFail(db, ['pipeline', 'set', 'settingsco', '--summary-engine', 'bogus']);
  assert.equal(f.status, 2);
  assert.match(f.stderr, /summary\.engine/);
  const schemaFile = path.join(dir, 'schema.json');
  writeFileSync(schemaFile, JSON.stringify({ type: 'object', properties: { city: { type: 'string', pattern: 'x' } } }));
  f = cliFail(db, ['pipeline', 'set', 'settingsco', '--fields-schema', schemaFile]);
  assert.equal(f.status, 2);
  assert.match(f.stderr, /fields\.schema.*pattern/);
  f = cliFail(db, ['pipeline', 'set', 'settingsco', '--json', '{"oops":true}']);
  assert.equal(f.status, 2);
  assert.match(f.stderr, /oops/);
  f = cliFail(db, ['pipeline', 'set', 'nosuchco', '--deadline', '60']);
  assert.equal(f.status, 1);
  assert.match(f.stderr, /no such tenant/);

  const out = cli(db, ['pipeline', 'set', 'settingsco', '--deadline', '90', '--sentiment-enabled', 'false',
    '--transcript-key', 'sk-cli-secret', '--json', '{"retention_days":3}']);
  assert.ok(!JSON.stringify(out).includes('sk-cli-secret'));
  const got = (await api(S, 'GET', '/v1/pipeline')).json;
  assert.equal(got.deadline_s, 90);
  assert.equal(got.retention_days, 3, '--json patch applied');
  assert.equal(got.sentiment.enabled, false);
  assert.equal(got.transcript.api_key_set, true);
  assert.equal(got.summary.model, 'tiny', 'what the CLI did not name is kept');
  assert.deepEqual(out, got);
  writeFileSync(schemaFile, JSON.stringify({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }));
  cli(db, ['pipeline', 'set', 'settingsco', '--fields-schema', schemaFile]);
  assert.deepEqual((await api(S, 'GET', '/v1/pipeline')).json.fields.schema.required, ['city']);
});

// ---- dictionaries ------------------------------------------------------------------------

test('dictionaries through the API: add, list, remove, and the checks', async () => {
  let r = await api(S, 'POST', '/v1/dictionaries', { kind: 'city', name: 'Boston', synonyms: ['Beantown'] });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json, { kind: 'city', name: 'Boston', synonyms: ['Beantown'] });
  assert.equal((await api(S, 'POST', '/v1/dictionaries', { kind: 'service', name: 'plumbing' })).status, 201);
  r = await api(S, 'POST', '/v1/dictionaries', { kind: 'planet', name: 'Mars' });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'kind');
  r = await api(S, 'POST', '/v1/dictionaries', { kind: 'city', name: '' });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'name');
  r = await api(S, 'GET', '/v1/dictionaries');
  assert.deepEqual(r.json, { cities: [{ name: 'Boston', synonyms: ['Beantown'] }], services: [{ name: 'plumbing', synonyms: [] }] });
  assert.equal((await api(S, 'DELETE', '/v1/dictionaries/city/Boston')).status, 200);
  assert.equal((await api(S, 'DELETE', '/v1/dictionaries/city/Boston')).status, 404, 'removed already');
  assert.deepEqual((await api(S, 'GET', '/v1/dictionaries')).json.cities, []);
});

test('dictionaries through the CLI: the same entries the API shows', async () => {
  const added = cli(db, ['dictionary', 'add', 'settingsco', 'city', 'Tel Aviv', '--synonyms', 'TLV,Tel-Aviv']);
  assert.deepEqual(added, { kind: 'city', name: 'Tel Aviv', synonyms: ['TLV', 'Tel-Aviv'] });
  const viaApi = (await api(S, 'GET', '/v1/dictionaries')).json;
  assert.deepEqual(viaApi.cities, [{ name: 'Tel Aviv', synonyms: ['TLV', 'Tel-Aviv'] }]);
  assert.deepEqual(cli(db, ['dictionary', 'list', 'settingsco']), viaApi);
  assert.equal(cliFail(db, ['dictionary', 'add', 'settingsco', 'planet', 'Mars']).status, 2);
  assert.equal(cliFail(db, ['dictionary', 'add', 'settingsco', 'city', 'X', '--synonyms', 'a,,b']).status, 2);
  assert.equal(cli(db, ['dictionary', 'remove', 'settingsco', 'city', 'Tel Aviv']).removed, true);
  const again = cliFail(db, ['dictionary', 'remove', 'settingsco', 'city', 'Tel Aviv']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /no such city/);
  assert.deepEqual((await api(S, 'GET', '/v1/dictionaries')).json.cities, []);
});

// ---- a call's trace ------------------------------------------------------------------------

let traced; // A's call id

test('the trace of a call: events in order, status changes, stages, messages with their attempts', async () => {
  const off = { enabled: false };
  assert.equal((await api(A, 'PUT', '/v1/pipeline', { transcript: off, summary: off, fields: off, sentiment: off })).status, 200);
  const base = { call_id: 'tr-1', direction: 'inbound', from: '+14155550100', to: '+14155550111', started_at: '2026-11-23T10:00:00Z' };
  const events = [
    { event_id: 'tr-e1', status: 'ringing' },
    { event_id: 'tr-e2', status: 'in_progress', answered_at: '2026-11-23T10:00:05Z' },
    { event_id: 'tr-e3', status: 'ended', ended_at: '2026-11-23T10:01:00Z', recording_url: `${media.url}/rec.wav` },
  ];
  const bodies = [];
  for (const e of events) {
    const body = JSON.stringify({ ...base, ...e });
    bodies.push(body);
    const r = await postHook(server, 'traceco', body, { headers: hookAuth(A) });
    assert.equal(r.status, 200, r.text);
    traced = r.json.call_id;
  }
  const completed = () => rx.at('/hook').some((rec) => verify(endpoint.secret, rec).type === 'call.completed');
  assert.ok(await waitFor(completed, 30_000), 'call.completed delivered');
  // every delivery settled (its attempt written after the receiver answered)
  const settled = async () => {
    const t = await api(A, 'GET', `/v1/calls/${traced}/trace`);
    const ms = t.json.timeline.filter((x) => x.what === 'message');
    return ms.length >= 6 && ms.every((m) => m.deliveries.every((d) => d.state === 'succeeded')) ? t : null;
  };
  const r = await waitFor(settled, 15_000);
  assert.ok(r, 'the deliveries settle');
  const tr = r.json;
  assert.equal(tr.call_id, traced);
  assert.equal(tr.status, 'ended');
  assert.equal(tr.events_total, 3);
  assert.match(tr.note, /endpoints as they are now/);
  const tl = tr.timeline;
  for (let i = 1; i < tl.length; i++) assert.ok(tl[i - 1].at <= tl[i].at, `time order at ${i}: ${tl[i - 1].at} > ${tl[i].at}`);

  const evs = tl.filter((x) => x.what === 'event');
  assert.deepEqual(evs.map((e) => e.idem_key), ['generic:tr-e1', 'generic:tr-e2', 'generic:tr-e3'], 'received order');
  evs.forEach((e, i) => {
    assert.equal(e.body, bodies[i], 'the raw body as sent');
    assert.equal(e.size, Buffer.byteLength(bodies[i]));
    assert.equal(e.body_truncated, false);
    assert.equal(e.provider, 'generic');
    assert.match(e.content_type, /application\/json/);
    assert.ok(e.request_id, 'the request that carried it');
  });

  const st = tl.filter((x) => x.what === 'status');
  assert.deepEqual(st.map((s) => [s.status_before, s.status]), [[null, 'ringing'], ['ringing', 'in_progress'], ['in_progress', 'ended']]);
  assert.deepEqual(st.map((s) => s.event_id), evs.map((e) => e.id), 'each change names the event that made it');

  const stages = tl.filter((x) => x.what === 'stage');
  const rec = stages.find((s) => s.stage === 'recording');
  assert.ok(rec, JSON.stringify(stages));
  assert.equal(rec.state, 'done', JSON.stringify(rec));
  assert.equal(rec.engine, 'fetch');
  assert.equal(rec.attempts, 1);
  assert.ok(rec.created_at && rec.started_at && rec.finished_at && rec.ms >= 0);
  assert.ok(!stages.some((s) => s.stage === 'transcript' && s.state === 'done'), 'a disabled stage did not run');

  const msgs = tl.filter((x) => x.what === 'message');
  const types = msgs.map((m) => m.type);
  for (const t of ['call.started', 'call.answered', 'call.recording_ready', 'call.ended', 'call.completed'])
    assert.equal(types.filter((x) => x === t).length, 1, `${t} once: ${types}`);
  assert.equal(types.filter((x) => x === 'call.status_changed').length, 3);
  const sent = rx.at('/hook').map((x) => verify(endpoint.secret, x)).filter((m) => m.data?.call_id === traced);
  assert.deepEqual(msgs.map((m) => m.id).sort(), sent.map((m) => m.id).sort(), 'the messages the receiver got');
  for (const m of msgs) {
    assert.equal(m.deliveries.length, 1, m.type);
    const d = m.deliveries[0];
    assert.equal(d.endpoint_id, endpoint.id);
    assert.equal(d.url, `${rx.url}/hook`);
    assert.equal(d.attempts, 1);
    assert.equal(d.attempt_log.length, 1);
    assert.equal(d.attempt_log[0].status, 200);
    assert.ok(d.attempt_log[0].latency_ms >= 0);
    assert.equal(d.attempt_log[0].error, null);
  }
  const ev3 = evs[2].id;
  assert.equal(msgs.find((m) => m.type === 'call.ended').caused_by_event, ev3);
  assert.equal(msgs.find((m) => m.type === 'call.answered').caused_by_event, evs[1].id);
  const done = msgs.find((m) => m.type === 'call.completed');
  assert.equal(done.caused_by_event, null, 'call.completed waited for the pipeline');
  assert.ok(done.at >= rec.finished_at, 'after the stage that finished the pipeline');
  assert.ok(tl.indexOf(done) > tl.indexOf(rec));
  assert.ok(!tl.some((x) => x.what === 'skipped'), 'the endpoint took everything');

  const viaCli = cli(db, ['call', 'trace', 'traceco', traced]);
  assert.deepEqual(viaCli, tr, 'the CLI prints the same trace');
});

test('the trace of a call no endpoint took: each lifecycle event skipped, with routing\'s reason', async () => {
  const big = 'x'.repeat(20_000);
  let r = await postHook(server, 'lonelyco', { event_id: 'lo-1', call_id: 'lo', direction: 'outbound', status: 'ringing', note: big }, { headers: hookAuth(C) });
  assert.equal(r.status, 200, r.text);
  r = await postHook(server, 'lonelyco', { event_id: 'lo-2', call_id: 'lo', status: 'ended', disposition: 'busy' }, { headers: hookAuth(C) });
  assert.equal(r.status, 200, r.text);
  const id = r.json.call_id;
  const tr = (await api(C, 'GET', `/v1/calls/${id}/trace`)).json;
  const skipped = tr.timeline.filter((x) => x.what === 'skipped');
  assert.deepEqual(skipped.map((s) => s.type).sort(),
    ['call.completed', 'call.ended', 'call.failed', 'call.started', 'call.status_changed', 'call.status_changed'].sort());
  for (const s of skipped) {
    assert.equal(s.reason, 'no endpoint for outbound calls');
    assert.equal(s.decision, 'skipped: no endpoint for outbound calls');
    assert.equal(s.judged_against, 'the endpoints as they are now');
  }
  assert.ok(!tr.timeline.some((x) => x.what === 'message'));
  // the same words the stored counters use
  const counted = (await api(C, 'GET', '/v1/webhooks/skipped')).json.skipped;
  for (const s of skipped) assert.ok(counted.some((c) => c.type === s.type && c.reason === s.reason), `${s.type} counted`);
  // the first event's body is over the cap: cut, and said so
  const first = tr.timeline.find((x) => x.what === 'event');
  assert.equal(first.body_truncated, true);
  assert.ok(first.size > 20_000);
  assert.ok(Buffer.byteLength(first.body) <= 16 * 1024);
  assert.ok(first.body.startsWith('{"event_id":"lo-1"'));
  assert.match(first.note, /cut/);
  const fail = skipped.find((s) => s.type === 'call.failed');
  assert.equal(fail.caused_by_event, tr.timeline.filter((x) => x.what === 'event')[1].id);
});

// ---- tenants apart -------------------------------------------------------------------------

test("another tenant's key reads nothing of A: pipeline, dictionary, trace, recording", async () => {
  assert.ok(traced, 'the trace test ran first');
  await api(A, 'POST', '/v1/dictionaries', { kind: 'service', name: 'roofing' });
  await api(A, 'PUT', '/v1/pipeline', { deadline_s: 77 });
  const p = await api(B, 'GET', '/v1/pipeline');
  assert.equal(p.status, 200);
  assert.equal(p.json.deadline_s, 600, "B sees its own settings, not A's");
  assert.equal(p.json.transcript.enabled, true);
  const d = await api(B, 'GET', '/v1/dictionaries');
  assert.deepEqual(d.json, { cities: [], services: [] });
  assert.equal((await api(B, 'DELETE', '/v1/dictionaries/service/roofing')).status, 404);
  assert.deepEqual((await api(A, 'GET', '/v1/dictionaries')).json.services, [{ name: 'roofing', synonyms: [] }], "A's entry stays");
  assert.equal((await api(B, 'GET', `/v1/calls/${traced}/trace`)).status, 404);
  assert.equal((await api(B, 'GET', `/v1/calls/${traced}/recording`)).status, 404);
  assert.equal((await api(A, 'GET', `/v1/calls/${traced}/recording`)).status, 200, 'A has it');
  assert.equal((await api(A, 'GET', '/v1/calls/c_doesnotexist/trace')).status, 404);
  const f = cliFail(db, ['call', 'trace', 'otherco', traced]);
  assert.equal(f.status, 1);
  assert.match(f.stderr, /no such call/);
  assert.equal((await api(A, 'GET', '/v1/pipeline')).json.deadline_s, 77);
  await sleep(0);
});

// Last: SIGTERM drains and exits 0; under ASan, LeakSanitizer fails the exit on a leak of the
// reads above (the trace, the settings, the dictionaries).
test('the daemon exits cleanly after serving all of the above', async () => {
  const x = await server.stop();
  assert.equal(x.code, 0, `exit ${x.code} ${x.signal ?? ''}\n${server.logs().slice(-3000)}`);
});
