// The agency page: the tickets the 112 centre sent to this agency, live over
// SSE. Open tickets first (newest first), each with its brief and its steps
// (acknowledge, on scene, close, cancel); today's closed and cancelled ones
// below, collapsed. A ticket not yet acknowledged is impossible to miss: the
// card pulses, a banner says so and the tab title counts them.
import { initI18n, t, label, onLangChange } from './i18n.js';
import { api, loadMe, ApiError, homeFor, errorText, withDetail } from './api.js';
import { h, fill, byId, setText } from './dom.js';
import { fmtTime, none, stripUri } from './format.js';
import { startLive, startTicker, setTimer, ticketNewer } from './live.js';
import { initChrome, showConnection, showPageError, showStatus } from './chrome.js';
import {
  agencyName, categoryName, isFinal, canDo, nextAction, statusBadge, stepper, historyList, placeBlock, callerNumber,
} from './tickets.js';

const enc = encodeURIComponent;
const ACTIONS = ['acknowledge', 'on-scene', 'close', 'cancel'];

let me = null;
let config = null;
let agency = null;
let model = null;
/** Every ticket of this agency we know of (open ones and today's), by ticket id. */
let tickets = new Map();
/** Ticket ids already on screen once: a ticket not in it is new. */
const seen = new Set();
let firstSnapshot = true;

async function main() {
  await initI18n();
  try {
    me = await loadMe();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showPageError(e);
    return;
  }
  if (me.role !== 'agency' && me.role !== 'supervisor') {
    window.location.replace(homeFor(me.role) || './');
    return;
  }
  initChrome(me);
  try {
    config = await api('GET', 'api/config');
  } catch (e) {
    showPageError(e);
    return;
  }
  if (me.role === 'agency') {
    agency = me.agency;
  } else {
    // A supervisor acts on an agency's behalf: ?agency=damkar, else a picker.
    byId('nav-wallboard').hidden = false;
    const wanted = new URLSearchParams(window.location.search).get('agency');
    agency = (config.agencies || []).some((a) => a.id === wanted) ? wanted : null;
    if (!agency) {
      showPicker();
      onLangChange(showPicker);
      return;
    }
  }
  byId('agency-main').hidden = false;
  renderHead();
  model = startLive({ onSnapshot, onEvent, onConnection: showConnection, resyncMs: 60000 });
  startTicker(model, tick);
  onLangChange(() => {
    renderHead();
    renderAll(true);
  });
}

function showPicker() {
  byId('agency-picker').hidden = false;
  fill(byId('agency-picker-list'), (config.agencies || []).map((a) =>
    h('li', null, h('a', { class: 'btn', href: `agency.html?agency=${enc(a.id)}`, 'data-testid': `pick-agency-${a.id}` }, a.name || a.id))));
}

function renderHead() {
  setText(byId('agency-name'), agencyName(config, agency));
  const a = (config.agencies || []).find((x) => x.id === agency);
  const cats = a && a.categories && a.categories.length ? a.categories.map((c) => categoryName(config, c)).join(', ') : '';
  setText(byId('agency-sub'), me.role === 'supervisor'
    ? t('agency.on_behalf', { user: me.user })
    : cats ? t('agency.categories', { categories: cats }) : '');
}

// ---------------------------------------------------------------- data

function mine(tk) {
  return tk && tk.agency === agency;
}

function put(tk) {
  if (!mine(tk)) return false;
  const cur = tickets.get(tk.ticket);
  if (cur && !ticketNewer(tk, cur)) return false;
  tickets.set(tk.ticket, tk);
  return true;
}

async function onSnapshot() {
  const next = new Map();
  for (const tk of model.tickets.values()) if (mine(tk)) next.set(tk.ticket, tk);
  // Keep what events told us since (the state holds only open tickets).
  for (const tk of tickets.values()) {
    const cur = next.get(tk.ticket);
    if (!cur || ticketNewer(tk, cur)) next.set(tk.ticket, tk);
  }
  tickets = next;
  renderAll();
  try {
    const q = me.role === 'supervisor' ? `&agency=${enc(agency)}` : '';
    const r = await api('GET', `api/tickets?status=all${q}`);
    for (const tk of (r && r.tickets) || []) put(tk);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showPageError(e);
  }
  if (firstSnapshot) {
    for (const id of tickets.keys()) seen.add(id);
    firstSnapshot = false;
  }
  renderAll();
}

function onEvent(type, data) {
  if (type !== 'ticket' || !mine(data)) return;
  const isNew = !seen.has(data.ticket) && !isFinal(data);
  if (put(data)) {
    if (isNew) {
      seen.add(data.ticket);
      freshUntil.set(data.ticket, Date.now() + 15000);
      announce(t('agency.announce_new', { category: categoryName(config, data.brief && data.brief.category) || t('agency.no_category') }));
    }
    renderAll();
  }
}

/** Tickets that just arrived: flashed for a while. */
const freshUntil = new Map();

// ---------------------------------------------------------------- render

function sorted(list) {
  return list.sort((a, b) => (b.sent_ms || 0) - (a.sent_ms || 0));
}

function renderAll(relabel) {
  const all = [...tickets.values()];
  const open = sorted(all.filter((tk) => !isFinal(tk)));
  const closed = sorted(all.filter((tk) => isFinal(tk)));
  const box = byId('agency-tickets');

  // Keyed cards: a note being typed, and a cancel being confirmed, survive an update.
  const keep = new Set(open.map((tk) => tk.ticket));
  for (const card of [...box.children]) if (!keep.has(card.dataset.ticket)) card.remove();
  let prev = null;
  for (const tk of open) {
    let card = box.querySelector(`[data-ticket="${CSS.escape(tk.ticket)}"]`);
    if (!card) card = makeCard(tk);
    else if (relabel) relabelCard(card);
    updateCard(card, tk);
    // Move only when out of place (moving a card would take the focus out of its note field).
    const want = prev ? prev.nextElementSibling : box.firstElementChild;
    if (want !== card) box.insertBefore(card, want);
    prev = card;
  }
  byId('agency-empty').hidden = open.length > 0;

  fill(byId('agency-closed-list'), closed.map(closedCard));
  byId('agency-closed-empty').hidden = closed.length > 0;
  setText(byId('agency-closed-summary'), t('agency.closed_today', { n: closed.length }));

  const unack = open.filter((tk) => tk.status === 'sent').length;
  const oc = byId('agency-open-count');
  oc.dataset.open = String(open.length);
  oc.dataset.new = String(unack);
  setText(oc, unack ? t('agency.open_count_new', { n: open.length, fresh: unack }) : t('agency.open_count', { n: open.length }));
  const alert = byId('agency-alert');
  alert.hidden = unack === 0;
  setText(byId('agency-alert-text'), t(unack === 1 ? 'agency.alert_one' : 'agency.alert', { n: unack }));
  const first = open.filter((tk) => tk.status === 'sent').pop();
  byId('agency-alert-link').setAttribute('href', first ? `#${cardId(first)}` : '#agency-tickets');
  document.title = unack ? t('title.agency_new', { n: unack, agency: agencyName(config, agency) }) : t('title.agency_named', { agency: agencyName(config, agency) });
  tick(model.now());
}

function cardId(tk) {
  return `ticket-${tk.ticket.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

/** The parts of an open ticket's card that never change; updateCard fills the rest. */
function makeCard(tk) {
  const note = h('input', { type: 'text', class: 'tc-note-input', maxlength: '500', autocomplete: 'off', id: `${cardId(tk)}-note` });
  const buttons = ACTIONS.map((a) => h('button', {
    type: 'button', class: `btn btn-step step-${a}`, dataset: { action: a },
    onclick: (ev) => (a === 'cancel' ? askCancel(ev.currentTarget) : act(ev.currentTarget, a)),
  }));
  const confirm = h('div', { class: 'tc-confirm', hidden: true, role: 'group' },
    h('span', { class: 'tc-confirm-text' }),
    h('button', { type: 'button', class: 'btn btn-danger', dataset: { action: 'cancel-confirm' }, onclick: (ev) => act(ev.currentTarget, 'cancel') }),
    h('button', { type: 'button', class: 'btn', dataset: { action: 'cancel-abort' }, onclick: (ev) => abortCancel(ev.currentTarget) }));
  const card = h('article', { class: 'ticket-card', id: cardId(tk), dataset: { ticket: tk.ticket }, tabindex: '-1' },
    h('header', { class: 'tc-head' }),
    h('div', { class: 'tc-body' },
      h('div', { class: 'tc-brief' }),
      h('div', { class: 'tc-work' },
        h('div', { class: 'tc-stepper' }),
        h('div', { class: 'tc-actions' },
          h('label', { class: 'tc-note-label', for: note.id }),
          note,
          h('div', { class: 'tc-buttons' }, buttons),
          confirm,
          h('p', { class: 'status tc-status', role: 'status', 'aria-live': 'polite' })),
        h('div', { class: 'tc-history-box' }, h('h4', { class: 'tc-h' }), h('div', { class: 'tc-history' })))));
  relabelCard(card);
  return card;
}

function relabelCard(card) {
  setText(card.querySelector('.tc-note-label'), t('agency.note'));
  card.querySelector('.tc-note-input').setAttribute('placeholder', t('agency.note_placeholder'));
  for (const b of card.querySelectorAll('.tc-buttons [data-action]')) setText(b, t(`agency.action.${b.dataset.action}`));
  setText(card.querySelector('.tc-confirm-text'), t('agency.cancel_confirm'));
  setText(card.querySelector('[data-action=cancel-confirm]'), t('agency.cancel_yes'));
  setText(card.querySelector('[data-action=cancel-abort]'), t('agency.cancel_no'));
  setText(card.querySelector('.tc-history-box .tc-h'), t('agency.history'));
}

function updateCard(card, tk) {
  card.dataset.status = tk.status;
  card.dataset.case = tk.case;
  card.dataset.new = String(tk.status === 'sent');
  card.classList.toggle('fresh', (freshUntil.get(tk.ticket) || 0) > Date.now());
  fill(card.querySelector('.tc-head'), headParts(tk));
  fill(card.querySelector('.tc-brief'), briefParts(tk));
  fill(card.querySelector('.tc-stepper'), stepper(tk));
  fill(card.querySelector('.tc-history'), historyList(tk));
  const next = nextAction(tk);
  for (const b of card.querySelectorAll('.tc-buttons [data-action]')) {
    const a = b.dataset.action;
    b.disabled = !canDo(tk, a) || card.dataset.busy === 'true';
    b.classList.toggle('btn-primary', a === next);
  }
}

function headParts(tk) {
  const b = tk.brief || {};
  const ago = h('span', { class: 'timer tc-ago' });
  setTimer(ago, tk.sent_ms, null, model);
  return [
    h('div', { class: 'tc-title' },
      h('h3', { class: 'tc-category' }, categoryName(config, b.category) || t('agency.no_category')),
      b.class ? h('span', { class: 'badge badge-class', dataset: { class: b.class } }, label('class', b.class)) : null,
      statusBadge(tk.status, 'tc-status-badge')),
    h('div', { class: 'tc-meta' },
      h('span', { class: 'tc-sent' }, t('agency.sent_at', { time: fmtTime(tk.sent_ms) }), ' · ', ago, ' ', t('agency.ago')),
      h('span', { class: 'tc-case mono muted' }, t('agency.case', { case: tk.case }))),
  ];
}

function briefParts(tk) {
  const b = tk.brief || {};
  const number = stripUri(b.caller);
  const sentNote = (tk.history || []).find((e) => e.status === 'sent' && e.note);
  const notes = [...(b.notes || [])].sort((x, y) => (x.at_ms || 0) - (y.at_ms || 0));
  return [
    h('div', { class: 'tc-field tc-place' }, h('div', { class: 'tc-label' }, t('agency.place')), placeBlock(b)),
    h('div', { class: 'tc-field tc-caller' }, h('div', { class: 'tc-label' }, t('agency.caller')),
      number ? h('a', { class: 'tc-number mono', href: `tel:${number}` }, number) : h('span', { class: 'muted' }, callerNumber(b.caller))),
    sentNote ? h('div', { class: 'tc-field tc-sent-note' }, h('div', { class: 'tc-label' }, t('agency.sent_note', { by: sentNote.by || '' })),
      h('div', { class: 'tc-note-text' }, sentNote.note)) : null,
    h('div', { class: 'tc-field tc-notes' }, h('div', { class: 'tc-label' }, t('agency.notes')),
      notes.length
        ? h('ul', { class: 'tc-note-list' }, notes.map((n) => h('li', null,
          h('span', { class: 'muted' }, t('notes.meta', { time: fmtTime(n.at_ms), by: n.by || '' })), ' ',
          h('span', { class: 'tc-note-text' }, n.text || ''))))
        : h('div', { class: 'muted' }, t('agency.no_notes'))),
    h('div', { class: 'tc-field tc-times muted' }, t('agency.call_times', {
      opened: fmtTime(b.opened_ms), answered: Number.isFinite(b.answered_ms) ? fmtTime(b.answered_ms) : none(),
    })),
  ];
}

function closedCard(tk) {
  const b = tk.brief || {};
  const end = tk.closed_ms || tk.cancelled_ms;
  const place = b.address || (Number.isFinite(b.lat) ? `${b.lat.toFixed(5)}, ${b.lon.toFixed(5)}` : '');
  return h('article', { class: 'ticket-card ticket-closed', dataset: { ticket: tk.ticket, status: tk.status, case: tk.case } },
    h('header', { class: 'tc-head' },
      h('div', { class: 'tc-title' },
        h('h3', { class: 'tc-category' }, categoryName(config, b.category) || t('agency.no_category')),
        statusBadge(tk.status),
        h('span', { class: 'tc-place-line' }, place)),
      h('div', { class: 'tc-meta' },
        h('span', null, t('agency.sent_final', { sent: fmtTime(tk.sent_ms), end: fmtTime(end) })),
        h('span', { class: 'tc-case mono muted' }, t('agency.case', { case: tk.case })))),
    historyList(tk));
}

function tick() {
  setText(byId('agency-clock'), fmtTime(model.now()));
  for (const card of byId('agency-tickets').children) {
    if (card.classList.contains('fresh') && (freshUntil.get(card.dataset.ticket) || 0) <= Date.now()) card.classList.remove('fresh');
  }
}

function announce(text) {
  setText(byId('announce'), text);
}

// ---------------------------------------------------------------- actions

function askCancel(btn) {
  const card = btn.closest('.ticket-card');
  card.querySelector('.tc-confirm').hidden = false;
  card.querySelector('.tc-buttons').hidden = true;
  card.querySelector('[data-action=cancel-abort]').focus();
}

function abortCancel(btn) {
  const card = btn.closest('.ticket-card');
  card.querySelector('.tc-confirm').hidden = true;
  card.querySelector('.tc-buttons').hidden = false;
}

async function act(btn, action) {
  const card = btn.closest('.ticket-card');
  const tk = tickets.get(card.dataset.ticket);
  if (!tk) return;
  const noteEl = card.querySelector('.tc-note-input');
  const note = noteEl.value.trim();
  const status = card.querySelector('.tc-status');
  if (note.length > 500) {
    showStatus(status, 'error', t('dispatch.note_too_long', { max: 500 }));
    return;
  }
  card.dataset.busy = 'true';
  for (const b of card.querySelectorAll('button')) b.disabled = true;
  showStatus(status, 'busy', t('status.sending'));
  let ok = false;
  try {
    const res = await api('POST', `api/tickets/${enc(tk.case)}/${enc(tk.agency)}/${action}`, note ? { note } : {});
    if (res) put(res);
    noteEl.value = '';
    ok = true;
    announce(t(`agency.done.${action}`));
    showStatus(status, 'ok', t(`agency.done.${action}`));
  } catch (e) {
    if (e instanceof ApiError && e.status === 409 && e.state) {
      showStatus(status, 'error', withDetail(t('agency.conflict', { status: label('ticket.status', e.state) }), e));
    } else {
      showStatus(status, 'error', errorText(e));
    }
  } finally {
    delete card.dataset.busy;
    for (const b of card.querySelectorAll('.tc-confirm button')) b.disabled = false;
    card.querySelector('.tc-confirm').hidden = true;
    card.querySelector('.tc-buttons').hidden = false;
    renderAll();
    const again = byId('agency-tickets').querySelector(`[data-ticket="${CSS.escape(tk.ticket)}"]`);
    if (!ok && again) {
      const latest = tickets.get(tk.ticket);
      if (latest) updateCard(again, latest);
    }
  }
}

main();
