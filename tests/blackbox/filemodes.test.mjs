// Issue 9, item 6: the database holds secrets in plain text (provider signing secrets, whsec_
// endpoint secrets), so with the usual umask 022 its files — the database, its WAL and its
// shared-memory file — are still 0600; an existing 0644 database is tightened when opened (with
// a warning), and --db-mode / store.db_mode 0640 lets a service group read it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { statSync, existsSync, chmodSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { BIN, cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth } from './lib.mjs';

const T = { timeout: 60_000 };
let dir;
process.umask(0o022); // the usual umask: without care, files are 0644

before(() => { dir = tmpDir('callhook-filemodes-'); });
after(() => cleanup(dir));

const mode = (f) => statSync(f).mode & 0o777;
const octal = (m) => m.toString(8).padStart(4, '0');

async function ingest(S, A, id) {
  const r = await postHook(S, A.slug, { call_id: id, status: 'ended', from: '+14155550100' }, { headers: hookAuth(A) });
  assert.ok(r.status === 200 || r.status === 202, r.text);
}

test('tenant add, serve and an ingest under umask 022: the database, -wal and -shm are 0600', T, async () => {
  const db = path.join(dir, 'a.db');
  const A = setupTenant(db, 'modeco');
  assert.equal(octal(mode(db)), '0600', 'the database the CLI created');
  const S = await startServer({ db });
  try {
    await ingest(S, A, 'm-1');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) {
      assert.ok(existsSync(f), `${f} exists while serving`);
      assert.equal(octal(mode(f)), '0600', f);
    }
  } finally {
    assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-2000));
  }
  assert.equal(octal(mode(db)), '0600');
});

test('an existing 0644 database (and a WAL left by a crash) is tightened at start, with a warning', T, async () => {
  const db = path.join(dir, 'b.db');
  const A = setupTenant(db, 'oldco');
  chmodSync(db, 0o644);
  writeFileSync(`${db}-wal`, ''); // an empty WAL, as after a crash, readable by all
  chmodSync(`${db}-wal`, 0o644);
  const S = await startServer({ db });
  try {
    assert.equal(octal(mode(db)), '0600');
    assert.equal(octal(mode(`${db}-wal`)), '0600');
    assert.match(S.logs(), /"event":"db_mode_tightened"[^\n]*"mode":"0644"[^\n]*"now":"0600"/);
    await ingest(S, A, 'm-2');
    assert.equal(octal(mode(`${db}-shm`)), '0600');
  } finally {
    assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-2000));
  }
  // the CLI tightens too
  chmodSync(db, 0o664);
  cli(db, ['tenant', 'list']);
  assert.equal(octal(mode(db)), '0600');
});

test('--db-mode 0640 (or CALLHOOK_DB_MODE) for a service group; anything looser is refused', T, () => {
  const db = path.join(dir, 'c.db');
  cli(db, ['tenant', 'add', 'groupco', '--db-mode', '0640']);
  assert.equal(octal(mode(db)), '0640');
  const db2 = path.join(dir, 'd.db');
  cli(db2, ['tenant', 'add', 'envco'], { env: { CALLHOOK_DB_MODE: '0640' } });
  assert.equal(octal(mode(db2)), '0640');
  for (const bad of ['0644', '0666', '0660', 'rw', '0400']) {
    const r = spawnSync(BIN, ['tenant', 'add', 'x', '--db', path.join(dir, 'e.db'), '--db-mode', bad], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--db-mode/);
  }
  assert.ok(!existsSync(path.join(dir, 'e.db')), 'nothing was created');
});
