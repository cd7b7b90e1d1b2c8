// The dashboard's shell: path routes (the daemon answers index.html on each, so deep links
// load), the session, the navigation and the shared live stream.
import { h, fill, toast } from './dom.js';
import { state, loadSession, signOut, setUnauthorizedHandler, isAdmin } from './api.js';
import { startStream, stopStream, onStreamStatus } from './stream.js';
import { callsPage } from './calls.js';
import { callPage } from './call.js';
import { webhooksPage } from './webhooks.js';
import { sourcesPage } from './sources.js';
import { diagnosticsPage } from './diagnostics.js';
import { usagePage } from './usage.js';
import { pipelinePage } from './pipeline.js';
import { signinPage } from './signin.js';

const routes = [
  [/^\/(calls)?$/, 'calls', callsPage],
  [/^\/calls\/([^/]+)$/, 'calls', callPage],
  [/^\/webhooks$/, 'webhooks', webhooksPage],
  [/^\/sources$/, 'sources', sourcesPage],
  [/^\/diagnostics$/, 'diagnostics', diagnosticsPage],
  [/^\/usage$/, 'usage', usagePage],
  [/^\/pipeline$/, 'pipeline', pipelinePage],
];

let dispose = null;
let renderSeq = 0;

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

function showShell(on) {
  document.getElementById('top').hidden = !on;
  if (!on) return;
  const u = state.session.user || {};
  document.getElementById('who').textContent = `${u.email || ''} · ${u.role || ''} · ${u.tenant || ''}`;
  for (const a of document.querySelectorAll('nav a[data-admin]')) a.hidden = !isAdmin();
}

function markNav(page) {
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render() {
  const seq = ++renderSeq;
  if (dispose) { try { dispose(); } catch { /* the old page is gone anyway */ } dispose = null; }
  const main = document.getElementById('main');
  const path = location.pathname;
  if (!state.session) {
    try { await loadSession(); } catch (e) {
      fill(main, h('p', { class: 'error' }, `The server did not answer: ${e.message}`));
      return;
    }
    if (seq !== renderSeq) return;
  }
  if (!state.session) {
    stopStream();
    showShell(false);
    if (path !== '/signin') {
      const next = path + location.search;
      history.replaceState(null, '', `/signin${next && next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`);
    }
    document.title = 'Sign in · callhook';
    dispose = signinPage(main, { onSignedIn: (next) => navigate(next || '/', { replace: true }) });
    return;
  }
  if (path === '/signin') { navigate('/', { replace: true }); return; }
  showShell(true);
  startStream();
  const hit = routes.find(([re]) => re.test(path));
  if (!hit) {
    markNav('');
    fill(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '/', 'data-link': true }, 'Back to the calls')));
    return;
  }
  const [re, page, fn] = hit;
  markNav(page);
  const m = path.match(re);
  fill(main);
  dispose = fn(main, { param: m[1] ? decodeURIComponent(m[1]) : null, navigate }) || null;
}

setUnauthorizedHandler(() => {
  if (!state.session) return;
  state.session = null;
  toast('Your session ended; sign in again.', 'error');
  render();
});

document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-link]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  document.getElementById('nav').classList.remove('open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', 'false');
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', render);

document.getElementById('signout').addEventListener('click', async () => {
  try { await signOut(); } catch (e) { toast(`Sign-out failed: ${e.message}`, 'error'); }
  stopStream();
  render();
});

document.getElementById('menu-toggle').addEventListener('click', (ev) => {
  const nav = document.getElementById('nav');
  const open = nav.classList.toggle('open');
  ev.currentTarget.setAttribute('aria-expanded', String(open));
});

onStreamStatus((s) => {
  const el = document.getElementById('live');
  el.dataset.state = s.startsWith('live') ? 'live' : s;
  el.title = `Live updates: ${s}`;
  el.setAttribute('aria-label', `Live updates: ${s}`);
});

render();
