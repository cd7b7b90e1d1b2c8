// Webhooks: endpoints by kind with the routing rules in plain words, add / edit / disable /
// enable / rotate secret (shown once) / test event / recover / remove; the delivery log with
// filters, each attempt, replay; the skipped decisions with their reasons.
import { h, fill, table, fmtTime, field, select, toast, show } from './dom.js';
import { get, api, qs, isAdmin } from './api.js';
import { onStreamEvent } from './stream.js';

const KINDS = [
  ['inbound', 'Inbound', 'Events of inbound calls. When the tenant has no inbound endpoint, inbound calls go to the generic ones instead.'],
  ['outbound', 'Outbound', 'Events of outbound calls only — outbound calls never go to inbound or generic endpoints.'],
  ['generic', 'Generic', 'Events of internal calls and calls whose direction is not known yet, and of inbound calls when there is no inbound endpoint.'],
  ['status', 'Status', 'Every call\'s status changes (call.status_changed), whatever its direction, in addition to the endpoints above.'],
];
const EVENT_TYPES = ['call.started', 'call.status_changed', 'call.answered', 'call.recording_ready', 'call.ended', 'call.failed', 'call.completed', 'call.updated', 'endpoint.disabled'];

function secretBox(secret, what = 'signing secret') {
  return h('div', { class: 'secret', role: 'alert' },
    h('p', null, `The new ${what} — shown only this once; copy it now:`),
    h('code', { class: 'secret-value' }, secret));
}

function endpointForm(ep, onDone) {
  const url = h('input', { type: 'url', name: 'url', required: true, value: ep?.url || '', placeholder: 'https://example.com/hook' });
  const kind = select('kind', KINDS.map(([k, t]) => [k, t]), ep?.kind || 'generic');
  const events = h('input', { type: 'text', name: 'events', value: ep?.events || '*', placeholder: `* or ${EVENT_TYPES.slice(0, 2).join(',')}` });
  const payload = select('payload', [['standard', 'standard'], ['flat', 'flat']], ep?.payload || 'standard');
  const timeout = h('input', { type: 'number', name: 'timeout_ms', min: 1000, max: 60000, step: 1000, value: ep?.timeout_ms ?? 15000 });
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'endpoint-form', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const body = { url: url.value.trim(), kind: kind.value, events: events.value.trim() || '*', payload: payload.value, timeout_ms: Number(timeout.value) };
    try {
      const res = ep ? await api('PATCH', `/v1/endpoints/${ep.id}`, body) : await api('POST', '/v1/endpoints', body);
      onDone(res);
    } catch (e) {
      err.textContent = `${e.message}${e.body?.field ? ` (${e.body.field})` : ''}`;
    }
  } },
  field('URL', url), field('Kind', kind), field('Events', events), field('Payload', payload), field('Timeout (ms)', timeout),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, ep ? 'Save' : 'Add endpoint'),
    ep ? h('button', { type: 'button', class: 'secondary', onclick: () => onDone(null) }, 'Cancel') : null), err);
  return form;
}

// Polls a delivery until its first attempt is known (bounded: 20 tries).
async function waitAttempt(id) {
  for (let i = 0; i < 20; i++) {
    const d = await get(`/v1/deliveries/${encodeURIComponent(id)}`);
    if ((d.attempt_log && d.attempt_log.length) || d.state !== 'pending') return d;
    await new Promise((r) => setTimeout(r, 500));
  }
  return get(`/v1/deliveries/${encodeURIComponent(id)}`);
}

function attemptRows(log) {
  return (log || []).map((a) => h('tr', null,
    h('td', null, fmtTime(a.at)), h('td', null, a.status ?? '—'), h('td', null, a.latency_ms != null ? `${a.latency_ms} ms` : ''),
    h('td', null, a.trigger || ''), h('td', null, a.error || ''),
    h('td', null, a.response ? h('pre', { class: 'response' }, a.response) : '')));
}

function deliveryDetail(d) {
  return h('div', { class: 'delivery-detail' },
    h('p', null, `Delivery #${d.id} · ${d.type} · ${d.state} · ${d.attempts} attempt(s)`),
    table(['At', 'Status', 'Latency', 'Trigger', 'Error', 'Response body'], attemptRows(d.attempt_log), { class: 'attempts' }),
    d.payload !== undefined ? h('details', null, h('summary', null, 'Payload sent'), h('pre', null, show(d.payload))) : null);
}

export function webhooksPage(main) {
  document.title = 'Webhooks · callhook';
  const admin = isAdmin();
  const secretArea = h('div', { id: 'secret-area' });
  const endpointsEl = h('div', { id: 'endpoints' });
  const addArea = h('div');
  const testArea = h('div', { id: 'test-result', 'aria-live': 'polite' });
  const logFilters = { endpoint_id: '', state: '', type: '', since: '' };
  const logEl = h('div', { id: 'deliveries' });
  const detailEl = h('div', { id: 'delivery-detail', 'aria-live': 'polite' });
  const skippedEl = h('div', { id: 'skipped' });
  let endpoints = [];

  const epSelect = h('select', { name: 'endpoint_id', id: 'log-endpoint' });
  const stateSelect = select('state', [['', 'any'], ['pending', 'pending'], ['succeeded', 'succeeded'], ['failed', 'failed']], '');
  const typeSelect = select('type', [['', 'any'], ['test', 'test'], ...EVENT_TYPES.map((t) => [t, t])], '');
  const sinceInput = h('input', { type: 'datetime-local', name: 'since' });
  const logForm = h('form', { class: 'filters', 'aria-label': 'Filter deliveries', onsubmit: (ev) => {
    ev.preventDefault();
    logFilters.endpoint_id = epSelect.value; logFilters.state = stateSelect.value; logFilters.type = typeSelect.value;
    logFilters.since = sinceInput.value ? new Date(sinceInput.value).toISOString() : '';
    loadLog();
  } }, field('Endpoint', epSelect), field('State', stateSelect), field('Type', typeSelect), field('Since', sinceInput),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));

  fill(main, h('h1', null, 'Webhooks'), secretArea,
    h('section', { 'aria-labelledby': 'h-ep' }, h('h2', { id: 'h-ep' }, 'Endpoints'), endpointsEl, admin ? addArea : null, testArea),
    h('section', { 'aria-labelledby': 'h-log' }, h('h2', { id: 'h-log' }, 'Delivery log'), logForm, logEl, detailEl),
    h('section', { 'aria-labelledby': 'h-skip' }, h('h2', { id: 'h-skip' }, 'Skipped'),
      h('p', { class: 'muted' }, 'Events that no endpoint took, counted by reason.'), skippedEl));

  function showSecret(secret) {
    fill(secretArea, secretBox(secret));
    secretArea.scrollIntoView({ block: 'nearest' });
  }

  async function act(fn, okMsg) {
    try { const r = await fn(); if (okMsg) toast(okMsg); await loadEndpoints(); return r; } catch (e) { toast(`${e.message}`, 'error'); return null; }
  }

  function endpointCard(ep) {
    const card = h('article', { class: `endpoint ${ep.enabled ? '' : 'disabled'}`, dataset: { id: ep.id } });
    const recoverInput = h('input', { type: 'datetime-local', name: 'since', 'aria-label': `Recover failed deliveries of endpoint ${ep.id} since` });
    const controls = admin ? h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'small', onclick: () => fill(card, endpointForm(ep, (res) => { if (res) toast('Endpoint saved.'); loadEndpoints(); })) }, 'Edit'),
      h('button', { type: 'button', class: 'small', onclick: () => act(() => api('PATCH', `/v1/endpoints/${ep.id}`, { enabled: !ep.enabled }), ep.enabled ? 'Endpoint disabled.' : 'Endpoint enabled.') }, ep.enabled ? 'Disable' : 'Enable'),
      h('button', { type: 'button', class: 'small', onclick: async () => { const r = await act(() => api('POST', `/v1/endpoints/${ep.id}/rotate`)); if (r?.secret) showSecret(r.secret); } }, 'Rotate secret'),
      h('button', { type: 'button', class: 'small', 'data-test': ep.id, onclick: async () => {
        try {
          const r = await api('POST', `/v1/endpoints/${ep.id}/test`);
          fill(testArea, h('p', null, `Test event sent to ${ep.url} (delivery #${r.delivery_id}); waiting for the answer…`));
          const d = await waitAttempt(r.delivery_id);
          fill(testArea, h('h3', null, 'Test event result'), deliveryDetail(d));
          loadLog();
        } catch (e) { fill(testArea, h('p', { class: 'error' }, `Test failed: ${e.message}`)); }
      } }, 'Send test event'),
      h('span', { class: 'recover' }, recoverInput, h('button', { type: 'button', class: 'small', onclick: async () => {
        if (!recoverInput.value) { toast('Pick a time to recover from.', 'error'); return; }
        const r = await act(() => api('POST', `/v1/endpoints/${ep.id}/recover`, { since: new Date(recoverInput.value).toISOString() }));
        if (r) toast(`${r.replayed} failed deliveries sent again.`);
      } }, 'Recover failed since')),
      h('button', { type: 'button', class: 'small danger', onclick: () => {
        if (confirm(`Remove the endpoint ${ep.url}?`)) act(() => api('DELETE', `/v1/endpoints/${ep.id}`), 'Endpoint removed.');
      } }, 'Remove')) : null;
    return fill(card,
      h('h4', null, h('span', { class: 'url' }, ep.url)),
      h('p', { class: 'muted' }, `#${ep.id} · events ${ep.events} · payload ${ep.payload} · timeout ${ep.timeout_ms} ms · `,
        ep.enabled ? h('span', { class: 'badge s-succeeded' }, 'enabled') : h('span', { class: 'badge s-failed' }, `disabled${ep.disabled_reason ? `: ${ep.disabled_reason}` : ''}`)),
      controls);
  }

  async function loadEndpoints() {
    try {
      endpoints = (await get('/v1/endpoints')).endpoints || [];
    } catch (e) { fill(endpointsEl, h('p', { class: 'error' }, `Could not load endpoints: ${e.message}`)); return; }
    fill(endpointsEl, KINDS.map(([k, title, rule]) => {
      const list = endpoints.filter((ep) => ep.kind === k);
      return h('section', { class: 'kind', 'aria-label': `${title} endpoints` },
        h('h3', null, `${title} (${list.length})`), h('p', { class: 'rule' }, rule),
        list.length ? list.map(endpointCard) : h('p', { class: 'muted' }, 'None.'));
    }));
    const cur = epSelect.value;
    fill(epSelect, h('option', { value: '' }, 'any'), endpoints.map((ep) => h('option', { value: String(ep.id), selected: String(ep.id) === cur }, `#${ep.id} ${ep.url}`)));
  }

  async function loadLog() {
    try {
      const data = await get(`/v1/deliveries${qs({ endpoint_id: logFilters.endpoint_id, state: logFilters.state, limit: 100 })}`);
      let list = data.deliveries || [];
      if (logFilters.type) list = list.filter((d) => d.type === logFilters.type);
      if (logFilters.since) list = list.filter((d) => Date.parse(d.created_at) >= Date.parse(logFilters.since));
      fill(logEl, list.length ? table(['#', 'Created', 'Endpoint', 'Type', 'Call', 'State', 'Attempts', 'Last status', 'Last error', ''],
        list.map((d) => h('tr', { dataset: { id: d.id } },
          h('td', null, d.id), h('td', null, fmtTime(d.created_at)), h('td', null, d.endpoint_id), h('td', null, d.type),
          h('td', null, d.call_id ? h('a', { href: `/calls/${encodeURIComponent(d.call_id)}`, 'data-link': true }, d.call_id) : ''),
          h('td', null, h('span', { class: `badge s-${d.state}` }, d.state)), h('td', null, d.attempts), h('td', null, d.last_status ?? ''),
          h('td', null, d.last_error || ''),
          h('td', { class: 'actions' },
            h('button', { type: 'button', class: 'small secondary', onclick: async () => {
              try { fill(detailEl, deliveryDetail(await get(`/v1/deliveries/${d.id}`))); detailEl.scrollIntoView({ block: 'nearest' }); } catch (e) { toast(e.message, 'error'); }
            } }, 'Attempts'),
            admin && d.state !== 'pending' ? h('button', { type: 'button', class: 'small', 'data-replay': d.id, onclick: async (ev) => {
              ev.currentTarget.disabled = true;
              try { await api('POST', `/v1/deliveries/${d.id}/replay`); toast(`Delivery #${d.id} replayed.`); setTimeout(loadLog, 1000); } catch (e) { toast(`Replay failed: ${e.message}`, 'error'); }
            } }, 'Replay') : null))), { class: 'deliveries' }) : h('p', { class: 'muted' }, 'No deliveries.'));
    } catch (e) { fill(logEl, h('p', { class: 'error' }, `Could not load deliveries: ${e.message}`)); }
  }

  async function loadSkipped() {
    try {
      const list = (await get('/v1/webhooks/skipped')).skipped || [];
      fill(skippedEl, list.length ? table(['Type', 'Reason', 'Count', 'Last', 'Last call'], list.map((s) => h('tr', null,
        h('td', null, s.type), h('td', null, s.reason || s.decision), h('td', null, s.count), h('td', null, fmtTime(s.last_at)),
        h('td', null, s.last_call_id ? h('a', { href: `/calls/${encodeURIComponent(s.last_call_id)}`, 'data-link': true }, s.last_call_id) : '')))) : h('p', { class: 'muted' }, 'Nothing skipped.'));
    } catch (e) { fill(skippedEl, h('p', { class: 'error' }, e.message)); }
  }

  if (admin) {
    const show = h('button', { type: 'button', onclick: () => fill(addArea, h('h3', null, 'Add an endpoint'), endpointForm(null, (res) => {
      if (res?.secret) showSecret(res.secret);
      fill(addArea, show);
      loadEndpoints();
    })) }, 'Add endpoint');
    fill(addArea, show);
  }
  let t = 0;
  const off = onStreamEvent((msg) => {
    if (msg.type === 'delivery') { clearTimeout(t); t = setTimeout(loadLog, 500); }
  });
  loadEndpoints().then(loadLog);
  loadSkipped();
  return () => { off(); clearTimeout(t); };
}
