// The non-audio stages through the real daemon (bench/pipeline/stages.sh runs this): one tenant
// with enrichment on and a dictionary of BENCH_DICT entries (cities and services, each with
// two synonyms), BENCH_CALLS ended calls posted with a provider transcript (two speakers,
// 100-300 words, no recording) → the summary, fields and sentiment stages run on each; the
// clock stops when every call's call.completed message exists (counted in sqlite). Prints a
// markdown summary: calls/s and jobs/s, time per stage from /metrics, the daemon's CPU per
// thread, and a check that every call completed with its three stages done and the right city.
//   node bench/pipeline/stages.mjs BIN DIR
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import {
  say, sleep, cli, sqlite, startDaemon, req, metrics, stageDone, stageFailed, stageSeconds,
  threadCpu, cpuDelta, loadavg, fmt,
} from './lib.mjs';

const [BIN, DIR] = process.argv.slice(2);
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const DICT = Number(process.env.BENCH_DICT ?? 200);
const CONC = Number(process.env.BENCH_CONCURRENCY ?? 16);
const LIMIT_S = Number(process.env.BENCH_TIMEOUT ?? 600);
const STAGES = ['summary', 'fields', 'sentiment'];

// ---- a dictionary and transcripts of our own making (no third-party word lists) ----------
let seed = 0x2545f491;
const rnd = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const heads = ['Ash', 'Brook', 'Cedar', 'Dun', 'Elm', 'Fair', 'Glen', 'Hart', 'Iron', 'Kings'];
const tails = ['ton', 'ville', 'field', 'ford', 'burg', 'port', 'dale', 'wood', 'haven', 'mouth'];
const trades = ['plumbing', 'electrical', 'roofing', 'heating', 'air conditioning', 'painting', 'flooring',
  'landscaping', 'pest control', 'locksmith', 'window cleaning', 'carpet cleaning', 'gutter repair',
  'appliance repair', 'drywall', 'masonry', 'fencing', 'insulation', 'moving', 'tiling'];
const kinds = ['residential', 'commercial', 'emergency', 'same day', 'weekend'];
const nCity = Math.ceil(DICT / 2), nSvc = DICT - nCity;
const cities = [], services = [];
for (let i = 0; cities.length < nCity; i++) {
  const base = heads[i % 10] + tails[Math.floor(i / 10) % 10];
  cities.push(i < 100 ? base : `${base} ${Math.floor(i / 100) + 1}`);
}
for (let i = 0; services.length < nSvc; i++) {
  const base = `${kinds[Math.floor(i / 20) % 5]} ${trades[i % 20]}`;
  services.push(i < 100 ? base : `${base} ${Math.floor(i / 100) + 1}`);
}
const firstNames = ['John', 'Maria', 'David', 'Sarah', 'Ahmed', 'Noa', 'Kevin', 'Linda', 'Tom', 'Rachel'];
const lastNames = ['Smith', 'Cohen', 'Garcia', 'Brown', 'Levi', 'Miller', 'Davis', 'Katz', 'Wilson', 'Moore'];
const agentLines = [
  'thank you for calling how can I help you today',
  'I am sorry to hear that let me see what we can do',
  'can I have your full address please',
  'we have a technician available tomorrow between nine and twelve',
  'the visit fee is eighty dollars and it is waived if you go ahead with the work',
  'I have booked that for you and you will get a confirmation by text message',
  'is there anything else I can help you with',
  'our technician will call you about thirty minutes before arriving',
  'let me check the schedule for your area',
  'that should not take more than two hours',
];
const callerGood = ['that is great thank you so much', 'perfect that works for me', 'wonderful I really appreciate the quick help', 'excellent the last visit was very good'];
const callerBad = ['this is the third time it broke and I am really frustrated', 'the last technician was late and rude', 'it is terrible we have had no water since yesterday', 'I am not happy with the price at all'];
const callerNeutral = ['okay let me write that down', 'I see and how long will it take', 'alright I will be home in the morning', 'can you repeat the time please'];

function transcript(i) {
  const city = cities[i % cities.length], svc = services[(i * 7) % services.length];
  const name = `${pick(firstNames)} ${pick(lastNames)}`;
  const mood = [callerGood, callerBad, callerNeutral][i % 3];
  const lines = [
    `agent: ${agentLines[0]}`,
    `caller: hi my name is ${name} and I am calling from ${city} I need ${svc} at my house`,
    `agent: ${agentLines[1]} which part of ${city} are you in`,
    `caller: near the main street by the school ${pick(mood)}`,
  ];
  const target = 100 + Math.floor(rnd() * 200);
  let words = lines.join(' ').split(/\s+/).length;
  while (words < target) {
    const a = `agent: ${pick(agentLines)}`, c = `caller: ${pick([...mood, ...callerNeutral])}`;
    lines.push(a, c);
    words += a.split(/\s+/).length + c.split(/\s+/).length - 2;
  }
  lines.push('agent: thank you for calling goodbye', 'caller: bye');
  return { text: lines.join('\n'), city, svc, words };
}

// ---- daemon --------------------------------------------------------------------------------
mkdirSync(DIR, { recursive: true });
const db = `${DIR}/stages.db`;
cli(BIN, db, ['tenant', 'add', 'stages', '--features', 'enrichment']);
const token = `tok-${Math.random().toString(36).slice(2)}`;
cli(BIN, db, ['source', 'add', 'stages', 'generic', '--token', token]);
const apiKey = cli(BIN, db, ['apikey', 'add', 'stages']).api_key;
// the webhook receiver: call.completed is created only for a tenant with a subscribed endpoint
let delivered = 0;
const rx = createServer((q, s) => { q.resume(); q.on('end', () => { delivered++; s.writeHead(204).end(); }); });
await new Promise((r) => rx.listen(0, '127.0.0.1', r));
cli(BIN, db, ['endpoint', 'add', 'stages', `http://127.0.0.1:${rx.address().port}/hook`, '--events', 'call.completed']);
const d = await startDaemon(BIN, db, { CALLHOOK_ENRICH_ALLOW_PRIVATE: '127.0.0.0/8', CALLHOOK_DELIVERY_ALLOW_PRIVATE: '127.0.0.0/8' });
const killer = setTimeout(async () => { say(`gave up after ${LIMIT_S} s`); await d.stop(); process.exit(1); }, LIMIT_S * 1000);
const api = (method, p, body) => req(`${d.url}${p}`, { method, body, headers: { Authorization: `Bearer ${apiKey}` } });
try {
  for (const [kind, list] of [['city', cities], ['service', services]]) {
    for (const name of list) {
      const syn = kind === 'city' ? [`downtown ${name}`, `${name} city`] : [`${name} work`, `${name} job`];
      const r = await api('POST', '/v1/dictionaries', { kind, name, synonyms: syn });
      if (r.status >= 300) throw new Error(`dictionary ${kind} ${name}: ${r.status} ${r.text}`);
    }
  }
  const docs = Array.from({ length: CALLS }, (_, i) => transcript(i));
  const words = docs.map((x) => x.words).sort((a, b) => a - b);
  say(`daemon pid ${d.proc.pid} on :${d.port}; ${DICT} dictionary entries; ${CALLS} calls, ${words[0]}-${words[words.length - 1]} words each; load ${loadavg()}`);
  const m0 = await metrics(d.url);
  const cpu0 = threadCpu(d.proc.pid);
  const load0 = loadavg();
  const t0 = performance.now();
  const ended = new Date(Date.now() - 5000).toISOString(), started = new Date(Date.now() - 185000).toISOString();
  let next = 0, bad = 0;
  const post = async () => {
    while (next < CALLS) {
      const i = next++;
      const r = await req(`${d.url}/hooks/stages/generic`, {
        method: 'POST', headers: { Authorization: `Bearer ${token}` },
        body: { event_id: `st-${i}-e`, call_id: `st-${i}`, status: 'ended', direction: 'inbound',
          from: `+1415555${String(1000 + (i % 9000)).padStart(4, '0')}`, to: '+14155550111',
          started_at: started, ended_at: ended, transcript: docs[i].text },
      });
      if (r.status >= 300) bad++;
    }
  };
  await Promise.all(Array.from({ length: CONC }, post));
  const tPosted = performance.now();
  if (bad) throw new Error(`${bad} posts failed`);
  let done = 0;
  const series = [];
  while (done < CALLS) {
    await sleep(100);
    done = Number(sqlite(db, "SELECT count(*) FROM messages WHERE type='call.completed';"));
    series.push([performance.now() - t0, done]);
  }
  const t1 = performance.now();
  const cpu1 = threadCpu(d.proc.pid);
  const m1 = await metrics(d.url);
  const load1 = loadavg();
  const secs = (t1 - t0) / 1000;
  // steady state: from 10 % to 90 % of the calls completed (ingest's burst and the tail left out)
  const at = (f) => series.find(([, n]) => n >= CALLS * f)[0];
  const span = (at(0.9) - at(0.1)) / 1000;
  const steady = span > 0.5 ? fmt((CALLS * 0.8) / span, 0) : 'n/a (too short)';
  const perStage = STAGES.map((s) => {
    const n = stageDone(m1, s) - stageDone(m0, s);
    const sec = stageSeconds(m1, s) - stageSeconds(m0, s);
    return { s, n, failed: stageFailed(m1, s) - stageFailed(m0, s), ms: (sec * 1000) / n };
  });
  const jobs = perStage.reduce((a, x) => a + x.n, 0);
  const cpu = cpuDelta(cpu0, cpu1);
  const cpuAll = Object.values(cpu).reduce((a, x) => a + x, 0);
  // check: every call completed, its three stages done, and the dictionary found its city
  const states = sqlite(db, `SELECT stage || ' ' || state, count(*) FROM jobs GROUP BY 1 ORDER BY 1;`).replace(/\|/g, ' ').split('\n');
  const got = new Map(sqlite(db, "SELECT external_id, ifnull(json_extract(enriched, '$.fields.city'), '') FROM calls;").split('\n')
    .map((l) => { const i = l.indexOf('|'); return [l.slice(0, i), l.slice(i + 1)]; }));
  let cityOk = 0, sampled = 0;
  for (let i = 0; i < CALLS; i++) {
    sampled++;
    if (got.get(`st-${i}`) === docs[i].city) cityOk++;
  }
  clearTimeout(killer);
  const out = [
    `## bench/pipeline/stages — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${CALLS} calls posted with a provider transcript (${words[0]}-${words[words.length - 1]} words, median ${words[words.length >> 1]}), ${DICT} dictionary entries, enrich.threads ${process.env.CALLHOOK_ENRICH_THREADS ?? 2}; load average ${load0} before, ${load1} after`,
    '',
    `| posted in | all call.completed after | calls/s | stage jobs/s | steady state (10-90 %) calls/s |`,
    `|---|---|---|---|---|`,
    `| ${fmt((tPosted - t0) / 1000, 1)} s | ${fmt(secs, 1)} s | ${fmt(CALLS / secs, 0)} | ${fmt(jobs / secs, 0)} | ${steady} |`,
    '',
    `| stage | runs done | failed | mean run time (/metrics) |`,
    `|---|---|---|---|`,
    ...perStage.map((x) => `| ${x.s} | ${x.n} | ${x.failed} | ${fmt(x.ms, 2)} ms |`),
    '',
    `daemon CPU: ${fmt(cpuAll, 1)} s in all, ${fmt((cpuAll * 1e6) / CALLS, 0)} µs per call; by thread: ${Object.entries(cpu).filter(([, v]) => v >= 0.05).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v, 1)} s`).join(', ')}`,
    '',
    `jobs by stage and state: ${states.join('; ')}; fields.city right in ${cityOk} of ${sampled} calls; call.completed webhooks received by the end: ${delivered}`,
  ].join('\n');
  process.stdout.write(`${out}\n`);
  if (perStage.some((x) => x.n !== CALLS || x.failed)) { say('FAIL: not every stage ran once per call'); process.exitCode = 1; }
} finally {
  await d.stop();
  rx.close();
}
