// An OpenAI-compatible API double on a loopback port: POST /v1/audio/transcriptions (real
// multipart parsing: the file part with its filename and type, the fields; answers json,
// verbose_json or text as response_format asks) and POST /v1/chat/completions (a configured
// content, configured JSON when response_format is json_schema — which may violate the schema,
// to prove callhook validates — or a deterministic summary of the user message). Requires
// `Authorization: Bearer <key>` when a key is set. Scriptable per test: transcript text or
// segments, an error status with OpenAI's error body, 429 with Retry-After, a delay.
//
// Import: const o = await startOpenAI({ key: 'sk-test' }); o.url (…/v1), o.received, o.setBehaviour({...})
// Run:    node tests/blackbox/lib-openai.mjs ['{"key":"…"}'] → prints "PORT <n>";
//         POST /__control/behaviour (JSON), GET /__control/received.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';

// The parts of a multipart/form-data body: [{ name, filename, contentType, data: Buffer }].
export function parseMultipart(body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '');
  if (!m) throw new Error('no boundary');
  const delim = Buffer.from('--' + (m[1] ?? m[2]).trim());
  const parts = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw new Error('no first boundary');
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // the closing delimiter
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error('bad boundary line');
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw new Error('part without headers end');
    const headers = {};
    for (const line of body.subarray(pos, headEnd).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4);
    if (next < 0) throw new Error('part without end');
    const cd = headers['content-disposition'] ?? '';
    parts.push({
      name: /\bname="([^"]*)"/.exec(cd)?.[1] ?? null,
      filename: /\bfilename="([^"]*)"/.exec(cd)?.[1] ?? null,
      contentType: headers['content-type'] ?? null,
      data: body.subarray(headEnd + 4, next),
    });
    pos = next + 2;
  }
  return parts;
}

const DEFAULT_SEGMENTS = [
  { start: 0.0, end: 1.5, text: ' Hello, I would like to book a plumber.' },
  { start: 1.5, end: 3.2, text: ' In Boston tomorrow morning, please.' },
];

// behaviour: { key (required bearer key, null: none), transcript: { text, segments, language,
//   duration }, status + error (an OpenAI error answer: error is the body, object or string),
//   retryAfter (header with the status), delayMs, chat: { content } | { json } (returned as
//   the content; json only for response_format json_schema) }. Replaced, not merged.
export async function startOpenAI(initial = {}, { host = '127.0.0.1' } = {}) {
  let b;
  const received = [];
  const setBehaviour = (nb = {}) => {
    b = { key: null, transcript: null, status: 0, error: null, retryAfter: null, delayMs: 0, chat: null, ...nb };
  };
  setBehaviour(initial);
  const send = (res, status, body, headers = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    res.writeHead(status, { 'Content-Type': type, ...headers });
    res.end(text);
  };
  const oaiError = (message, type = 'invalid_request_error', param = null) => ({ error: { message, type, param, code: null } });

  const transcription = (req, body, rec) => {
    let parts;
    try {
      parts = parseMultipart(body, req.headers['content-type']);
    } catch (e) {
      return [400, oaiError(`Could not parse multipart form: ${e.message}`)];
    }
    const fields = {};
    let file = null;
    for (const p of parts) {
      if (p.name === 'file') file = p;
      else if (p.name) fields[p.name] = p.data.toString('utf8');
    }
    rec.fields = fields;
    rec.file = file && { filename: file.filename, contentType: file.contentType, size: file.data.length, sha256: createHash('sha256').update(file.data).digest('hex') };
    if (!file || !file.filename) return [400, oaiError("Missing required parameter: 'file'.", 'invalid_request_error', 'file')];
    if (!fields.model) return [400, oaiError('you must provide a model parameter', 'invalid_request_error', 'model')];
    const t = b.transcript ?? {};
    const segments = (t.segments ?? DEFAULT_SEGMENTS).map((s, id) => ({ id, seek: 0, start: s.start, end: s.end, text: s.text, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1.2, no_speech_prob: 0.01 }));
    const text = t.text ?? segments.map((s) => s.text).join('').trim();
    switch (fields.response_format ?? 'json') {
      case 'json':
        return [200, { text }];
      case 'text':
        return [200, text + '\n'];
      case 'verbose_json':
        return [200, { task: 'transcribe', language: t.language ?? fields.language ?? 'english', duration: t.duration ?? (segments.at(-1)?.end ?? 0), text, segments }];
      default:
        return [400, oaiError(`response_format ${fields.response_format} is not supported by this double`, 'invalid_request_error', 'response_format')];
    }
  };

  const chat = (req, body, rec) => {
    let r;
    try {
      r = JSON.parse(body.toString('utf8'));
    } catch {
      return [400, oaiError('We could not parse the JSON body of your request.')];
    }
    rec.json = r;
    if (!r.model) return [400, oaiError('you must provide a model parameter', 'invalid_request_error', 'model')];
    if (!Array.isArray(r.messages) || r.messages.length === 0) return [400, oaiError("Missing required parameter: 'messages'.", 'invalid_request_error', 'messages')];
    const schema = r.response_format?.type === 'json_schema';
    let content;
    if (schema && b.chat && 'json' in b.chat) content = typeof b.chat.json === 'string' ? b.chat.json : JSON.stringify(b.chat.json);
    else if (b.chat && 'content' in b.chat) content = b.chat.content;
    else {
      const user = [...r.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      content = schema ? '{}' : `Summary: ${String(user).slice(0, 100)}`;
    }
    return [200, {
      id: 'chatcmpl-double', object: 'chat.completion', created: 1700000000, model: r.model,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
    }];
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (control(req, res, body, setBehaviour, received)) return;
      const rec = { method: req.method, path: req.url, headers: { ...req.headers }, authorized: false };
      received.push(rec);
      const answer = () => {
        if (b.key && req.headers.authorization !== `Bearer ${b.key}`) {
          const msg = req.headers.authorization ? 'Incorrect API key provided.' : "You didn't provide an API key.";
          return send(res, 401, oaiError(msg, 'invalid_request_error'));
        }
        rec.authorized = !!b.key;
        if (b.status) {
          const headers = b.retryAfter != null ? { 'Retry-After': String(b.retryAfter) } : {};
          return send(res, b.status, b.error ?? oaiError(`The server had an error (status ${b.status}).`, 'server_error'), headers);
        }
        let out;
        if (req.method === 'POST' && req.url === '/v1/audio/transcriptions') out = transcription(req, body, rec);
        else if (req.method === 'POST' && req.url === '/v1/chat/completions') out = chat(req, body, rec);
        else out = [404, oaiError(`Invalid URL (${req.method} ${req.url})`)];
        send(res, out[0], out[1]);
      };
      if (b.delayMs > 0) setTimeout(answer, b.delayMs);
      else answer();
    });
  });
  const api = await listen(server, host, { received, setBehaviour });
  api.url = `${api.url}/v1`;
  return api;
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
      resolve({
        port,
        url: `http://${host}:${port}`,
        close: () => new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
        ...extra,
      });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = await startOpenAI(process.argv[2] ? JSON.parse(process.argv[2]) : {});
  process.stdout.write(`PORT ${o.port}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  setTimeout(() => process.exit(0), 300000).unref();
}
