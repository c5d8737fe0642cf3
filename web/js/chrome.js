// What every signed-in page shares: the top bar (user, connection, language,
// sign-out) and the page-wide error banner.
import { t, label, onLangChange } from './i18n.js';
import { byId, setText } from './dom.js';
import { signOut, errorText } from './api.js';

let connState = 'connecting';
let me = null;

export function initChrome(user) {
  me = user;
  const btn = byId('session-logout');
  if (btn) btn.addEventListener('click', signOut);
  renderChrome();
  onLangChange(renderChrome);
}

function renderChrome() {
  const info = byId('user-info');
  if (info && me) setText(info, t('user.info', { user: me.user, role: label('role', me.role) }));
  showConnection(connState);
}

let bannerTimer = null;

export function showConnection(state) {
  connState = state;
  const el = byId('conn-status');
  if (!el) return;
  el.dataset.state = state;
  setText(el, t(`conn.${state}`));
  // A banner too when the connection stays down (not for a quick reconnect): what is on
  // screen may be stale.
  const banner = byId('conn-banner');
  if (!banner) return;
  const down = state === 'reconnecting' || state === 'error';
  if (!down) {
    clearTimeout(bannerTimer);
    bannerTimer = null;
    banner.hidden = true;
    document.body.classList.remove('stale');
  } else if (banner.hidden && !bannerTimer) {
    bannerTimer = setTimeout(() => {
      bannerTimer = null;
      if (connState !== 'reconnecting' && connState !== 'error') return;
      setText(banner, t('conn.banner'));
      banner.hidden = false;
      document.body.classList.add('stale');
    }, 2000);
  } else if (!banner.hidden) {
    setText(banner, t('conn.banner'));
  }
}

/** Shows (or, with null, hides) the page-wide error banner: a string, or an error. */
export function showPageError(err) {
  const el = byId('page-error');
  if (!el) return;
  if (err === null || err === undefined) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.textContent = typeof err === 'string' ? err : errorText(err);
  el.hidden = false;
}

/** A status line (role=status) with a kind: 'ok' | 'error' | 'info' | 'busy'. */
export function showStatus(el, kind, text) {
  el.dataset.kind = kind;
  el.textContent = text;
}
