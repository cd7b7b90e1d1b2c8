// Usage: calls this month against the limit, transcribed minutes, over-limit calls.
import { h, fill, dl } from './dom.js';
import { get } from './api.js';

export function usagePage(main) {
  document.title = 'Usage · callhook';
  const body = h('div', { id: 'usage' }, h('p', { class: 'muted' }, 'Loading…'));
  fill(main, h('h1', null, 'Usage'), body);
  get('/v1/usage').then((u) => {
    const limit = u.limit ?? null;
    fill(body,
      h('p', { class: 'big' }, `${u.calls ?? 0} calls in ${u.month ?? 'this month'}`, limit ? ` of ${limit}` : ' (no limit)'),
      limit ? h('progress', { max: limit, value: Math.min(u.calls ?? 0, limit), 'aria-label': 'Calls against the monthly limit' }) : null,
      dl([['Month', u.month], ['Calls', u.calls], ['Limit', limit ?? 'none'], ['Hard limit (new calls refused past it)', u.hard_limit ? 'yes' : 'no'],
        ['Calls over the limit', u.over_limit_calls ?? 0], ['Transcribed minutes', u.transcribed_minutes != null ? Number(u.transcribed_minutes).toFixed(1) : '—']]));
  }).catch((e) => fill(body, h('p', { class: 'error' }, `Could not load usage: ${e.message}`)));
  return null;
}
