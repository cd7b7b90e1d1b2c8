// Black-box tests of tenant isolation: two tenants on one server; neither tenant's API key nor
// webhook credential reaches the other tenant's data or hook URL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startServer, http, basic, setupTenant, sqlite, tmpDir, cleanup, fixture,
  writeConfig, hookAuth, postHook, apiGet, listAllCalls, parseCsv,
} from './lib.mjs';

const T = { timeout: 60_000 };

let dir, db, S, A, B;
const ids = { alpha: new Set(), bravo: new Set() }; // public call ids per tenant
let sharedA, sharedB; // the call with external id "shared-ext-1" in each tenant

function assertError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.equal(r.json?.error, code, r.text);
}

async function postAll(t, body) {
  const r = await postHook(S, t.slug, body, { headers: hookAuth(t) });
  if (r.status !== 200) throw new Error(`posting to ${t.slug}: ${r.status} ${r.text}`);
  const got = r.json.results ? r.json.results.map((x) => x.call_id) : [r.json.call_id];
  for (const c of got) ids[t.slug].add(c);
  return got;
}

const eventRows = () => Number(sqlite(db, 'SELECT count(*) FROM events;').trim());

before(async () => {
  dir = tmpDir('callhook-isolation-');
  db = path.join(dir, 'callhook.db');
  A = setupTenant(db, 'alpha', { tenantArgs: ['--timezone', 'Asia/Jerusalem', '--country', '972'] });
  B = setupTenant(db, 'bravo', { tenantArgs: ['--timezone', 'Europe/London', '--country', '44'] });
  const cfg = writeConfig(dir, '[auth]\nfail_limit = 100000\nfail_window = 60\n');
  S = await startServer({ db, args: ['--config', cfg] });

  await postAll(A, fixture('generic/inbound-answered.json'));
  await postAll(A, fixture('generic/outbound-no-answer.json'));
  await postAll(B, fixture('generic/inbound-busy.json'));
  await postAll(B, fixture('generic/internal.json'));
  await postAll(B, fixture('generic/ring-group-legs.json'));
  // The same external id (and even the same event_id) in both tenants: two different calls.
  [sharedA] = await postAll(A, { event_id: 'shared-ev-1', call_id: 'shared-ext-1', caller_name: 'Alpha Caller', from: '050-765-4321', status: 'ringing' });
  [sharedB] = await postAll(B, { event_id: 'shared-ev-1', call_id: 'shared-ext-1', caller_name: 'Bravo Caller', from: '020 7946 0000', status: 'ended', disposition: 'busy' });
});

after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

describe('read API', () => {
  test('the same external id and event_id in two tenants are two separate calls', T, async () => {
    assert.notEqual(sharedA, sharedB);
    const a = await apiGet(S, `/v1/calls/${sharedA}`, A.apiKey);
    const b = await apiGet(S, `/v1/calls/${sharedB}`, B.apiKey);
    assert.equal(a.status, 200, a.text);
    assert.equal(b.status, 200, b.text);
    assert.equal(a.json.tenant, 'alpha');
    assert.equal(a.json.caller_name, 'Alpha Caller');
    assert.equal(a.json.from, '+972507654321');
    assert.equal(a.json.status, 'ringing');
    assert.equal(a.json.event_count, 1);
    assert.equal(b.json.tenant, 'bravo');
    assert.equal(b.json.caller_name, 'Bravo Caller');
    assert.equal(b.json.from, '+442079460000');
    assert.equal(b.json.status, 'ended');
    assert.equal(b.json.event_count, 1);
  });

  test("each key lists only its own tenant's calls", T, async () => {
    for (const [t, own, other] of [[A, 'alpha', 'bravo'], [B, 'bravo', 'alpha']]) {
      const { calls } = await listAllCalls(S, t.apiKey, '', { limit: 2 });
      assert.deepEqual(new Set(calls.map((c) => c.id)), ids[own], `${own} list`);
      for (const c of calls) {
        assert.equal(c.tenant, own);
        assert.ok(!ids[other].has(c.id));
      }
    }
    // Filters that match only the other tenant's calls find nothing.
    for (const q of ['disposition=busy&direction=inbound', 'q=Oliver', 'number=%2B442079460958', 'extension=1003', 'q=Bravo']) {
      const r = await apiGet(S, `/v1/calls?${q}`, A.apiKey);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.data, [], `alpha sees bravo's call with ${q}`);
    }
    const r = await apiGet(S, '/v1/calls?q=Oliver', B.apiKey);
    assert.equal(r.json.data.length, 1, 'the same filter finds the call for its owner');
  });

  test("another tenant's call id is 404, exactly like an unknown id", T, async () => {
    const unknown = await apiGet(S, '/v1/calls/c_doesnotexist', A.apiKey);
    assertError(unknown, 404, 'not_found');
    for (const cid of ids.bravo) {
      const r = await apiGet(S, `/v1/calls/${cid}`, A.apiKey);
      assertError(r, 404, 'not_found');
      assert.deepEqual(r.json, unknown.json, 'the answer must not reveal that the id exists');
      const own = await apiGet(S, `/v1/calls/${cid}`, B.apiKey);
      assert.equal(own.status, 200, own.text);
    }
    for (const cid of ids.alpha) assertError(await apiGet(S, `/v1/calls/${cid}`, B.apiKey), 404, 'not_found');
  });

  test("export never contains the other tenant's calls", T, async () => {
    const j = await apiGet(S, '/v1/calls/export?format=json', A.apiKey);
    assert.equal(j.status, 200, j.text);
    const arr = JSON.parse(j.text);
    assert.deepEqual(new Set(arr.map((c) => c.id)), ids.alpha);
    for (const c of arr) assert.equal(c.tenant, 'alpha');

    const c = await apiGet(S, '/v1/calls/export?format=csv', A.apiKey);
    assert.equal(c.status, 200, c.text);
    const rows = parseCsv(c.text);
    const idCol = rows[0].indexOf('id');
    const tenantCol = rows[0].indexOf('tenant');
    assert.ok(idCol >= 0 && tenantCol >= 0, `header: ${rows[0]}`);
    assert.deepEqual(new Set(rows.slice(1).map((r) => r[idCol])), ids.alpha);
    for (const r of rows.slice(1)) assert.equal(r[tenantCol], 'alpha');
    for (const cid of ids.bravo) assert.ok(!c.text.includes(cid), `bravo's ${cid} in alpha's CSV`);
    assert.ok(!c.text.includes('Bravo Caller') && !c.text.includes('Oliver Smith'));

    const none = await apiGet(S, '/v1/calls/export?format=json&q=Oliver', A.apiKey);
    assert.equal(none.status, 200, none.text);
    assert.deepEqual(JSON.parse(none.text), []);
  });

  test('a webhook token is not an API key', T, async () => {
    for (const t of [A, B]) {
      const r = await http(`${S.url}/v1/calls`, { headers: { Authorization: `Bearer ${t.token}` } });
      assertError(r, 401, 'unauthorized');
    }
  });
});

describe('webhooks', () => {
  test("a tenant's webhook credentials are refused on the other tenant's URL", T, async () => {
    const events = eventRows();
    for (const [from, to] of [[A, B], [B, A]]) {
      for (const kind of ['bearer', 'apikey', 'basic']) {
        const r = await postHook(S, to.slug, { call_id: `cross-${from.slug}-${kind}`, caller_name: 'Intruder' }, { headers: hookAuth(from, kind) });
        assertError(r, 401, 'unauthorized');
      }
      // The other tenant's username with this tenant's password, and the reverse.
      for (const headers of [{ Authorization: basic(from.username, to.password) }, { Authorization: basic(to.username, from.password) }]) {
        assertError(await postHook(S, to.slug, { call_id: 'cross-mixed' }, { headers }), 401, 'unauthorized');
      }
    }
    assert.equal(eventRows(), events, 'nothing was stored');
    for (const t of [A, B]) {
      const r = await apiGet(S, '/v1/calls?q=Intruder', t.apiKey);
      assert.deepEqual(r.json.data, []);
    }
  });

  test("an API key is not a webhook credential", T, async () => {
    for (const t of [A, B]) {
      for (const headers of [{ Authorization: `Bearer ${t.apiKey}` }, { 'X-Api-Key': t.apiKey }]) {
        assertError(await postHook(S, t.slug, { call_id: 'apikey-as-token' }, { headers }), 401, 'unauthorized');
      }
    }
  });

  test('each credential still works on its own URL', T, async () => {
    for (const t of [A, B]) {
      const r = await postHook(S, t.slug, { call_id: `own-${t.slug}` }, { headers: hookAuth(t, 'basic') });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, 'stored');
      const g = await apiGet(S, `/v1/calls/${r.json.call_id}`, t.apiKey);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.tenant, t.slug);
      const other = t === A ? B : A;
      assertError(await apiGet(S, `/v1/calls/${r.json.call_id}`, other.apiKey), 404, 'not_found');
    }
  });
});

test('the server exits 0 on SIGTERM (no leaks under ASan/LSan)', T, async () => {
  const res = await S.stop();
  assert.deepEqual(res, { code: 0, signal: null }, S.logs().slice(-4000));
});
