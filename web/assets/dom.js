// DOM building for the dashboard. The one rule (docs/internals/dashboard.md): data reaches the
// page only as text nodes and attribute values — never as a string the browser parses as HTML —
// so a caller name, transcript or webhook response holding "<script>" shows as those characters.

// h('tr', {class: 'x', onclick: fn, 'aria-label': '…'}, child, …): an element. Children: nodes,
// strings/numbers (text nodes), arrays of those, null/undefined/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = Boolean(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Replaces el's children.
export function fill(el, ...children) {
  return append(clear(el), children);
}

// A path inside the app for an id from the API: escaped, so an id can never become a scheme.
export function appPath(prefix, id) {
  return `${prefix}/${encodeURIComponent(String(id))}`;
}

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtDuration(sec) {
  if (sec === null || sec === undefined) return '';
  const s = Math.max(0, Math.round(sec));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function fmtCost(cost) {
  if (!cost || cost.amount === null || cost.amount === undefined) return '';
  return `${Number(cost.amount).toFixed(cost.amount < 1 ? 4 : 2)} ${cost.currency || ''}`.trim();
}

// Any JSON value as readable text (objects as indented JSON).
export function show(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

// A <dl> of [label, value] pairs; values are text or nodes.
export function dl(pairs, cls = 'kv') {
  return h('dl', { class: cls }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v instanceof Node ? v : show(v))]));
}

// A table wrapped for horizontal scrolling on narrow screens.
export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)));
}

let toastTimer = 0;
export function toast(msg, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.className = `show ${kind}`;
  el.textContent = msg;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = ''; }, 5000);
}

// <label>text <input …></label>
export function field(label, input) {
  return h('label', { class: 'field' }, h('span', null, label), input);
}

export function select(name, options, value) {
  return h('select', { name, id: `f-${name}` },
    options.map(([v, t]) => h('option', { value: v, selected: v === (value ?? '') }, t)));
}
