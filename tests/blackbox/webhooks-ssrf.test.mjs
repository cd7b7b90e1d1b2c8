// SSRF protection with the allow-list off: an endpoint whose address (after DNS resolution) is
// loopback, private, link-local, CGNAT, multicast, reserved, documentation, IPv6 ULA/link-local
// or an IPv4-mapped form of those is never connected to; the attempt records why. A receiver
// on 127.0.0.1 proves that nothing reached it, even through "localhost" or ::ffff:127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, setupTenant } from './lib.mjs';
import { waitFor } from './lib-ops.mjs';
import { startReceiver } from './lib-receiver.mjs';

let dir, db, server, rx;

before(async () => {
  dir = tmpDir('callhook-ssrf-');
  db = path.join(dir, 's.db');
  rx = await startReceiver(() => ({ status: 200 }));
  setupTenant(db, 'ssrfco');
  server = await startServer({ db, env: { CALLHOOK_DELIVERY_ALLOW_PRIVATE: '' } });
});
after(async () => {
  await server?.stop();
  await rx?.close();
  cleanup(dir);
});

test('every non-public range is refused before connecting, with the reason on the attempt', async () => {
  const p = rx.port;
  const cases = [
    [`http://127.0.0.1:${p}/`, /loopback/],
    [`http://localhost:${p}/`, /loopback/], // refused after resolution, not by name
    [`http://[::1]:${p}/`, /loopback \(::1\)/],
    [`http://[::ffff:127.0.0.1]:${p}/`, /IPv4-mapped: loopback/],
    [`http://10.0.0.1:${p}/`, /private \(10\.0\.0\.0\/8\)/],
    [`http://172.16.5.4:${p}/`, /private \(172\.16\.0\.0\/12\)/],
    [`http://192.168.1.1:${p}/`, /private \(192\.168\.0\.0\/16\)/],
    ['http://169.254.169.254/latest/meta-data/', /link-local \(169\.254/],
    [`http://100.64.0.1:${p}/`, /CGNAT/],
    [`http://0.0.0.0:${p}/`, /this network/],
    [`http://224.0.0.1:${p}/`, /multicast/],
    [`http://240.0.0.1:${p}/`, /reserved/],
    [`http://198.18.0.1:${p}/`, /benchmarking/],
    [`http://192.0.2.1:${p}/`, /documentation/],
    [`http://203.0.113.9:${p}/`, /documentation/],
    [`http://[fc00::1]:${p}/`, /unique local/],
    [`http://[fd12:3456::1]:${p}/`, /unique local/],
    [`http://[fe80::1]:${p}/`, /link-local \(fe80/],
    [`http://[ff02::1]:${p}/`, /multicast/],
    [`http://[::ffff:10.1.2.3]:${p}/`, /IPv4-mapped: private/],
    [`http://[::ffff:169.254.169.254]:${p}/`, /IPv4-mapped: link-local/],
    [`http://[2001:db8::1]:${p}/`, /documentation/],
  ];
  const deliveries = [];
  for (const [url, why] of cases) {
    const e = cli(db, ['endpoint', 'add', 'ssrfco', url, '--timeout-ms', '2000']);
    const t = cli(db, ['delivery', 'test', 'ssrfco', String(e.id)]);
    deliveries.push({ url, why, id: t.delivery_id });
  }
  for (const d of deliveries) {
    const s = await waitFor(() => {
      const x = cli(db, ['delivery', 'show', 'ssrfco', String(d.id)]);
      return x.state === 'failed' ? x : null;
    }, 15_000);
    assert.equal(s.attempt_log.length, 1, d.url);
    const a = s.attempt_log[0];
    assert.equal(a.status, null, `${d.url}: no HTTP status, nothing was sent`);
    assert.match(a.error, /^refused to connect to /, d.url);
    assert.match(a.error, d.why, `${d.url}: ${a.error}`);
    assert.match(a.error, /delivery\.allow_private/, 'the refusal says how to allow it');
  }
  assert.equal(rx.requests.length, 0, 'nothing reached the receiver on 127.0.0.1');
});
