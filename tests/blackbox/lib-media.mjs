// A media server on a loopback port, standing in for the hosts recordings are fetched from
// (Twilio's RecordingUrl, Bolna/Retell/Vapi URLs): serves files by path, with optional HTTP
// Basic auth (401 without), 404 for anything else, a delay before answering, and redirect hops
// (Twilio answers 302 to a storage URL). Records every request.
//
// Import: const m = await startMedia({ files: { '/rec.wav': buf } }); m.url, m.received, m.setBehaviour({...})
// Run:    node tests/blackbox/lib-media.mjs  → prints "PORT <n>"; behaviour set over HTTP with
//         POST /__control/behaviour (JSON), read with GET /__control/received (C unit tests).
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

// files: path → Buffer | string | { size, byte } (size bytes of `byte`, default 'x') | { base64 }
function fileBody(f) {
  if (Buffer.isBuffer(f)) return f;
  if (typeof f === 'string') return Buffer.from(f);
  if (f && typeof f.base64 === 'string') return Buffer.from(f.base64, 'base64');
  if (f && Number.isInteger(f.size)) return Buffer.alloc(f.size, f.byte ?? 'x');
  return null;
}

// behaviour: { files, auth: {user, pass} | null, delayMs, redirects: { path: location },
//              contentType: { path: type }, status: { path: code } (with retryAfter),
//              chunked: true (no Content-Length) }. Replaced, not merged.
// tls: { key, cert } (PEM) or { keyFile, certFile }: HTTPS with that certificate (a UCM's or a
// storage host's self-signed one).
export async function startMedia(initial = {}, { host = '127.0.0.1', tls = null } = {}) {
  let b = {};
  const received = [];
  const setBehaviour = (nb = {}) => {
    b = { files: {}, auth: null, delayMs: 0, redirects: {}, contentType: {}, status: {}, ...nb };
  };
  setBehaviour(initial);
  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (control(req, res, body, setBehaviour, received)) return;
      const path = new URL(req.url, 'http://x').pathname;
      const auth = req.headers.authorization ?? null;
      const rec = { method: req.method, path, url: req.url, headers: req.headers, authorized: false };
      received.push(rec);
      const answer = () => {
        if (b.auth) {
          const want = 'Basic ' + Buffer.from(`${b.auth.user}:${b.auth.pass}`).toString('base64');
          if (auth !== want) {
            res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="media"', 'Content-Type': 'text/plain' });
            return res.end('authentication required');
          }
          rec.authorized = true;
        }
        if (b.redirects[path]) {
          res.writeHead(302, { Location: b.redirects[path] });
          return res.end();
        }
        if (b.status[path]) {
          res.writeHead(b.status[path], { 'Content-Type': 'text/plain', ...(b.retryAfter ? { 'Retry-After': String(b.retryAfter) } : {}) });
          return res.end(`status ${b.status[path]}`);
        }
        const f = fileBody(b.files[path]);
        if (!f) {
          res.writeHead(404, { 'Content-Type': 'text/plain' });
          return res.end('not found');
        }
        const type = b.contentType[path] ?? (path.endsWith('.mp3') ? 'audio/mpeg' : path.endsWith('.wav') ? 'audio/x-wav' : 'application/octet-stream');
        // chunked: no Content-Length, so a client learns the size only while reading
        res.writeHead(200, { 'Content-Type': type, ...(b.chunked ? {} : { 'Content-Length': f.length }) });
        if (req.method === 'HEAD') return res.end();
        if (b.chunked) res.write(f.subarray(0, f.length >> 1));
        res.end(b.chunked ? f.subarray(f.length >> 1) : f);
      };
      if (b.delayMs > 0) setTimeout(answer, b.delayMs);
      else answer();
    });
  };
  const server = tls
    ? https.createServer({ key: tls.key ?? readFileSync(tls.keyFile), cert: tls.cert ?? readFileSync(tls.certFile) }, handler)
    : http.createServer(handler);
  return listen(server, host, { received, setBehaviour }, tls ? 'https' : 'http');
}

// ---- shared by the three doubles (each file stands alone: no imports between them) ---------

// POST /__control/behaviour {json}, GET /__control/received: the C tests' way to script a double.
function control(req, res, body, setBehaviour, received) {
  if (!req.url.startsWith('/__control/')) return false;
  if (req.url === '/__control/behaviour' && req.method === 'POST') {
    setBehaviour(JSON.parse(body.toString('utf8') || '{}'));
    res.writeHead(204);
    res.end();
  } else if (req.url === '/__control/received') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(typeof received === 'function' ? received() : received));
  } else {
    res.writeHead(404);
    res.end();
  }
  return true;
}

function listen(server, host, extra, scheme = 'http') {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      const port = server.address().port;
      resolve({
        port,
        url: `${scheme}://${host}:${port}`,
        close: () => new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
        ...extra,
      });
    });
  });
}

// `node lib-media.mjs`: serve until stdin closes (the parent died or closed it), 5 min at most.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // argv[2]: the initial behaviour (JSON); argv[3]: options ({"tls":{"keyFile","certFile"}})
  const m = await startMedia(process.argv[2] ? JSON.parse(process.argv[2]) : {}, process.argv[3] ? JSON.parse(process.argv[3]) : {});
  process.stdout.write(`PORT ${m.port}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  setTimeout(() => process.exit(0), 300000).unref();
}
