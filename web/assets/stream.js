// Live updates: ONE EventSource per browser, shared by its tabs (browsers allow six HTTP/1.1
// connections per host). The tab holding the Web Lock 'callhook-stream' is the leader: it opens
// GET /v1/stream and relays each event to the other tabs over BroadcastChannel('callhook').
// When the leader tab closes, its lock is released and a waiting tab takes over, resuming from
// the last event id it saw relayed. Without Web Locks (a page not served from a secure context)
// every tab keeps its own stream.

const listeners = new Set();
const statusListeners = new Set();
let channel = null;
let lastId = null;
let source = null;
let started = false;
let stopLeader = null;
let status = 'off';

export function onStreamEvent(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function onStreamStatus(fn) { statusListeners.add(fn); fn(status); return () => statusListeners.delete(fn); }
export function streamStatus() { return status; }

function setStatus(s) {
  status = s;
  for (const fn of statusListeners) fn(s);
}

function deliver(msg) {
  if (msg.id) lastId = msg.id;
  for (const fn of listeners) {
    try { fn(msg); } catch (e) { console.warn('stream listener failed', e); }
  }
}

function open(resolveClosed) {
  const url = lastId ? `/v1/stream?last_event_id=${encodeURIComponent(lastId)}` : '/v1/stream';
  source = new EventSource(url, { withCredentials: true });
  const relay = (type) => (ev) => {
    let data = null;
    try { data = JSON.parse(ev.data); } catch { return; }
    const msg = { type, id: ev.lastEventId || null, data };
    deliver(msg);
    channel?.postMessage(msg);
  };
  source.addEventListener('call', relay('call'));
  source.addEventListener('delivery', relay('delivery'));
  source.addEventListener('reset', relay('reset'));
  source.onopen = () => { setStatus('live'); channel?.postMessage({ type: 'status', data: 'live' }); };
  source.onerror = () => {
    // CONNECTING: the browser retries by itself (with Last-Event-ID). CLOSED: it gave up
    // (an error status such as 401 or 503): try again later, from our own last id.
    const st = source.readyState === EventSource.CLOSED ? 'off' : 'reconnecting';
    setStatus(st);
    channel?.postMessage({ type: 'status', data: st });
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(() => { if (started && stopLeader) open(resolveClosed); }, 5000);
    }
  };
}

export function startStream() {
  if (started) return;
  started = true;
  if ('BroadcastChannel' in window) {
    channel = new BroadcastChannel('callhook');
    channel.onmessage = (ev) => {
      const msg = ev.data;
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'status') { if (!stopLeader) setStatus(msg.data === 'live' ? 'live (shared)' : msg.data); return; }
      if (!stopLeader) deliver(msg);
    };
  }
  if (navigator.locks && channel) {
    setStatus('live (shared)');
    navigator.locks.request('callhook-stream', () => new Promise((resolve) => {
      if (!started) { resolve(); return; }
      stopLeader = resolve;
      open(resolve);
    }));
  } else {
    stopLeader = () => {};
    open(() => {});
  }
}

// Sign-out: close the stream and give up the leadership.
export function stopStream() {
  started = false;
  source?.close();
  source = null;
  channel?.close();
  channel = null;
  if (stopLeader) stopLeader();
  stopLeader = null;
  setStatus('off');
}
