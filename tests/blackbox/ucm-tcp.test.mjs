// Grandstream UCM CDR output over plain TCP (--ucm-tcp-listen): JSON on newer firmware, a CSV
// line with ' quotes on older; no authentication, so the tenant is the one whose ucm source
// allow-lists the UCM's address; "OK" only once the CDRs are durable. An over-long record is
// answered and the rest read and dropped before an orderly close (issue 9, item 5); a record
// that trickles in is cut off at ucm_tcp_record_timeout (a slowloris).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import net from 'node:net';
import { cli, tmpDir, cleanup, startServer, fixture, apiGet, listAllCalls } from './lib.mjs';

const T = { timeout: 120_000 };
let dir, db, S, tcpPort, apiKey;

before(async () => {
  dir = tmpDir('callhook-ucmtcp-');
  db = path.join(dir, 'u.db');
  cli(db, ['tenant', 'add', 'tcpco', '--timezone', 'Asia/Jerusalem', '--country', '972']);
  apiKey = cli(db, ['apikey', 'add', 'tcpco']).api_key;
  S = await startServer({ db, args: ['--ucm-tcp-listen', '127.0.0.1:0'], env: { CALLHOOK_UCM_TCP_RECORD_TIMEOUT: '2' } });
  const m = S.logs().match(/"event":"ucm_tcp_listening"[^\n]*"port":(\d+)/);
  assert.ok(m, 'the TCP listener logs its port');
  tcpPort = Number(m[1]);
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

// Connects, writes data, half-closes, and resolves with everything the server sent back.
function send(data, { end = true } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(tcpPort, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('timeout')); }, 20_000);
    sock.on('data', (d) => { got += d; });
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(timer); resolve(got); });
    sock.write(data, () => { if (end) sock.end(); });
  });
}
async function calls() {
  return (await listAllCalls(S, apiKey)).calls;
}

test('an address no ucm source allows gets no OK and nothing is stored', T, async () => {
  const got = await send(fixture('ucm/answered-inbound-leg.json'));
  assert.equal(got, '');
  assert.equal((await calls()).length, 0);
});

test('once the source allow-lists the UCM: JSON CDRs, then a CSV line, each answered OK', T, async () => {
  cli(db, ['source', 'add', 'tcpco', 'ucm', '--allow-ip', '127.0.0.1/32']);
  let got = await send(fixture('ucm/answered-inbound-leg.json') + '\n' + fixture('ucm/busy-outbound-international.json'));
  assert.equal(got, 'OK\r\n');
  let all = await calls();
  assert.equal(all.length, 2);
  const a = all.find((c) => c.external_id === '1715681700123456-0912345678');
  assert.equal(a.disposition, 'answered');
  assert.equal(a.started_at, '2024-05-14T07:15:00Z');
  const csv = "2001,,0501234567,1001,ext-did-1,'\"Dana, Levi\" <0501234567>',PJSIP/trunk_1-0000003a,PJSIP/1001-0000003b,Dial,'PJSIP/1001,30,',2024-05-14 12:00:00,2024-05-14 12:00:04,2024-05-14 12:01:00,60,56,ANSWERED,DOCUMENTATION,1715688000.70,Inbound,trunk_1,1001,s,Dana Levi,,1001,,1001,1715688000111000-0501234567,1001,DIAL,SIP-Provider,\n";
  got = await send(csv);
  assert.equal(got, 'OK\r\n');
  all = await calls();
  const c = all.find((x) => x.external_id === '1715688000111000-0501234567');
  assert.ok(c, 'the CSV CDR is a call');
  assert.equal(c.from, '+972501234567');
  assert.equal(c.caller_name, 'Dana Levi');
  assert.equal(c.extension, '1001');
  assert.equal(c.billsec, 56);
  // the UCM replays its buffer after an outage: the same CDRs again change nothing
  got = await send(fixture('ucm/answered-inbound-leg.json'));
  assert.equal(got, 'OK\r\n');
  assert.equal((await calls()).length, 3);
});

test('a record the adapter refuses as a whole is acknowledged: resending it cannot help', T, async () => {
  const before = (await calls()).length;
  assert.equal(await send('{"hello":"world"}'), 'OK\r\n');
  assert.equal(await send('{"hello":'), 'OK\r\n', 'an incomplete record at the end of the connection');
  assert.equal((await calls()).length, before);
});

// Writes data completely and then reads, without half-closing (as a sender that waits for the
// answer does); resolves with what came back and how the connection ended.
function writeThenRead(data) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(tcpPort, '127.0.0.1');
    let got = '', error = null, ended = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('timeout')); }, 30_000);
    sock.on('data', (d) => { got += d; });
    sock.on('end', () => { ended = true; });
    sock.on('error', (e) => { error = e.code || String(e); });
    sock.on('close', () => { clearTimeout(timer); resolve({ got, error, ended }); });
    sock.write(data);
  });
}

test('an over-long record: the answer arrives and the connection ends with a FIN, not a reset', T, async () => {
  const before = (await calls()).length;
  const huge = JSON.stringify({ AcctId: '9', session: 'huge', src: '1001', dst: '0501234567', pad: 'x'.repeat(400 * 1024) });
  const r = await writeThenRead(huge);
  assert.equal(r.error, null, `no ${r.error}`);
  assert.equal(r.got, 'OK\r\n', 'answered: the record can never be stored, resending it cannot help');
  assert.ok(r.ended, 'an orderly close');
  assert.match(S.logs(), /"event":"ucm_tcp_record_too_long"/);
  assert.equal((await calls()).length, before, 'nothing stored from it');
  // the listener still works
  assert.equal(await send(fixture('ucm/busy-outbound-international.json')), 'OK\r\n');
});

test('a record that trickles in a byte at a time is cut off at ucm_tcp_record_timeout', T, async () => {
  const sock = net.connect(tcpPort, '127.0.0.1');
  let closed = false;
  sock.on('error', () => {});
  sock.on('close', () => { closed = true; });
  await new Promise((r) => sock.on('connect', r));
  sock.write('{"AcctId":"77",');
  // a byte every 300 ms: never 10 s idle, so only a total deadline ends it (2 s here)
  for (let i = 0; i < 40 && !closed; i++) {
    await new Promise((r) => setTimeout(r, 300));
    if (!closed) sock.write(' ');
  }
  const wasClosed = closed;
  sock.destroy();
  assert.ok(wasClosed, 'the server closed the connection before the sender stopped trickling');
  assert.match(S.logs(), /"event":"ucm_tcp_record_timeout"/);
});

test('the server exits 0 on SIGTERM', T, async () => {
  assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-3000));
});
