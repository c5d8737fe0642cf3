// The login page: user and password -> POST api/login -> the page for the role.
import { initI18n, t, onLangChange } from './i18n.js';
import { api, ApiError, homeFor, errorText } from './api.js';
import { byId } from './dom.js';

function go(me) {
  const page = homeFor(me && me.role);
  if (page) {
    window.location.replace(page);
    return true;
  }
  showError(t('login.unknown_role'));
  return false;
}

let lastError = null;

function showError(text) {
  const el = byId('login-error');
  el.textContent = text;
  el.hidden = !text;
}

function errorFor(e) {
  if (!(e instanceof ApiError)) return t('error.unknown');
  if (e.status === 401) return t('login.bad');
  if (e.status === 429) {
    return Number.isFinite(e.retryAfter) && e.retryAfter > 0
      ? t('login.too_many_wait', { s: e.retryAfter })
      : t('login.too_many');
  }
  if (e.status === 0) return t('error.network');
  return errorText(e);
}

async function main() {
  await initI18n();
  const form = byId('login-form');
  const user = byId('login-user');
  const pass = byId('login-password');
  const submit = byId('login-submit');

  // Already signed in (a reload, a second tab): straight on.
  try {
    const me = await api('GET', 'api/me', undefined, { auth401: false });
    if (me && go(me)) return;
  } catch {
    /* not signed in */
  }
  user.focus();

  // Switching language re-words an error already on screen.
  onLangChange(() => {
    if (lastError) showError(errorFor(lastError));
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    lastError = null;
    showError('');
    const u = user.value.trim();
    if (!u || !pass.value) {
      showError(t('login.empty'));
      (u ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const me = await api('POST', 'api/login', { user: u, password: pass.value }, { auth401: false });
      go(me);
    } catch (e) {
      lastError = e;
      showError(errorFor(e));
      pass.value = '';
      pass.focus();
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  // The form takes a sign-in from now on (a script driving the page waits for this).
  form.dataset.ready = 'true';
}

main();
