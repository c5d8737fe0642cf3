// The console API (see web/README.md and the contract). One fetch wrapper:
// JSON in and out, the CSRF header on every state-changing request, and
// errors turned into ApiError with a message for the user.
import { t, has } from './i18n.js';

let csrf = null;

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter, state) {
    super(detail || code);
    this.status = status; // 0 = network error
    this.code = code;
    this.detail = detail || '';
    this.retryAfter = retryAfter;
    this.state = state; // a 409's "state": the seat's phase, a ticket's status...
  }
}

export function setCsrf(token) {
  csrf = token || null;
}

/** Back to the login page (the session is gone). */
export function goLogin() {
  window.location.replace('./');
}

export function homeFor(role) {
  switch (role) {
    case 'operator': return 'operator.html';
    case 'supervisor': return 'wallboard.html';
    case 'agency': return 'agency.html';
    default: return null;
  }
}

function codeFor(status) {
  switch (status) {
    case 400: return 'bad_request';
    case 401: return 'unauthenticated';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 413: return 'too_large';
    case 415: return 'unsupported_media';
    case 429: return 'too_many';
    default: return status >= 500 ? 'server' : 'unknown';
  }
}

/**
 * api('POST', 'api/cases/X/note', {text}) -> parsed JSON (null for 204).
 * Options: auth401 (default true): on 401 go back to the login page.
 */
export async function api(method, path, body, opts = {}) {
  const { auth401 = true, retryCsrf = true } = opts;
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message);
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const code = (data && data.error) || codeFor(res.status);
  const detail = (data && data.message) || '';
  if (res.status === 401 && auth401) {
    goLogin();
  }
  if (res.status === 403 && code === 'csrf' && retryCsrf) {
    // The token may have been renewed (a restart, another tab): fetch a fresh one, retry once.
    try {
      const me = await api('GET', 'api/me', undefined, { auth401 });
      setCsrf(me && me.csrf);
      return api(method, path, body, { auth401, retryCsrf: false });
    } catch {
      /* fall through to the original error */
    }
  }
  const ra = parseInt(res.headers.get('Retry-After') || '', 10);
  throw new ApiError(res.status, code, detail, Number.isFinite(ra) ? ra : undefined, data && data.state);
}

/**
 * For a download link (a CSV export): asks whether the server would give `path` (`check=1`: it
 * answers 204 without building the export) and, when it refuses, throws the ApiError (so the page
 * can say why) instead of letting the browser save an error as the file. The caller then follows
 * the link.
 */
export async function probe(path) {
  let res;
  const check = `${path}${path.includes('?') ? '&' : '?'}check=1`;
  try {
    res = await fetch(check, { method: 'GET', credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message);
  }
  if (res.ok) {
    try {
      if (res.body) await res.body.cancel();
    } catch {
      /* nothing to cancel */
    }
    return true;
  }
  let data = null;
  try {
    data = JSON.parse(await res.text());
  } catch {
    data = null;
  }
  if (res.status === 401) goLogin();
  const ra = parseInt(res.headers.get('Retry-After') || '', 10);
  throw new ApiError(res.status, (data && data.error) || codeFor(res.status), (data && data.message) || '',
    Number.isFinite(ra) ? ra : undefined, data && data.state);
}

/** A message for the user: what went wrong in their language, plus the server's words. */
export function errorText(err) {
  if (!(err instanceof ApiError)) return t('error.unknown');
  const key = `error.${err.code}`;
  const head = has(key) ? t(key) : t('error.status', { status: err.status });
  // The browser's own words for a network failure ("Failed to fetch") help nobody.
  return err.detail && err.status !== 0 ? t('error.with_detail', { what: head, detail: err.detail }) : head;
}

/** `text` (our own words for a known case, e.g. a 409's state) plus the server's message, if any. */
export function withDetail(text, err) {
  return err && err.detail ? t('error.with_detail', { what: text, detail: err.detail }) : text;
}

/** GET api/me; sets the CSRF token; on 401 goes to the login page. */
export async function loadMe() {
  const me = await api('GET', 'api/me');
  setCsrf(me.csrf);
  return me;
}

export async function signOut() {
  try {
    await api('POST', 'api/logout', undefined, { auth401: false });
  } catch {
    /* leave anyway: the login page checks the session again */
  }
  setCsrf(null);
  goLogin();
}
