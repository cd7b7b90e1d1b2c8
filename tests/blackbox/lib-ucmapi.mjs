// A Grandstream UCM HTTPS API double on a loopback port (plain HTTP): POST /api with the JSON
// actions challenge, login (token = md5(challenge + password), hex), recapi (the cookie inside
// the JSON body; answers the file, or a JSON error) and getRecordInfosByCall (recordfiles,
// comma separated, '@'-terminated as the UCM writes them). Scriptable: a session expires after
// N requests (status -6), the next requests are rate limited (status -45); logins are counted.
//
// Import: const u = await startUcmApi({ user, password, files: { 'monitor/x.wav': buf } });
//         u.url, u.received (→ { logins, challenges, requests }), u.setBehaviour({...})
// Run:    node tests/blackbox/lib-ucmapi.mjs ['{"password":"…"}'] → prints "PORT <n>";
//         POST /__control/behaviour (JSON), GET /__control/received.
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const OK = 0;
const EXPIRED = -6; // "session expired / not logged in" (-5 is the other one clients accept)
const RATE_LIMITED = -45;
const BAD_LOGIN = -37; // wrong account or password
const NO_FILE = -9; // the double's own code for "no such file": any non-zero status is an error

// behaviour: { user, password, files: { 'dir/name': Buffer|string|{size}|{base64} },
//   records: { callId: 'a.wav@,b.wav@' }, expireAfter: N (a session answers -6 once it has
//   served N requests), rateLimit: N (the next N requests answer -45), delayMs,
//   resetSessions: true (forget every session), reset: true (defaults first) }; merged into the
//   current behaviour unless reset
export async function startUcmApi(initial = {}, { host = '127.0.0.1' } = {}) {
  let b;
  let sessions = new Map(); // cookie → { uses }
  const challenges = new Map(); // user → last challenge
  const stats = { logins: 0, challenges: 0, failedLogins: 0, requests: [] };
  const setBehaviour = (nb = {}) => {
    const defaults = { user: 'cdrapi', password: 'cdrapi123', files: {}, records: {}, expireAfter: 0, rateLimit: 0, delayMs: 0 };
    b = nb.reset ? { ...defaults, ...nb } : { ...defaults, ...b, ...nb }; // merged unless reset
    if (nb.resetSessions) sessions = new Map();
  };
  setBehaviour(initial);
  const json = (res, status, response = {}) => {
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ response, status }));
  };
  const session = (cookie) => {
    const s = sessions.get(cookie);
    if (!s) return false;
    if (b.expireAfter > 0 && s.uses >= b.expireAfter) {
      sessions.delete(cookie);
      return false;
    }
    s.uses++;
    return true;
  };
  const handle = (r, res) => {
    const q = r?.request ?? {};
    stats.requests.push({ action: q.action ?? null, cookie: q.cookie ?? null, filedir: q.filedir, filename: q.filename, id: q.id });
    if (b.rateLimit > 0) {
      b.rateLimit--;
      return json(res, RATE_LIMITED);
    }
    switch (q.action) {
      case 'challenge': {
        stats.challenges++;
        if (q.user !== b.user || q.version !== '1.0') return json(res, BAD_LOGIN);
        const c = randomBytes(8).toString('hex');
        challenges.set(q.user, c);
        return json(res, OK, { challenge: c });
      }
      case 'login': {
        const c = challenges.get(q.user);
        challenges.delete(q.user); // a challenge is good for one login
        const want = c && createHash('md5').update(c + b.password).digest('hex');
        if (!want || q.token !== want) {
          stats.failedLogins++;
          return json(res, BAD_LOGIN);
        }
        stats.logins++;
        const cookie = 'sid' + randomBytes(12).toString('hex');
        sessions.set(cookie, { uses: 0 });
        return json(res, OK, { cookie, needchange: 'no' });
      }
      case 'recapi': {
        if (!session(q.cookie)) return json(res, EXPIRED);
        const f = fileBody(b.files[`${q.filedir}/${q.filename}`]);
        if (!f) return json(res, NO_FILE);
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="${q.filename}"`, 'Content-Length': f.length });
        return res.end(f);
      }
      case 'getRecordInfosByCall': {
        if (!session(q.cookie)) return json(res, EXPIRED);
        return json(res, OK, { recordfiles: b.records[String(q.id)] ?? '' });
      }
      case 'logout':
        sessions.delete(q.cookie);
        return json(res, OK);
      default:
        return json(res, -8); // unknown action
    }
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (control(req, res, body, setBehaviour, () => ({ ...stats, sessions: sessions.size }))) return;
      if (req.method !== 'POST' || req.url !== '/api') {
        res.writeHead(404);
        return res.end();
      }
      let r;
      try {
        r = JSON.parse(body.toString('utf8'));
      } catch {
        r = null;
      }
      if (b.delayMs > 0) setTimeout(() => handle(r, res), b.delayMs);
      else handle(r, res);
    });
  });
  return listen(server, host, {
    get received() {
      return { ...stats, sessions: sessions.size };
    },
    setBehaviour,
  });
}

function fileBody(f) {
  if (Buffer.isBuffer(f)) return f;
  if (typeof f === 'string') return Buffer.from(f);
  if (f && typeof f.base64 === 'string') return Buffer.from(f.base64, 'base64');
  if (f && Number.isInteger(f.size)) return Buffer.alloc(f.size, f.byte ?? 'x');
  return null;
}

// ---- shared by the three doubles (each file stands alone: no imports between them) ---------

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

function listen(server, host, extra) {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      const port = server.address().port;
      const api = Object.defineProperties(
        {
          port,
          url: `http://${host}:${port}`,
          close: () => new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
        },
        Object.getOwnPropertyDescriptors(extra),
      );
      resolve(api);
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const u = await startUcmApi(process.argv[2] ? JSON.parse(process.argv[2]) : {});
  process.stdout.write(`PORT ${u.port}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  setTimeout(() => process.exit(0), 300000).unref();
}
