// Outbound webhook endpoints, managed by the CLI: validation when saved, a Standard Webhooks
// secret shown once, rotation with overlap, enable/disable/remove, and tenants kept apart.
// (Delivery itself — outbox, signing, retries — is the rest of issue 4.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BIN, cli, tmpDir, cleanup, sqlite } from './lib.mjs';

let dir, db;
before(() => {
  dir = tmpDir('callhook-endpoints-');
  db = path.join(dir, 'e.db');
  cli(db, ['tenant', 'add', 'hooksco']);
  cli(db, ['tenant', 'add', 'other']);
});
after(() => cleanup(dir));

function fails(args) {
  try {
    execFileSync(BIN, [...args, '--db', db], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    return { code: e.status, err: e.stderr };
  }
  throw new Error(`callhook ${args.join(' ')} succeeded`);
}

test('add: the secret is a Standard Webhooks secret, shown once; the list never shows it', () => {
  const a = cli(db, ['endpoint', 'add', 'hooksco', 'https://n8n.example.com/webhook/calls', '--kind', 'inbound',
    '--events', 'call.ended,call.completed', '--header', 'X-Team: sales', '--timeout-ms', '10000']);
  assert.equal(a.id, 1);
  assert.match(a.secret, /^whsec_[A-Za-z0-9+/]{32}$/, '24 random bytes, base64');
  const b = cli(db, ['endpoint', 'add', 'hooksco', 'http://127.0.0.1:5678/webhook']);
  assert.equal(b.id, 2);
  assert.notEqual(b.secret, a.secret);
  const list = cli(db, ['endpoint', 'list', 'hooksco']).endpoints;
  assert.equal(list.length, 2);
  assert.deepEqual(list[0].headers, { 'X-Team': 'sales' });
  assert.equal(list[0].events, 'call.ended,call.completed');
  assert.equal(list[0].timeout_ms, 10000);
  assert.equal(list[1].kind, 'generic', 'the default kind');
  assert.equal(list[1].events, '*');
  assert.equal(list[1].timeout_ms, 15000);
  assert.ok(!JSON.stringify(list).includes('whsec_'), 'no secret in the list');
});

test('URLs, kinds, events and headers are checked when saved, with a clear error', () => {
  const cases = [
    ['ftp://example.com/x', /http:\/\/ or https:\/\//],
    ['https://', /no host/],
    ['https://exa mple.com/', /space/],
    ['https://bad_host!.com/', /host/],
    ['https://example.com:99999/', /port/],
    [`https://example.com/${'a'.repeat(2100)}`, /2048/],
    ['example.com/hook', /http:\/\//],
  ];
  for (const [url, why] of cases) {
    const r = fails(['endpoint', 'add', 'hooksco', url]);
    assert.equal(r.code, 2, url);
    assert.match(r.err, why, url);
  }
  assert.match(fails(['endpoint', 'add', 'hooksco', 'https://x.example/', '--kind', 'everything']).err, /--kind/);
  assert.match(fails(['endpoint', 'add', 'hooksco', 'https://x.example/', '--events', 'call.ended,call.exploded']).err, /call\.exploded/);
  assert.match(fails(['endpoint', 'add', 'hooksco', 'https://x.example/', '--header', 'webhook-id: forged']).err, /--header/);
  assert.match(fails(['endpoint', 'add', 'hooksco', 'https://x.example/', '--header', 'no colon']).err, /--header/);
  assert.equal(cli(db, ['endpoint', 'list', 'hooksco']).endpoints.length, 2, 'nothing was saved');
});

test('rotate keeps the old secret signing for a day; disable, enable, remove', () => {
  const before = sqlite(db, "SELECT secret FROM endpoints WHERE tenant_id=(SELECT id FROM tenants WHERE slug='hooksco') AND id=1;").trim();
  const r = cli(db, ['endpoint', 'rotate', 'hooksco', '1']);
  assert.match(r.secret, /^whsec_/);
  assert.notEqual(r.secret, before);
  const row = sqlite(db, "SELECT previous_secret, previous_secret_until - updated_at FROM endpoints WHERE id=1 AND tenant_id=(SELECT id FROM tenants WHERE slug='hooksco');").trim().split('|');
  assert.equal(row[0], before, 'the old secret is kept');
  assert.equal(Number(row[1]), 24 * 3600 * 1000, 'for 24 hours');
  let l = cli(db, ['endpoint', 'list', 'hooksco']).endpoints;
  assert.match(l[0].secret_rotating_until, /^\d{4}-\d\d-\d\dT/);
  cli(db, ['endpoint', 'disable', 'hooksco', '2']);
  l = cli(db, ['endpoint', 'list', 'hooksco']).endpoints;
  assert.equal(l[1].enabled, false);
  assert.equal(l[1].disabled_reason, 'disabled by an operator');
  cli(db, ['endpoint', 'enable', 'hooksco', '2']);
  l = cli(db, ['endpoint', 'list', 'hooksco']).endpoints;
  assert.equal(l[1].enabled, true);
  assert.equal(l[1].disabled_reason, null);
  cli(db, ['endpoint', 'remove', 'hooksco', '2']);
  assert.equal(cli(db, ['endpoint', 'list', 'hooksco']).endpoints.length, 1);
});

test("a tenant cannot see or change another tenant's endpoints", () => {
  assert.deepEqual(cli(db, ['endpoint', 'list', 'other']), { endpoints: [] });
  for (const sub of ['disable', 'rotate', 'remove']) {
    const r = fails(['endpoint', sub, 'other', '1']);
    assert.equal(r.code, 1);
    assert.match(r.err, /no endpoint 1/);
  }
  assert.equal(cli(db, ['endpoint', 'list', 'hooksco']).endpoints[0].enabled, true);
});
