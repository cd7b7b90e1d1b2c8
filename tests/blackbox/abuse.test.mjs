// Issue 9: what one tenant, one client or one address can do to the others. Throttling of
// failed authentications per (address, tenant/credential) behind trusted proxies, password
// verification off the HTTP threads, connection limits and deadlines, lingering 413, framing
// and Host checks, one canonical path, request logs and /metrics access. The real binary on
// loopback; attackers use other loopback addresses (127.0.0.2, …) to be told apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import {
  startServer, setupTenant, tmpDir, cleanup, http, basic, writeConfig, postHook, hookAuth, cli,
} from './lib.mjs';

const T = { timeout: 120_000 };
let uidn = 0;
const uid = (p) => `${p}-${process.pid}-${++uidn}`;

// A raw HTTP exchange on a socket from localAddress: writes each part (strings or Buffers,
// waiting gapMs between them), then reads until the server closes or timeoutMs. Returns
// { text, status, error, closedBy } — error is the socket error (e.g. ECONNRESET), if any.
// readAfterWrite: read nothing until every part is written (Python's http.client, PBX firmware).
function raw(port, parts, { localAddress = '127.0.0.1', gapMs = 0, timeoutMs = 10_000, endAfter = false, readAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let buf = '';
    let error = null;
    let done = false;
    const finish = (closedBy) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const m = buf.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve({ text: buf, status: m ? Number(m[1]) : 0, error, closedBy });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    s.on('data', (d) => { buf += d.toString('latin1'); });
    s.on('error', (e) => { error = e.code || String(e); });
    s.on('close', () => finish(error ? 'error' : 'server'));
    if (readAfterWrite) s.pause();
    s.on('connect', async () => {
      for (const p of parts) {
        if (done) return;
        const written = new Promise((r) => s.write(p, r));
        if (readAfterWrite) await written;
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (endAfter) s.end();
      if (readAfterWrite) s.resume();
    });
  });
}

function bodyOf(res) {
  const i = res.text.indexOf('\r\n\r\n');
  try { return JSON.parse(res.text.slice(i + 4)); } catch { return undefined; }
}

async function metric(server, name) {
  const m = await http(`${server.url}/metrics`);
  const line = m.text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

// The request log line is written once the answer is sent: wait for a match (bounded).
async function waitForLog(server, re) {
  for (let i = 0; i < 50 && !re.test(server.logs()); i++) await new Promise((r) => setTimeout(r, 100));
  return server.logs();
}

const event = (ext) => JSON.stringify({ call_id: ext, status: 'ended', from: '+14155550100' });

// ---- 1. throttling per (address, tenant/credential) ------------------------------------

test('failures against one tenant lock out neither other tenants nor right credentials', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const b = setupTenant(db, 'beta');
  const S = await startServer({ db, env: { CALLHOOK_AUTH_FAIL_LIMIT: '3' } });
  t.after(async () => { await S.stop(); cleanup(dir); });

  for (let i = 0; i < 5; i++)
    await postHook(S, 'alpha', event(uid('bad')), { headers: { Authorization: 'Bearer wrong-token-123' } });
  const locked = await postHook(S, 'alpha', event(uid('bad')), { headers: { Authorization: 'Bearer wrong-token-123' } });
  assert.equal(locked.status, 429, `failures past the limit are answered 429: ${locked.text}`);
  assert.equal(locked.json.error, 'rate_limited');
  assert.match(locked.headers.get('retry-after') || '', /^\d+$/);

  // the same address, another tenant: untouched
  const other = await postHook(S, 'beta', event(uid('b')), { headers: hookAuth(b) });
  assert.equal(other.status, 200, `another tenant's ingest from the same address: ${other.text}`);
  const reads = await http(`${S.url}/v1/calls`, { headers: { Authorization: `Bearer ${b.apiKey}` } });
  assert.equal(reads.status, 200, `another tenant's API key from the same address: ${reads.text}`);
  // the locked tenant with its right credentials: never refused
  for (const kind of ['bearer', 'basic']) {
    const r = await postHook(S, 'alpha', event(uid(kind)), { headers: hookAuth(a, kind) });
    assert.equal(r.status, 200, `alpha's right ${kind} credential during the lockout: ${r.text}`);
  }
  const apiOk = await http(`${S.url}/v1/calls`, { headers: { Authorization: `Bearer ${a.apiKey}` } });
  assert.equal(apiOk.status, 200, 'a right API key is never refused');

  // bad API keys: locked out by key id, other keys unaffected
  const badKey = `${a.apiKey.slice(0, 17)}${'x'.repeat(20)}`;
  let last;
  for (let i = 0; i < 5; i++) last = await http(`${S.url}/v1/calls`, { headers: { Authorization: `Bearer ${badKey}` } });
  assert.equal(last.status, 429, `a key failing again and again: ${last.status}`);
  assert.equal((await http(`${S.url}/v1/calls`, { headers: { Authorization: `Bearer ${a.apiKey}` } })).status, 200);
  assert.equal((await http(`${S.url}/v1/calls`, { headers: { Authorization: `Bearer ${b.apiKey}` } })).status, 200);
});

test('X-Forwarded-For and Forwarded are believed only from trusted proxies; IPv6 keyed by /64', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  setupTenant(db, 'alpha');
  const c = setupTenant(db, 'gamma', { sourceArgs: ['--allow-ip', '203.0.113.0/24'] });
  const env = { CALLHOOK_AUTH_FAIL_LIMIT: '3' };
  const bad = (xff, extra = {}) => ({ Authorization: 'Bearer wrong-token-123', 'X-Forwarded-For': xff, ...extra });

  // without trusted proxies the header is ignored: every "client" is the peer
  const S = await startServer({ db, env });
  for (let i = 0; i < 4; i++) await postHook(S, 'alpha', event(uid('x')), { headers: bad('198.51.100.1') });
  const shared = await postHook(S, 'alpha', event(uid('x')), { headers: bad('198.51.100.2') });
  assert.equal(shared.status, 429, 'an untrusted X-Forwarded-For does not split the lockout');
  await S.stop();

  const P = await startServer({ db, env: { ...env, CALLHOOK_TRUSTED_PROXIES: '127.0.0.1/32' } });
  t.after(async () => { await P.stop(); cleanup(dir); });
  for (let i = 0; i < 4; i++) await postHook(P, 'alpha', event(uid('x')), { headers: bad('198.51.100.1') });
  assert.equal((await postHook(P, 'alpha', event(uid('x')), { headers: bad('198.51.100.1') })).status, 429);
  const fresh = await postHook(P, 'alpha', event(uid('x')), { headers: bad('198.51.100.2') });
  assert.equal(fresh.status, 401, `another client behind the same proxy is not locked out: ${fresh.text}`);
  // right-most untrusted entry: a client cannot pick its address by prepending one
  const spoof = await postHook(P, 'alpha', event(uid('x')), { headers: bad('10.9.9.9, 198.51.100.1') });
  assert.equal(spoof.status, 429, 'X-Forwarded-For is read from the right');
  // Forwarded (RFC 7239) when there is no X-Forwarded-For; IPv6 by /64
  const fwd = (v) => ({ Authorization: 'Bearer wrong-token-123', Forwarded: v });
  for (let i = 0; i < 4; i++) await postHook(P, 'alpha', event(uid('x')), { headers: fwd('for="[2001:db8:1:2::1]:4711";proto=https') });
  assert.equal((await postHook(P, 'alpha', event(uid('x')), { headers: fwd('for="[2001:db8:1:2::99]"') })).status, 429,
    'the same /64 shares the lockout');
  assert.equal((await postHook(P, 'alpha', event(uid('x')), { headers: fwd('for="[2001:db8:1:3::1]"') })).status, 401,
    'another /64 does not');
  // allow-lists judge the client, not the proxy
  const okc = await postHook(P, 'gamma', event(uid('g')), { headers: { ...hookAuth(c), 'X-Forwarded-For': '203.0.113.9' } });
  assert.equal(okc.status, 200, `a client inside the allow-list behind the proxy: ${okc.text}`);
  const outc = await postHook(P, 'gamma', event(uid('g')), { headers: { ...hookAuth(c), 'X-Forwarded-For': '198.51.100.77' } });
  assert.equal(outc.status, 403, 'a client outside the allow-list behind the proxy');
  // the request log names the client and the proxy
  const re = /"remote":"198\.51\.100\.77","proxy":"127\.0\.0\.1"/;
  assert.match(await waitForLog(P, re), re);
});

// ---- 2. password verification ----------------------------------------------------------

test('unknown users cost a verification like known ones; successes are cached; one address is bounded', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({ db, env: { CALLHOOK_AUTH_FAIL_LIMIT: '100', CALLHOOK_AUTH_ADDRESS_FAIL_LIMIT: '6' } });
  t.after(async () => { await S.stop(); cleanup(dir); });
  const v = () => metric(S, 'callhook_password_verifications_total');

  let before = await v();
  const wrongPw = await postHook(S, 'alpha', event(uid('w')), { headers: { Authorization: basic(a.username, 'not-the-password') } });
  assert.equal(wrongPw.status, 401);
  assert.equal(await v(), before + 1, 'a wrong password for a known user costs one verification');
  before = await v();
  const unknown = await postHook(S, 'alpha', event(uid('u')), { headers: { Authorization: basic('no-such-user', 'whatever-pw') } });
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.json, wrongPw.json, 'the same answer for an unknown user');
  assert.equal(await v(), before + 1, 'an unknown user costs the same verification');

  const ok1 = await postHook(S, 'alpha', event(uid('ok')), { headers: hookAuth(a, 'basic') });
  assert.equal(ok1.status, 200, ok1.text);
  before = await v();
  for (let i = 0; i < 3; i++) {
    const r = await postHook(S, 'alpha', event(uid('ok')), { headers: hookAuth(a, 'basic') });
    assert.equal(r.status, 200);
  }
  assert.equal(await v(), before, 'a password verified once is not verified again');

  // a password rotation: a second credential with the same user name; both passwords work
  cli(db, ['source', 'add', 'alpha', 'generic', '--username', a.username, '--password', 'rotated-password-2']);
  await new Promise((r) => setTimeout(r, 2100)); // the source cache lives 2 s
  for (const pw of ['rotated-password-2', a.password]) {
    const r = await postHook(S, 'alpha', event(uid('rot')), { headers: { Authorization: basic(a.username, pw) } });
    assert.equal(r.status, 200, `user ${a.username} with ${pw === a.password ? 'the first' : 'the new'} password: ${r.text}`);
  }
  const neither = await postHook(S, 'alpha', event(uid('rot')), { headers: { Authorization: basic(a.username, 'neither-of-them') } });
  assert.equal(neither.status, 401, 'a password matching neither credential');

  // one address trying many user names: verifications stop at the address's limit (6)
  before = await v();
  const statuses = [];
  for (let i = 0; i < 12; i++) {
    const r = await postHook(S, 'alpha', event(uid('n')), { headers: { Authorization: basic(`user-${i}`, 'guess-guess') } });
    statuses.push(r.status);
  }
  const spent = (await v()) - before;
  assert.ok(spent <= 5, `verifications after the address's 6th failure: ${spent} (${statuses})`);
  assert.ok(statuses.includes(429), `failures past the address limit are answered 429: ${statuses}`);
  // and the cached right password still passes from that address
  const stillOk = await postHook(S, 'alpha', event(uid('ok')), { headers: hookAuth(a, 'basic') });
  assert.equal(stillOk.status, 200, `a cached right password is never refused: ${stillOk.text}`);
});

test('password checks do not hold up token ingest (they run off the HTTP threads)', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({ db, args: ['--threads', '2'], env: { CALLHOOK_AUTH_FAIL_LIMIT: '100' } });
  t.after(async () => { await S.stop(); cleanup(dir); });
  await postHook(S, 'alpha', event(uid('warm')), { headers: hookAuth(a) });

  // sixteen wrong passwords from four addresses at once (each costs a full argon2id run), then a
  // token ingest: it is answered before most of them, whatever the machine's speed
  const order = [];
  const req = (i) => {
    const body = event(uid('pw'));
    return raw(S.port, [
      `POST /hooks/alpha/generic HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Authorization: ${basic(a.username, `wrong-${i}-password`)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`], { localAddress: `127.0.0.${10 + (i % 4)}`, timeoutMs: 60_000 })
      .then((r) => { order.push(`pw${i}:${r.status}`); });
  };
  const slow = [];
  for (let i = 0; i < 16; i++) slow.push(req(i));
  await new Promise((r) => setTimeout(r, 50));
  const fast = postHook(S, 'alpha', event(uid('tok')), { headers: hookAuth(a) }).then((r) => { order.push(`token:${r.status}`); });
  await Promise.all([...slow, fast]);
  const pos = order.findIndex((x) => x.startsWith('token:'));
  assert.equal(order[pos], 'token:200');
  assert.ok(pos <= 4, `the token ingest was answered after ${pos} of 16 password checks: ${order}`);
  for (const o of order) if (o.startsWith('pw')) assert.match(o, /:401$/);
});

// ---- 4. slow clients -------------------------------------------------------------------

test('connections per address are limited and slow headers and bodies meet a total deadline', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({
    db, env: { CALLHOOK_MAX_CONNS_PER_ADDR: '10', CALLHOOK_HEADER_TIMEOUT: '3', CALLHOOK_BODY_TIMEOUT: '3' },
  });
  t.after(async () => { await S.stop(); cleanup(dir); });

  // 20 slowloris connections from 127.0.0.2: a header line every 400 ms, for ever
  const lines = ['POST /hooks/alpha/generic HTTP/1.1\r\n', 'Host: x\r\n'];
  for (let i = 0; i < 60; i++) lines.push(`X-Slow-${i}: ${i}\r\n`);
  const slow = [];
  for (let i = 0; i < 20; i++)
    slow.push(raw(S.port, lines, { localAddress: '127.0.0.2', gapMs: 400, timeoutMs: 20_000 }));
  await new Promise((r) => setTimeout(r, 500));

  // meanwhile everyone else is served
  const h = await http(`${S.url}/healthz`, { timeoutMs: 5000 });
  assert.equal(h.status, 200, 'healthz during the attack');
  const ing = await postHook(S, 'alpha', event(uid('during')), { headers: hookAuth(a) });
  assert.equal(ing.status, 200, 'ingest during the attack');

  const res = await Promise.all(slow);
  const over = res.filter((r) => r.status === 429);
  const timedOut = res.filter((r) => r.status === 408);
  assert.equal(over.length, 10, `connections over the address's limit get 429: ${res.map((r) => r.status)}`);
  for (const r of over) assert.equal(bodyOf(r)?.error, 'too_many_connections');
  assert.equal(timedOut.length, 10, `the others meet the header deadline with 408: ${res.map((r) => r.status)}`);
  for (const r of timedOut) {
    assert.equal(bodyOf(r)?.error, 'request_timeout');
    assert.notEqual(r.closedBy, 'timeout', 'the server closed the connection');
  }

  // a slow body, without credentials: 408 at the body deadline
  const body = event(uid('slowbody'));
  const chunks = [`POST /hooks/alpha/generic HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`];
  for (const ch of body) chunks.push(ch);
  const sb = await raw(S.port, chunks, { localAddress: '127.0.0.3', gapMs: 300, timeoutMs: 20_000 });
  assert.equal(sb.status, 408, `a body trickling in: ${sb.text}`);
  assert.ok(await metric(S, 'callhook_http_timeouts_total') >= 11);
  assert.equal(await metric(S, 'callhook_http_connections_limited_total'), 10);
});

// ---- 5, 11, 12. framing, 413 and paths ------------------------------------------------

test('a 413 reaches a client that writes its whole body before reading (no reset)', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({ db, args: ['--max-body', '65536'] });
  t.after(async () => { await S.stop(); cleanup(dir); });
  const big = Buffer.alloc(3 << 20, 'x'); // 3 MiB, far past the socket buffers
  const r = await raw(S.port, [
    `POST /hooks/alpha/generic HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`, big], { readAfterWrite: true, timeoutMs: 30_000 });
  assert.equal(r.error, null, `the connection was not reset: ${r.error}`);
  assert.equal(r.status, 413, r.text.slice(0, 200));
  assert.equal(bodyOf(r)?.error, 'body_too_large');
  // a client that waits for 100 Continue is answered at once, before sending anything
  const e = await raw(S.port, [
    `POST /hooks/alpha/generic HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${big.length}\r\n\r\n`]);
  assert.equal(e.status, 413);
});

test('framing: conflicting Content-Length, Transfer-Encoding other than chunked, missing Host', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({ db });
  t.after(async () => { await S.stop(); cleanup(dir); });
  const body = event(uid('f'));
  const head = `POST /hooks/alpha/generic HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\n`;
  const cases = [
    [`${head}Content-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\n\r\n${body}`, 400, 'Content-Length'],
    [`${head}Transfer-Encoding: gzip\r\n\r\n`, 400, 'Transfer-Encoding'],
    [`${head}Transfer-Encoding: chunked, gzip\r\n\r\n`, 400, 'Transfer-Encoding'],
    [`${head}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501, 'Transfer-Encoding'],
    [`${head}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 400, 'Transfer-Encoding'],
    [`GET /healthz HTTP/1.1\r\nUser-Agent: t\r\n\r\n`, 400, 'Host'],
  ];
  for (const [req, status, field] of cases) {
    const r = await raw(S.port, [req]);
    assert.equal(r.status, status, `${JSON.stringify(req.split('\r\n').slice(3, 6))}: ${r.text.slice(0, 300)}`);
    const b = bodyOf(r);
    assert.equal(b?.field, field, `the answer names ${field}: ${r.text.slice(0, 300)}`);
    assert.match(r.text, /\r\nConnection: close\r\n/i, 'and the connection is closed');
  }
  // the same value twice is one value; HTTP/1.0 needs no Host
  const same = await raw(S.port, [`${head}Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`]);
  assert.equal(same.status, 200, same.text.slice(0, 300));
  const h10 = await raw(S.port, ['GET /healthz HTTP/1.0\r\n\r\n']);
  assert.equal(h10.status, 200);
  const chunked = await raw(S.port, [`${head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`]);
  assert.equal(chunked.status, 200, chunked.text.slice(0, 300));
});

test('one canonical path: encoded slashes, NULs, empty and dot segments are 404', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({ db });
  t.after(async () => { await S.stop(); cleanup(dir); });
  const body = event(uid('p'));
  const post = (target) => raw(S.port, [
    `POST ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`]);
  for (const target of ['/hooks/alpha/generic%00', '/hooks/alpha%2Fgeneric', '//hooks/alpha/generic',
    '/hooks/alpha/generic/', '/hooks//alpha/generic', '/hooks/./alpha/generic', '/hooks/%61lpha/generic',
    '/hooks/alpha/generic%2F', '/hooks/alpha/../alpha/generic']) {
    const r = await post(target);
    assert.equal(r.status, 404, `${target}: ${r.text.slice(0, 200)}`);
  }
  assert.equal((await post('/hooks/alpha/generic')).status, 200);
  assert.equal((await post('/hooks/alpha/generic?x=1')).status, 200);
  const calls = cli(db, ['tenant', 'list']);
  assert.ok(Array.isArray(calls) || typeof calls === 'object');
});

// ---- 14. logs and /metrics --------------------------------------------------------------

test('request logs carry address, method and path (never the query); aborts are counted, not logged', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  const a = setupTenant(db, 'alpha');
  const S = await startServer({ db, env: { CALLHOOK_LOG_LEVEL: 'info' } });
  t.after(async () => { await S.stop(); cleanup(dir); });
  const r = await http(`${S.url}/hooks/alpha/generic?token=${a.token}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: event(uid('l')),
  });
  assert.equal(r.status, 200, r.text);
  await waitForLog(S, /"event":"request".*\/hooks\/alpha\/generic/);
  const line = S.logs().split('\n').find((l) => l.includes('"event":"request"') && l.includes('/hooks/alpha/generic'));
  assert.ok(line, S.logs().slice(-2000));
  const j = JSON.parse(line);
  assert.equal(j.level, 'info');
  assert.equal(j.remote, '127.0.0.1');
  assert.equal(j.method, 'POST');
  assert.equal(j.path, '/hooks/alpha/generic');
  assert.ok(!S.logs().includes(a.token), 'the token in the query is never logged');

  const before = await metric(S, 'callhook_http_aborted_total');
  const logBefore = S.logs().length;
  for (let i = 0; i < 20; i++) {
    // a body that never completes, then the client goes away
    await raw(S.port, [`POST /hooks/alpha/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"call_id"`],
      { timeoutMs: 150 });
  }
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(await metric(S, 'callhook_http_aborted_total'), before + 20, 'each abort is counted');
  const added = S.logs().slice(logBefore).split('\n').filter((l) => l.includes('"level":"warn"') || l.includes('"terminated"'));
  assert.deepEqual(added, [], 'aborted connections do not log at info or warn');
});

test('/metrics is served only to the addresses in server.metrics_allow', T, async (t) => {
  const dir = tmpDir('callhook-abuse-');
  const db = path.join(dir, 'callhook.db');
  setupTenant(db, 'alpha');
  const S = await startServer({ db, args: ['--config', writeConfig(dir, '[server]\nmetrics_allow = 127.0.0.2/32\n')] });
  t.after(async () => { await S.stop(); cleanup(dir); });
  const denied = await raw(S.port, ['GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.equal(denied.status, 403);
  assert.equal(bodyOf(denied)?.error, 'forbidden');
  const allowed = await raw(S.port, ['GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { localAddress: '127.0.0.2' });
  assert.equal(allowed.status, 200);
  assert.match(allowed.text, /callhook_http_requests_total/);
});
