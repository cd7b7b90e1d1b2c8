// Sign-in: POST /v1/session {email, password}; the answer carries the user and CSRF token.
import { h, fill } from './dom.js';
import { signIn } from './api.js';

export function signinPage(main, { onSignedIn }) {
  document.title = 'Sign in · callhook';
  const err = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const email = h('input', { type: 'email', name: 'email', id: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    button.disabled = true;
    try {
      await signIn(email.value.trim(), password.value);
      const next = new URLSearchParams(location.search).get('next');
      // only a path of this site: never a URL another site could make us go to
      onSignedIn(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
    } catch (e) {
      err.textContent = e.status === 401 ? 'Wrong email or password.'
        : e.status === 429 ? 'Too many attempts; wait a little and try again.'
          : `Sign-in failed: ${e.message}`;
      button.disabled = false;
      password.focus();
    }
  } },
  h('h1', { id: 'signin-title' }, 'Sign in to callhook'),
  h('label', { for: 'email' }, 'Email'), email,
  h('label', { for: 'password' }, 'Password'), password,
  button, err);
  fill(main, form);
  email.focus();
  return null;
}
