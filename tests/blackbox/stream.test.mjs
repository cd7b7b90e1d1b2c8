// GET /v1/stream (Server-Sent Events, docs/internals/stream.md) against the real binary: events
// for a tenant's calls and deliveries with increasing ids, nothing of another tenant, resume by
// Last-Event-ID after a disconnect and after a restart (nothing lost, nothing twice), reset for
// an id the log no longer has, a client that stops reading is cut and memory stays bounded,
// max_streams, heartbeats, a clean stop. A small SSE client over node:http (no library).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import nodeHttp from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, http, sqlite } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

const open = [];
after(async () => {
  for (const c of open.reverse()) await c();
});

// Opens a stream; parses events as they come. Everything is bounded by the waits of the caller.
function openStream(server, apiKey, { lastEventId, query = '', headers = {} } = {}) {
  const h = { Accept: 'text/event-stream', ...headers };
  if (apiKey) h.Authorization = `Bearer ${apiKey}`;
  if (lastEventId !== undefined) h['Last-Event-ID'] = String(lastEventId);
  const st = {
    status: 0, headers: {}, events: [], comments: [], retry: null, ended: false, aborted: false,
    raw: '', bytes: 0, body: '',
  };
  let pending = '';
  let cur = { id: null, event: null, data: [] };
  const req = nodeHttp.get(`${server.url}/v1/stream${query}`, { headers: h, agent: false });
  st.ready = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      st.res = res;
      st.status = res.statusCode;
      st.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        st.bytes += chunk.length;
        if (st.status !== 200) { st.body += chunk; return; }
        pending += chunk;
        let i;
        while ((i = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, i);
          pending = pending.slice(i + 1);
          if (line === '') {
            if (cur.data.length || cur.event) {
              const ev = { id: cur.id, event: cur.event || 'message', data: cur.data.join('\n') };
              try { ev.json = JSON.parse(ev.data); } catch { /* not JSON */ }
              st.events.push(ev);
            }
            cur = { id: null, event: null, data: [] };
          } else if (line.startsWith(':')) st.comments.push(line);
          else {
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            let value = c < 0 ? '' : line.slice(c + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'id') cur.id = value;
            else if (field === 'event') cur.event = value;
            else if (field === 'data') cur.data.push(value);
            else if (field === 'retry') st.retry = Number(value);
          }
        }
      });
      res.on('end', () => { st.ended = true; });
      res.on('aborted', () => { st.aborted = true; });
      res.on('close', () => { st.ended = true; });
      res.on('error', () => { st.aborted = true; st.ended = true; });
      resolve(st);
    });
    req.on('error', (e) => { st.ended = true; st.aborted = true; if (!st.status) reject(e); });
  });
  st.close = () => { req.destroy(); };
  st.ids = () => st.events.filter((e) => e.id !== null).map((e) => Number(e.id));
  st.lastId = () => { const v = st.ids(); return v.length ? v[v.length - 1] : undefined; };
  open.push(async () => st.close());
  return st;
}

const env = { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' };

async function post(server, t, body) {
  const r = await postHook(server, t.slug, { direction: 'inbound', from: '+14155550100', to: '+14155550199', ...body }, { headers: hookAuth(t) });
  assert.equal(r.status, 200, r.text);
  return r.json.call_id;
}

async function metrics(server) {
  const r = await http(`${server.url}/metrics`);
  assert.equal(r.status, 200);
  const m = {};
  for (const line of r.text.split('\n')) {
    const x = line.match(/^(callhook_stream_[a-z_]+) (\S+)$/);
    if (x) m[x[1]] = Number(x[2]);
  }
  return m;
}

// The tenant's changes in the durable log after cursor that reach a stream (calls, deliveries).
function logSeqs(db, slug, cursor) {
  const out = [];
  for (let i = 0; i < 1000; i++) {
    const page = cli(db, ['changes', '--since', String(cursor), '--limit', '1000', '--tenant', slug]);
    assert.equal(page.reset, false);
    out.push(...page.changes.filter((c) => c.kind.startsWith('call.') || c.kind.startsWith('delivery.')));
    if (page.changes.length < 1000) return out;
    cursor = page.next_cursor;
  }
  throw new Error('the log did not end');
}

function rss(server) {
  const s = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]) * 1024;
}

function assertIncreasing(ids) {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids increase: ${ids.slice(Math.max(0, i - 3), i + 2)}`);
}

test('call and delivery events arrive with increasing ids, per tenant, with heartbeats', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  const B = setupTenant(db, 'beta');
  const rx = await startReceiver(() => ({ status: 200 }));
  open.push(() => rx.close());
  cli(db, ['endpoint', 'add', 'acme', `${rx.url}/hook`, '--kind', 'generic', '--events', 'call.started']);
  const server = await startServer({ db, env: { ...env, CALLHOOK_SERVER_STREAM_HEARTBEAT_MS: '200' } });
  open.push(() => server.stop());

  // no key, a wrong key, a bad id
  assert.equal((await http(`${server.url}/v1/stream`)).status, 401);
  assert.equal((await http(`${server.url}/v1/stream`, { headers: { Authorization: 'Bearer nope' } })).status, 401);
  const bad = await http(`${server.url}/v1/stream?last_event_id=x1`, { headers: { Authorization: `Bearer ${A.apiKey}` } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'bad_request');

  const sa = openStream(server, A.apiKey);
  const sb = openStream(server, B.apiKey);
  await sa.ready;
  await sb.ready;
  assert.equal(sa.status, 200);
  assert.match(sa.headers['content-type'], /^text\/event-stream/);
  assert.equal(sa.headers['cache-control'], 'no-store');
  assert.equal(sa.headers['x-accel-buffering'], 'no');
  assert.ok(await waitFor(() => sa.retry !== null, 5000), 'retry line');
  assert.equal(sa.retry, 3000);
  assert.ok(await waitFor(async () => (await metrics(server)).callhook_stream_open === 2, 5000));

  const c1 = await post(server, A, { call_id: 'x1', event_id: 'e1', status: 'ringing', caller_name: 'Ada <script>' });
  await post(server, A, { call_id: 'x1', event_id: 'e2', status: 'in_progress' });
  const c2 = await post(server, A, { call_id: 'x2', event_id: 'e3', status: 'ringing' });
  const ok = await waitFor(() => {
    const calls = sa.events.filter((e) => e.event === 'call');
    const dels = sa.events.filter((e) => e.event === 'delivery');
    return calls.length >= 3 && dels.some((d) => d.json.kind === 'delivery.settled');
  }, 15_000);
  assert.ok(ok, JSON.stringify(sa.events.map((e) => [e.id, e.event, e.json?.kind])));
  const calls = sa.events.filter((e) => e.event === 'call');
  assert.deepEqual(calls.map((e) => [e.json.kind, e.json.call.id, e.json.call.version]).slice(0, 3), [
    ['call.created', c1, 1], ['call.updated', c1, 2], ['call.created', c2, 1],
  ]);
  assert.equal(calls[0].json.call.caller_name, 'Ada <script>');
  assert.equal(calls[0].json.call.events, undefined, 'the list object, not the detail');
  assert.equal(calls[0].json.call.tenant, 'acme');
  const dels = sa.events.filter((e) => e.event === 'delivery');
  assert.ok(dels.some((d) => d.json.kind === 'delivery.created' && d.json.call_id === c1 && Number.isInteger(d.json.delivery_id)));
  assertIncreasing(sa.ids());
  assert.ok(sa.events.every((e) => e.id !== null && /^\d+$/.test(e.id)));
  // the ids are the feed's seqs: the log's, for this tenant
  assert.deepEqual(sa.ids(), logSeqs(db, 'acme', 0).map((c) => c.seq).filter((s) => s <= sa.lastId()));

  // beta's stream saw nothing of acme; its own call reaches it only
  const cb = await post(server, B, { call_id: 'y1', event_id: 'f1', status: 'ringing' });
  assert.ok(await waitFor(() => sb.events.length >= 1, 10_000), server.logs().split('\n').filter((l) => /stream/.test(l)).join('\n'));
  assert.deepEqual(sb.events.map((e) => e.json.call.id), [cb]);
  assert.ok(sb.events.every((e) => e.json.call.tenant === 'beta'));
  assert.ok(!sa.events.some((e) => e.json?.call?.id === cb));

  // heartbeats (200 ms here)
  assert.ok(await waitFor(() => sa.comments.filter((c) => c === ': hb').length >= 2, 10_000), 'heartbeats');
  const m = await metrics(server);
  assert.ok(m.callhook_stream_events_total >= sa.events.length + sb.events.length);
  assert.ok(m.callhook_stream_events_built_total >= 1);

  // a stop with streams open ends them and exits cleanly
  const x = await server.stop();
  assert.equal(x.code, 0, server.logs().slice(-3000));
  assert.doesNotMatch(server.logs(), /Sanitizer|runtime error/);
  assert.ok(await waitFor(() => sa.ended && sb.ended, 5000));
});

test('resume by Last-Event-ID: exactly the missed events, also across a restart and during a burst', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  const B = setupTenant(db, 'beta');
  let server = await startServer({ db, env });
  open.push(() => server.stop());

  const s1 = openStream(server, A.apiKey);
  await s1.ready;
  assert.ok(await waitFor(async () => (await metrics(server)).callhook_stream_open === 1, 5000));
  for (let i = 0; i < 5; i++) await post(server, A, { call_id: `a${i}`, event_id: `a${i}`, status: 'ringing' });
  assert.ok(await waitFor(() => s1.events.length >= 5, 10_000));
  const seen = s1.ids();
  s1.close();
  const last = seen.at(-1);

  // missed while disconnected: acme's and beta's calls
  for (let i = 5; i < 10; i++) {
    await post(server, A, { call_id: `a${i}`, event_id: `a${i}`, status: 'ringing' });
    await post(server, B, { call_id: `b${i}`, event_id: `b${i}`, status: 'ringing' });
  }
  const s2 = openStream(server, A.apiKey, { lastEventId: last });
  await s2.ready;
  assert.ok(await waitFor(() => s2.events.length >= 5, 10_000));
  // and live after the replay
  await post(server, A, { call_id: 'a10', event_id: 'a10', status: 'ringing' });
  assert.ok(await waitFor(() => s2.events.length >= 6, 10_000));
  const want = logSeqs(db, 'acme', last).map((c) => c.seq);
  assert.deepEqual(s2.ids(), want, 'the missed events and the live one, once each');
  assert.ok(s2.events.every((e) => e.json.call.tenant === 'acme'));
  const last2 = s2.lastId();
  s2.close();

  // across a restart of the daemon: the ids stay valid
  const x = await server.stop();
  assert.equal(x.code, 0, server.logs().slice(-3000));
  assert.doesNotMatch(server.logs(), /Sanitizer|runtime error/);
  server = await startServer({ db, env });
  for (let i = 11; i < 14; i++) await post(server, A, { call_id: `a${i}`, event_id: `a${i}`, status: 'ringing' });
  const s3 = openStream(server, A.apiKey, { query: `?last_event_id=${last2}` });
  await s3.ready;
  assert.ok(await waitFor(() => s3.events.length >= 3, 10_000));
  assert.deepEqual(s3.ids(), logSeqs(db, 'acme', last2).map((c) => c.seq));
  assert.deepEqual(s3.events.map((e) => e.json.call.external_id), ['a11', 'a12', 'a13']);

  // a resume while calls are being posted: the switch from the log to live has no gap and no
  // repeat (the stream is registered first and the replay stops where live begins)
  const from = s3.lastId();
  s3.close();
  const burst = (async () => {
    for (let i = 0; i < 60; i++) await post(server, A, { call_id: `r${i}`, event_id: `r${i}`, status: 'ringing' });
  })();
  const streams = [];
  for (let k = 0; k < 4; k++) {
    streams.push(openStream(server, A.apiKey, { lastEventId: from }));
    await new Promise((r) => setTimeout(r, 15));
  }
  await burst;
  const want4 = logSeqs(db, 'acme', from).map((c) => c.seq);
  assert.equal(want4.length, 60);
  for (const s of streams) {
    assert.ok(await waitFor(() => s.events.length >= 60, 15_000), `${s.events.length} of 60`);
    assert.deepEqual(s.ids(), want4);
  }
  const y = await server.stop();
  assert.equal(y.code, 0, server.logs().slice(-3000));
  assert.doesNotMatch(server.logs(), /Sanitizer|runtime error/);
});

test('an id older than the log keeps, or beyond its head, is a reset', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  const server = await startServer({ db, env });
  open.push(() => server.stop());
  for (let i = 0; i < 6; i++) await post(server, A, { call_id: `a${i}`, event_id: `a${i}`, status: 'ringing' });
  const all = logSeqs(db, 'acme', 0).map((c) => c.seq);
  assert.equal(all.length, 6);
  // the log keeps only the newest three (as its retention would): ids before them are gone
  sqlite(db, `DELETE FROM changes WHERE seq < ${all[3]};`);
  const s = openStream(server, A.apiKey, { lastEventId: all[1] });
  await s.ready;
  assert.ok(await waitFor(() => s.events.length >= 1, 10_000));
  assert.equal(s.events[0].event, 'reset');
  const head = all.at(-1);
  assert.deepEqual(s.events[0].json, { cursor: head });
  assert.equal(Number(s.events[0].id), head, 'a reconnect after the reset goes on from the cursor');
  await post(server, A, { call_id: 'a6', event_id: 'a6', status: 'ringing' });
  assert.ok(await waitFor(() => s.events.length >= 2, 10_000));
  assert.equal(s.events[1].json.call.external_id, 'a6');
  assert.equal(s.events.length, 2, 'nothing from before the cursor');
  // within what the log keeps: a normal resume
  const t = openStream(server, A.apiKey, { lastEventId: all[3] });
  await t.ready;
  assert.ok(await waitFor(() => t.events.length >= 3, 10_000));
  assert.deepEqual(t.events.map((e) => e.event), ['call', 'call', 'call']);
  // an id from another database (beyond the head)
  const u = openStream(server, A.apiKey, { lastEventId: 99999999 });
  await u.ready;
  assert.ok(await waitFor(() => u.events.length >= 1, 10_000));
  assert.equal(u.events[0].event, 'reset');
  assert.ok((await metrics(server)).callhook_stream_resets_total >= 2);
});

test('a client that stops reading is cut, memory stays bounded, and it catches up by its id', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  // under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before reuse:
  // kept small here so that RSS says what the daemon holds
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4'].filter(Boolean).join(':');
  const server = await startServer({ db, env: { ...env, CALLHOOK_SERVER_STREAM_BUFFER: '262144', CALLHOOK_SERVER_STREAM_HEARTBEAT_MS: '300', ASAN_OPTIONS: asan } });
  open.push(() => server.stop());
  const fast = openStream(server, A.apiKey);
  const slow = openStream(server, A.apiKey);
  await fast.ready;
  await slow.ready;
  assert.ok(await waitFor(async () => (await metrics(server)).callhook_stream_open === 2, 5000));
  slow.res.pause(); // the socket is no longer read: the kernel's buffers fill, then the stream's
  const rssBefore = rss(server);
  const transcript = 'word '.repeat(3000); // about 15 KB an event: 16 fit the buffer
  let n = 0;
  let m;
  for (; n < 3000; n++) {
    await post(server, A, { call_id: `s${n}`, event_id: `s${n}`, status: 'ringing', transcript });
    if (n % 20 === 19) {
      m = await metrics(server);
      if (m.callhook_stream_dropped_slow_total >= 1) break;
    }
  }
  m = await metrics(server);
  assert.equal(m.callhook_stream_dropped_slow_total, 1,
    `after ${n} calls: ${server.logs().split('\n').filter((l) => /stream_|v1\/stream/.test(l)).join('\n')}`);
  // what a stream may hold is the buffer (256 KiB) plus one event: the daemon holds no backlog
  assert.ok(m.callhook_stream_queued_bytes <= 262144 + 32 * 1024, `queued ${m.callhook_stream_queued_bytes}`);
  // RSS only as a gross check: the writer's page cache and the text index of these 15 KB
  // transcripts grow it by tens of MB whatever the streams do; the bound above is the proof
  const grew = rss(server) - rssBefore;
  assert.ok(grew < 128 * 1024 * 1024, `RSS grew by ${grew} bytes over ${n} events of 15 KB`);
  // the fast client got everything
  assert.ok(await waitFor(() => fast.events.length >= n + 1, 15_000), `${fast.events.length}`);
  assert.ok(await waitFor(async () => (await metrics(server)).callhook_stream_open === 1, 10_000), 'the slow stream is closed');

  // the slow client reads again: what reached its socket, then the end; then it resumes by id
  slow.res.resume();
  assert.ok(await waitFor(() => slow.ended, 10_000));
  const got = slow.ids();
  assert.ok(got.length < fast.events.length, `${got.length} < ${fast.events.length}`);
  assertIncreasing(got);
  const again = openStream(server, A.apiKey, { lastEventId: got.length ? got.at(-1) : fast.ids()[0] - 1 });
  await again.ready;
  const rest = fast.ids().filter((id) => id > (got.at(-1) ?? 0));
  assert.ok(await waitFor(() => again.events.length >= rest.length, 20_000), `${again.events.length} of ${rest.length}`);
  assert.deepEqual([...got, ...again.ids()], fast.ids(), 'nothing lost, nothing twice');
  const x = await server.stop();
  assert.equal(x.code, 0, server.logs().slice(-3000));
  assert.doesNotMatch(server.logs(), /Sanitizer|runtime error/);
});

test('past server.max_streams: 503 too_many_streams with Retry-After', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  const server = await startServer({ db, env: { CALLHOOK_SERVER_MAX_STREAMS: '2', CALLHOOK_SERVER_STREAM_HEARTBEAT_MS: '300' } });
  open.push(() => server.stop());
  const s1 = openStream(server, A.apiKey);
  const s2 = openStream(server, A.apiKey);
  await s1.ready;
  await s2.ready;
  assert.equal(s1.status, 200);
  assert.equal(s2.status, 200);
  const s3 = openStream(server, A.apiKey);
  await s3.ready;
  assert.equal(s3.status, 503);
  assert.ok(Number(s3.headers['retry-after']) > 0);
  assert.ok(await waitFor(() => s3.ended, 5000));
  assert.equal(JSON.parse(s3.body).error, 'too_many_streams');
  assert.equal((await metrics(server)).callhook_stream_refused_total, 1);
  // the API still answers beside them
  assert.equal((await http(`${server.url}/v1/calls`, { headers: { Authorization: `Bearer ${A.apiKey}` } })).status, 200);
  // one closes: a stream can open again
  s1.close();
  assert.ok(await waitFor(async () => {
    if ((await metrics(server)).callhook_stream_open !== 1) return false;
    const s4 = openStream(server, A.apiKey);
    await s4.ready;
    const okay = s4.status === 200;
    s4.close();
    return okay;
  }, 15_000, 200), 'a slot frees when a stream ends (found at its next heartbeat at the latest)');
});

test('a burst larger than the buffer: the stream goes on from the log, nothing lost, not cut', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  // 4 KiB: two or three events; the burst commits far more at once
  const server = await startServer({ db, env: { CALLHOOK_SERVER_STREAM_BUFFER: '4096' } });
  open.push(() => server.stop());
  const s = openStream(server, A.apiKey);
  await s.ready;
  assert.ok(await waitFor(async () => (await metrics(server)).callhook_stream_open === 1, 5000));
  const note = 'x'.repeat(1500);
  await Promise.all(Array.from({ length: 80 }, (_, i) =>
    post(server, A, { call_id: `u${i}`, event_id: `u${i}`, status: 'ringing', summary: note })));
  const want = logSeqs(db, 'acme', 0).map((c) => c.seq);
  assert.equal(want.length, 80);
  assert.ok(await waitFor(() => s.events.length >= 80, 20_000), `${s.events.length} of 80`);
  assert.deepEqual(s.ids(), want, 'every event once, in order');
  const m = await metrics(server);
  assert.ok(m.callhook_stream_behind_total >= 1, 'the buffer did fill');
  assert.equal(m.callhook_stream_dropped_slow_total, 0);
  assert.equal(s.ended, false);
});

test('a signed-in user streams with the session cookie: its tenant only; signed out, refused', async () => {
  const dir = tmpDir('callhook-stream-');
  open.push(() => cleanup(dir));
  const db = path.join(dir, 'd.db');
  const A = setupTenant(db, 'acme');
  const B = setupTenant(db, 'beta');
  cli(db, ['user', 'add', 'acme', 'viewer@acme.example', '--password', 'a long enough password', '--role', 'viewer']);
  const server = await startServer({ db });
  open.push(() => server.stop());
  const r = await http(`${server.url}/v1/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'viewer@acme.example', password: 'a long enough password' }),
  });
  assert.equal(r.status, 200, r.text);
  const m = r.headers.get('set-cookie').match(/^((?:__Host-)?callhook_session)=([^;]*)/);
  const cookie = `${m[1]}=${m[2]}`;
  const s = openStream(server, null, { headers: { Cookie: cookie } });
  await s.ready;
  assert.equal(s.status, 200);
  assert.match(s.headers['content-type'], /^text\/event-stream/);
  assert.ok(await waitFor(async () => (await metrics(server)).callhook_stream_open === 1, 5000));
  await post(server, B, { call_id: 'b1', event_id: 'b1', status: 'ringing' });
  const a1 = await post(server, A, { call_id: 'a1', event_id: 'a1', status: 'ringing' });
  assert.ok(await waitFor(() => s.events.length >= 1, 10_000));
  assert.deepEqual(s.events.map((e) => e.json.call.id), [a1], 'acme\'s call only, not beta\'s');
  // a forged or ended session opens nothing
  const bad = openStream(server, null, { headers: { Cookie: `${m[1]}=AAAAAAAAAAAAAAAAAAAAAA` } });
  await bad.ready;
  assert.equal(bad.status, 401);
});
