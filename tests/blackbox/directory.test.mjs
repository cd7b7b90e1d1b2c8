// The directory: employees (by extension) and leads (by E.164 number), managed by CLI and API;
// each call linked to the employee who handled it and the lead who is the external party;
// unknown numbers become leads unless the tenant turned it off; nothing crosses tenants.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cli, tmpDir, cleanup, startServer, postHook, apiGet, http } from './lib.mjs';

const T = { timeout: 120_000 };
let dir, db, S;
const ten = {};

before(async () => {
  dir = tmpDir('callhook-dir-');
  db = path.join(dir, 'd.db');
  for (const [slug, extra] of [['shop', []], ['quiet', ['--features', 'enrichment,no-auto-leads']]]) {
    cli(db, ['tenant', 'add', slug, '--timezone', 'Asia/Jerusalem', '--country', '972', ...extra]);
    const token = `tok-${slug}-dir-123`;
    cli(db, ['source', 'add', slug, 'generic', '--token', token]);
    ten[slug] = { token, apiKey: cli(db, ['apikey', 'add', slug]).api_key };
  }
  cli(db, ['employee', 'add', 'shop', '1001', '--name', 'Noa Cohen', '--email', 'noa@shop.example']);
  cli(db, ['lead', 'add', 'shop', '050-123-4567', '--name', 'Dana Levi']);
  S = await startServer({ db });
});
after(async () => {
  if (S) await S.stop();
  cleanup(dir);
});

const post = (slug, ev) => postHook(S, slug, ev, { headers: { Authorization: `Bearer ${ten[slug].token}` } });
const api = (slug, p) => apiGet(S, p, ten[slug].apiKey);
async function call(slug, ev) {
  const r = await post(slug, ev);
  assert.equal(r.status, 200, r.text);
  const c = await api(slug, `/v1/calls/${r.json.call_id}`);
  assert.equal(c.status, 200);
  return c.json;
}

test('an inbound call is linked to the known lead and the employee of its extension', T, async () => {
  const c = await call('shop', { call_id: 'in-1', direction: 'inbound', from: '050-123-4567', to: '03-555-0000', extension: '1001', status: 'ended' });
  assert.deepEqual(c.employee, { id: 1, extension: '1001', name: 'Noa Cohen', email: 'noa@shop.example' });
  assert.equal(c.lead.phone, '+972501234567');
  assert.equal(c.lead.name, 'Dana Levi');
  const leads = (await api('shop', '/v1/leads')).json.leads;
  assert.equal(leads.length, 1, 'a known number creates no second lead');
});

test('an unknown external number becomes a lead; outbound links the callee; internal links none', T, async () => {
  let c = await call('shop', { call_id: 'in-2', direction: 'inbound', from: '+44 20 7946 0958', caller_name: 'Oliver', to: '1001', extension: '1002' });
  assert.equal(c.lead.phone, '+442079460958');
  assert.equal(c.lead.name, 'Oliver');
  assert.equal(c.employee, null, 'no employee 1002 yet');
  c = await call('shop', { call_id: 'out-1', direction: 'outbound', from: '1001', to: '052-999-8888', extension: '1001' });
  assert.equal(c.lead.phone, '+972529998888');
  c = await call('shop', { call_id: 'int-1', direction: 'internal', from: '1001', to: '1002', extension: '1002' });
  assert.equal(c.lead, null);
  const leads = (await api('shop', '/v1/leads')).json.leads;
  assert.deepEqual(leads.map((l) => [l.phone, l.source]), [['+972501234567', 'manual'], ['+442079460958', 'call'], ['+972529998888', 'call']]);
  assert.equal(leads[1].phone_raw, '+44 20 7946 0958', 'the raw form is kept');
});

test('an employee added later (through the API) is linked to earlier calls', T, async () => {
  const r = await http(`${S.url}/v1/employees`, { method: 'POST', headers: { Authorization: `Bearer ${ten.shop.apiKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ extension: '1002', name: 'Moshe' }) });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.extension, '1002');
  const list = (await api('shop', '/v1/calls?limit=50')).json.data;
  const c = list.find((x) => x.external_id === 'in-2');
  assert.equal(c.employee.name, 'Moshe');
  // update: the same extension again changes the name, not the id
  const u = await http(`${S.url}/v1/employees`, { method: 'POST', headers: { Authorization: `Bearer ${ten.shop.apiKey}` }, body: JSON.stringify({ extension: '1002', name: 'Moshe Levi' }) });
  assert.equal(u.json.id, r.json.id);
  assert.equal(u.json.name, 'Moshe Levi');
  const lead = await http(`${S.url}/v1/leads`, { method: 'POST', headers: { Authorization: `Bearer ${ten.shop.apiKey}` }, body: JSON.stringify({ phone: '054-123-0000', name: 'New Lead' }) });
  assert.equal(lead.status, 201);
  assert.equal(lead.json.phone, '+972541230000');
});

test('a tenant with no-auto-leads gets no leads; directories never cross tenants', T, async () => {
  const c = await call('quiet', { call_id: 'q-1', direction: 'inbound', from: '050-123-4567', extension: '1001' });
  assert.equal(c.lead, null, "shop's lead with this number is not quiet's");
  assert.equal(c.employee, null, "shop's employee 1001 is not quiet's");
  assert.deepEqual((await api('quiet', '/v1/leads')).json, { leads: [] });
  assert.deepEqual((await api('quiet', '/v1/employees')).json, { employees: [] });
});

test('bad directory input: 401 without a key, 422 naming the field', T, async () => {
  let r = await http(`${S.url}/v1/leads`);
  assert.equal(r.status, 401);
  const h = { Authorization: `Bearer ${ten.shop.apiKey}` };
  r = await http(`${S.url}/v1/leads`, { method: 'POST', headers: h, body: JSON.stringify({ phone: 'not a number' }) });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'phone');
  r = await http(`${S.url}/v1/employees`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'x' }) });
  assert.equal(r.status, 422);
  assert.equal(r.json.field, 'extension');
  r = await http(`${S.url}/v1/employees`, { method: 'POST', headers: h, body: '{"extension":' });
  assert.equal(r.status, 400);
  const out = cli(db, ['employee', 'list', 'shop']);
  assert.equal(out.employees.length, 2);
});

test('the server exits 0 on SIGTERM', T, async () => {
  assert.deepEqual(await S.stop(), { code: 0, signal: null }, S.logs().slice(-3000));
});
