// bench/sse helper (run by bench/sse/run.sh, node >= 20, no dependencies). Three modes:
//
//   node sse.mjs clients PORT KEYS_FILE STREAMS OUT.json
//       opens STREAMS streams of GET /v1/stream, spread evenly over the API keys of KEYS_FILE
//       (one "slug key token" line per tenant); prints "READY n" once all are open; on each
//       call event records, per call, how many streams got it and when the last one did
//       (wall clock, µs); a stream that ends is reconnected with Last-Event-ID and counted.
//       On SIGTERM writes OUT.json and exits.
//   node sse.mjs load PORT KEYS_FILE RATE SECONDS OUT.json
//       open loop: POSTs one new call every 1/RATE s (tenants round robin) to the generic
//       source, records when each was sent and acknowledged; writes OUT.json.
//   node sse.mjs report LOAD.json CLIENTS.json STREAMS TENANTS
//       joins both: per call, the time from its acknowledgement (and from its send) to the
//       moment the last of its tenant's streams got it; prints one BENCH line.
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const [mode, ...args] = process.argv.slice(2);

function readKeys(file) {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => {
    const [slug, key, token] = l.split(' ');
    return { slug, key, token };
  });
}

if (mode === 'clients') {
  const [port, keysFile, nStr, out] = args;
  const keys = readKeys(keysFile);
  const n = Number(nStr);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const got = new Map(); // external id -> [count, last µs]
  let open = 0, reconnects = 0, failures = 0, events = 0, ready = false;
  const re = /"external_id":"([^"]+)"/;
  function connect(i, lastId) {
    const k = keys[i % keys.length];
    const headers = { Authorization: `Bearer ${k.key}`, Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const req = http.get({ host: '127.0.0.1', port: Number(port), path: '/v1/stream', headers, agent });
    let last = lastId, pending = '', counted = false;
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        failures++;
        res.resume();
        setTimeout(() => connect(i, last), 1000);
        return;
      }
      open++;
      counted = true;
      if (!ready && open === n) { ready = true; console.log(`READY ${open}`); }
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        pending += chunk;
        let j;
        while ((j = pending.indexOf('\n\n')) >= 0) {
          const ev = pending.slice(0, j);
          pending = pending.slice(j + 2);
          if (ev.startsWith('id: ')) last = ev.slice(4, ev.indexOf('\n'));
          const m = ev.includes('\nevent: call\n') ? re.exec(ev) : null;
          if (!m) continue;
          events++;
          const t = nowUs();
          const g = got.get(m[1]);
          if (g) { g[0]++; g[1] = t; } else got.set(m[1], [1, t]);
        }
      });
      res.on('close', () => {
        if (counted) { open--; counted = false; }
        if (!stopping) { reconnects++; setTimeout(() => connect(i, last), 100); }
      });
    });
    req.on('error', () => { if (!stopping) { failures++; setTimeout(() => connect(i, last), 1000); } });
  }
  let stopping = false;
  for (let i = 0; i < n; i++) connect(i);
  process.on('SIGTERM', () => {
    stopping = true;
    writeFileSync(out, JSON.stringify({ open, reconnects, failures, events, got: [...got] }));
    process.exit(0);
  });
  setInterval(() => {}, 1000);
} else if (mode === 'load') {
  const [port, keysFile, rateStr, secsStr, out] = args;
  const keys = readKeys(keysFile);
  const rate = Number(rateStr), secs = Number(secsStr);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(rate * secs);
  const calls = [];
  let done = 0, errors = 0;
  const t0 = performance.now();
  const tag = Date.now().toString(36);
  function send(i) {
    const k = keys[i % keys.length];
    const id = `b-${tag}-${i}`;
    const body = JSON.stringify({ call_id: id, event_id: `${id}-e`, type: 'call.ringing', direction: 'inbound', from: '+14155550100', to: '+14155550199', caller_name: 'Bench Caller' });
    const rec = { id, sent: nowUs(), ack: 0, status: 0 };
    calls.push(rec);
    const req = http.request({ host: '127.0.0.1', port: Number(port), method: 'POST', path: `/hooks/${k.slug}/generic`, agent,
      headers: { Authorization: `Bearer ${k.token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => { rec.ack = nowUs(); rec.status = res.statusCode; if (res.statusCode !== 200) errors++; done++; });
    });
    req.on('error', () => { errors++; done++; });
    req.end(body);
  }
  let i = 0;
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (i < due) send(i++);
    if (i < total) setTimeout(tick, 1);
    else {
      const wait = setInterval(() => {
        if (done >= total || performance.now() - t0 > (secs + 30) * 1000) {
          clearInterval(wait);
          const elapsed = (performance.now() - t0) / 1000;
          writeFileSync(out, JSON.stringify({ rate, secs, sent: total, done, errors, elapsed, calls }));
          process.exit(0);
        }
      }, 50);
    }
  };
  tick();
} else if (mode === 'report') {
  const [loadFile, clientsFile, streamsStr, tenantsStr] = args;
  const load = JSON.parse(readFileSync(loadFile, 'utf8'));
  const cl = JSON.parse(readFileSync(clientsFile, 'utf8'));
  const streams = Number(streamsStr), tenants = Number(tenantsStr);
  const got = new Map(cl.got);
  const fromAck = [], fromSend = [];
  let complete = 0, partial = 0, missing = 0, acked = 0, beforeAck = 0;
  load.calls.forEach((c, i) => {
    if (c.status !== 200) return;
    acked++;
    // streams of tenant (i % tenants): clients spread stream j over key j % tenants
    const want = Math.floor(streams / tenants) + ((i % tenants) < streams % tenants ? 1 : 0);
    const g = got.get(c.id);
    if (!g) { missing++; return; }
    if (g[0] < want) { partial++; return; }
    complete++;
    fromAck.push(Math.max(0, g[1] - c.ack));
    if (g[1] < c.ack) beforeAck++;
    fromSend.push(g[1] - c.sent);
  });
  const pct = (v, p) => {
    if (!v.length) return 0;
    const s = [...v].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] / 1000;
  };
  const f = (x) => x.toFixed(1);
  console.log(`BENCH calls=${load.sent} acked=${acked} errors=${load.errors} achieved_rate=${(acked / load.elapsed).toFixed(0)} ` +
    `complete=${complete} partial=${partial} missing=${missing} before_ack=${beforeAck} ` +
    `ack_p50_ms=${f(pct(fromAck, 50))} ack_p99_ms=${f(pct(fromAck, 99))} ack_max_ms=${f(pct(fromAck, 100))} ` +
    `send_p50_ms=${f(pct(fromSend, 50))} send_p99_ms=${f(pct(fromSend, 99))} ` +
    `events=${cl.events} reconnects=${cl.reconnects} failures=${cl.failures} open_at_end=${cl.open}`);
} else {
  console.error('usage: sse.mjs clients|load|report ...');
  process.exit(2);
}
