// bench/query's client: asks a running callhook GET /v1/calls with each filter N times, one
// request at a time on one keep-alive connection, and prints one JSON line per filter:
// {"name","query","n","p50_ms","p99_ms","max_ms","calls"} (calls: how many the first page had).
//
//   node bench/query/query.mjs PORT API_KEY N 'name|query string' ...
import http from 'node:http';

const [port, key, n, ...filters] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(path) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port: Number(port), path, agent,
      headers: { authorization: `Bearer ${key}` }, timeout: 60000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'), ms });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const pct = (v, p) => v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];

for (const f of filters) {
  const i = f.indexOf('|');
  const name = f.slice(0, i), query = f.slice(i + 1);
  const path = `/v1/calls?${query}`;
  const first = await get(path); // warm-up, and the page's size
  if (first.status !== 200) {
    console.error(`query: ${name}: ${first.status} ${first.body.slice(0, 200)}`);
    process.exit(1);
  }
  const calls = JSON.parse(first.body).data.length;
  const times = [];
  for (let k = 0; k < Number(n); k++) times.push((await get(path)).ms);
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ name, query, n: times.length, p50_ms: +pct(times, 50).toFixed(2),
    p99_ms: +pct(times, 99).toFixed(2), max_ms: +times[times.length - 1].toFixed(2), calls }));
}
agent.destroy();
