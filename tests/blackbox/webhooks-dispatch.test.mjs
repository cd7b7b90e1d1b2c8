// How the dispatcher shares its slots (docs/webhooks.md, Design): a receiver never gets more
// transfers at once than the per-host connection limit, and one slow receiver does not hold up
// another; a change to an endpoint reaches deliveries already fetched for it; a kept-alive
// connection the receiver closes while idle neither spins the dispatcher nor breaks the next
// delivery; an endpoint by host name (curl's resolver thread watches a socket of its own, which
// the dispatcher must let go of as soon as curl does) is delivered to, again and again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import os from 'node:os';
import { cli, tmpDir, cleanup, startServer, setupTenant, postHook, hookAuth, apiJson } from './lib.mjs';
import { waitFor, sleep, pool } from './lib-ops.mjs';
import { startReceiver, verify } from './lib-receiver.mjs';

const open = [];
after(async () => {
  for (const c of open.reverse()) await c();
});

async function setup(name, env) {
  const dir = tmpDir(`callhook-${name}-`);
  const db = path.join(dir, 'd.db');
  const T = setupTenant(db, name);
  const server = await startServer({ db, env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8', ...env } });
  open.push(async () => { await server.stop(); cleanup(dir); });
  return { dir, db, T, server };
}

async function receiver(handler, opts) {
  const rx = await startReceiver(handler, opts);
  open.push(() => rx.close());
  return rx;
}

async function post(ctx, body) {
  const r = await postHook(ctx.server, ctx.T.slug, { direction: 'internal', ...body }, { headers: hookAuth(ctx.T) });
  assert.equal(r.status, 200, r.text);
}

const ids = (reqs) => new Set(reqs.map((r) => r.headers['webhook-id']));

// SIGTERM: callhook drains and exits 0 (under ASan, LeakSanitizer fails the exit on a leak)
async function stopClean(ctx) {
  const x = await ctx.server.stop();
  assert.equal(x.code, 0, `exit ${x.code} ${x.signal ?? ''}\n${ctx.server.logs().slice(-3000)}`);
}

test('no receiver gets more transfers at once than its connection limit, and a slow one does not hold up another', async () => {
  // one thread with 80 slots: curl may open 64 connections per host
  const ctx = await setup('slots', { CALLHOOK_DELIVERY_THREADS: '1', CALLHOOK_DELIVERY_CONCURRENCY: '80' });
  // 1.5 s per answer: two rounds of the slow backlog leave the fast deliveries a window of
  // seconds, so a loaded CI machine (ASan, two test files at once) cannot close it by chance
  const slow = await receiver(() => ({ status: 200, delayMs: 1500 }));
  const fast = await receiver(() => ({ status: 200 }), { host: '127.0.0.2' });
  const a = cli(ctx.db, ['endpoint', 'add', ctx.T.slug, `${slow.url}/a`, '--kind', 'generic', '--events', 'call.started']);
  const b = cli(ctx.db, ['endpoint', 'add', ctx.T.slug, `${fast.url}/b`, '--kind', 'generic', '--events', 'call.ended']);

  const n = 100;
  await pool([...Array(n).keys()], 8, (i) => post(ctx, { call_id: `s-${i}`, event_id: `s-${i}-1`, status: 'ringing' }));
  await waitFor(() => slow.stats.open >= 32, 10_000);
  for (let i = 0; i < 5; i++)
    await post(ctx, { call_id: `f-${i}`, event_id: `f-${i}-1`, status: 'ended', disposition: 'answered' });
  await waitFor(() => ids(fast.at('/b')).size === 5 && ids(slow.at('/a')).size === n + 5, 30_000);
  await sleep(300); // nothing more may come

  assert.ok(slow.stats.maxOpen <= 64, `the slow receiver had ${slow.stats.maxOpen} requests open at once`);
  assert.ok(slow.stats.maxOpen >= 32, `only ${slow.stats.maxOpen} at once: the slots were not used`);
  const lastSlow = Math.max(...slow.at('/a').map((r) => r.at));
  for (const r of fast.at('/b')) assert.ok(r.at < lastSlow, 'the fast receiver waited for the slow one');
  assert.equal(slow.at('/a').length, n + 5, 'each delivery sent once');
  assert.equal(fast.at('/b').length, 5);
  for (const r of slow.at('/a')) verify(a.secret, r);
  for (const r of fast.at('/b')) assert.equal(verify(b.secret, r).type, 'call.ended');
  await stopClean(ctx);
});

test('a new URL reaches deliveries already fetched for the endpoint, not only later ones', async () => {
  // two slots, a receiver that takes 1.5 s: ten of the twelve deliveries wait in the queue
  const ctx = await setup('moved', { CALLHOOK_DELIVERY_THREADS: '1', CALLHOOK_DELIVERY_CONCURRENCY: '2' });
  const before = await receiver(() => ({ status: 200, delayMs: 1500 }));
  const moved = await receiver(() => ({ status: 200 }), { host: '127.0.0.2' });
  const e = cli(ctx.db, ['endpoint', 'add', ctx.T.slug, `${before.url}/old`, '--kind', 'generic', '--events', 'call.started']);
  for (let i = 0; i < 12; i++) await post(ctx, { call_id: `m-${i}`, event_id: `m-${i}-1`, status: 'ringing' });
  await waitFor(() => before.requests.length >= 1, 10_000);

  const r = await apiJson(ctx.server, ctx.T.apiKey, 'PATCH', `/v1/endpoints/${e.id}`, { url: `${moved.url}/new` });
  assert.equal(r.status, 200, r.text);
  await waitFor(() => ids([...before.requests, ...moved.requests]).size === 12, 20_000);
  await sleep(300);

  // the two in flight at the change (and at most two started just before it) went to the old URL
  assert.ok(before.requests.length <= 4, `${before.requests.length} deliveries went to the old URL`);
  assert.equal(before.requests.length + moved.requests.length, 12, 'each delivery sent once');
  for (const x of moved.requests) {
    assert.equal(x.path, '/new');
    verify(e.secret, x);
  }
  await stopClean(ctx);
});

test('a kept-alive connection closed by the receiver while idle: no busy loop, the next delivery opens a new one', async () => {
  const ctx = await setup('idle', {});
  const rx = await receiver(() => ({ status: 200 }), { keepAliveMs: 150 });
  const e = cli(ctx.db, ['endpoint', 'add', ctx.T.slug, `${rx.url}/idle`, '--kind', 'generic', '--events', 'call.started']);
  await post(ctx, { call_id: 'i-1', event_id: 'i-1-1', status: 'ringing' });
  await waitFor(() => rx.requests.length === 1, 10_000);
  await sleep(600); // the receiver has closed the connection callhook keeps

  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString());
  const cpu = () => {
    const f = readFileSync(`/proc/${ctx.server.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / hz; // utime + stime
  };
  const c0 = cpu();
  await sleep(1000);
  const used = cpu() - c0;
  assert.ok(used < 0.25, `idle callhook used ${used.toFixed(2)} s of CPU in 1 s: a busy loop`);

  await post(ctx, { call_id: 'i-2', event_id: 'i-2-1', status: 'ringing' });
  await waitFor(() => rx.requests.length === 2, 10_000);
  assert.notEqual(rx.requests[0].headers['webhook-id'], rx.requests[1].headers['webhook-id']);
  for (const r of rx.requests) verify(e.secret, r);
  const d = cli(ctx.db, ['delivery', 'list', ctx.T.slug, '--state', 'succeeded']).deliveries;
  assert.equal(d.length, 2);
  await stopClean(ctx);
});

test('endpoints by host name: every delivery arrives, through curl\'s resolver and the sockets after it', async (t) => {
  // a name the resolver answers from /etc/hosts with a loopback address ("localhost" itself
  // curl answers without its resolver)
  const name = os.hostname();
  const addrs = await lookup(name, { all: true }).catch(() => []);
  const v4 = addrs.find((a) => a.family === 4 && a.address.startsWith('127.'));
  if (name === 'localhost' || !v4) {
    t.skip(`${name} does not resolve to a loopback address here`);
    return;
  }
  const ctx = await setup('named', { CALLHOOK_DELIVERY_THREADS: '1', CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8,::1/128' });
  // curl resolves each name:port once: four receivers, four resolutions
  const rxs = [];
  for (let i = 0; i < 4; i++) {
    const rx = await receiver(() => ({ status: 200 }), { host: v4.address });
    const e = cli(ctx.db, ['endpoint', 'add', ctx.T.slug, `http://${name}:${rx.port}/n${i}`, '--kind', 'generic', '--events', 'call.started']);
    rxs.push({ rx, e });
  }
  for (let round = 1; round <= 2; round++) {
    for (let i = 0; i < 3; i++) await post(ctx, { call_id: `n-${round}-${i}`, event_id: `n-${round}-${i}-1`, status: 'ringing' });
    await waitFor(() => rxs.every(({ rx }) => rx.requests.length === 3 * round), 10_000);
  }
  for (const { rx, e } of rxs) for (const r of rx.requests) verify(e.secret, r);
  await stopClean(ctx);
});
