// Calls: newest first, filters kept in the URL query, paging by cursor, live rows from the
// shared stream (new calls prepended, changed ones replaced in place).
import { h, fill, table, fmtTime, fmtDuration, fmtCost, appPath, field, select, toast } from './dom.js';
import { get, qs } from './api.js';
import { onStreamEvent } from './stream.js';

const FILTERS = ['since', 'until', 'direction', 'disposition', 'provider', 'number', 'extension', 'q', 'delivery'];
const PROVIDERS = ['generic', 'ucm', 'asterisk', 'twilio', 'bolna', 'freeswitch', 'retell', 'vapi'];
const HEADERS = ['Direction', 'From', 'To', 'Provider', 'Status', 'Duration', 'Started', 'Media',
  'City', 'Service', 'Sentiment', 'Delivery', 'Cost'];

// datetime-local value ⇄ RFC 3339 in the URL
function toLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function party(number, raw, name, ext) {
  return h('span', { class: 'party' },
    name ? h('span', { class: 'name' }, name) : null,
    h('span', { class: 'num' }, number || raw || (ext ? `ext ${ext}` : '—')));
}

function badge(text, cls) {
  return text ? h('span', { class: `badge ${cls || ''} b-${String(text).replace(/[^a-z_]/gi, '')}` }, text) : '';
}

export function mediaIcons(c) {
  const rec = c.recording || c.recording_url;
  const tr = (c.transcript_segments && c.transcript_segments.length) || c.transcript;
  return h('span', { class: 'media' },
    h('span', { class: rec ? 'on' : 'off', title: rec ? 'Recording' : 'No recording', 'aria-label': rec ? 'recording' : 'no recording' }, 'R'),
    h('span', { class: tr ? 'on' : 'off', title: tr ? 'Transcript' : 'No transcript', 'aria-label': tr ? 'transcript' : 'no transcript' }, 'T'),
    h('span', { class: c.summary ? 'on' : 'off', title: c.summary ? 'Summary' : 'No summary', 'aria-label': c.summary ? 'summary' : 'no summary' }, 'S'));
}

export function deliveryBadge(d) {
  if (!d) return '';
  const title = `${d.succeeded ?? 0} delivered, ${d.pending ?? 0} pending, ${d.failed ?? 0} failed of ${d.total ?? 0}`;
  return h('span', { class: `badge d-${d.state}`, title }, d.state);
}

function row(c) {
  const from = party(c.from, c.from_raw, c.direction === 'outbound' ? c.employee?.name : (c.lead?.name || c.caller_name), c.direction === 'outbound' ? c.extension : null);
  const to = party(c.to, c.to_raw, c.direction === 'outbound' ? c.lead?.name : c.employee?.name, c.direction === 'outbound' ? null : c.extension);
  const link = h('a', { href: appPath('/calls', c.id), 'data-link': true, class: 'rowlink', 'aria-label': `Open call ${c.id}` }, badge(c.direction, 'dir'));
  return h('tr', { dataset: { id: c.id, version: c.version ?? '' } },
    h('td', { 'data-label': 'Direction' }, link),
    h('td', { 'data-label': 'From' }, from),
    h('td', { 'data-label': 'To' }, to),
    h('td', { 'data-label': 'Provider' }, c.provider || ''),
    h('td', { 'data-label': 'Status', class: 'status' }, badge(c.status), ' ', badge(c.disposition)),
    h('td', { 'data-label': 'Duration' }, fmtDuration(c.duration_sec)),
    h('td', { 'data-label': 'Started' }, fmtTime(c.started_at || c.created_at)),
    h('td', { 'data-label': 'Media' }, mediaIcons(c)),
    h('td', { 'data-label': 'City' }, c.fields?.city ?? ''),
    h('td', { 'data-label': 'Service' }, c.fields?.service_category ?? c.fields?.service ?? ''),
    h('td', { 'data-label': 'Sentiment' }, c.sentiment?.label ?? ''),
    h('td', { 'data-label': 'Delivery', class: 'delivery' }, deliveryBadge(c.delivery)),
    h('td', { 'data-label': 'Cost' }, fmtCost(c.cost)));
}

// Whether a call from the stream belongs on this page: the filters the client can judge.
function matches(c, f) {
  if (f.direction && c.direction !== f.direction) return false;
  if (f.disposition && c.disposition !== f.disposition) return false;
  if (f.provider && c.provider !== f.provider) return false;
  if (f.delivery && (c.delivery?.state || 'none') !== f.delivery) return false;
  if (f.extension && c.extension !== f.extension) return false;
  const t = Date.parse(c.started_at || c.created_at);
  if (f.since && t < Date.parse(f.since)) return false;
  if (f.until && t >= Date.parse(f.until)) return false;
  if (f.number) {
    const d = f.number.replace(/\D/g, '');
    const nums = [c.from, c.to, c.from_raw, c.to_raw].filter(Boolean).map((n) => n.replace(/\D/g, ''));
    if (!nums.some((n) => n === d || n.endsWith(d))) return false;
  }
  if (f.q) {
    const q = f.q.toLowerCase();
    const hay = [c.caller_name, c.from, c.to, c.from_raw, c.to_raw, c.transcript, c.summary].filter(Boolean).join('\n').toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

export function callsPage(main, { navigate }) {
  document.title = 'Calls · callhook';
  const params = new URLSearchParams(location.search);
  const f = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) || '']));
  const cursor = params.get('cursor') || '';

  const inputs = {
    since: h('input', { type: 'datetime-local', name: 'since', value: toLocalInput(f.since) }),
    until: h('input', { type: 'datetime-local', name: 'until', value: toLocalInput(f.until) }),
    direction: select('direction', [['', 'any'], ['inbound', 'inbound'], ['outbound', 'outbound'], ['internal', 'internal'], ['unknown', 'unknown']], f.direction),
    disposition: select('disposition', [['', 'any'], ['answered', 'answered'], ['no_answer', 'no answer'], ['busy', 'busy'], ['failed', 'failed'], ['canceled', 'canceled']], f.disposition),
    provider: select('provider', [['', 'any'], ...PROVIDERS.map((p) => [p, p])], f.provider),
    number: h('input', { type: 'search', name: 'number', value: f.number, inputmode: 'tel', placeholder: '+1415…' }),
    extension: h('input', { type: 'search', name: 'extension', value: f.extension, size: 6 }),
    q: h('input', { type: 'search', name: 'q', value: f.q, placeholder: 'name, transcript, summary' }),
    delivery: select('delivery', [['', 'any'], ['delivered', 'delivered'], ['retrying', 'retrying'], ['failed', 'failed'], ['none', 'none']], f.delivery),
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter calls', onsubmit: (ev) => {
    ev.preventDefault();
    const next = {};
    for (const k of FILTERS) {
      const v = inputs[k].value.trim();
      next[k] = k === 'since' || k === 'until' ? fromLocalInput(v) : v;
    }
    navigate(`/${qs(next)}`);
  } },
  field('From', inputs.since), field('Until', inputs.until), field('Direction', inputs.direction),
  field('Disposition', inputs.disposition), field('Provider', inputs.provider), field('Number', inputs.number),
  field('Extension', inputs.extension), field('Text', inputs.q), field('Delivery', inputs.delivery),
  h('div', { class: 'actions' },
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: '/', 'data-link': true, class: 'button secondary' }, 'Clear')));

  const tbody = h('tbody', { id: 'calls-body' });
  const wrap = h('div', { class: 'table-wrap' }, h('table', { class: 'calls', 'aria-label': 'Calls' },
    h('thead', null, h('tr', null, HEADERS.map((t) => h('th', { scope: 'col' }, t)))), tbody));
  const status = h('p', { class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of calls' });
  fill(main, h('h1', null, 'Calls'), form, status, wrap, pager);

  const byId = new Map();
  const fetching = new Set();

  function put(c, { prepend = false } = {}) {
    const old = byId.get(c.id);
    if (old) {
      if (Number(old.dataset.version || 0) > Number(c.version || 0)) return; // an older copy
      const tr = row(c);
      tr.classList.add('flash');
      old.replaceWith(tr);
      byId.set(c.id, tr);
      return;
    }
    const tr = row(c);
    if (prepend) { tr.classList.add('flash'); tbody.prepend(tr); } else tbody.append(tr);
    byId.set(c.id, tr);
  }

  async function load() {
    try {
      const data = await get(`/v1/calls${qs({ ...f, cursor, limit: 50 })}`);
      for (const c of data.data) put(c);
      status.textContent = data.data.length ? '' : 'No calls match.';
      fill(pager,
        cursor ? h('a', { href: `/${qs(f)}`, 'data-link': true, class: 'button secondary' }, 'Newest') : null,
        data.next_cursor ? h('a', { href: `/${qs({ ...f, cursor: data.next_cursor })}`, 'data-link': true, class: 'button secondary', rel: 'next' }, 'Older') : null);
    } catch (e) {
      status.textContent = `Could not load calls: ${e.message}`;
      status.className = 'error';
    }
  }

  // Re-reads a shown call; a change announced while a read is under way gets one more read,
  // so the row ends with the last state, whatever the number of events.
  const again = new Set();
  async function refresh(id) {
    if (fetching.has(id)) { again.add(id); return; }
    fetching.add(id);
    try { put(await get(`/v1/calls/${encodeURIComponent(id)}`)); } catch { /* gone or not ours */ } finally {
      fetching.delete(id);
      if (again.delete(id)) refresh(id);
    }
  }

  // Events that arrive before the first page is read are held and applied after it, so an
  // update of a call the page is about to show is not lost (and the list's older copy of it
  // cannot overwrite the newer one: put() keeps the higher version).
  let loaded = false;
  const early = [];
  function handle(msg) {
    if (msg.type === 'call' && msg.data?.call) {
      const c = msg.data.call;
      if (byId.has(c.id)) { put(c); return; }
      // a call not shown: new ones go on top of the newest page when they match
      if (!cursor && matches(c, f) && msg.data.kind === 'call.created') {
        put(c, { prepend: true });
        status.textContent = '';
      }
    } else if (msg.type === 'delivery' && msg.data?.call_id && byId.has(msg.data.call_id)) {
      refresh(msg.data.call_id); // its delivery state may have changed
    } else if (msg.type === 'reset') {
      toast('Live updates resumed; the list was re-read.');
      load();
    }
  }
  const off = onStreamEvent((msg) => { if (loaded) handle(msg); else early.push(msg); });
  load().finally(() => {
    loaded = true;
    for (const msg of early.splice(0)) handle(msg);
  });
  return off;
}
