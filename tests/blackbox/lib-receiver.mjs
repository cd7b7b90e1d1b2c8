// A webhook receiver on a loopback port for the delivery tests: records every request and
// answers as the test's handler says. It verifies nothing itself; tests verify signatures
// with the npm `standardwebhooks` package, as real receivers do.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import Ajv2020 from 'ajv/dist/2020.js';

// docs/schema/webhook-event.schema.json, compiled once: every verified payload must match it
const schemaDir = new URL('../../docs/schema/', import.meta.url);
const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true, validateFormats: false });
for (const f of ['call.schema.json', 'webhook-event.schema.json', 'webhook-flat.schema.json'])
  ajv.addSchema(JSON.parse(readFileSync(new URL(f, schemaDir), 'utf8')));
const validEvent = ajv.getSchema('webhook-event.schema.json');
const validFlat = ajv.getSchema('webhook-flat.schema.json');

// handler(req) -> { status=200, body='', headers={}, delayMs=0 } | 'hang' (never answers)
// host: any loopback address (127.0.0.2 is another receiver to curl); keepAliveMs: how long an
// idle kept-alive connection stays open. `open` counts requests read and not yet answered, and
// `maxOpen` the most there were at once.
export async function startReceiver(handler = () => ({ status: 200 }), { host = '127.0.0.1', keepAliveMs = 2000 } = {}) {
  const requests = [];
  const hanging = new Set();
  let h = handler;
  const stats = { open: 0, maxOpen: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = { path: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(rec);
      stats.open++;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      const a = h(rec, requests.filter((r) => r.path === rec.path).length);
      if (a === 'hang') { hanging.add(res); return; }
      const send = () => {
        stats.open--;
        if (res.destroyed) return;
        res.writeHead(a.status ?? 200, { 'content-type': 'text/plain', ...(a.headers || {}) });
        res.end(a.body ?? 'ok');
      };
      if (a.delayMs) setTimeout(send, a.delayMs); else send();
    });
  });
  server.keepAliveTimeout = keepAliveMs;
  await new Promise((r) => server.listen(0, host, r));
  const port = server.address().port;
  return {
    port,
    url: `http://${host}:${port}`,
    requests,
    stats,
    setHandler(fn) { h = fn; },
    at(path) { return requests.filter((r) => r.path === path); },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

// null when msg matches docs/schema/webhook-event.schema.json, else the errors as text.
export function webhookEventProblems(msg) {
  return validEvent(msg) ? null : ajv.errorsText(validEvent.errors);
}

// Verifies a recorded request with standardwebhooks and checks the payload against
// docs/schema/webhook-event.schema.json; returns the parsed payload or throws.
export function verify(secret, rec) {
  const msg = new Webhook(secret).verify(rec.body, {
    'webhook-id': rec.headers['webhook-id'],
    'webhook-timestamp': rec.headers['webhook-timestamp'],
    'webhook-signature': rec.headers['webhook-signature'],
  });
  if (!validEvent(msg))
    throw new Error(`payload does not match webhook-event.schema.json: ${ajv.errorsText(validEvent.errors)}\n${rec.body}`);
  return msg;
}

// null when msg matches docs/schema/webhook-flat.schema.json, else the errors as text.
export function flatProblems(msg) {
  return validFlat(msg) ? null : ajv.errorsText(validFlat.errors);
}

// The same as verify for an endpoint whose payload is "flat": the signature is checked the same way, the
// body against docs/schema/webhook-flat.schema.json.
export function verifyFlat(secret, rec) {
  const msg = new Webhook(secret).verify(rec.body, {
    'webhook-id': rec.headers['webhook-id'],
    'webhook-timestamp': rec.headers['webhook-timestamp'],
    'webhook-signature': rec.headers['webhook-signature'],
  });
  if (!validFlat(msg))
    throw new Error(`payload does not match webhook-flat.schema.json: ${ajv.errorsText(validFlat.errors)}\n${rec.body}`);
  return msg;
}
