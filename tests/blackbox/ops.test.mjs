// Operations: health/readiness, routing errors, Prometheus metrics, request ids and structured
// logs, secrets kept out of logs, graceful SIGTERM under load, SIGHUP log reopening, and the
// configuration precedence INI < environment < flag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, renameSync, existsSync, readFileSync } from 'node:fs';
import { startServer, http, basic, setupTenant, tmpDir, cleanup } from './lib.mjs';
import {
  sqliteJson, sleep, parseLogLines, parseMetrics, metricValue, startServerLogFile, slowPost,
  eventOfSize, postGeneric, waitFor, words, withTimeout,
} from './lib-ops.mjs';

const dir = tmpDir('callhook-ops-');
const db = path.join(dir, 'ops.db');
let ten;
let server;
const servers = [];
let seq = 0;
const uid = () => `${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

before(async () => {
  ten = setupTenant(db, 'acme');
  server = await startServer({ db });
  servers.push(server);
});
after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  cleanup(dir);
});

const linesFor = (logText, rid) => parseLogLines(logText).filter((l) => l.request_id === rid);

test('healthz and readyz', async () => {
  const h = await http(`${server.url}/healthz`);
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok' });
  assert.match(h.headers.get('content-type') || '', /^application\/json/);
  const r = await http(`${server.url}/readyz`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ready' });
});

test('unknown route is 404 JSON; wrong method is 405 with Allow', async () => {
  for (const p of ['/nope', '/v2/calls', '/hooks', '/hooks/acme/generic/extra']) {
    const r = await http(`${server.url}${p}`);
    assert.equal(r.status, 404, `GET ${p}`);
    assert.equal(r.json?.error, 'not_found', `GET ${p}: ${r.text}`);
    assert.equal(typeof r.json.message, 'string');
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
  }
  const unknownTenant = await postGeneric(server.url, { ...ten, slug: 'no-such-tenant' }, { call_id: 'x' });
  assert.equal(unknownTenant.status, 404);
  assert.equal(unknownTenant.json?.error, 'not_found');

  const cases = [
    ['DELETE', '/hooks/acme/generic', 'POST'],
    ['PUT', '/hooks/acme/generic', 'POST'],
    ['POST', '/healthz', 'GET'],
    ['DELETE', '/v1/calls', 'GET'],
    ['POST', '/metrics', 'GET'],
  ];
  for (const [method, p, allowed] of cases) {
    const r = await http(`${server.url}${p}`, { method, headers: { Authorization: `Bearer ${ten.apiKey}` } });
    assert.equal(r.status, 405, `${method} ${p}: ${r.status} ${r.text}`);
    assert.equal(r.json?.error, 'method_not_allowed', `${method} ${p}: ${r.text}`);
    const allow = (r.headers.get('allow') || '').split(',').map((s) => s.trim().toUpperCase());
    assert.ok(allow.includes(allowed), `${method} ${p}: Allow "${r.headers.get('allow')}" includes ${allowed}`);
  }
});

test('metrics: Prometheus text with request, ingest, store, batch and queue series', async () => {
  const get = async () => {
    const r = await http(`${server.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^text\/plain/);
    return { text: r.text, samples: parseMetrics(r.text) };
  };
  const m0 = await get();
  const hooks0 = metricValue(m0.samples, 'callhook_http_requests_total', { route: 'hooks', code: '200' }) ?? 0;
  const stored0 = metricValue(m0.samples, 'callhook_events_stored_total');
  assert.notEqual(stored0, undefined, 'callhook_events_stored_total present');
  const ingestCount0 = metricValue(m0.samples, 'callhook_ingest_seconds_count') ?? 0;
  const health0 = metricValue(m0.samples, 'callhook_http_requests_total', { route: 'healthz', code: '200' }) ?? 0;

  const id = uid();
  const p1 = await postGeneric(server.url, ten, { call_id: `m-${id}`, event_id: `m-${id}-1` });
  assert.equal(p1.status, 200);
  assert.equal(p1.json.status, 'stored');
  const p2 = await postGeneric(server.url, ten, { call_id: `m-${id}`, event_id: `m-${id}-2` });
  assert.equal(p2.status, 200);
  assert.equal((await http(`${server.url}/healthz`)).status, 200);

  const m1 = await get();
  const s = m1.samples;
  const hooks1 = metricValue(s, 'callhook_http_requests_total', { route: 'hooks', code: '200' });
  assert.ok(hooks1 >= hooks0 + 2, `hooks 200 counter went from ${hooks0} to ${hooks1} after two posts`);
  const health1 = metricValue(s, 'callhook_http_requests_total', { route: 'healthz', code: '200' });
  assert.ok(health1 >= health0 + 1, `healthz 200 counter went from ${health0} to ${health1}`);
  const stored1 = metricValue(s, 'callhook_events_stored_total');
  assert.ok(stored1 >= stored0 + 2, `events stored went from ${stored0} to ${stored1}`);

  for (const [name, type] of [
    ['callhook_http_requests_total', 'counter'], ['callhook_ingest_seconds', 'histogram'],
    ['callhook_events_stored_total', 'counter'], ['callhook_batch_requests', 'histogram'],
    ['callhook_write_queue_depth', 'gauge'],
  ]) {
    assert.match(m1.text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `# TYPE ${name} ${type}`);
  }
  // histograms: cumulative buckets ending at +Inf = _count
  for (const h of ['callhook_ingest_seconds', 'callhook_batch_requests']) {
    const buckets = s.filter((x) => x.name === `${h}_bucket`);
    assert.ok(buckets.length >= 2, `${h}_bucket series present`);
    for (const b of buckets) assert.ok('le' in b.labels, `${h}_bucket has le`);
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    assert.ok(inf, `${h}_bucket{le="+Inf"} present`);
    const count = metricValue(s, `${h}_count`);
    assert.equal(inf.value, count, `${h}: +Inf bucket equals _count`);
    assert.notEqual(metricValue(s, `${h}_sum`), undefined, `${h}_sum present`);
    const ordered = buckets.map((b) => [b.labels.le === '+Inf' ? Infinity : Number(b.labels.le), b.value])
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ordered.length; i++) assert.ok(ordered[i][1] >= ordered[i - 1][1], `${h} buckets are cumulative`);
    assert.ok(count > 0, `${h}_count > 0 after posts`);
  }
  assert.ok(metricValue(s, 'callhook_ingest_seconds_count') >= ingestCount0 + 2, 'ingest histogram counts the posts');
  const depth = metricValue(s, 'callhook_write_queue_depth');
  assert.ok(Number.isFinite(depth) && depth >= 0, `write queue depth is a number (${depth})`);

  // invalid records are counted: one batch with two bad records and one good one
  const rej0 = metricValue(s, 'callhook_records_rejected_total');
  assert.notEqual(rej0, undefined, 'callhook_records_rejected_total present');
  const b = await postGeneric(server.url, ten, [{ event_id: 'no-call-id' }, { call_id: 7 }, { call_id: `m-${id}`, event_id: `m-${id}-3` }]);
  assert.equal(b.status, 200, b.text);
  const m2 = await get();
  assert.equal(metricValue(m2.samples, 'callhook_records_rejected_total'), rej0 + 2);
  for (const [name, type] of [['callhook_records_rejected_total', 'counter'], ['callhook_records_refused_total', 'counter'],
    ['callhook_inflight_requests', 'gauge'], ['callhook_store_errors_total', 'counter'], ['callhook_auth_failures_total', 'counter'],
    ['callhook_events_duplicate_total', 'counter']]) {
    assert.match(m2.text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `# TYPE ${name} ${type}`);
  }
});

test('every response has a unique X-Request-Id; logs are JSON lines carrying it', async () => {
  const id = uid();
  const good = await postGeneric(server.url, ten, { call_id: `rid-${id}`, event_id: `rid-${id}-1`, status: 'ringing' });
  assert.equal(good.status, 200);
  const invalid = await postGeneric(server.url, ten, { event_id: `rid-${id}-2` }); // no call_id
  assert.equal(invalid.status, 422);
  assert.equal(invalid.json?.error, 'invalid_record');
  assert.equal(invalid.json?.field, 'call_id');
  const malformed = await postGeneric(server.url, ten, '{"call_id": ');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json?.error, 'malformed_json');
  const unauth = await postGeneric(server.url, ten, { call_id: `rid-${id}` }, { headers: { Authorization: 'Bearer not-the-token' } });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.json?.error, 'unauthorized');
  const others = await Promise.all([
    http(`${server.url}/healthz`), http(`${server.url}/readyz`), http(`${server.url}/metrics`),
    http(`${server.url}/nope`), http(`${server.url}/hooks/acme/generic`),
    http(`${server.url}/v1/calls`, { headers: { Authorization: `Bearer ${ten.apiKey}` } }),
    http(`${server.url}/v1/calls/c_doesnotexist`, { headers: { Authorization: `Bearer ${ten.apiKey}` } }),
    http(`${server.url}/v1/calls`),
  ]);
  const all = [good, invalid, malformed, unauth, ...others];
  const ids = all.map((r) => r.headers.get('x-request-id'));
  ids.forEach((rid, i) => assert.ok(rid && rid.length > 0, `response ${i} (${all[i].status}) has X-Request-Id`));
  assert.equal(new Set(ids).size, ids.length, 'request ids are unique');

  const gid = good.headers.get('x-request-id');
  const goodLines = await waitFor(() => {
    const l = linesFor(server.logs(), gid);
    return l.some((x) => x.event === 'stored') ? l : null;
  }, 5_000);
  assert.ok(goodLines, `log lines for request ${gid} include "stored":\n${server.logs().slice(-3000)}`);
  const evs = goodLines.map((l) => l.event);
  const idx = ['received', 'authenticated', 'parsed', 'stored'].map((e) => evs.indexOf(e));
  idx.forEach((k, i) => assert.ok(k >= 0, `request ${gid} logs ${['received', 'authenticated', 'parsed', 'stored'][i]} (got ${evs})`));
  for (let i = 1; i < idx.length; i++) assert.ok(idx[i] > idx[i - 1], `log events in order: ${evs}`);

  for (const bad of [invalid, malformed, unauth]) {
    const rid = bad.headers.get('x-request-id');
    const lines = await waitFor(() => {
      const l = linesFor(server.logs(), rid);
      return l.some((x) => x.event === 'rejected') ? l : null;
    }, 5_000);
    assert.ok(lines, `a "rejected" log line for ${bad.status} request ${rid}`);
    const rej = lines.find((x) => x.event === 'rejected');
    const reason = rej.reason ?? rej.error;
    assert.equal(typeof reason, 'string', `rejected line has a reason: ${JSON.stringify(rej)}`);
    assert.ok(reason.length > 0);
  }

  // every line of the log is one JSON object with ts, level and event
  const lines = parseLogLines(server.logs());
  assert.ok(lines.length > 10);
  for (const l of lines) {
    assert.equal(typeof l.ts, 'string', `ts in ${JSON.stringify(l)}`);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), `level in ${JSON.stringify(l)}`);
    assert.equal(typeof l.event, 'string', `event in ${JSON.stringify(l)}`);
  }
});

test('credentials sent in requests never appear in the logs', async () => {
  const id = uid();
  const wrongToken = `wrong-token-${uid()}`;
  const wrongPass = `wrong-pass-${uid()}`;
  const wrongKey = `chk_wrong${uid().replace(/-/g, '')}`;
  const ok1 = await postGeneric(server.url, ten, { call_id: `sec-${id}`, event_id: `sec-${id}-1` });
  const ok2 = await postGeneric(server.url, ten, { call_id: `sec-${id}`, event_id: `sec-${id}-2` },
    { headers: { Authorization: basic(ten.username, ten.password) } });
  const ok3 = await postGeneric(server.url, ten, { call_id: `sec-${id}`, event_id: `sec-${id}-3` },
    { headers: { Authorization: null, 'X-Api-Key': ten.token } });
  for (const r of [ok1, ok2, ok3]) assert.equal(r.status, 200, r.text);
  const bad1 = await postGeneric(server.url, ten, { call_id: `sec-${id}` }, { headers: { Authorization: `Bearer ${wrongToken}` } });
  const bad2 = await postGeneric(server.url, ten, { call_id: `sec-${id}` }, { headers: { Authorization: basic(ten.username, wrongPass) } });
  for (const r of [bad1, bad2]) {
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') || '', /^Basic realm="callhook"/);
  }
  const api1 = await http(`${server.url}/v1/calls`, { headers: { Authorization: `Bearer ${ten.apiKey}` } });
  assert.equal(api1.status, 200);
  const api2 = await http(`${server.url}/v1/calls`, { headers: { Authorization: `Bearer ${wrongKey}` } });
  assert.equal(api2.status, 401);
  await sleep(300);
  const log = server.logs();
  assert.ok(log.includes(`sec-${id}`) || log.includes(ok1.headers.get('x-request-id')), 'these requests were logged at all');
  const secrets = {
    token: ten.token, password: ten.password, apiKey: ten.apiKey, wrongToken, wrongPass, wrongKey,
    basicGood: basic(ten.username, ten.password).slice(6), basicBad: basic(ten.username, wrongPass).slice(6),
  };
  for (const [what, s] of Object.entries(secrets)) {
    assert.ok(!log.includes(s), `the ${what} appears in the log`);
  }
});

test('the shared server exits 0 on SIGTERM', async () => {
  const exit = await server.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, server.logs().slice(-3000));
});

test('SIGTERM with ~50 requests in flight: every one gets a complete 2xx, exit 0', { timeout: 60_000 }, async () => {
  const db2 = path.join(dir, 'term.db');
  const t2 = setupTenant(db2, 'termco');
  const s = await startServer({ db: db2 });
  servers.push(s);
  const N = 50;
  const tag = uid();
  const reqs = Array.from({ length: N }, (_, i) => {
    const body = JSON.stringify({ call_id: `term-${tag}-${i % 10}`, event_id: `term-${tag}-${i}`, transcript: words(3000) });
    return slowPost(`${s.url}/hooks/termco/generic`, { 'Content-Type': 'application/json', Authorization: `Bearer ${t2.token}` },
      body, Math.floor(body.length / 2));
  });
  await withTimeout(Promise.all(reqs.map((r) => r.connected)), 10_000, 'connecting 50 clients');
  await sleep(500); // the daemon has the headers and half of every body
  s.proc.kill('SIGTERM');
  await sleep(300);
  assert.equal(s.proc.exitCode, null, 'the daemon waits for the requests in flight');
  for (const r of reqs) r.finish();
  const results = await Promise.allSettled(reqs.map((r) => r.response));
  const failures = results.map((r, i) => [i, r]).filter(([, r]) => r.status === 'rejected' || r.value.status !== 200 || r.value.json?.status !== 'stored')
    .map(([i, r]) => `${i}: ${r.status === 'rejected' ? r.reason.message : `${r.value.status} ${r.value.text.slice(0, 120)}`}`);
  assert.deepEqual(failures, [], 'every request in flight at SIGTERM is answered 200 stored');
  const exit = await withTimeout(s.exited, 30_000, 'exit after SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM:\n${s.logs().slice(-3000)}`);
  const rows = sqliteJson(db2, `SELECT count(*) AS n FROM events WHERE idem_key LIKE 'generic:term-${tag}-%'`);
  assert.equal(rows[0].n, N, 'all 50 events are stored');
});

test('SIGHUP reopens --log-file after rotation', { timeout: 60_000 }, async () => {
  const db3 = path.join(dir, 'hup.db');
  const t3 = setupTenant(db3, 'hupco');
  const logFile = path.join(dir, 'callhook.log');
  const s = await startServerLogFile({ db: db3, logFile });
  servers.push(s);
  const tag = uid();
  const a = await postGeneric(s.url, t3, { call_id: `hup-${tag}`, event_id: `hup-${tag}-a` });
  assert.equal(a.status, 200);
  const ridA = a.headers.get('x-request-id');
  // the request's last line ("request", written once the answer is sent) must be in before the
  // rotation, or it would rightly land in the new file
  assert.ok(await waitFor(() => parseLogLines(s.logs()).some((l) => l.request_id === ridA && l.event === 'request')),
    'the log file has the first request, to its last line');

  const rotated = `${logFile}.1`;
  renameSync(logFile, rotated);
  s.proc.kill('SIGHUP');
  assert.ok(await waitFor(() => existsSync(logFile), 5_000), 'SIGHUP creates a new log file');
  await sleep(200);
  assert.equal(s.proc.exitCode, null, 'SIGHUP does not stop the daemon');
  assert.equal(s.proc.signalCode, null, 'SIGHUP does not kill the daemon');

  const b = await postGeneric(s.url, t3, { call_id: `hup-${tag}`, event_id: `hup-${tag}-b` });
  assert.equal(b.status, 200);
  const ridB = b.headers.get('x-request-id');
  assert.ok(await waitFor(() => readFileSync(logFile, 'utf8').includes(ridB), 5_000), 'the new log file has the new request');
  const fresh = parseLogLines(readFileSync(logFile, 'utf8'));
  assert.ok(fresh.some((l) => l.request_id === ridB && l.event === 'received'), 'new file: "received" line of the new request');
  assert.ok(!fresh.some((l) => l.request_id === ridA), 'new file has none of the old request');
  const old = parseLogLines(readFileSync(rotated, 'utf8'));
  assert.ok(old.some((l) => l.request_id === ridA), 'the rotated file keeps the old lines');
  assert.ok(!old.some((l) => l.request_id === ridB), 'the rotated file gets no new lines');

  const exit = await s.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, s.stderr().slice(-3000));
});

test('configuration precedence: INI < environment < flag (max_body)', { timeout: 60_000 }, async () => {
  const db4 = path.join(dir, 'cfg.db');
  const t4 = setupTenant(db4, 'cfgco');
  const ini = path.join(dir, 'callhook.ini');
  writeFileSync(ini, '[server]\nmax_body = 1000\n');
  const tag = uid();
  let k = 0;
  const probe = async (s, size) => {
    const body = eventOfSize(size, `cfg-${tag}`, `cfg-${tag}-${k++}`);
    const r = await postGeneric(s.url, t4, body);
    if (r.status === 413) assert.equal(r.json?.error, 'body_too_large', r.text);
    return r.status;
  };
  const runWith = async (label, args, env, small, big) => {
    const s = await startServer({ db: db4, args: ['--config', ini, ...args], env });
    servers.push(s);
    assert.equal(await probe(s, small), 200, `${label}: a ${small}-byte body is accepted`);
    assert.equal(await probe(s, big), 413, `${label}: a ${big}-byte body is too large`);
    const exit = await s.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `${label}: clean exit\n${s.logs().slice(-2000)}`);
  };
  // INI alone: 1000
  await runWith('INI max_body=1000', [], {}, 900, 1100);
  // environment over INI: 2000
  await runWith('CALLHOOK_MAX_BODY=2000 over INI', [], { CALLHOOK_MAX_BODY: '2000' }, 1900, 2100);
  // flag over both: 3000
  await runWith('--max-body 3000 over env and INI', ['--max-body', '3000'], { CALLHOOK_MAX_BODY: '2000' }, 2900, 3100);
});

test('a second daemon on the same database refuses to start (one writer per database)', { timeout: 60_000 }, async () => {
  const db4 = path.join(dir, 'lock.db');
  setupTenant(db4, 'lockco');
  const first = await startServer({ db: db4 });
  servers.push(first);
  await assert.rejects(startServer({ db: db4, timeoutMs: 10_000 }), /another callhook serve uses this database/);
  const r = await http(`${first.url}/healthz`);
  assert.equal(r.status, 200, 'the first daemon is untouched');
  assert.deepEqual(await first.stop(), { code: 0, signal: null });
  const again = await startServer({ db: db4 }); // the lock goes with the process
  servers.push(again);
  assert.deepEqual(await again.stop(), { code: 0, signal: null });
});
