// Sources: for each provider, the exact settings to enter on the PBX or platform, when the last
// call arrived, and (admins) reveal / rotate of its credentials, each new value shown once.
import { h, fill, dl, fmtTime, toast } from './dom.js';
import { get, api, isAdmin } from './api.js';

export function sourcesPage(main) {
  document.title = 'Sources · callhook';
  const list = h('div', { id: 'sources' });
  const secretArea = h('div', { 'aria-live': 'polite' });
  fill(main, h('h1', null, 'Sources'), h('p', { class: 'muted' }, 'What to enter on each PBX or platform that sends calls here.'), secretArea, list);

  function once(label, value) {
    fill(secretArea, h('div', { class: 'secret', role: 'alert' }, h('p', null, `${label} — shown only this once; copy it now:`), h('code', { class: 'secret-value' }, value)));
  }

  function card(s) {
    const kinds = Array.isArray(s.auth) ? s.auth : [];
    const auth = kinds.length ? kinds.join(', ') : (s.auth || '—');
    // rotate what the source has (all three when the server does not say)
    const rotatable = [['basic', 'password'], ['token', 'token'], ['signature', 'secret']]
      .filter(([k]) => !kinds.length || kinds.includes(k)).map(([, what]) => what);
    const controls = isAdmin() ? h('div', { class: 'actions' },
      rotatable.map((what) => h('button', { type: 'button', class: 'small', onclick: async () => {
        if (!confirm(`Rotate the ${what} of this ${s.provider} source? The platform must be given the new one.`)) return;
        try { const r = await api('POST', `/v1/sources/${encodeURIComponent(s.id)}/rotate`, { what }); once(`New ${what}`, r[what] ?? JSON.stringify(r)); } catch (e) { toast(e.message, 'error'); }
      } }, `Rotate ${what}`)),
      rotatable.includes('secret') ? h('button', { type: 'button', class: 'small secondary', onclick: async () => {
        try { const r = await get(`/v1/sources/${encodeURIComponent(s.id)}/secret`); once('Signing secret', r.secret ?? JSON.stringify(r)); } catch (e) { toast(e.message, 'error'); }
      } }, 'Reveal signing secret') : null) : null;
    const ips = Array.isArray(s.allow_ips) ? s.allow_ips.join(', ') : s.allow_ips;
    return h('article', { class: 'source card', dataset: { id: s.id } }, h('h2', null, s.title || s.provider),
      dl([['URL', h('code', null, s.url ?? '')],
        ...(s.fixed_urls && s.fixed_urls.length ? [['Also accepted at', h('div', null, s.fixed_urls.map((u) => h('div', null, h('code', null, u))))]] : []),
        ['Method', s.method], ['Content type', s.content_type], ['Authentication', auth],
        ...(s.auth_help ? [['How', s.auth_help]] : []),
        ['Username', s.username ?? '—'], ['IP allow-list', ips || 'any address'],
        ['Last call', s.last_call_at ? fmtTime(s.last_call_at) : 'none yet'], ['Media', s.media ?? '—']]),
      controls);
  }

  get('/v1/sources').then((r) => {
    const data = r.data || r.sources || [];
    fill(list, data.length ? data.map(card) : h('p', { class: 'muted' }, 'No source yet: add one with `callhook source add`.'));
  }).catch((e) => fill(list, h('p', { class: 'error' }, `Could not load sources: ${e.message}`)));
  return null;
}
