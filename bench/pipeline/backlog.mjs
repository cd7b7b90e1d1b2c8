// Ingest while a transcription backlog drains (bench/pipeline/backlog.sh runs this). One
// daemon, two tenants: "bench" (enrichment off, a generic source: bench/ingest's load) and
// "rec" (enrichment on). Rounds of A then B:
//   A  quiet: no stage job pending or running; wrk as bench/ingest's max-rate run
//      (same post.lua, threads, connections, duration) against /hooks/bench/generic;
//   B  the same, after BENCH_BACKLOG_CALLS ended calls of "rec" were posted, each with a
//      recording of the same espeak-ng WAV served by a loopback server, and pocketsphinx has
//      started on the first: the backlog drains while wrk runs (transcriptions done during
//      the run and the transcript stage still busy at its end are reported from /metrics);
//      then the backlog is left to drain before the next A.
// Prints a markdown table of every run and the B/A ratio of the means.
//   node bench/pipeline/backlog.mjs BIN DIR WAV
import { readFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import {
  say, sleep, cli, startDaemon, req, metrics, stageDone, stageSeconds, stageRunning,
  threadCpu, cpuDelta, loadavg, fmt,
} from './lib.mjs';

const [BIN, DIR, WAV] = process.argv.slice(2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BACKLOG = Number(process.env.BENCH_BACKLOG_CALLS ?? 4);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const DRAIN_S = Number(process.env.BENCH_DRAIN_TIMEOUT ?? 300);
const POST_LUA = new URL('../ingest/post.lua', import.meta.url).pathname;
// instead of wrk against this daemon: a command run in each A and B (bench/deliver/run.sh with
// its own daemon, sharing the machine with this one's backlog); its "throughput: … = N
// deliveries/s" and "latency: … p50 X ms, … p99 Y ms" lines are read
const LOAD_CMD = process.env.BENCH_LOAD_CMD ?? '';
// text: the backlog is BENCH_BACKLOG_CALLS calls with a provider transcript (no recording):
// the summary, fields and sentiment stages, which are not limited by enrich.cpu_threads
const KIND = process.env.BENCH_BACKLOG_KIND === 'text' ? 'text' : 'audio';
const TEXT = Array.from({ length: 30 }, (_, k) => [
  'agent: thank you for calling how can I help you today',
  `caller: hi my name is Dana Levi and I am calling from Boston about plumbing number ${k}`,
  'agent: I am sorry to hear that let me see what we can do',
  'caller: the kitchen sink is leaking and I am really frustrated it is the third time',
  'agent: we have a technician available tomorrow between nine and twelve',
  'caller: that is great thank you so much',
].join('\n')).map((t) => `${t}\n${t}`); // ~150 words

mkdirSync(DIR, { recursive: true });
const wav = readFileSync(WAV);
const audioS = Number(process.env.BENCH_AUDIO_SECONDS ?? (wav.length - 44) / 32000); // soxi -D
let fetched = 0;
const media = createServer((q, s) => {
  q.resume();
  fetched++;
  s.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wav.length }).end(wav);
});
await new Promise((r) => media.listen(0, '127.0.0.1', r));
const mediaUrl = `http://127.0.0.1:${media.address().port}`;

const db = `${DIR}/backlog.db`;
cli(BIN, db, ['tenant', 'add', 'bench', '--features', 'none']);
const token = Array.from({ length: 24 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
cli(BIN, db, ['source', 'add', 'bench', 'generic', '--token', token]);
cli(BIN, db, ['tenant', 'add', 'rec', '--features', 'enrichment']);
const recToken = `tok-${Math.random().toString(36).slice(2)}`;
cli(BIN, db, ['source', 'add', 'rec', 'generic', '--token', recToken]);
const d = await startDaemon(BIN, db, { CALLHOOK_ENRICH_ALLOW_PRIVATE: '127.0.0.0/8' });
const killer = setTimeout(async () => { say('gave up (BENCH_DRAIN_TIMEOUT or a run hung)'); await d.stop(); process.exit(1); },
  (ROUNDS * (2 * (DURATION + 5) + DRAIN_S) + 4 * DRAIN_S) * 1000);

let callN = 0;
async function postRecCalls(n) {
  const ended = new Date(Date.now() - 2000).toISOString(), started = new Date(Date.now() - 62000).toISOString();
  let left = n;
  const one = async () => {
    while (left > 0) {
      left--;
      const i = callN++;
      const body = { event_id: `rec-${i}-e`, call_id: `rec-${i}`, status: 'ended', direction: 'inbound',
        from: '+14155550100', to: '+14155550111', started_at: started, ended_at: ended };
      if (KIND === 'audio') body.recording_url = `${mediaUrl}/r/${i}.wav`;
      else body.transcript = TEXT[i % TEXT.length];
      const r = await req(`${d.url}/hooks/rec/generic`, { method: 'POST', headers: { Authorization: `Bearer ${recToken}` }, body });
      if (r.status >= 300) throw new Error(`post rec-${i}: ${r.status} ${r.text}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, one)); // quickly: the backlog is there when the run starts
}
// waits until the pipeline has nothing pending or running (all tenants)
async function drained() {
  const end = Date.now() + DRAIN_S * 1000;
  for (;;) {
    const m = await metrics(d.url);
    const running = ['recording', 'transcript', 'summary', 'fields', 'sentiment'].reduce((a, s) => a + stageRunning(m, s), 0);
    if (!running && !m.callhook_enrich_pending && !m.callhook_enrich_queued) return m;
    if (Date.now() > end) throw new Error('the backlog did not drain in time');
    await sleep(250);
  }
}
function wrk(secs, prefix) {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', [`-t${THREADS}`, `-c${CONNS}`, `-d${secs}s`, '--timeout', '5s', '--latency', '-s', POST_LUA,
      `${d.url}/hooks/bench/generic`, '--', token, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (x) => { out += x; });
    p.stderr.on('data', (x) => { out += x; });
    const t = setTimeout(() => p.kill('SIGKILL'), (secs + 30) * 1000);
    p.on('exit', () => {
      clearTimeout(t);
      const line = out.split('\n').find((l) => l.startsWith('BENCH '));
      if (!line) return reject(new Error(`wrk printed no summary:\n${out}`));
      resolve(Object.fromEntries(line.slice(6).split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])));
    });
  });
}

function loadCmd() {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', LOAD_CMD], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (x) => { out += x; });
    p.stderr.on('data', (x) => { out += x; });
    p.on('exit', (code) => {
      const tp = out.match(/throughput: .* = ([0-9.]+) deliveries\/s/);
      const lat = out.match(/latency: \d+ webhooks, p50 ([0-9.]+) ms, .* p99 ([0-9.]+) ms/);
      if (code || !tp) return reject(new Error(`BENCH_LOAD_CMD failed (${code}):\n${out.slice(-3000)}`));
      resolve({ rps: Number(tp[1]), p50_us: lat ? Number(lat[1]) * 1000 : NaN, p99_us: lat ? Number(lat[2]) * 1000 : NaN,
        status_errors: 0, connect_errors: 0, read_errors: 0, write_errors: 0, timeouts: 0 });
    });
  });
}

const rows = [];
// BENCH_RENICE=N: the enrichment workers' threads at nice N (an experiment: what running the
// stages at a lower CPU priority than ingest and delivery would buy)
const RENICE = process.env.BENCH_RENICE ?? '';
if (RENICE) {
  const { readdirSync, readFileSync: rf } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const tids = readdirSync(`/proc/${d.proc.pid}/task`).filter((t) => rf(`/proc/${d.proc.pid}/task/${t}/comm`, 'utf8').trim() === 'ch-enrich-run');
  execFileSync('renice', ['-n', RENICE, '-p', ...tids], { stdio: 'ignore' });
  say(`reniced ${tids.length} ch-enrich-run threads to ${RENICE}`);
}
try {
  // the model loaded once (each worker keeps its engine), and one call's real time known
  say(`daemon pid ${d.proc.pid} on :${d.port}; recording ${fmt(audioS, 1)} s; warming up pocketsphinx`);
  const w0 = await metrics(d.url);
  await postRecCalls(1);
  await sleep(500);
  const w1 = await drained();
  const perCall = stageSeconds(w1, 'transcript') - stageSeconds(w0, 'transcript');
  if (KIND === 'audio') say(`one call transcribed in ${fmt(perCall, 1)} s (${fmt(audioS / perCall, 1)}x real time)`);
  if (!LOAD_CMD) await wrk(WARMUP, 'warm');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const phase of ['A', 'B']) {
      if (phase === 'B') {
        await postRecCalls(BACKLOG);
        const end = Date.now() + 60_000;
        while (!stageRunning(await metrics(d.url), KIND === 'audio' ? 'transcript' : 'summary') && KIND === 'audio') {
          if (Date.now() > end) throw new Error('pocketsphinx did not start on the backlog');
          await sleep(100);
        }
      }
      const m0 = await metrics(d.url);
      const c0 = threadCpu(d.proc.pid);
      const l0 = loadavg();
      const t0 = performance.now();
      const r = LOAD_CMD ? await loadCmd() : await wrk(DURATION, `${phase}${round}`);
      const secs = (performance.now() - t0) / 1000;
      const c1 = threadCpu(d.proc.pid);
      const m1 = await metrics(d.url);
      const cpu = cpuDelta(c0, c1);
      const row = {
        phase, round, rps: r.rps, p50: r.p50_us / 1000, p99: r.p99_us / 1000, errors: r.status_errors + r.connect_errors + r.read_errors + r.write_errors + r.timeouts,
        load: `${l0} → ${loadavg()}`,
        transcribed: stageDone(m1, 'transcript') - stageDone(m0, 'transcript'),
        textJobs: ['summary', 'fields', 'sentiment'].reduce((a, st) => a + stageDone(m1, st) - stageDone(m0, st), 0),
        stageCpu: (cpu['ch-enrich-run'] ?? 0) + (cpu['ch-enrich'] ?? 0),
        asrCpu: cpu['ch-enrich-run'] ?? 0, secs,
        busyAtEnd: ['transcript', 'summary', 'fields', 'sentiment'].reduce((a, st) => a + stageRunning(m1, st), 0),
        pendingAtEnd: m1.callhook_enrich_pending,
        ingestCpu: (cpu['MHD-worker'] ?? 0) + (cpu['ch-writer'] ?? 0),
      };
      rows.push(row);
      say(`${phase}${round}: ${fmt(row.rps)} req/s, p99 ${fmt(row.p99, 1)} ms; done in the run: ${row.transcribed} transcriptions, ${row.textJobs} text stage jobs; enrichment threads CPU ${fmt(row.stageCpu, 1)} s; stages running at the end ${row.busyAtEnd}, jobs pending ${row.pendingAtEnd}; load ${row.load}`);
      if (phase === 'B') await drained();
    }
  }
  clearTimeout(killer);
  const mean = (ph) => rows.filter((x) => x.phase === ph).reduce((a, x) => a + x.rps, 0) / ROUNDS;
  const ratio = mean('B') / mean('A');
  const out = [
    `## bench/pipeline/backlog — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${LOAD_CMD ? `\`${LOAD_CMD}\` (its own daemon), the backlog in another daemon on the same machine` : `wrk -t${THREADS} -c${CONNS} ${DURATION}s with bench/ingest/post.lua against one daemon`}; B: ${KIND === 'audio' ? `${BACKLOG} calls of ${fmt(audioS, 1)} s queued for pocketsphinx before the run (one call alone: ${fmt(perCall, 1)} s of transcription, ${fmt(audioS / perCall, 1)}x real time)` : `${BACKLOG} calls with a provider transcript (~150 words) posted before the run (summary, fields, sentiment: ${3 * BACKLOG} jobs)`}; enrich.threads ${process.env.CALLHOOK_ENRICH_THREADS ?? 2}, cpu_threads ${process.env.CALLHOOK_ENRICH_CPU_THREADS ?? 1}${RENICE ? `; the workers' threads at nice ${RENICE}` : ''}`,
    '',
    `| run | ${LOAD_CMD ? 'deliveries/s | latency p50 | latency p99' : 'ingest req/s | p50 | p99'} | errors | done during the run: transcriptions · text stage jobs | CPU of the enrichment threads | stages running at the end | load average (1, 5, 15 min) before → after |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((x) => `| ${x.phase}${x.round} ${x.phase === 'A' ? 'quiet' : 'backlog draining'} | ${fmt(x.rps)} | ${fmt(x.p50, 2)} ms | ${fmt(x.p99, 2)} ms | ${x.errors} | ${x.transcribed} · ${x.textJobs} | ${fmt(x.stageCpu, 1)} s in ${fmt(x.secs, 0)} s | ${x.busyAtEnd} (${x.pendingAtEnd} jobs pending) | ${x.load} |`),
    '',
    `mean ${LOAD_CMD ? 'deliveries/s' : 'ingest'} while draining / quiet = ${fmt(mean('B'))} / ${fmt(mean('A'))} = **${fmt(ratio, 2)}**; recordings fetched: ${fetched}`,
  ].join('\n');
  process.stdout.write(`${out}\n`);
} finally {
  await d.stop();
  media.close();
}
