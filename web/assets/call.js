// Call detail: every field, the legs, the recording (seekable: the route answers Range), the
// transcript as speaker turns that seek the player, summary, extracted fields, sentiment, the
// trace (events, status changes, enrichment stages, webhooks with a replay button) and the raw
// JSON. Re-read when the stream says the call changed.
import { h, fill, dl, table, fmtTime, fmtDuration, fmtCost, show, toast } from './dom.js';
import { get, api, isAdmin } from './api.js';
import { onStreamEvent } from './stream.js';
import { deliveryBadge, mediaIcons } from './calls.js';

const SCALARS = ['id', 'external_id', 'provider', 'direction', 'status', 'disposition', 'from', 'from_raw', 'to', 'to_raw',
  'caller_name', 'extension', 'started_at', 'answered_at', 'ended_at', 'duration_sec', 'billsec', 'recording_url',
  'over_limit', 'event_count', 'version', 'created_at', 'updated_at'];

function fmtSec(s) {
  if (typeof s !== 'number') return '';
  return fmtDuration(s);
}

function replayButton(deliveryId, after) {
  if (!isAdmin()) return null;
  return h('button', { type: 'button', class: 'small', 'data-replay': deliveryId, onclick: async (ev) => {
    ev.currentTarget.disabled = true;
    try {
      await api('POST', `/v1/deliveries/${encodeURIComponent(deliveryId)}/replay`);
      toast(`Delivery ${deliveryId} replayed.`);
      setTimeout(after, 1500);
    } catch (e) {
      toast(`Replay failed: ${e.message}`, 'error');
      ev.target.disabled = false;
    }
  } }, 'Replay');
}

function attemptsTable(log) {
  if (!log || !log.length) return h('p', { class: 'muted' }, 'No attempt yet.');
  return table(['At', 'Status', 'Latency', 'Trigger', 'Error'], log.map((a) => h('tr', null,
    h('td', null, fmtTime(a.at)), h('td', null, a.status ?? '—'), h('td', null, a.latency_ms != null ? `${a.latency_ms} ms` : ''),
    h('td', null, a.trigger || ''), h('td', null, a.error || ''))));
}

function traceItem(t, reload) {
  const when = h('time', { datetime: t.at }, fmtTime(t.at));
  switch (t.what) {
    case 'event':
      return h('li', { class: 'ev-event' }, when, h('strong', null, ' event '), `${t.provider || ''} ${t.kind || ''} (${t.size} bytes)`,
        h('details', null, h('summary', null, 'Body'), h('pre', null, t.body ?? '')));
    case 'status':
      return h('li', { class: 'ev-status' }, when, h('strong', null, ' status '),
        `${t.status_before ?? '—'} → ${t.status ?? '—'}`, t.disposition !== t.disposition_before ? ` (disposition ${t.disposition_before ?? '—'} → ${t.disposition ?? '—'})` : '');
    case 'message':
      return h('li', { class: 'ev-message' }, when, h('strong', null, ' webhook '), t.type || '',
        (t.deliveries || []).length ? h('ul', { class: 'deliveries' }, t.deliveries.map((d) => h('li', { dataset: { delivery: d.id } },
          h('span', { class: `badge s-${d.state}` }, d.state), ` #${d.id} → ${d.url ?? '(removed endpoint)'} · ${d.attempts} attempt(s)`,
          d.last_error ? ` · ${d.last_error}` : '', ' ', d.state !== 'pending' ? replayButton(d.id, reload) : null,
          attemptsTable(d.attempt_log)))) : h('p', { class: 'muted' }, 'No delivery.'));
    case 'skipped':
      return h('li', { class: 'ev-skipped' }, when, h('strong', null, ' skipped '), `${t.type || ''}: ${t.reason || t.decision || ''}`);
    case 'stage':
      return h('li', { class: 'ev-stage' }, when, h('strong', null, ` ${t.stage} `), `${t.state}${t.engine ? ` (${t.engine})` : ''}${t.ms != null ? ` in ${t.ms} ms` : ''}`, t.error ? h('span', { class: 'error' }, ` ${t.error}`) : '');
    default:
      return h('li', null, when, ` ${t.what}`, h('pre', null, show(t)));
  }
}

export function callPage(main, { param: id }) {
  document.title = 'Call · callhook';
  let audio = null;
  let audioFor = null;
  let seq = 0;
  const sections = {
    head: h('div'), player: h('section', { 'aria-labelledby': 'h-rec' }), transcript: h('section', { 'aria-labelledby': 'h-tr' }),
    analysis: h('section', { 'aria-labelledby': 'h-an' }), fields: h('section', { 'aria-labelledby': 'h-f' }),
    legs: h('section', { 'aria-labelledby': 'h-legs' }), trace: h('section', { 'aria-labelledby': 'h-trace' }), raw: h('section', { 'aria-labelledby': 'h-raw' }),
  };
  fill(main, h('p', null, h('a', { href: '/', 'data-link': true }, '← Calls')), ...Object.values(sections));

  async function loadTrace() {
    try {
      const tr = await get(`/v1/calls/${encodeURIComponent(id)}/trace`);
      fill(sections.trace, h('h2', { id: 'h-trace' }, 'Trace'),
        tr.note ? h('p', { class: 'muted' }, tr.note) : null,
        h('ol', { class: 'timeline', id: 'trace' }, (tr.timeline || []).map((t) => traceItem(t, loadTrace))));
    } catch (e) {
      fill(sections.trace, h('h2', { id: 'h-trace' }, 'Trace'), h('p', { class: 'error' }, `Could not load the trace: ${e.message}`));
    }
  }

  async function load() {
    const my = ++seq;
    let c;
    try { c = await get(`/v1/calls/${encodeURIComponent(id)}`); } catch (e) {
      fill(sections.head, h('h1', null, 'Call'), h('p', { class: 'error' }, e.status === 404 ? 'No such call.' : `Could not load the call: ${e.message}`));
      return;
    }
    if (my !== seq) return;
    const who = c.lead?.name || c.caller_name || c.from || c.from_raw || 'Unknown caller';
    fill(sections.head, h('h1', null, `${c.direction} call · ${who}`),
      h('p', { class: 'summary-line' }, h('span', { class: 'badge' }, c.status), ' ', c.disposition ? h('span', { class: 'badge' }, c.disposition) : '',
        ` ${fmtTime(c.started_at || c.created_at)} · ${fmtDuration(c.duration_sec)} · ${c.provider} `, mediaIcons(c), ' ', deliveryBadge(c.delivery)));

    // the player is kept across re-reads so a live update does not stop playback
    const hasRec = Boolean(c.recording);
    if (!hasRec) {
      audio = null; audioFor = null;
      fill(sections.player, h('h2', { id: 'h-rec' }, 'Recording'), h('p', { class: 'muted' }, c.recording_url ? 'The recording is being fetched.' : 'No recording.'));
    } else if (audioFor !== c.recording.sha256 || !audio) {
      audio = h('audio', { controls: true, preload: 'metadata', id: 'player', src: `/v1/calls/${encodeURIComponent(id)}/recording` });
      audioFor = c.recording.sha256;
      fill(sections.player, h('h2', { id: 'h-rec' }, 'Recording'), audio,
        h('p', { class: 'muted' }, `${c.recording.format || c.recording.mime || ''} · ${c.recording.bytes ?? '?'} bytes${c.recording.duration_sec ? ` · ${fmtSec(c.recording.duration_sec)}` : ''}`));
    }

    const segs = c.transcript_segments || [];
    fill(sections.transcript, h('h2', { id: 'h-tr' }, 'Transcript'),
      segs.length ? h('ol', { class: 'turns', id: 'turns' }, segs.map((s) => h('li', { class: `turn sp-${String(s.speaker || 'unknown').replace(/[^a-z]/gi, '')}` },
        h('button', { type: 'button', class: 'turn-btn', title: 'Play from here', onclick: () => {
          if (!audio) return;
          audio.currentTime = Number(s.start) || 0;
          audio.play().catch(() => {});
        } }, h('span', { class: 'who' }, s.speaker || 'speaker'), h('span', { class: 'at' }, fmtSec(s.start)), h('span', { class: 'text' }, s.text || '')))))
        : c.transcript ? h('p', { class: 'transcript' }, c.transcript) : h('p', { class: 'muted' }, 'No transcript.'));

    fill(sections.analysis, h('h2', { id: 'h-an' }, 'Summary and analysis'),
      dl([['Summary', c.summary ?? '—'], ['Sentiment', c.sentiment ? `${c.sentiment.label ?? ''}${c.sentiment.score != null ? ` (${c.sentiment.score})` : ''}` : '—'],
        ['Extracted fields', c.fields ? dl(Object.entries(c.fields)) : '—'],
        ['Enrichment', c.enrichment ? `${c.enrichment.state}${c.enrichment.reason ? ` (${c.enrichment.reason})` : ''}` : '—'],
        ['Delivery', c.delivery ? `${c.delivery.state}: ${c.delivery.succeeded ?? 0} delivered, ${c.delivery.pending ?? 0} pending, ${c.delivery.failed ?? 0} failed` : '—'],
        ['Cost', fmtCost(c.cost) || '—']]));

    fill(sections.fields, h('h2', { id: 'h-f' }, 'Fields'),
      dl([...SCALARS.map((k) => [k, c[k]]),
        ['employee', c.employee ? `${c.employee.name ?? ''} (ext ${c.employee.extension ?? '?'})` : null],
        ['lead', c.lead ? `${c.lead.name ?? ''} ${c.lead.phone ?? ''}` : null],
        ['metadata', c.metadata && Object.keys(c.metadata).length ? c.metadata : null]]));

    const legs = c.legs || [];
    fill(sections.legs, h('h2', { id: 'h-legs' }, `Legs (${legs.length})`),
      legs.length ? table(['Leg', 'Direction', 'Status', 'From', 'To', 'Ext', 'Started', 'Duration'], legs.map((l) => h('tr', null,
        h('td', null, l.id), h('td', null, l.direction ?? ''), h('td', null, `${l.status ?? ''} ${l.disposition ?? ''}`),
        h('td', null, l.from ?? l.from_raw ?? ''), h('td', null, l.to ?? l.to_raw ?? ''), h('td', null, l.extension ?? ''),
        h('td', null, fmtTime(l.started_at)), h('td', null, fmtDuration(l.duration_sec))))) : h('p', { class: 'muted' }, 'No legs.'));

    const raw = { ...c };
    fill(sections.raw, h('h2', { id: 'h-raw' }, 'Raw JSON'), h('details', null, h('summary', null, 'Show'), h('pre', { class: 'raw' }, JSON.stringify(raw, null, 2))));
    loadTrace();
  }

  let timer = 0;
  const later = () => { clearTimeout(timer); timer = setTimeout(load, 300); };
  const off = onStreamEvent((msg) => {
    if (msg.type === 'call' && msg.data?.call?.id === id) later();
    else if (msg.type === 'delivery' && msg.data?.call_id === id) later();
    else if (msg.type === 'reset') later();
  });
  load();
  return () => { off(); clearTimeout(timer); if (audio) audio.pause(); };
}
