// Pipeline settings and dictionaries (GET/PUT /v1/pipeline, GET/POST/DELETE /v1/dictionaries).
// Admins edit; a viewer sees the settings read-only, with no control that would change them.
import { h, fill, field, toast } from './dom.js';
import { get, api, isAdmin } from './api.js';

const STAGES = ['recording', 'transcript', 'summary', 'fields', 'sentiment'];

function input(key, value, disabled) {
  // a JSON Schema (fields.schema) is an object even while unset
  if (key.endsWith('.schema')) return h('textarea', { name: key, rows: 4, disabled, dataset: { json: '1' } }, value == null ? '' : JSON.stringify(value, null, 2));
  if (typeof value === 'boolean') return h('input', { type: 'checkbox', name: key, checked: value, disabled });
  if (typeof value === 'number') return h('input', { type: 'number', name: key, value: String(value), disabled });
  if (value !== null && typeof value === 'object') return h('textarea', { name: key, rows: 4, disabled, dataset: { json: '1' } }, JSON.stringify(value, null, 2));
  return h('input', { type: 'text', name: key, value: value ?? '', disabled, dataset: { nullable: '1' } });
}

function readInput(el, old) {
  if (el.type === 'checkbox') return el.checked;
  if (el.type === 'number') return el.value === '' ? null : Number(el.value);
  if (el.dataset.json) return el.value.trim() ? JSON.parse(el.value) : null;
  if (el.dataset.nullable && el.value === '' && (old === null || old === undefined)) return null;
  return el.value;
}

export function pipelinePage(main) {
  document.title = 'Pipeline · callhook';
  const admin = isAdmin();
  const settingsEl = h('div', { id: 'pipeline' });
  const dictEl = h('div', { id: 'dictionaries' });
  fill(main, h('h1', null, 'Pipeline'),
    admin ? null : h('p', { class: 'notice' }, 'Only admins can change these settings.'),
    h('section', { 'aria-labelledby': 'h-set' }, h('h2', { id: 'h-set' }, 'Settings'), settingsEl),
    h('section', { 'aria-labelledby': 'h-dict' }, h('h2', { id: 'h-dict' }, 'Dictionaries'),
      h('p', { class: 'muted' }, 'Cities and services the fields stage recognises in transcripts, with their synonyms.'), dictEl));

  async function loadSettings() {
    let s;
    try { s = await get('/v1/pipeline'); } catch (e) { fill(settingsEl, h('p', { class: 'error' }, e.message)); return; }
    const top = Object.entries(s).filter(([, v]) => v === null || typeof v !== 'object');
    const stages = STAGES.filter((k) => s[k] && typeof s[k] === 'object');
    const inputs = [];
    const mk = (path, key, value) => {
      if (key === 'api_key_set') {
        const el = h('input', { type: 'password', name: `${path}.api_key`, autocomplete: 'off', disabled: !admin, placeholder: value ? 'set (type to replace)' : 'not set' });
        inputs.push({ path, key: 'api_key', el, old: undefined, secret: true });
        return field('API key', el);
      }
      const el = input(`${path ? `${path}.` : ''}${key}`, value, !admin);
      inputs.push({ path, key, el, old: value });
      return field(key.replace(/_/g, ' '), el);
    };
    const err = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'settings', onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const body = {};
      try {
        for (const { path, key, el, old, secret } of inputs) {
          const v = readInput(el, old);
          if (secret) { if (!el.value) continue; } else if (JSON.stringify(v) === JSON.stringify(old)) continue;
          if (path) (body[path] ||= {})[key] = v; else body[key] = v;
        }
      } catch (e) { err.textContent = `Not JSON: ${e.message}`; return; }
      if (!Object.keys(body).length) { toast('Nothing changed.'); return; }
      try { await api('PUT', '/v1/pipeline', body); toast('Settings saved.'); loadSettings(); } catch (e) { err.textContent = e.message; }
    } },
    h('fieldset', null, h('legend', null, 'Pipeline'), top.map(([k, v]) => mk('', k, v))),
    stages.map((st) => h('fieldset', null, h('legend', null, st), Object.entries(s[st]).map(([k, v]) => mk(st, k, v)))),
    admin ? h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save settings')) : null, err);
    fill(settingsEl, form);
  }

  async function loadDicts() {
    let d;
    try { d = await get('/v1/dictionaries'); } catch (e) { fill(dictEl, h('p', { class: 'error' }, e.message)); return; }
    const group = (kind, title, list) => h('div', { class: 'dict' }, h('h3', null, `${title} (${list.length})`),
      list.length ? h('ul', { class: 'plain' }, list.map((e) => h('li', null, h('strong', null, e.name), (e.synonyms || []).length ? ` — ${e.synonyms.join(', ')}` : '', ' ',
        admin ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove ${e.name}`, onclick: async () => {
          try { await api('DELETE', `/v1/dictionaries/${kind}/${encodeURIComponent(e.name)}`); loadDicts(); } catch (x) { toast(x.message, 'error'); }
        } }, 'Remove') : null))) : h('p', { class: 'muted' }, 'Empty.'));
    const kind = h('select', { name: 'kind' }, h('option', { value: 'city' }, 'city'), h('option', { value: 'service' }, 'service'));
    const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200 });
    const syn = h('input', { type: 'text', name: 'synonyms', placeholder: 'comma-separated' });
    const add = admin ? h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/v1/dictionaries', { kind: kind.value, name: name.value.trim(), synonyms: syn.value.split(',').map((x) => x.trim()).filter(Boolean) });
        name.value = ''; syn.value = '';
        loadDicts();
      } catch (x) { toast(x.message, 'error'); }
    } }, field('Kind', kind), field('Name', name), field('Synonyms', syn), h('button', { type: 'submit' }, 'Add')) : null;
    fill(dictEl, group('city', 'Cities', d.cities || []), group('service', 'Services', d.services || []), add);
  }
  loadSettings();
  loadDicts();
  return null;
}
