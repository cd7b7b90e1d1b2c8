// Diagnostics: which endpoints exist and whether each URL is valid and reachable, which one an
// inbound / outbound / internal call would go to now, the last calls and what became of their
// messages, failing endpoints and dead letters. Renders what GET /v1/diagnostics holds.
import { h, fill, dl, table, fmtTime, show, appPath } from './dom.js';
import { get } from './api.js';

// an endpoint's failure: since when and how many, or the raw object for a shape not known here
function failing(f) {
  if (!f) return 'no';
  if (typeof f !== 'object') return show(f);
  if (!('since' in f)) return h('pre', null, show(f));
  return h('span', { class: 'error' }, `since ${fmtTime(f.since)}, ${f.failed_deliveries ?? '?'} failed${f.disabled ? `; disabled${f.disabled_reason ? `: ${f.disabled_reason}` : ''}` : ''}`);
}

const yes = (b) => h('span', { class: `badge ${b ? 's-succeeded' : 's-failed'}` }, b ? 'yes' : 'no');

export function diagnosticsPage(main) {
  document.title = 'Diagnostics · callhook';
  const body = h('div', { id: 'diagnostics' }, h('p', { class: 'muted' }, 'Checking…'));
  const again = h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Check again');
  fill(main, h('h1', null, 'Diagnostics'), again, body);

  async function load() {
    let r;
    try { r = await get('/v1/diagnostics'); } catch (e) { fill(body, h('p', { class: 'error' }, `Could not run the diagnostics: ${e.message}`)); return; }
    const eps = r.endpoints || [];
    const url = (id) => eps.find((e) => e.id === id)?.url ?? `#${id}`;
    const routing = r.routing || {};
    fill(body,
      h('p', { class: 'muted' }, `Tenant ${r.tenant ?? ''} · ${fmtTime(r.generated_at)}`),
      h('section', { 'aria-labelledby': 'h-route' }, h('h2', { id: 'h-route' }, 'Where a call would go now'),
        table(['Call', 'Endpoints', 'Why'], Object.entries(routing).map(([dir, v]) => h('tr', { dataset: { direction: dir } },
          h('th', { scope: 'row' }, dir),
          h('td', { class: 'route-endpoints' }, (v?.endpoint_ids || []).length ? v.endpoint_ids.map((id) => h('div', null, url(id))) : 'none — nothing is sent'),
          h('td', null, v?.reason ?? ''))))),
      h('section', { 'aria-labelledby': 'h-eps' }, h('h2', { id: 'h-eps' }, 'Endpoints'),
        eps.length ? table(['#', 'URL', 'Kind', 'Events', 'Enabled', 'URL valid', 'Reachable', 'Last delivery', 'Failing'], eps.map((e) => h('tr', { dataset: { id: e.id } },
          h('td', null, e.id), h('td', null, e.url), h('td', null, e.kind), h('td', null, e.events), h('td', null, yes(e.enabled)),
          h('td', null, yes(e.url_valid), e.url_problem ? h('div', { class: 'error' }, e.url_problem) : ''),
          h('td', null, e.reachable ? [yes(e.reachable.ok), e.reachable.address ? ` ${e.reachable.address}` : '', e.reachable.error ? h('div', { class: 'error' }, e.reachable.error) : ''] : '—'),
          h('td', null, e.last_delivery ? `${e.last_delivery.state}${e.last_delivery.status != null ? ` (${e.last_delivery.status})` : ''}${e.last_delivery.error ? `: ${e.last_delivery.error}` : ''}` : '—'),
          h('td', { class: 'failing' }, failing(e.failing))))) : h('p', { class: 'muted' }, 'No endpoint configured: no call is sent anywhere.')),
      h('section', { 'aria-labelledby': 'h-recent' }, h('h2', { id: 'h-recent' }, 'Last calls'),
        (r.recent_calls || []).length ? table(['Call', 'Direction', 'Started', 'Recording', 'Transcript', 'Enrichment', 'Messages'], r.recent_calls.map((c) => h('tr', null,
          h('td', null, h('a', { href: appPath('/calls', c.call_id), 'data-link': true }, c.call_id)), h('td', null, c.direction), h('td', null, fmtTime(c.started_at)),
          h('td', null, yes(c.recording)), h('td', null, yes(c.transcript)), h('td', null, c.enrichment ?? '—'),
          h('td', null, h('ul', { class: 'plain' }, (c.messages || []).map((m) => h('li', null,
            `${m.type}: `, m.skipped ? `skipped (${m.skipped})` : `${m.state ?? ''} → ${(m.delivered_to || []).map(url).join(', ') || 'nobody'}`))))))) : h('p', { class: 'muted' }, 'No calls yet.')),
      h('section', { 'aria-labelledby': 'h-dead' }, h('h2', { id: 'h-dead' }, 'Problems'),
        dl([['Dead letters', r.dead_letters ?? 0], ['Failing endpoints', (r.failing_endpoints || []).map(url).join(', ') || 'none']])));
  }
  load();
  return null;
}
