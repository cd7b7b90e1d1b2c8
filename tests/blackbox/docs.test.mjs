// The documentation against the real binary: every example of docs/generic-event.md is posted to
// a fresh server and must get the answer the guide shows; docs/schema/*.json must be well-formed
// JSON whose member lists match what the server really sends. (docs/openapi.yaml is not checked
// here: there is no YAML parser among node's built-ins.)
//
// Markers in docs/generic-event.md, on the line right before a ```json fence:
//   <!-- request -->          POST it to /hooks/acme/generic; the answer must be 200
//   <!-- partial-request -->  a batch with an invalid record: POST it; the answer must be 200
//   <!-- invalid-request -->  POST it; the answer must be a 4xx
//   <!-- response -->         the exact answer to the request above ("…" in a string matches any text)
//   <!-- call -->             GET /v1/calls/{id} of the request above's call, without `events`
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, setupTenant, http, tmpDir, cleanup } from './lib.mjs';
import { webhookEventProblems } from './lib-receiver.mjs';

const T = { timeout: 60_000 };
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const SCHEMA_DIR = path.join(DOCS, 'schema');
const GUIDE = 'generic-event.md';

// ```json blocks of a markdown file: {marker, text, line}. marker is the name in a
// `<!-- name -->` line right before the fence, or null.
function jsonBlocks(md) {
  const lines = md.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```json') continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
    assert.ok(i < lines.length, `${GUIDE}:${start + 1}: unterminated json block`);
    const m = start > 0 ? lines[start - 1].trim().match(/^<!--\s*([a-z-]+)\s*-->$/) : null;
    out.push({ marker: m ? m[1] : null, text: body.join('\n'), line: start + 1 });
  }
  return out;
}

function parseBlock(b) {
  try {
    return JSON.parse(b.text);
  } catch (e) {
    throw new Error(`${GUIDE}:${b.line}: not JSON: ${e.message}`);
  }
}

// actual must equal documented, except that a documented string holding "…" matches any string
// with the same text around the "…". Objects must have the same keys.
function assertMatches(actual, doc, where) {
  if (typeof doc === 'string' && doc.includes('…')) {
    assert.equal(typeof actual, 'string', `${where}: expected a string like ${JSON.stringify(doc)}, got ${JSON.stringify(actual)}`);
    const re = new RegExp(`^${doc.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);
    assert.match(actual, re, `${where}: ${JSON.stringify(actual)} does not match ${JSON.stringify(doc)}`);
  } else if (Array.isArray(doc)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, doc.length, `${where}: length`);
    doc.forEach((d, i) => assertMatches(actual[i], d, `${where}[${i}]`));
  } else if (doc !== null && typeof doc === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${where}: expected an object, got ${JSON.stringify(actual)}`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(doc).sort(), `${where}: keys`);
    for (const k of Object.keys(doc)) assertMatches(actual[k], doc[k], `${where}.${k}`);
  } else {
    assert.deepEqual(actual, doc, where);
  }
}

const schema = (name) => JSON.parse(readFileSync(path.join(SCHEMA_DIR, name), 'utf8'));

let dir, S, acme;

before(async () => {
  dir = tmpDir('callhook-docs-');
  const db = path.join(dir, 'callhook.db');
  acme = setupTenant(db, 'acme', { tenantArgs: ['--country', '972', '--timezone', 'Asia/Jerusalem'] });
  S = await startServer({ db });
});

after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

test('docs/schema/*.json parse as JSON Schema 2020-12 documents whose references resolve', T, () => {
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json')).sort();
  for (const f of ['call.schema.json', 'generic-event.schema.json', 'generic-request.schema.json'])
    assert.ok(files.includes(f), `docs/schema/${f} missing`);
  for (const f of files) {
    const text = readFileSync(path.join(SCHEMA_DIR, f), 'utf8');
    let s;
    assert.doesNotThrow(() => { s = JSON.parse(text); }, `docs/schema/${f} is not JSON`);
    assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema', `${f}: $schema`);
    assert.equal(s.$id, f, `${f}: $id`);
    const refs = [];
    (function walk(o) {
      if (Array.isArray(o)) o.forEach(walk);
      else if (o && typeof o === 'object')
        for (const [k, v] of Object.entries(o)) (k === '$ref' ? refs.push(v) : walk(v));
    })(s);
    for (const ref of refs) {
      const [file, frag = ''] = ref.split('#');
      let target = file ? (assert.ok(existsSync(path.join(SCHEMA_DIR, file)), `${f}: $ref ${ref}: no such file`), schema(file)) : s;
      for (const part of frag.split('/').filter(Boolean)) {
        target = target?.[part];
        assert.ok(target !== undefined, `${f}: $ref ${ref} does not resolve`);
      }
    }
  }
});

test(`every json block of docs/${GUIDE} parses, and the examples are marked`, T, () => {
  const blocks = jsonBlocks(readFileSync(path.join(DOCS, GUIDE), 'utf8'));
  for (const b of blocks) parseBlock(b);
  const count = (m) => blocks.filter((b) => b.marker === m).length;
  assert.ok(count('request') >= 4, 'request examples');
  assert.ok(count('response') >= 4, 'response examples');
  assert.ok(count('call') >= 3, 'call examples');
  for (const b of blocks)
    if (b.marker) assert.ok(['request', 'partial-request', 'invalid-request', 'response', 'call'].includes(b.marker), `${GUIDE}:${b.line}: unknown marker ${b.marker}`);
});

test(`the examples of docs/${GUIDE} get the documented answers from a real server`, T, async () => {
  const event = schema('generic-event.schema.json');
  const known = new Set(Object.keys(event.properties));
  const callSchema = schema('call.schema.json');
  const defs = callSchema.$defs;
  const blocks = jsonBlocks(readFileSync(path.join(DOCS, GUIDE), 'utf8'));
  let last = null; // {block, answer}
  let posted = 0;
  for (const b of blocks) {
    const where = `${GUIDE}:${b.line}`;
    if (['request', 'partial-request', 'invalid-request'].includes(b.marker)) {
      const body = parseBlock(b);
      // The server ignores unknown members, so a misspelt field would pass unnoticed: the
      // examples may only use the schema's members.
      for (const rec of Array.isArray(body) ? body : [body])
        for (const k of Object.keys(rec)) assert.ok(known.has(k), `${where}: member ${k} is not in generic-event.schema.json`);
      const answer = await http(`${S.url}/hooks/acme/generic`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${acme.token}`, 'Content-Type': 'application/json' },
        body: b.text,
      });
      if (b.marker !== 'invalid-request') assert.equal(answer.status, 200, `${where}: ${answer.status} ${answer.text}`);
      else assert.ok(answer.status >= 400 && answer.status < 500, `${where}: expected a 4xx, got ${answer.status} ${answer.text}`);
      assert.ok(answer.json, `${where}: answer is not JSON: ${answer.text}`);
      last = { block: b, answer };
      posted++;
    } else if (b.marker === 'response') {
      assert.ok(last, `${where}: a response block with no request before it`);
      assertMatches(last.answer.json, parseBlock(b), `${where} (answer to line ${last.block.line})`);
    } else if (b.marker === 'call') {
      assert.ok(last && last.answer.status === 200, `${where}: a call block with no accepted request before it`);
      const a = last.answer.json;
      const id = a.call_id ?? a.results?.find((r) => r.call_id)?.call_id;
      assert.ok(id, `${where}: the answer to line ${last.block.line} names no call`);
      const r = await http(`${S.url}/v1/calls/${id}`, { headers: { Authorization: `Bearer ${acme.apiKey}` } });
      assert.equal(r.status, 200, `${where}: GET /v1/calls/${id}: ${r.status} ${r.text}`);
      const call = r.json;
      // The schema lists exactly the members the server sends (call, legs, events).
      const sorted = (a) => [...a].sort();
      const callRequired = [...defs.call.required, ...callSchema.allOf.flatMap((s) => s.required ?? [])];
      assert.deepEqual(sorted(Object.keys(call)), sorted(new Set(callRequired)), `${where}: call members vs call.schema.json`);
      for (const l of call.legs) assert.deepEqual(sorted(Object.keys(l)), sorted(defs.leg.required), `${where}: leg members vs call.schema.json`);
      assert.ok(call.events.length >= 1, `${where}: no events`);
      for (const e of call.events) assert.deepEqual(sorted(Object.keys(e)), sorted(defs.event.required), `${where}: event members vs call.schema.json`);
      assert.equal(call.event_count, call.events.length, `${where}: event_count`);
      delete call.events;
      assertMatches(call, parseBlock(b), `${where} (call of line ${last.block.line})`);
    }
  }
  assert.ok(posted >= 4, 'examples posted');
});

test('the server stops cleanly', T, async () => {
  const r = await S.stop();
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}\n${S.logs().slice(-4000)}`);
});

test('docs/examples/webhooks: one real payload per event type, each valid against webhook-event.schema.json', T, () => {
  const dir = path.join(DOCS, 'examples', 'webhooks');
  const types = schema('webhook-event.schema.json').properties.type.enum;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(files, types.map((t) => `${t}.json`).sort(), 'an example for every type, and no other');
  for (const f of files) {
    const msg = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
    assert.equal(`${msg.type}.json`, f);
    const problems = webhookEventProblems(msg);
    assert.equal(problems, null, `${f}: ${problems}`);
  }
});
