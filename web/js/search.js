// Case search (supervisors: every case; operators: their seat's cases). The
// form reads GET api/cases (caller, date range, class, category, agency, text
// in notes and addresses; paged with `before`); a case id goes straight to
// GET api/cases/{case}. A case opens beside the list with everything the case
// log holds: facts, location, notes, tickets with their steps, call-back
// attempts, the caller's earlier calls and every record, oldest first.
// The search is kept in the address (search.html?caller=...&case=...), so a
// link or a reload shows the same.
import { initI18n, t, label, onLangChange, locale } from './i18n.js';
import { api, loadMe, ApiError, homeFor, errorText } from './api.js';
import { h, fill, byId, setText } from './dom.js';
import { fmtDateTime, fmtDuration, fmtNumber, fmtCoord, none, stripUri } from './format.js';
import { initChrome, showPageError, showStatus } from './chrome.js';
import { networkLocationBlock, samePlace, languagesText, needsInterpreter, priorityText, idsBlock, unreadText, chatItem, detailLine } from './ng112.js';
import { agencyName, categoryName, statusBadge, stepper, historyList, placeBlock, callerNumber } from './tickets.js';

const enc = encodeURIComponent;
const PAGE = 50;
const DEFAULT_DAYS = 7;
const FIELDS = ['caller', 'from', 'to', 'class', 'category', 'agency', 'text'];

let me = null;
let config = null;
let today = null;
/** The last search that ran: its parameters, the rows so far, whether there are more. */
let current = null;
let detail = null; // the case object on show
let detailHistory = null; // its caller's history (or an error)
let searchSeq = 0;
let detailSeq = 0;
let pendingCase = null; // a case being loaded (for the address bar and the row marked)

// ---------------------------------------------------------------- dates

const isoOf = (d) => d.toISOString().slice(0, 10);
const isIso = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '');
function addDays(s, n) {
  const d = new Date(`${s}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return isoOf(d);
}

// ---------------------------------------------------------------- page

async function main() {
  await initI18n();
  try {
    me = await loadMe();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showPageError(e);
    return;
  }
  if (me.role !== 'supervisor' && me.role !== 'operator') {
    window.location.replace(homeFor(me.role) || './');
    return;
  }
  initChrome(me);
  byId('nav-wallboard').hidden = me.role !== 'supervisor';
  byId('nav-reports').hidden = me.role !== 'supervisor';
  byId('nav-operator').hidden = me.role !== 'operator';
  try {
    config = await api('GET', 'api/config');
  } catch (e) {
    showPageError(e);
    return;
  }
  try {
    const st = await api('GET', 'api/state');
    today = (st && st.figures && st.figures.date) || null;
  } catch {
    today = null;
  }
  if (!isIso(today)) today = isoOf(new Date(Date.now() - new Date().getTimezoneOffset() * 60000));
  byId('s-from').max = today;
  byId('s-to').max = today;

  fillSelects();
  fromUrl();

  byId('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
  });
  byId('search-reset').addEventListener('click', () => {
    for (const id of ['s-caller', 's-case', 's-text']) byId(id).value = '';
    for (const id of ['s-class', 's-category', 's-agency']) byId(id).value = '';
    byId('s-from').value = addDays(today, -(DEFAULT_DAYS - 1));
    byId('s-to').value = today;
    closeDetail(false);
    submit();
  });
  byId('results-more').addEventListener('click', () => runSearch(true));
  byId('detail-close').addEventListener('click', () => closeDetail(true));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !byId('case-detail').hidden && byId('case-detail').contains(document.activeElement)) closeDetail(true);
  });
  window.addEventListener('popstate', () => {
    fromUrl();
  });
  onLangChange(() => {
    fillSelects();
    if (current) renderResults();
    if (detail) renderDetail();
  });
}

/** The class, category and agency choices from the config ("all" first), keeping what was chosen. */
function fillSelects() {
  const opts = (sel, items) => {
    const keep = sel.value;
    fill(sel, h('option', { value: '' }, t('search.any')), items.map(([v, text]) => h('option', { value: v }, text)));
    sel.value = items.some(([v]) => v === keep) ? keep : '';
  };
  opts(byId('s-class'), (config.classes || []).map((c) => [c, label('class', c)]));
  opts(byId('s-category'), (config.categories || []).map((c) => [c.id, categoryName(config, c.id)]));
  opts(byId('s-agency'), (config.agencies || []).map((a) => [a.id, a.name || a.id]));
}

/** Fills the form from the address and runs that search (and opens ?case=). */
function fromUrl() {
  const q = new URLSearchParams(window.location.search);
  byId('s-caller').value = q.get('caller') || '';
  byId('s-text').value = q.get('text') || '';
  byId('s-case').value = '';
  byId('s-from').value = isIso(q.get('from')) ? q.get('from') : addDays(today, -(DEFAULT_DAYS - 1));
  byId('s-to').value = isIso(q.get('to')) ? q.get('to') : today;
  for (const k of ['class', 'category', 'agency']) {
    const sel = byId(`s-${k}`);
    sel.value = q.get(k) || '';
    if (sel.value !== (q.get(k) || '')) sel.value = '';
  }
  runSearch(false);
  const cid = q.get('case');
  if (cid) openCase(cid, false);
  else closeDetail(false);
}

/** The search in the form, or {error} (and the field marked) when it cannot run. */
function formParams() {
  const p = {};
  for (const el of [byId('s-from'), byId('s-to')]) el.removeAttribute('aria-invalid');
  const caller = byId('s-caller').value.trim();
  if (caller) p.caller = caller;
  const from = byId('s-from').value;
  const to = byId('s-to').value;
  if (from && !isIso(from)) {
    byId('s-from').setAttribute('aria-invalid', 'true');
    return { error: t('report.bad_date') };
  }
  if (to && !isIso(to)) {
    byId('s-to').setAttribute('aria-invalid', 'true');
    return { error: t('report.bad_date') };
  }
  if (from && to && to < from) {
    byId('s-to').setAttribute('aria-invalid', 'true');
    return { error: t('report.bad_order') };
  }
  if (from) p.from = from;
  if (to) p.to = to;
  for (const k of ['class', 'category', 'agency']) if (byId(`s-${k}`).value) p[k] = byId(`s-${k}`).value;
  const text = byId('s-text').value.trim();
  if (text) p.text = text;
  return { params: p };
}

function query(params, extra) {
  const q = new URLSearchParams();
  for (const k of FIELDS) if (params[k]) q.set(k, params[k]);
  for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
  return q.toString();
}

/** Keeps the search (and the open case) in the address bar. */
function saveUrl(push) {
  const params = (current && current.params) || {};
  const qs = query(params, { case: detail ? detail.case : (pendingCase || '') });
  const url = `search.html${qs ? `?${qs}` : ''}`;
  if (`${window.location.pathname.split('/').pop()}${window.location.search}` === url) return;
  if (push) window.history.pushState(null, '', url);
  else window.history.replaceState(null, '', url);
}

function submit() {
  const cid = byId('s-case').value.trim();
  runSearch(false, true);
  if (cid) openCase(cid, true);
}

// ---------------------------------------------------------------- results

async function runSearch(more, push = false) {
  const status = byId('search-status');
  let params;
  if (more) {
    params = current.params;
  } else {
    const f = formParams();
    if (f.error) {
      showStatus(status, 'error', f.error);
      return;
    }
    params = f.params;
  }
  const mine = ++searchSeq;
  const before = more && current.rows.length ? current.rows[current.rows.length - 1].case : null;
  showStatus(status, 'busy', t('search.loading'));
  byId('search-run').disabled = true;
  byId('results-more').disabled = true;
  try {
    const res = await api('GET', `api/cases?${query(params, { limit: String(PAGE), before })}`);
    if (mine !== searchSeq) return;
    const rows = (res && res.cases) || [];
    if (more) {
      current.rows.push(...rows);
      current.more = !!res.more;
    } else {
      current = { params, rows, more: !!(res && res.more) };
      saveUrl(push);
    }
    renderResults();
    showStatus(status, 'ok', t(current.more ? 'search.found_more' : current.rows.length === 1 ? 'search.found_one' : 'search.found', { n: fmtNumber(current.rows.length) }));
  } catch (e) {
    if (mine !== searchSeq) return;
    showStatus(status, 'error', errorText(e));
  } finally {
    if (mine === searchSeq) {
      byId('search-run').disabled = false;
      byId('results-more').disabled = false;
    }
  }
}

function classCell(row) {
  const parts = [];
  if (row.class) parts.push(h('span', { class: 'badge badge-class badge-small', dataset: { class: row.class } }, label('class', row.class)));
  else parts.push(h('span', { class: 'muted' }, t('history.unclassified')));
  if (row.category) parts.push(h('span', { class: 'r-category' }, categoryName(config, row.category)));
  return parts;
}

function ticketChips(tickets) {
  if (!tickets || !tickets.length) return h('span', { class: 'muted' }, none());
  return h('ul', { class: 'chips' }, tickets.map((tk) => h('li', {
    class: 'chip ticket-status', dataset: { status: tk.status || '' },
    title: t('search.ticket_title', { agency: agencyName(config, tk.agency), status: label('ticket.status', tk.status) }),
  }, h('span', { class: 'chip-agency' }, tk.agency), ' ', h('span', { class: 'chip-status' }, label('ticket.status', tk.status)))));
}

function stateCell(row) {
  if (row.closed_ms) return h('span', { class: 'r-state', dataset: { state: 'closed' } }, t('search.state_closed'));
  if (row.reason === null || row.reason === undefined) return h('span', { class: 'r-state', dataset: { state: 'live' } }, t('search.state_live'));
  return h('span', { class: 'r-state', dataset: { state: 'open' } }, row.reason === 'completed' ? t('search.state_open') : label('reason', row.reason));
}

function renderResults() {
  const rows = current.rows;
  const open = detail ? detail.case : pendingCase;
  fill(byId('results'), rows.map((r) => {
    const link = h('a', {
      href: `search.html?${query(current.params, { case: r.case })}`, class: 'case-link mono',
      'aria-label': t('search.open_case', { case: r.case }),
      onclick: (ev) => {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
        ev.preventDefault();
        openCase(r.case, true);
      },
    }, r.case);
    return h('tr', { dataset: { case: r.case, class: r.class || '' }, 'aria-current': r.case === open ? 'true' : null },
      h('td', null, link),
      h('td', { class: 'r-opened' }, fmtDateTime(r.opened_ms)),
      h('td', { class: 'caller' }, callerNumber(r.caller)),
      h('td', { class: 'r-class' }, classCell(r)),
      h('td', { class: 'r-seat' }, label('queue', r.queue), r.seat ? h('span', { class: 'call-seat' }, r.seat) : null),
      h('td', { class: 'num timer c-wait' }, fmtDuration(r.wait_ms)),
      h('td', { class: 'num timer c-talk' }, fmtDuration(r.talk_ms)),
      h('td', { class: 'r-tickets' }, ticketChips(r.tickets)),
      h('td', null, stateCell(r)));
  }));
  byId('results-empty').hidden = rows.length > 0;
  byId('results-more').hidden = !current.more;
  setText(byId('results-count'), rows.length ? t(current.more ? 'search.count_more' : rows.length === 1 ? 'search.count_one' : 'search.count', { n: fmtNumber(rows.length) }) : '');
}

// ---------------------------------------------------------------- one case

async function openCase(cid, push) {
  const mine = ++detailSeq;
  pendingCase = cid;
  const panel = byId('case-detail');
  panel.hidden = false;
  document.body.classList.add('has-detail');
  setText(byId('detail-h'), t('search.case_title', { case: cid }));
  showStatus(byId('detail-status'), 'busy', t('search.loading_case'));
  if (!detail || detail.case !== cid) fill(byId('detail-body'));
  markCurrent(cid);
  try {
    const c = await api('GET', `api/cases/${enc(cid)}`);
    if (mine !== detailSeq) return;
    detail = c;
    detailHistory = null;
    pendingCase = null;
    saveUrl(push);
    renderDetail();
    showStatus(byId('detail-status'), 'ok', '');
    byId('detail-status').textContent = '';
    panel.focus({ preventScroll: true });
    showPanel(panel);
    loadHistory(c, mine);
  } catch (e) {
    if (mine !== detailSeq) return;
    detail = null;
    pendingCase = null;
    fill(byId('detail-body'));
    showStatus(byId('detail-status'), 'error', t('search.case_error', { case: cid, error: errorText(e) }));
    panel.focus({ preventScroll: true });
    showPanel(panel);
  }
}

/** Scrolls the case into view only when its top is off screen (beside the list it already is). */
function showPanel(panel) {
  const top = panel.getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight * 0.6) panel.scrollIntoView({ block: 'start', behavior: 'instant' });
}

function closeDetail(push) {
  detailSeq += 1;
  detail = null;
  pendingCase = null;
  byId('case-detail').hidden = true;
  document.body.classList.remove('has-detail');
  markCurrent(null);
  if (push) {
    saveUrl(true);
    const row = document.querySelector('#results tr a.case-link');
    if (row) row.focus();
  }
}

function markCurrent(cid) {
  for (const tr of document.querySelectorAll('#results tr[data-case]')) {
    if (tr.dataset.case === cid) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
}

async function loadHistory(c, mine) {
  const number = stripUri(c.caller);
  if (!number || !/\d/.test(number)) {
    detailHistory = { none: true };
    if (mine === detailSeq) renderHistory();
    return;
  }
  try {
    const res = await api('GET', `api/callers/${enc(number)}/history`);
    if (mine !== detailSeq) return;
    detailHistory = res || { cases: [] };
  } catch (e) {
    if (mine !== detailSeq) return;
    detailHistory = { error: errorText(e) };
  }
  renderHistory();
}

function fact(key, value, attrs) {
  return h('div', { class: 'fact', ...(attrs || {}) }, h('dt', null, t(key)), h('dd', null, value));
}

function renderDetail() {
  const c = detail;
  setText(byId('detail-h'), t('search.case_title', { case: c.case }));
  const answered = Number.isFinite(c.answered_ms);
  const langs = ((c.info && c.info.languages) || []).filter(Boolean);
  const facts = h('dl', { class: 'facts detail-facts' },
    fact('case.caller', [callerNumber(c.caller),
      priorityText(c.info) ? h('span', { class: 'badge badge-priority', id: 'detail-priority-badge', title: t('ng.priority_title', { n: c.priority || 0 }) }, priorityText(c.info)) : null,
      c.channel === 'text' ? h('span', { class: 'badge badge-text' }, t('chat.badge')) : null], { class: 'fact fact-caller', id: 'detail-caller' }),
    fact('case.opened', fmtDateTime(c.opened_ms)),
    fact('case.service', c.called ? t('case.service_called', { service: label('service', c.service), called: c.called }) : label('service', c.service) || none()),
    fact('case.queue', label('queue', c.queue) || none()),
    fact('search.seat', c.seat || none()),
    fact('case.wait', fmtDuration(c.wait_ms)),
    fact('case.talk', answered ? fmtDuration(c.talk_ms) : t('search.never_answered')),
    fact('search.ended', c.ended_ms ? t('search.ended_reason', { time: fmtDateTime(c.ended_ms), reason: label('reason', c.reason) }) : t('search.state_live')),
    fact('case.class', c.class ? h('span', { class: 'badge badge-class', dataset: { class: c.class } }, label('class', c.class)) : t('history.unclassified'), { class: 'fact', id: 'detail-class' }),
    fact('case.category', c.category ? categoryName(config, c.category) : none()),
    fact('search.ready', c.ready ? t('search.yes') : t('search.no')),
    fact('search.closed', closedText(c), { class: 'fact', id: 'detail-closed' }),
    c.channel ? fact('search.channel', label('channel', c.channel), { class: 'fact', id: 'detail-channel' }) : null,
    langs.length ? fact('ng.languages_title', needsInterpreter(langs) ? t('ng.languages_interpreter', { langs: languagesText(langs) }) : t('ng.languages', { langs: languagesText(langs) }),
      { class: `fact fact-wide${needsInterpreter(langs) ? ' needs-interpreter' : ''}`, id: 'detail-languages' }) : null);
  const marks = (c.marks || []).length
    ? h('p', { class: 'detail-marks' }, t('case.marks'), ': ', (c.marks || []).map((m) => label('mark', m)).join(', '))
    : null;
  const loc = c.location;
  const net = c.network_location || null;
  const place = h('section', { class: 'detail-block', 'aria-labelledby': 'detail-loc-h' },
    h('h3', { id: 'detail-loc-h' }, t('case.location')),
    net && loc && loc.source !== 'operator' && samePlace(loc, net)
      ? h('p', { class: 'muted' }, t('ng.same_as_network'))
      : [placeBlock(loc ? { address: loc.address, lat: loc.lat, lon: loc.lon } : null),
        loc && detailLine(loc.detail, null) ? h('div', { class: 'loc-uncertainty' }, detailLine(loc.detail, null)) : null,
        loc && loc.source ? h('div', { class: 'muted small' }, label('loc.source', loc.source)) : null],
    net ? h('div', { class: 'detail-network' }, h('h4', null, t('ng.network_title')), networkLocationBlock(net, { id: 'detail-network-location' })) : null);
  const ids = idsBlock(c.info, 'detail-ng-ids');
  const ngBlock = (unreadText(c.info) || ids)
    ? h('section', { class: 'detail-block detail-ng', 'aria-labelledby': 'detail-ng-h' },
      h('h3', { id: 'detail-ng-h' }, t('search.ng_title')),
      unreadText(c.info) ? h('p', { class: 'warn-line', id: 'detail-unread', role: 'note' }, unreadText(c.info)) : null,
      ids)
    : null;
  const msgs = (c.text && c.text.messages) || [];
  const chat = c.channel === 'text'
    ? h('section', { class: 'detail-block detail-chat', id: 'detail-chat', 'aria-labelledby': 'detail-chat-h' },
      h('h3', { id: 'detail-chat-h' }, t('search.chat_title', { n: fmtNumber(msgs.length) })),
      msgs.length ? h('ol', { class: 'chat-messages', tabindex: '0', 'aria-labelledby': 'detail-chat-h' }, msgs.map(chatItem)) : h('p', { class: 'muted' }, t('chat.no_messages')))
    : null;
  const notes = [...(c.notes || [])].sort((a, b) => (a.at_ms || 0) - (b.at_ms || 0));
  const notesBlock = h('section', { class: 'detail-block', 'aria-labelledby': 'detail-notes-h' },
    h('h3', { id: 'detail-notes-h' }, t('notes.title')),
    notes.length
      ? h('ul', { class: 'notes', id: 'detail-notes' }, notes.map((n) => h('li', { class: 'note' },
        h('div', { class: 'note-meta muted' }, t('notes.meta', { time: fmtDateTime(n.at_ms), by: n.by || '' })),
        h('div', { class: 'note-text' }, n.text))))
      : h('p', { class: 'muted' }, t('notes.empty_list')));
  fill(byId('detail-body'),
    facts, marks,
    chat,
    h('div', { class: 'detail-cols' }, place, notesBlock),
    ngBlock,
    ticketsBlock(c),
    callbackBlock(c),
    h('section', { class: 'detail-block', id: 'detail-history', 'aria-labelledby': 'detail-history-h' },
      h('h3', { id: 'detail-history-h' }, t('history.title')),
      h('div', { id: 'detail-history-body' })),
    recordsBlock(c));
  renderHistory();
}

function closedText(c) {
  if (c.closed_ms) return fmtDateTime(c.closed_ms);
  if (!c.ended_ms) return t('search.state_live');
  const open = (c.tickets || []).filter((tk) => tk.status !== 'closed' && tk.status !== 'cancelled').length;
  if (open === 1) return t('search.open_tickets_one');
  return open ? t('search.open_tickets', { n: fmtNumber(open) }) : t('search.not_closed');
}

function ticketsBlock(c) {
  const tickets = [...(c.tickets || [])].sort((a, b) => (a.sent_ms || 0) - (b.sent_ms || 0));
  return h('section', { class: 'detail-block', 'aria-labelledby': 'detail-tickets-h' },
    h('h3', { id: 'detail-tickets-h' }, t('search.tickets'), ' ', h('span', { class: 'count-pill' }, fmtNumber(tickets.length))),
    tickets.length
      ? h('ul', { class: 'detail-tickets', id: 'detail-tickets' }, tickets.map((tk) => {
        const a2d = Number.isFinite(tk.sent_ms) && Number.isFinite(c.answered_ms) ? (tk.sent_ms - c.answered_ms) : null;
        return h('li', { class: 'detail-ticket', dataset: { agency: tk.agency, status: tk.status || '' } },
          h('div', { class: 'dt-head' },
            h('strong', { class: 'dt-agency' }, agencyName(config, tk.agency)),
            statusBadge(tk.status),
            a2d !== null ? h('span', { class: 'muted small' }, t('search.answer_to_dispatch', { d: fmtDuration(a2d) })) : null),
          stepper(tk),
          historyList(tk));
      }))
      : h('p', { class: 'muted' }, t('search.no_tickets')));
}

function callbackBlock(c) {
  const cb = c.callback;
  if (!cb) return null;
  const attempts = [...(cb.attempts || [])].sort((a, b) => (a.at_ms || 0) - (b.at_ms || 0));
  return h('section', { class: 'detail-block', id: 'detail-callback', 'aria-labelledby': 'detail-callback-h', dataset: { due: String(!!cb.due) } },
    h('h3', { id: 'detail-callback-h' }, t('callback.title'), ' ',
      h('span', { class: `badge badge-small${cb.due ? ' badge-due' : ''}` }, t(cb.due ? 'search.callback_due' : 'search.callback_done'))),
    attempts.length
      ? h('ul', { class: 'ticket-history' }, attempts.map((a) => h('li', null,
        h('span', { class: 'th-time' }, fmtDateTime(a.at_ms)),
        h('span', { class: 'badge badge-small' }, label('callback.outcome', a.outcome)),
        h('span', { class: 'th-by muted' }, a.by || ''),
        a.note ? h('span', { class: 'th-note' }, a.note) : null)))
      : h('p', { class: 'muted' }, t('callback.no_attempts')));
}

function renderHistory() {
  const box = byId('detail-history-body');
  if (!box || !detail) return;
  const hist = detailHistory;
  if (!hist) {
    fill(box, h('p', { class: 'muted' }, t('history.loading')));
    return;
  }
  if (hist.none) {
    fill(box, h('p', { class: 'muted' }, t('history.anonymous')));
    return;
  }
  if (hist.error) {
    fill(box, h('p', { class: 'status', dataset: { kind: 'error' } }, hist.error));
    return;
  }
  const others = (hist.cases || []).filter((x) => x.case !== detail.case);
  const number = stripUri(detail.caller);
  const all = h('a', {
    href: `search.html?${query({ caller: number, from: addDays(today, -365), to: today })}`, id: 'detail-history-search',
    onclick: (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      byId('s-caller').value = number;
      byId('s-from').value = addDays(today, -365);
      byId('s-to').value = today;
      for (const k of ['class', 'category', 'agency']) byId(`s-${k}`).value = '';
      byId('s-text').value = '';
      runSearch(false, true);
      byId('search-form').scrollIntoView({ block: 'start' });
      byId('s-caller').focus();
    },
  }, t('search.all_from_caller', { number }));
  fill(box,
    h('p', { class: hist.pranks ? 'pranks-line has-pranks' : 'muted' },
      hist.pranks ? t('history.pranks', { n: hist.pranks }) : t('history.no_pranks'), ' · ', all),
    others.length
      ? h('ul', { class: 'detail-hist', id: 'detail-hist' }, others.map((x) => h('li', { dataset: { case: x.case, class: x.class || '' } },
        h('a', {
          href: `search.html?${query((current && current.params) || {}, { case: x.case })}`, class: 'mono',
          onclick: (ev) => {
            if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
            ev.preventDefault();
            openCase(x.case, true);
          },
        }, x.case),
        h('span', { class: 'hist-time' }, fmtDateTime(x.opened_ms)),
        h('span', { class: 'badge badge-class badge-small', dataset: { class: x.class || '' } }, x.class ? label('class', x.class) : t('history.unclassified')),
        x.reason ? h('span', { class: 'muted small' }, label('reason', x.reason)) : null)))
      : h('p', { class: 'muted' }, t('history.first_call')));
}

// ---------------------------------------------------------------- the case log records

const SKIP = new Set(['time', 'event', 'at_ms', 'case', 'seq']);

/** A record's fields as words: known ones translated, any other as "name: value". */
function recordDetail(r) {
  const out = [];
  const add = (s) => { if (s) out.push(s); };
  for (const [k, v] of Object.entries(r)) {
    if (SKIP.has(k) || v === null || v === undefined || v === '') continue;
    switch (k) {
      case 'seat': add(t('rec.seat', { seat: v })); break;
      case 'by': add(t('rec.by', { by: v })); break;
      case 'class': add(label('class', v)); break;
      case 'category': add(categoryName(config, v)); break;
      case 'reason': add(label('reason', v)); break;
      case 'agency': add(agencyName(config, v)); break;
      case 'status': add(label('ticket.status', v)); break;
      case 'outcome': add(label('callback.outcome', v)); break;
      case 'mark': add(label('mark', v)); break;
      case 'queue': add(label('queue', v)); break;
      case 'service': add(label('service', v)); break;
      case 'caller': add(callerNumber(v)); break;
      case 'source': add(label('loc.source', v)); break;
      case 'wait_ms': add(t('rec.wait', { d: fmtDuration(v) })); break;
      case 'talk_ms': add(t('rec.talk', { d: fmtDuration(v) })); break;
      case 'lat': if (Number.isFinite(r.lon)) add(t('loc.coords', { lat: fmtCoord(v), lon: fmtCoord(r.lon) })); break;
      case 'lon': break;
      case 'text': case 'note': case 'address': add(`“${v}”`); break;
      default:
        add(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
    }
  }
  return out.join(' · ');
}

function recordTime(r) {
  if (Number.isFinite(r.at_ms)) return r.at_ms;
  const ms = Date.parse(r.time || '');
  return Number.isFinite(ms) ? ms : null;
}

function fmtRecTime(ms) {
  if (!Number.isFinite(ms)) return none();
  return new Date(ms).toLocaleString(locale(), {
    day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

function recordsBlock(c) {
  const recs = c.records || [];
  return h('section', { class: 'detail-block', 'aria-labelledby': 'detail-records-h' },
    h('h3', { id: 'detail-records-h' }, t('search.records'), ' ', h('span', { class: 'count-pill' }, fmtNumber(recs.length))),
    recs.length
      ? h('ol', { class: 'records', id: 'detail-records' }, recs.map((r) => h('li', { dataset: { event: r.event || '' } },
        h('span', { class: 'rec-time' }, fmtRecTime(recordTime(r))),
        h('span', { class: 'rec-event' }, label('rec.event', r.event)),
        h('span', { class: 'rec-detail' }, recordDetail(r)))))
      : h('p', { class: 'muted' }, t('search.no_records')));
}

main();
