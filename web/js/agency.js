// The agency page: a placeholder until agency tickets exist.
import { initI18n, t, onLangChange } from './i18n.js';
import { api, loadMe, ApiError, homeFor } from './api.js';
import { byId, setText } from './dom.js';
import { initChrome, showPageError } from './chrome.js';

let agencyName = null;
let me = null;

function render() {
  const name = agencyName || (me && me.agency) || '';
  setText(byId('agency-name'), name ? t('agency.for', { agency: name }) : '');
}

async function main() {
  await initI18n();
  try {
    me = await loadMe();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showPageError(e);
    return;
  }
  if (me.role !== 'agency') {
    window.location.replace(homeFor(me.role) || './');
    return;
  }
  initChrome(me);
  try {
    const config = await api('GET', 'api/config');
    const a = (config.agencies || []).find((x) => x.id === me.agency);
    if (a) agencyName = a.name;
  } catch {
    /* the id alone will do */
  }
  render();
  onLangChange(render);
}

main();
