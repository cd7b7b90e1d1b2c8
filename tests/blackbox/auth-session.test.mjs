// Black-box tests of dashboard sign-in (issue 12): users made with `callhook user`, argon2id
// hashes in the users table, POST/GET/DELETE /v1/session, the session cookie's attributes, the
// cookie on the API (tenant-scoped: another tenant's user sees none of the first's calls and
// gets 404 for its ids and recording), CSRF (token + Sec-Fetch-Site), the viewer's read-only
// role, sign-out and renewal, idle and absolute timeouts, throttled failures, `user passwd` and
// `user remove` ending sessions, no password in the logs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import nodeHttp from 'node:http';
import path from 'node:path';
import {
  cli, cliFail, startServer, http, setupTenant, sqlite, tmpDir, cleanup, fixture, postHook,
  hookAuth, apiJson, listAllCalls,
} from './lib.mjs';
import { waitFor, sleep } from './lib-ops.mjs';
import { startMedia } from './lib-media.mjs';

const T = { timeout: 120_000 };
const ENV = {
  CALLHOOK_ENRICH_ALLOW_PRIVATE: '127.0.0.0/8',
  CALLHOOK_ENRICH_RETRY_SCHEDULE: '1s,1s',
  CALLHOOK_AUTH_FAIL_LIMIT: '3',
};

const PW = {
  alpha: 'alpha admin passphrase 1',
  viewer: 'alpha viewer passphrase 2',
  bravo: 'bravo admin passphrase 3',
  wrong: 'not-the-password-4',
};

let dir, db, S, A, B, media, alphaCalls, bravoCalls, recordedId;
const passwordsUsed = new Set(Object.values(PW));

// A short WAV (8 kHz, 16-bit mono, a tone): made here, nothing binary in the repo.
function wav(seconds = 1, rate = 8000) {
  const n = rate * seconds;
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + 2 * i);
  return b;
}

async function signIn(email, password, { server = S, headers = {} } = {}) {
  const r = await http(`${server.url}/v1/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
  const setCookie = r.headers.get('set-cookie');
  const m = setCookie && setCookie.match(/^(__Host-callhook_session|callhook_session)=([^;]*)/);
  return { ...r, setCookie, cookie: m ? `${m[1]}=${m[2]}` : null, id: m ? m[2] : null, csrf: r.json?.csrf_token };
}

// A request with the session's cookie (and its CSRF token when csrf is true).
function as(sess, method, pathAndQuery, { body, headers = {}, csrf = true, server = S } = {}) {
  return http(`${server.url}${pathAndQuery}`, {
    method,
    headers: {
      Cookie: sess.cookie,
      ...(csrf && sess.csrf ? { 'X-CSRF-Token': sess.csrf } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function assertError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.equal(r.json?.error, code, r.text);
}

function assertSecurityHeaders(r) {
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
}

before(async () => {
  dir = tmpDir('callhook-auth-');
  db = path.join(dir, 'callhook.db');
  A = setupTenant(db, 'alpha', { enrich: true });
  B = setupTenant(db, 'bravo');
  cli(db, ['user', 'add', 'alpha', 'Admin@Alpha.example', '--password', PW.alpha]);
  cli(db, ['user', 'add', 'alpha', 'viewer@alpha.example', '--password', PW.viewer, '--role', 'viewer']);
  cli(db, ['user', 'add', 'bravo', 'admin@bravo.example', '--password', PW.bravo]);
  media = await startMedia({ files: { '/tone.wav': wav() } });
  S = await startServer({ db, env: ENV });
  // alpha: only the recording stage (fast), so the call keeps a recording file
  const p = await apiJson(S, A.apiKey, 'PUT', '/v1/pipeline', {
    transcript: { enabled: false }, summary: { enabled: false }, fields: { enabled: false }, sentiment: { enabled: false },
  });
  assert.equal(p.status, 200, p.text);
  for (const f of ['generic/inbound-answered.json', 'generic/outbound-no-answer.json']) {
    const r = await postHook(S, 'alpha', fixture(f), { headers: hookAuth(A) });
    assert.equal(r.status, 200, r.text);
  }
  const rec = await postHook(S, 'alpha', {
    event_id: 'rec-1-end', call_id: 'rec-1', status: 'ended', direction: 'inbound', from: '+14155550100',
    to: '+14155550111', started_at: '2026-12-01T10:00:00Z', ended_at: '2026-12-01T10:01:00Z',
    recording_url: `${media.url}/tone.wav`,
  }, { headers: hookAuth(A) });
  assert.equal(rec.status, 200, rec.text);
  recordedId = rec.json.call_id;
  const rb = await postHook(S, 'bravo', fixture('generic/inbound-busy.json'), { headers: hookAuth(B) });
  assert.equal(rb.status, 200, rb.text);
  alphaCalls = (await listAllCalls(S, A.apiKey)).calls.map((c) => c.id).sort();
  bravoCalls = (await listAllCalls(S, B.apiKey)).calls.map((c) => c.id).sort();
  assert.equal(alphaCalls.length, 3);
  assert.equal(bravoCalls.length, 1);
});

after(async () => {
  if (S) {
    // a clean exit: under the sanitizers a leak or an error fails it
    assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-3000));
    // passwords never reach the logs, right or wrong, nor the CSRF tokens' sessions' ids
    const logs = S.logs();
    for (const pw of passwordsUsed) assert.ok(!logs.includes(pw), `a password is in the daemon's log: ${pw}`);
  }
  await media?.close();
  cleanup(dir);
});

describe('users', () => {
  test('the stored hash is argon2id with at least 19 MiB and 2 passes, never the password', T, () => {
    const rows = sqlite(db, 'SELECT email, password_hash FROM users ORDER BY id;').trim().split('\n');
    assert.equal(rows.length, 3);
    assert.equal(rows[0].split('|')[0], 'admin@alpha.example', 'stored lower-cased');
    for (const row of rows) {
      const hash = row.split('|')[1];
      const m = hash.match(/^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/);
      assert.ok(m, hash);
      assert.ok(Number(m[1]) >= 19456, `m=${m[1]}`);
      assert.ok(Number(m[2]) >= 2, `t=${m[2]}`);
      for (const pw of Object.values(PW)) assert.ok(!hash.includes(pw));
    }
  });

  test('user add refuses a taken email (any tenant, any case), a short password and a bad role', T, () => {
    assert.equal(cliFail(db, ['user', 'add', 'bravo', 'ADMIN@alpha.example', '--password', 'long enough pw']).status, 1);
    assert.equal(cliFail(db, ['user', 'add', 'bravo', 'x@bravo.example', '--password', 'short']).status, 2);
    assert.equal(cliFail(db, ['user', 'add', 'bravo', 'x@bravo.example', '--password', 'x'.repeat(129)]).status, 2);
    assert.equal(cliFail(db, ['user', 'add', 'bravo', 'x@bravo.example', '--role', 'root']).status, 2);
    assert.equal(cliFail(db, ['user', 'add', 'bravo', 'not-an-email']).status, 2);
    const list = cli(db, ['user', 'list', 'alpha']);
    assert.deepEqual(list.users.map((u) => [u.email, u.role]), [['admin@alpha.example', 'admin'], ['viewer@alpha.example', 'viewer']]);
    assert.ok(!JSON.stringify(list).includes('argon2'), 'no hash in the list');
  });

  test('user add without --password prints a generated one once, and it signs in', T, async () => {
    const u = cli(db, ['user', 'add', 'bravo', 'gen@bravo.example']);
    assert.equal(typeof u.password, 'string');
    assert.ok(u.password.length >= 16);
    passwordsUsed.add(u.password);
    const s = await signIn('gen@bravo.example', u.password);
    assert.equal(s.status, 200, s.text);
    assert.deepEqual(s.json.user, { email: 'gen@bravo.example', role: 'admin', tenant: 'bravo' });
  });
});

test('`callhook demo` makes a demo user (admin) whose printed sign-in works', T, async () => {
  const db3 = path.join(dir, 'demo.db');
  const out = cli(db3, ['demo', '--listen', '127.0.0.1:8080'], { json: false });
  const m = out.match(/sign in as (\S+@\S+) \/ (\S+)/);
  assert.ok(m, out);
  passwordsUsed.add(m[2]);
  // printed again, the same, by the next run (kept in demo-credentials.json, mode 0600)
  assert.ok(cli(db3, ['demo', '--listen', '127.0.0.1:8080'], { json: false }).includes(`sign in as ${m[1]} / ${m[2]}`));
  const D = await startServer({ db: db3 });
  try {
    const s = await signIn(m[1], m[2], { server: D });
    assert.equal(s.status, 200, s.text);
    assert.deepEqual(s.json.user, { email: m[1], role: 'admin', tenant: 'demo' });
  } finally {
    assert.deepEqual(await D.stop(), { code: 0, signal: null });
    for (const pw of passwordsUsed) assert.ok(!D.logs().includes(pw), 'a password is in the log');
  }
});

describe('sign-in', () => {
  test('a right password answers the user, a CSRF token and the session cookie with its attributes', T, async () => {
    const s = await signIn('ADMIN@alpha.example', PW.alpha); // emails compare without case
    assert.equal(s.status, 200, s.text);
    assert.deepEqual(s.json.user, { email: 'admin@alpha.example', role: 'admin', tenant: 'alpha' });
    assert.match(s.json.csrf_token, /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(s.headers.get('cache-control'), 'no-store');
    assertSecurityHeaders(s);
    // 127.0.0.1 is a secure context for browsers: the __Host- name and Secure
    const attrs = s.setCookie.split(';').map((x) => x.trim());
    assert.match(attrs[0], /^__Host-callhook_session=[A-Za-z0-9_-]{22}$/);
    assert.ok(attrs.includes('HttpOnly'), s.setCookie);
    assert.ok(attrs.includes('SameSite=Strict'), s.setCookie);
    assert.ok(attrs.includes('Path=/'), s.setCookie);
    assert.ok(attrs.includes('Secure'), s.setCookie);
    assert.ok(!attrs.some((a) => /^Domain=/i.test(a)), 'no Domain (a __Host- cookie must not have one)');
    // the database keeps only the sha256 of the id
    const stored = sqlite(db, 'SELECT id_hash FROM sessions;');
    assert.ok(!stored.includes(s.id));
    const { createHash } = await import('node:crypto');
    assert.ok(stored.includes(createHash('sha256').update(s.id).digest('hex')));
    // GET /v1/session answers the same body
    const g = await as(s, 'GET', '/v1/session', { csrf: false });
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.json, s.json);
  });

  test('a wrong password and an unknown email get the same 401 and no cookie', T, async () => {
    const wrong = await signIn('viewer@alpha.example', PW.wrong);
    const unknown = await signIn('nobody@alpha.example', PW.wrong);
    assertError(wrong, 401, 'invalid_credentials');
    assert.equal(unknown.status, wrong.status);
    assert.deepEqual(unknown.json, wrong.json);
    assert.equal(wrong.setCookie, null);
    assert.equal(unknown.setCookie, null);
    assertSecurityHeaders(wrong);
    // login CSRF: another site's page cannot sign the browser in (as anyone)
    const cross = await signIn('admin@alpha.example', PW.alpha, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
    assertError(cross, 403, 'csrf');
    assert.equal(cross.setCookie, null);
    const empty = await http(`${S.url}/v1/session`, { method: 'POST', body: 'not json' });
    assertError(empty, 422, 'invalid_request');
    // without a cookie there is no session
    assertError(await http(`${S.url}/v1/session`), 401, 'unauthenticated');
  });

  test('a host that is not loopback over plain HTTP gets the cookie without __Host- and Secure', T, async () => {
    const res = await new Promise((resolve, reject) => {
      const body = JSON.stringify({ email: 'admin@bravo.example', password: PW.bravo });
      const req = nodeHttp.request(`${S.url}/v1/session`, {
        method: 'POST', headers: { Host: 'callhook.example', 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, timeout: 15_000,
      }, (r) => { r.resume(); r.on('end', () => resolve(r)); });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    const sc = res.headers['set-cookie'][0];
    assert.match(sc, /^callhook_session=[A-Za-z0-9_-]{22};/);
    assert.ok(!/;\s*Secure/.test(sc), sc);
    assert.ok(/HttpOnly/.test(sc) && /SameSite=Strict/.test(sc), sc);
  });

  test('repeated failures for one email are throttled: 429 with Retry-After', T, async () => {
    let last;
    for (let i = 0; i < 5; i++) last = await signIn('throttled@alpha.example', `${PW.wrong}-${i}`);
    for (let i = 0; i < 5; i++) passwordsUsed.add(`${PW.wrong}-${i}`);
    assertError(last, 429, 'rate_limited');
    assert.ok(Number(last.headers.get('retry-after')) > 0);
  });
});

describe('the cookie on the API', () => {
  test('a session reads its own tenant\'s calls only; another tenant\'s ids and recording are 404', T, async () => {
    const a = await signIn('admin@alpha.example', PW.alpha);
    const b = await signIn('admin@bravo.example', PW.bravo);
    const la = await as(a, 'GET', '/v1/calls?limit=500', { csrf: false });
    assert.equal(la.status, 200, la.text);
    assert.deepEqual(la.json.data.map((c) => c.id).sort(), alphaCalls);
    assertSecurityHeaders(la);
    const lb = await as(b, 'GET', '/v1/calls?limit=500', { csrf: false });
    assert.deepEqual(lb.json.data.map((c) => c.id).sort(), bravoCalls);
    for (const id of alphaCalls) {
      assertError(await as(b, 'GET', `/v1/calls/${id}`, { csrf: false }), 404, 'not_found');
      assertError(await as(b, 'GET', `/v1/calls/${id}/trace`, { csrf: false }), 404, 'not_found');
      assert.equal((await as(a, 'GET', `/v1/calls/${id}`, { csrf: false })).status, 200);
    }
    // the recording: kept for alpha's call, served to alpha's session, 404 to bravo's
    const got = await waitFor(async () => (await fetch(`${S.url}/v1/calls/${recordedId}/recording`, { headers: { Cookie: a.cookie } })).status === 200, 60_000, 200);
    assert.ok(got, 'alpha\'s recording was kept and served to its session');
    const mine = await fetch(`${S.url}/v1/calls/${recordedId}/recording`, { headers: { Cookie: a.cookie } });
    assert.ok(Buffer.from(await mine.arrayBuffer()).equals(wav()));
    assertError(await as(b, 'GET', `/v1/calls/${recordedId}/recording`, { csrf: false }), 404, 'not_found');
  });

  test('a state-changing request needs the CSRF token and a same-origin Sec-Fetch-Site', T, async () => {
    const a = await signIn('admin@alpha.example', PW.alpha);
    const body = { retention_days: 30 };
    assertError(await as(a, 'PUT', '/v1/pipeline', { body, csrf: false }), 403, 'csrf');
    assertError(await as(a, 'PUT', '/v1/pipeline', { body, csrf: false, headers: { 'X-CSRF-Token': 'x'.repeat(32) } }), 403, 'csrf');
    assertError(await as(a, 'PUT', '/v1/pipeline', { body, headers: { 'Sec-Fetch-Site': 'cross-site' } }), 403, 'csrf');
    assertError(await as(a, 'PUT', '/v1/pipeline', { body, headers: { 'Sec-Fetch-Site': 'same-site' } }), 403, 'csrf');
    // another session's token is not this one's
    const other = await signIn('admin@alpha.example', PW.alpha);
    assertError(await as({ cookie: a.cookie, csrf: other.csrf }, 'PUT', '/v1/pipeline', { body }), 403, 'csrf');
    assert.equal((await apiJson(S, A.apiKey, 'GET', '/v1/pipeline')).json.retention_days, 90, 'nothing was written');
    const ok = await as(a, 'PUT', '/v1/pipeline', { body, headers: { 'Sec-Fetch-Site': 'same-origin' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.retention_days, 30);
    const none = await as(a, 'PUT', '/v1/pipeline', { body: { retention_days: 31 }, headers: { 'Sec-Fetch-Site': 'none' } });
    assert.equal(none.status, 200, none.text);
    // reads need no token
    assert.equal((await as(a, 'GET', '/v1/pipeline', { csrf: false })).status, 200);
    // API keys keep working without any of it
    const key = await apiJson(S, A.apiKey, 'PUT', '/v1/pipeline', { retention_days: 90 });
    assert.equal(key.status, 200, key.text);
  });

  test('a viewer reads but cannot change settings', T, async () => {
    const v = await signIn('viewer@alpha.example', PW.viewer);
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.user.role, 'viewer');
    const l = await as(v, 'GET', '/v1/calls', { csrf: false });
    assert.equal(l.status, 200, l.text);
    assert.equal(l.json.data.length, alphaCalls.length);
    const put = await as(v, 'PUT', '/v1/pipeline', { body: { retention_days: 7 } });
    assertError(put, 403, 'forbidden');
    assert.equal(put.json.message, 'viewers cannot change settings');
    assertError(await as(v, 'POST', '/v1/endpoints', { body: { url: 'https://example.com/h' } }), 403, 'forbidden');
    // signing out is not a setting
    const out = await as(v, 'DELETE', '/v1/session');
    assert.equal(out.status, 200, out.text);
  });

  test('a bad or unknown cookie is 401; an Authorization header is judged as an API key', T, async () => {
    assertError(await http(`${S.url}/v1/calls`, { headers: { Cookie: '__Host-callhook_session=AAAAAAAAAAAAAAAAAAAAAA' } }), 401, 'unauthenticated');
    assertError(await http(`${S.url}/v1/calls`, { headers: { Cookie: '__Host-callhook_session=../../etc' } }), 401, 'unauthenticated');
    const a = await signIn('admin@alpha.example', PW.alpha);
    assertError(await http(`${S.url}/v1/calls`, { headers: { Cookie: a.cookie, Authorization: 'Bearer chk_000000000000_nope' } }), 401, 'unauthorized');
    assertSecurityHeaders(await http(`${S.url}/no/such/route`));
  });
});

describe('session lifetime', () => {
  test('sign-out ends the session on the server; the old cookie replayed is 401', T, async () => {
    const s = await signIn('admin@alpha.example', PW.alpha);
    assertError(await as(s, 'DELETE', '/v1/session', { csrf: false }), 403, 'csrf');
    const out = await as(s, 'DELETE', '/v1/session');
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.json, { signed_out: true });
    assert.match(out.headers.get('set-cookie'), /^__Host-callhook_session=;.*Max-Age=0/);
    assertError(await as(s, 'GET', '/v1/session', { csrf: false }), 401, 'unauthenticated');
    assertError(await as(s, 'GET', '/v1/calls', { csrf: false }), 401, 'unauthenticated');
    const { createHash } = await import('node:crypto');
    const h = createHash('sha256').update(s.id).digest('hex');
    assert.equal(sqlite(db, `SELECT count(*) FROM sessions WHERE id_hash='${h}';`).trim(), '0');
  });

  test('every sign-in gives a new id, and the session it presented ends', T, async () => {
    const s1 = await signIn('admin@alpha.example', PW.alpha);
    const s2 = await signIn('admin@alpha.example', PW.alpha, { headers: { Cookie: s1.cookie } });
    assert.equal(s2.status, 200, s2.text);
    assert.notEqual(s2.id, s1.id);
    assert.notEqual(s2.csrf, s1.csrf);
    assertError(await as(s1, 'GET', '/v1/session', { csrf: false }), 401, 'unauthenticated');
    assert.equal((await as(s2, 'GET', '/v1/session', { csrf: false })).status, 200);
  });

  test('user passwd and user remove end the user\'s sessions', T, async () => {
    const pw1 = 'first passphrase of carol';
    const pw2 = 'second passphrase of carol';
    passwordsUsed.add(pw1).add(pw2);
    cli(db, ['user', 'add', 'bravo', 'carol@bravo.example', '--password', pw1, '--role', 'viewer']);
    const s1 = await signIn('carol@bravo.example', pw1);
    const s2 = await signIn('carol@bravo.example', pw1);
    const other = await signIn('admin@bravo.example', PW.bravo);
    assert.equal((await as(s1, 'GET', '/v1/calls', { csrf: false })).status, 200);
    const p = cli(db, ['user', 'passwd', 'bravo', 'carol@bravo.example', '--password', pw2]);
    assert.equal(p.sessions_ended, true);
    assertError(await as(s1, 'GET', '/v1/calls', { csrf: false }), 401, 'unauthenticated');
    assertError(await as(s2, 'GET', '/v1/session', { csrf: false }), 401, 'unauthenticated');
    assert.equal((await as(other, 'GET', '/v1/session', { csrf: false })).status, 200, 'another user keeps theirs');
    assertError(await signIn('carol@bravo.example', pw1), 401, 'invalid_credentials');
    const s3 = await signIn('carol@bravo.example', pw2);
    assert.equal(s3.status, 200, s3.text);
    // another tenant cannot remove her
    assert.equal(cliFail(db, ['user', 'remove', 'alpha', 'carol@bravo.example']).status, 1);
    cli(db, ['user', 'remove', 'bravo', 'carol@bravo.example']);
    assertError(await as(s3, 'GET', '/v1/calls', { csrf: false }), 401, 'unauthenticated');
    assertError(await signIn('carol@bravo.example', pw2), 401, 'invalid_credentials');
  });

  test('a session ends after the idle timeout, and at the absolute one however busy', { timeout: 120_000 }, async () => {
    // a database of its own: one daemon per database file
    const db2 = path.join(dir, 'idle.db');
    cli(db2, ['tenant', 'add', 'bravo']);
    cli(db2, ['user', 'add', 'bravo', 'admin@bravo.example', '--password', PW.bravo]);
    // served behind TLS (public_url https): HSTS on every answer
    const idle = await startServer({ db: db2, env: { ...ENV, CALLHOOK_AUTH_SESSION_IDLE: '3', CALLHOOK_AUTH_SESSION_MAX: '9', CALLHOOK_PUBLIC_URL: 'https://callhook.example' } });
    try {
      assert.equal((await http(`${idle.url}/healthz`)).headers.get('strict-transport-security'), 'max-age=31536000');
      assert.equal((await http(`${S.url}/healthz`)).headers.get('strict-transport-security'), null, 'not over plain HTTP');
      // idle: nothing for longer than 3 s
      const s = await signIn('admin@bravo.example', PW.bravo, { server: idle });
      assert.equal(s.status, 200, s.text);
      assert.equal((await as(s, 'GET', '/v1/session', { csrf: false, server: idle })).status, 200);
      await sleep(4_500);
      assertError(await as(s, 'GET', '/v1/session', { csrf: false, server: idle }), 401, 'unauthenticated');
      // the expired row is deleted (lazily, by the request that found it expired)
      const { createHash } = await import('node:crypto');
      const h = createHash('sha256').update(s.id).digest('hex');
      assert.ok(await waitFor(() => sqlite(db2, `SELECT count(*) FROM sessions WHERE id_hash='${h}';`).trim() === '0', 10_000, 100));

      // busy: a request every 0.5 s keeps it past the idle timeout, until the absolute one
      const b = await signIn('admin@bravo.example', PW.bravo, { server: idle });
      const t0 = Date.now();
      let aliveAfterIdle = false;
      let last;
      while (Date.now() - t0 < 11_000) {
        last = await as(b, 'GET', '/v1/calls', { csrf: false, server: idle });
        const age = Date.now() - t0;
        if (last.status === 200 && age > 4_000) aliveAfterIdle = true;
        if (last.status !== 200) break;
        await sleep(500);
      }
      assert.ok(aliveAfterIdle, 'requests keep a session alive past the idle timeout');
      assertError(last, 401, 'unauthenticated');
    } finally {
      assert.deepEqual(await idle.stop(), { code: 0, signal: null }, idle.logs().slice(-3000));
      const logs = idle.logs();
      for (const pw of passwordsUsed) assert.ok(!logs.includes(pw), 'a password is in the log');
    }
  });
});
