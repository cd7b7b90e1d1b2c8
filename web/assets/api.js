// The dashboard's only way to the daemon: same-origin fetch with the session cookie, and the
// session's CSRF token on every request that changes something (contract of issue 12).

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
    this.body = body;
  }
}

export const state = { session: null };
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function isAdmin() {
  return state.session?.user?.role === 'admin';
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && state.session?.csrf_token) headers['X-CSRF-Token'] = state.session.csrf_token;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && path !== '/v1/session') onUnauthorized();
    throw new ApiError(res.status, data);
  }
  return data;
}

export const get = (p) => api('GET', p);

// GET /v1/session: the user, role, tenant and CSRF token; null when not signed in.
export async function loadSession() {
  try {
    state.session = await api('GET', '/v1/session');
  } catch (e) {
    if (e.status === 401) state.session = null;
    else throw e;
  }
  return state.session;
}

export async function signIn(email, password) {
  state.session = await api('POST', '/v1/session', { email, password });
  return state.session;
}

export async function signOut() {
  try { await api('DELETE', '/v1/session'); } finally { state.session = null; }
}

// A query string from an object, leaving out empty values.
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}
