// The operator's screen: the seat's state and controls, and the case of the
// call being offered or handled, driven by the live events.
import { initI18n, t, label, onLangChange, currentLang } from './i18n.js';
import { api, loadMe, errorText, ApiError, withDetail } from './api.js';
import { h, fill, byId, setText } from './dom.js';
import { stripUri, fmtTime, fmtDateTime, fmtCoord, osmUrl, none } from './format.js';
import { startLive, startTicker, setTimer, clearTimer, ticketNewer } from './live.js';
import { agenciesFor, agencyName, categoryName, isFinal, statusBadge, stepper } from './tickets.js';
import { initChrome, showConnection, showPageError, showStatus } from './chrome.js';
import {
  networkLocationBlock, usableNetwork, networkAddress, samePlace, languagesText, needsInterpreter,
  priorityText, idsBlock, unreadText, chatItem, detailLine,
} from './ng112.js';

const enc = encodeURIComponent;
const LAST_KEY = 'siaga112.lastCase.';

let me = null;
let config = null;
let seat = null;
let model = null;
/** The case on screen: {id, call, live, endedAt, history, historyFor, tickets: Map agency -> ticket} or null. */
let current = null;
/** The operator picked a category before a class: keep it until a class is chosen. */
let pendingCategory = false;

async function main() {
  await initI18n();
  try {
    me = await loadMe();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showPageError(e);
    return;
  }
  if (me.role === 'agency') {
    window.location.replace('agency.html');
    return;
  }
  initChrome(me);
  if (me.role === 'supervisor') byId('nav-wallboard').hidden = false;

  try {
    config = await api('GET', 'api/config');
  } catch (e) {
    showPageError(e);
    return;
  }

  const wanted = new URLSearchParams(window.location.search).get('seat');
  if (me.role === 'operator') seat = me.seat;
  else if (wanted && (config.seats || []).includes(wanted)) seat = wanted;
  if (!seat) {
    if (me.role === 'operator') showPageError(t('op.no_seat'));
    else showSeatPicker();
    return;
  }

  setupSeatControls();
  setupCaseControls();
  setupCallbacks();
  byId('seat-panel').hidden = false;
  byId('case-panel').hidden = false;
  renderCase();

  model = startLive({ onSnapshot, onEvent, onConnection: showConnection });
  startTicker(model);
  onLangChange(() => {
    chatShown = null;
    fillPauseReasons();
    fillCategories();
    buildClassButtons();
    renderSeat();
    renderQueues();
    renderCase();
    renderHistory();
    updateNoteCount();
    updateChatCount();
    renderCallbacks();
    if (seat && me.role !== 'operator') showSeatPicker(true);
  });
}

// ---------------------------------------------------------------- seat picker

function showSeatPicker(refreshOnly) {
  const list = byId('seat-picker-list');
  fill(list, (config.seats || []).map((s) =>
    h('li', null, h('a', { href: `operator.html?seat=${enc(s)}`, class: 'btn', 'data-testid': `pick-${s}` }, t('op.seat_named', { seat: s })))));
  if (!refreshOnly) byId('seat-picker').hidden = false;
}

// ---------------------------------------------------------------- seat

function setupSeatControls() {
  setText(byId('seat-name'), seat);
  fillPauseReasons();
  byId('btn-available').addEventListener('click', (ev) => seatAction('unpause', undefined, ev.currentTarget));
  byId('btn-pause').addEventListener('click', (ev) => {
    const reason = byId('pause-reason').value;
    if (!reason) {
      showStatus(byId('seat-status'), 'error', t('op.pick_reason'));
      byId('pause-reason').focus();
      return;
    }
    seatAction('pause', { reason }, ev.currentTarget);
  });
  byId('btn-logout').addEventListener('click', (ev) => seatAction('logout', undefined, ev.currentTarget));
}

function fillPauseReasons() {
  const sel = byId('pause-reason');
  const prev = sel.value;
  fill(sel, (config.pause_reasons || []).map((r) => h('option', { value: r }, label('pause', r))));
  if (prev) sel.value = prev;
}

async function seatAction(kind, body, btn) {
  const status = byId('seat-status');
  btn.disabled = true;
  showStatus(status, 'busy', t('status.sending'));
  try {
    const s = await api('POST', `api/seats/${enc(seat)}/${kind}`, body);
    if (s && s.seat === seat && model) {
      model.seats.set(seat, s);
      shownPhase = s.phase;
    }
    showStatus(status, 'ok', t(`op.done.${kind}`));
  } catch (e) {
    showStatus(status, 'error', errorText(e));
  } finally {
    btn.disabled = false;
    renderSeat();
  }
}

/** The phase last drawn: a message about an earlier phase is stale once it changes. */
let shownPhase = null;

function renderSeat() {
  const s = model && model.seats.get(seat);
  const el = byId('seat-state');
  const phase = s ? s.phase : 'unknown';
  if (shownPhase !== null && phase !== shownPhase) showStatus(byId('seat-status'), 'info', '');
  shownPhase = phase;
  el.dataset.phase = phase;
  setText(el, s ? label('phase', phase) : t('phase.unknown'));
  setText(byId('seat-reason'), s && s.reason ? t('op.reason', { reason: label('pause', s.reason) }) : '');
  if (s && Number.isFinite(s.since_ms)) setTimer(byId('seat-since'), s.since_ms, null, model);
  else clearTimer(byId('seat-since'));
  byId('btn-available').disabled = !s || ['available', 'ringing', 'on-call'].includes(phase);
  byId('btn-logout').disabled = !s || phase === 'logged-out';
  byId('btn-pause').disabled = !s;
  if (s && s.phase === 'paused' && s.reason) byId('pause-reason').value = s.reason;
}

function renderQueues() {
  const list = byId('op-queues');
  const items = [];
  for (const q of model.queues.values()) {
    const timer = h('span', { class: 'timer' });
    if (q.waiting > 0 && Number.isFinite(q.oldest_ms)) setTimer(timer, q.oldest_ms, null, model);
    else clearTimer(timer);
    items.push(h('li', { class: q.waiting > 0 ? 'has-waiting' : '', dataset: { queue: q.queue } },
      h('span', { class: 'q-name' }, label('queue', q.queue)),
      h('span', { class: 'q-waiting' }, t('op.queue_waiting', { n: q.waiting })),
      q.waiting > 0 ? h('span', { class: 'q-longest' }, t('op.queue_longest'), ' ', timer) : null));
  }
  if (!items.length) items.push(h('li', { class: 'muted' }, t('op.no_queues')));
  fill(list, items);
}

// ---------------------------------------------------------------- live updates

function myCall() {
  let best = null;
  for (const c of model.calls.values()) {
    if (c.seat !== seat) continue;
    if (!best || (c.opened_ms || 0) > (best.opened_ms || 0)) best = c;
  }
  return best;
}

function onSnapshot() {
  renderSeat();
  renderQueues();
  const mine = myCall();
  if (mine) {
    takeCall(mine);
  } else if (current && current.live) {
    // It went to another seat, or ended while we were not connected.
    if (model.calls.has(current.id)) leaveCurrent();
    else endCurrent(null);
  } else if (!current) {
    restoreLast();
  } else if (!current.live) {
    refreshCase(current.id);
  }
  if (current) takeTickets(model.tickets.values());
  loadCallbacks();
}

function onEvent(type, data) {
  switch (type) {
    case 'seat':
      if (data.seat !== seat) return;
      renderSeat();
      // A call that rang here and was not answered (ring timeout: offered elsewhere) stays
      // on screen as not answered here, with the caller's number for a call back.
      if (current && current.live && !current.call.answered && ['available', 'paused', 'logged-out'].includes(data.phase)) {
        leaveCurrent();
      }
      break;
    case 'queue':
      renderQueues();
      break;
    case 'call':
      if (data.seat === seat) takeCall(data);
      else if (current && current.live && data.case === current.id) leaveCurrent();
      break;
    case 'call-ended':
      if (current && current.id === data.case) endCurrent(data.reason || null);
      break;
    case 'ticket':
      if (current && data.case === current.id) {
        takeTickets([data]);
        renderDispatch();
      }
      break;
    case 'case-closed':
      if (current && data.case === current.id) {
        current.call.closed_ms = data.closed_ms;
        renderCase();
      }
      break;
    case 'callbacks':
      loadCallbacks();
      break;
    default:
      break;
  }
}

/** Keeps the tickets of the case on screen (newest word on each agency's ticket). */
function takeTickets(list) {
  if (!current) return;
  for (const tk of list || []) {
    if (!tk || tk.case !== current.id || !tk.agency) continue;
    const cur = current.tickets.get(tk.agency);
    if (ticketNewer(tk, cur)) current.tickets.set(tk.agency, tk);
  }
}

function takeCall(call) {
  if (!current || current.id !== call.case) {
    popCase(call);
  } else {
    const wasAnswered = current.call.answered;
    current.call = { ...current.call, ...call };
    takeTickets(call.tickets);
    current.live = true;
    current.left = false;
    current.endedAt = null;
    renderCase();
    if (!wasAnswered && call.answered) announce(t(call.channel === 'text' ? 'announce.answered_text' : 'announce.answered', { caller: callerText(call) }));
  }
}

function popCase(call) {
  current = { id: call.case, call: { ...call }, live: true, endedAt: null, history: null, historyFor: null, tickets: new Map() };
  takeTickets(call.tickets);
  takeTickets(model.tickets.values());
  pendingCategory = false;
  try {
    sessionStorage.setItem(LAST_KEY + seat, call.case);
  } catch {
    /* not kept over a reload */
  }
  resetForms();
  renderCase();
  loadHistory();
  const text = call.channel === 'text';
  // Nothing else has the focus: put it on "accept", so Enter or Space takes the text call.
  if (text && !call.answered && (document.activeElement === document.body || !document.activeElement)) byId('btn-accept-text').focus();
  announce(t(call.answered ? (text ? 'announce.answered_text' : 'announce.answered') : (text ? 'announce.incoming_text' : 'announce.incoming'), { caller: callerText(call) }));
}

function endCurrent(reason) {
  if (!current) return;
  current.live = false;
  current.left = false;
  current.endedAt = model.now();
  if (reason) current.call.reason = reason;
  renderCase();
  announce(t('announce.ended'));
  refreshCase(current.id);
}

/** The call left this seat without ending (offered elsewhere after the ring timeout, transferred). */
function leaveCurrent() {
  if (!current) return;
  current.live = false;
  current.left = true;
  current.endedAt = model.now();
  renderCase();
  announce(t('case.phase.left'));
}

/** GET the case as folded from its records: ended_ms, talk time, reason. */
async function refreshCase(id) {
  try {
    const c = await api('GET', `api/cases/${enc(id)}`);
    if (current && current.id === id && c) {
      mergeResult(c);
      renderCase();
    }
  } catch {
    /* the live data stays on screen */
  }
}

/** After a reload in wrap-up: the seat's last case, shown as the last call. */
async function restoreLast() {
  const s = model.seats.get(seat);
  let id = s && s.case;
  if (!id) {
    try {
      id = sessionStorage.getItem(LAST_KEY + seat);
    } catch {
      id = null;
    }
  }
  if (!id) return;
  try {
    const c = await api('GET', `api/cases/${enc(id)}`);
    if (current || !c || !c.ended_ms) return;
    current = { id, call: { ...c, answered: Number.isFinite(c.answered_ms) }, live: false, endedAt: c.ended_ms, history: null, historyFor: null, tickets: new Map() };
    takeTickets(c.tickets);
    takeTickets(model.tickets.values());
    resetForms();
    renderCase();
    loadHistory();
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) {
      try {
        sessionStorage.removeItem(LAST_KEY + seat);
      } catch {
        /* ignore */
      }
    }
  }
}

const MERGED = ['class', 'category', 'notes', 'location', 'ready', 'marks', 'answered_ms', 'ended_ms',
  'reason', 'talk_ms', 'wait_ms', 'seat', 'caller', 'called', 'service', 'queue', 'opened_ms', 'from_seat',
  'closed_ms', 'callback', 'network_location', 'info', 'channel', 'text', 'priority'];

function mergeResult(obj) {
  if (!current || !obj || (obj.case && obj.case !== current.id)) return;
  for (const k of MERGED) {
    if (k in obj && obj[k] !== undefined) current.call[k] = obj[k];
  }
  if (Number.isFinite(obj.answered_ms)) current.call.answered = true;
  takeTickets(obj.tickets);
  if (Number.isFinite(obj.ended_ms)) {
    current.live = false;
    current.endedAt = obj.ended_ms;
  }
}

function announce(text) {
  setText(byId('announce'), text);
}

function callerText(call) {
  const n = stripUri(call.caller);
  return n || t('case.unknown_caller');
}

// ---------------------------------------------------------------- case panel

function setupCaseControls() {
  buildClassButtons();
  fillCategories();

  byId('category').addEventListener('change', () => {
    if (!current) return;
    if (current.call.class) {
      classify(current.call.class, byId('category'));
    } else {
      pendingCategory = true;
      showStatus(byId('case-status'), 'info', t('case.pick_class_first'));
    }
  });

  const note = byId('note-text');
  note.addEventListener('input', updateNoteCount);
  note.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      addNote();
    }
  });
  byId('note-add').addEventListener('click', addNote);
  updateNoteCount();

  byId('loc-save').addEventListener('click', saveLocation);
  for (const id of ['loc-address', 'loc-lat', 'loc-lon']) {
    byId(id).addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        saveLocation();
      }
    });
    byId(id).addEventListener('input', () => byId(id).removeAttribute('aria-invalid'));
  }
  byId('btn-ready').addEventListener('click', markReady);
  byId('loc-use-network').addEventListener('click', useNetworkLocation);
  setupChat();
}

function buildClassButtons() {
  const box = byId('class-buttons');
  fill(box, (config.classes || []).map((c) =>
    h('button', { type: 'button', id: `class-${c}`, class: `btn btn-class class-${c}`, 'aria-pressed': 'false', dataset: { class: c }, onclick: () => classify(c, byId(`class-${c}`)) },
      label('class', c))));
  if (current) renderCase();
}

function categoryLabel(cat) {
  if (!cat) return '';
  const lang = currentLang();
  return (lang === 'en' ? cat.en_label : cat.id_label) || cat.id_label || cat.en_label || cat.id;
}

function fillCategories() {
  const sel = byId('category');
  const prev = sel.value;
  fill(sel, h('option', { value: '' }, t('case.category_none')),
    (config.categories || []).map((c) => h('option', { value: c.id }, categoryLabel(c))));
  sel.value = prev;
}

function resetForms() {
  byId('note-text').value = '';
  updateNoteCount();
  const loc = current && current.call.location;
  byId('loc-address').value = (loc && loc.address) || '';
  byId('loc-lat').value = loc && Number.isFinite(loc.lat) ? String(loc.lat) : '';
  byId('loc-lon').value = loc && Number.isFinite(loc.lon) ? String(loc.lon) : '';
  for (const id of ['loc-address', 'loc-lat', 'loc-lon']) byId(id).removeAttribute('aria-invalid');
  byId('category').value = (current && current.call.category) || '';
  showStatus(byId('case-status'), 'info', '');
  byId('dispatch-note').value = '';
  byId('dispatch-note').removeAttribute('aria-invalid');
  byId('chat-input').value = '';
  updateChatCount();
  showStatus(byId('chat-status'), 'info', '');
  showStatus(byId('dispatch-status'), 'info', '');
}

function updateNoteCount() {
  setText(byId('note-count'), t('notes.count', { n: byId('note-text').value.length, max: 2000 }));
}

function renderCase() {
  const panel = byId('case-panel');
  const body = byId('case-body');
  const idle = byId('case-idle');
  if (!current) {
    panel.dataset.state = 'idle';
    body.hidden = true;
    idle.hidden = false;
    document.title = t('title.operator');
    ringCue(false);
    return;
  }
  const c = current.call;
  const state = !current.live ? 'ended' : c.answered ? 'answered' : 'ringing';
  panel.dataset.state = state;
  body.hidden = false;
  idle.hidden = true;
  document.title = state === 'ringing' ? t('title.ringing', { caller: callerText(c) }) : t('title.operator');

  setText(byId('case-id'), current.id);
  const phase = byId('case-phase');
  phase.dataset.state = state;
  if (current.left) {
    setText(phase, t('case.phase.left'));
  } else if (state === 'ended' && c.channel === 'text') {
    setText(phase, t('case.phase.text_ended', { reason: c.reason ? label('reason', c.reason) : t('chat.state.ended') }));
  } else if (state === 'ended') {
    setText(phase, c.reason ? t('case.phase.ended_reason', { reason: label('reason', c.reason) }) : t('case.phase.ended'));
  } else if (c.channel === 'text') {
    setText(phase, t(state === 'ringing' ? 'case.phase.text_ringing' : 'case.phase.text_open'));
  } else {
    setText(phase, t(`case.phase.${state}`));
  }
  byId('case-channel-badge').hidden = c.channel !== 'text';
  byId('case-ready-badge').hidden = !c.ready;
  byId('case-closed-badge').hidden = !Number.isFinite(c.closed_ms);
  const cb = byId('case-class-badge');
  cb.hidden = !c.class;
  setText(cb, c.class ? label('class', c.class) : '');
  if (c.class) cb.dataset.class = c.class;

  const caller = byId('case-caller');
  setText(caller, callerText(c));
  caller.title = c.caller || '';

  const called = stripUri(c.called);
  const service = c.service ? label('service', c.service) : called;
  setText(byId('case-service'), called && called !== service ? t('case.service_called', { service, called }) : service || none());
  setText(byId('case-queue'), c.queue ? label('queue', c.queue) : none());
  setText(byId('case-opened'), fmtTime(c.opened_ms));

  // Wait: opened -> answered; running while it rings. Talk: answered -> end; running while answered.
  const endMs = current.live ? null : (Number.isFinite(c.ended_ms) ? c.ended_ms : current.endedAt);
  const answeredMs = Number.isFinite(c.answered_ms) ? c.answered_ms : null;
  if (Number.isFinite(c.opened_ms)) setTimer(byId('case-wait'), c.opened_ms, answeredMs !== null ? answeredMs : endMs, model);
  else clearTimer(byId('case-wait'));
  if (answeredMs !== null) setTimer(byId('case-timer'), answeredMs, endMs, model);
  else clearTimer(byId('case-timer'), c.answered ? none() : t('case.not_answered'));

  byId('case-from-seat-row').hidden = !c.from_seat;
  setText(byId('case-from-seat'), c.from_seat || '');
  const marks = c.marks || [];
  byId('case-marks-row').hidden = !marks.length;
  fill(byId('case-marks'), marks.map((m) => h('span', { class: 'badge badge-mark' }, label('mark', m))));

  renderLocation(c.location, c.network_location);
  renderNg(c);
  renderChat();

  for (const name of config.classes || []) {
    const b = byId(`class-${name}`);
    if (b) b.setAttribute('aria-pressed', c.class === name ? 'true' : 'false');
  }
  if (!pendingCategory && document.activeElement !== byId('category')) byId('category').value = c.category || '';

  renderNotes(c.notes || []);

  const ready = byId('btn-ready');
  ready.disabled = !!c.ready;
  setText(ready, c.ready ? t('case.ready_done') : t('case.ready'));
  renderDispatch();
}

function renderLocation(loc, net) {
  const dd = byId('case-location');
  if (!loc || (!loc.address && !Number.isFinite(loc.lat))) {
    fill(dd, h('span', { class: 'muted' }, net && usableNetwork(net) ? t('ng.no_location_but_network') : t('case.no_location')));
    return;
  }
  // Nothing set by the operator yet: the location is the network's, drawn below with its details.
  if (net && loc.source !== 'operator' && samePlace(loc, net)) {
    fill(dd, h('span', { class: 'muted', id: 'case-loc-same' }, t('ng.same_as_network')));
    return;
  }
  const parts = [];
  if (loc.address) parts.push(h('div', { class: 'loc-address', id: 'case-loc-address' }, loc.address));
  if (Number.isFinite(loc.lat) && Number.isFinite(loc.lon)) {
    parts.push(h('div', { class: 'loc-coords', id: 'case-loc-coords' }, t('loc.coords', { lat: fmtCoord(loc.lat), lon: fmtCoord(loc.lon) }), ' ',
      h('a', { href: osmUrl(loc.lat, loc.lon), target: '_blank', rel: 'noopener noreferrer' }, t('loc.osm'))));
  }
  const line = detailLine(loc.detail, model ? model.now() : Date.now());
  if (line) parts.push(h('div', { class: 'loc-uncertainty' }, line));
  if (loc.source) parts.push(h('div', { class: 'muted' }, label('loc.source', loc.source)));
  fill(dd, parts);
}

/** The NG112 parts of the call: network location, languages, priority, ids, what could not be read. */
function renderNg(c) {
  const net = c.network_location || null;
  const info = c.info || null;
  byId('case-network-row').hidden = !net;
  if (net) fill(byId('case-network-location'), networkLocationBlock(net, { nowMs: model ? model.now() : Date.now() }));
  else fill(byId('case-network-location'));
  byId('loc-use-network').hidden = !usableNetwork(net);

  const langs = ((info && info.languages) || []).filter(Boolean);
  byId('case-languages-row').hidden = !langs.length;
  const ld = byId('case-languages');
  ld.dataset.languages = langs.join(',');
  ld.classList.toggle('needs-interpreter', langs.length > 0 && needsInterpreter(langs));
  setText(ld, langs.length ? (needsInterpreter(langs) ? t('ng.languages_interpreter', { langs: languagesText(langs) }) : t('ng.languages', { langs: languagesText(langs) })) : '');

  const pb = byId('case-priority-badge');
  const pt = priorityText(info);
  pb.hidden = !pt;
  setText(pb, pt || '');
  if (pt) pb.title = t('ng.priority_title', { n: Number.isFinite(c.priority) ? c.priority : 0 });

  const box = byId('case-ng-ids-box');
  const ids = idsBlock(info, 'case-ng-ids');
  const old = byId('case-ng-ids');
  // Redraw only when the ids change (keeps the "copied" word and an open History-Info list).
  const key = info ? JSON.stringify([info.emergency_call_id, info.incident_id, info.history, currentLang()]) : '';
  if (box.dataset.key !== key || (!!old) !== (!!ids)) {
    box.dataset.key = key;
    fill(box, ids);
  }

  const un = byId('case-unread');
  const ut = unreadText(info);
  un.hidden = !ut;
  setText(un, ut || '');
}

/** Copies the network's address and coordinates into the location form; the operator saves. */
function useNetworkLocation() {
  const net = current && current.call.network_location;
  if (!usableNetwork(net)) return;
  byId('loc-address').value = networkAddress(net);
  byId('loc-lat').value = Number.isFinite(net.lat) ? String(net.lat) : '';
  byId('loc-lon').value = Number.isFinite(net.lon) ? String(net.lon) : '';
  for (const id of ['loc-address', 'loc-lat', 'loc-lon']) byId(id).removeAttribute('aria-invalid');
  showStatus(byId('case-status'), 'info', t('ng.use_network_done'));
  byId('loc-address').focus();
}

function renderNotes(notes) {
  const list = byId('notes');
  if (!notes.length) {
    fill(list, h('li', { class: 'muted empty' }, t('notes.empty_list')));
    return;
  }
  const sorted = [...notes].sort((a, b) => (b.at_ms || 0) - (a.at_ms || 0));
  fill(list, sorted.map((n) => h('li', { class: 'note' },
    h('div', { class: 'note-meta' }, t('notes.meta', { time: fmtTime(n.at_ms), by: n.by || '' })),
    h('div', { class: 'note-text' }, n.text || ''))));
}

// ---------------------------------------------------------------- history

async function loadHistory() {
  if (!current) return;
  const number = stripUri(current.call.caller);
  current.history = null;
  current.historyFor = number;
  current.historyError = null;
  renderHistory();
  if (!number) return;
  const id = current.id;
  try {
    const hist = await api('GET', `api/callers/${enc(number)}/history`);
    if (current && current.id === id) current.history = hist || { cases: [], pranks: 0 };
  } catch (e) {
    if (current && current.id === id) current.historyError = e;
  }
  renderHistory();
}

function renderHistory() {
  const list = byId('case-history');
  const pr = byId('case-pranks');
  const section = list.closest('.history');
  const badge = byId('case-prank-badge');
  section.classList.remove('has-pranks');
  list.dataset.pranks = '0';
  badge.hidden = true;
  if (!current) {
    fill(list);
    setText(pr, '');
    return;
  }
  if (!current.historyFor) {
    setText(pr, t('history.anonymous'));
    fill(list);
    return;
  }
  if (current.historyError) {
    setText(pr, '');
    fill(list, h('li', { class: 'error' }, errorText(current.historyError)));
    return;
  }
  if (!current.history) {
    setText(pr, t('history.loading'));
    fill(list);
    return;
  }
  const pranks = current.history.pranks || 0;
  list.dataset.pranks = String(pranks);
  badge.hidden = pranks === 0;
  setText(badge, pranks > 0 ? t('history.pranks_badge', { n: pranks }) : '');
  if (pranks > 0) section.classList.add('has-pranks');
  setText(pr, pranks > 0 ? t('history.pranks', { n: pranks }) : t('history.no_pranks'));
  const cases = (current.history.cases || []).filter((c) => c.case !== current.id);
  if (!cases.length) {
    fill(list, h('li', { class: 'muted empty' }, t('history.first_call')));
    return;
  }
  fill(list, cases.map((c) => h('li', { class: `hist hist-${c.class || 'none'}`, dataset: { case: c.case, class: c.class || '' } },
    h('span', { class: 'hist-when' }, fmtDateTime(c.opened_ms)),
    h('span', { class: `badge badge-class`, dataset: { class: c.class || '' } }, c.class ? label('class', c.class) : t('history.unclassified')),
    h('span', { class: 'hist-reason muted' }, c.reason ? label('reason', c.reason) : ''),
    h('span', { class: 'hist-case muted' }, c.case))));
}

// ---------------------------------------------------------------- case actions

async function caseAction(kind, body, btn, okKey) {
  if (!current) return false;
  const id = current.id;
  const status = byId('case-status');
  if (btn) btn.disabled = true;
  showStatus(status, 'busy', t('status.sending'));
  try {
    const obj = await api('POST', `api/cases/${enc(id)}/${kind}`, body);
    if (current && current.id === id) {
      mergeResult(obj);
      renderCase();
    }
    showStatus(status, 'ok', t(okKey));
    return true;
  } catch (e) {
    showStatus(status, 'error', errorText(e));
    return false;
  } finally {
    if (btn) btn.disabled = false;
    if (current) renderCase();
  }
}

async function classify(name, btn) {
  const category = byId('category').value || null;
  const ok = await caseAction('classify', { class: name, category }, btn, 'case.done.classify');
  if (ok) pendingCategory = false;
}

async function addNote() {
  const ta = byId('note-text');
  const text = ta.value.trim();
  if (!text) {
    showStatus(byId('case-status'), 'error', t('notes.empty'));
    ta.focus();
    return;
  }
  if (text.length > 2000) {
    showStatus(byId('case-status'), 'error', t('notes.too_long', { max: 2000 }));
    ta.focus();
    return;
  }
  if (await caseAction('note', { text }, byId('note-add'), 'notes.done')) {
    ta.value = '';
    updateNoteCount();
  }
}

/** A coordinate as typed: "-6.2", "-6,2" (Indonesian decimal comma). NaN if not a number. */
function parseCoord(s) {
  const v = s.trim();
  if (!v) return null;
  const norm = /^[+-]?\d+,\d+$/.test(v) ? v.replace(',', '.') : v;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(norm)) return NaN;
  return Number(norm);
}

async function saveLocation() {
  const status = byId('case-status');
  const addrEl = byId('loc-address');
  const latEl = byId('loc-lat');
  const lonEl = byId('loc-lon');
  // "-6.2, 106.8" pasted into the latitude field: split it.
  const both = latEl.value.match(/^\s*([+-]?\d+(?:\.\d+)?)\s*[,;\s]\s*([+-]?\d+(?:\.\d+)?)\s*$/);
  if (both && !lonEl.value.trim()) {
    latEl.value = both[1];
    lonEl.value = both[2];
  }
  const address = addrEl.value.trim();
  const lat = parseCoord(latEl.value);
  const lon = parseCoord(lonEl.value);
  for (const el of [addrEl, latEl, lonEl]) el.removeAttribute('aria-invalid');
  const fail = (el, key) => {
    el.setAttribute('aria-invalid', 'true');
    showStatus(status, 'error', t(key));
    el.focus();
  };
  if (Number.isNaN(lat) || (lat !== null && (lat < -90 || lat > 90))) return fail(latEl, 'loc.bad_lat');
  if (Number.isNaN(lon) || (lon !== null && (lon < -180 || lon > 180))) return fail(lonEl, 'loc.bad_lon');
  if ((lat === null) !== (lon === null)) return fail(lat === null ? latEl : lonEl, 'loc.both');
  if (!address && lat === null) return fail(addrEl, 'loc.empty');
  const body = { address };
  if (lat !== null) {
    body.lat = lat;
    body.lon = lon;
  }
  await caseAction('location', body, byId('loc-save'), 'loc.done');
}

async function markReady() {
  if (!current) return;
  if (!current.call.class) {
    showStatus(byId('case-status'), 'error', t('case.ready_needs_class'));
    const first = byId('class-buttons').querySelector('button');
    if (first) first.focus();
    return;
  }
  await caseAction('ready', {}, byId('btn-ready'), 'case.done.ready');
}

main();

// ---------------------------------------------------------------- dispatch to agencies

/** Why the case cannot be sent now (a key), or null. */
function dispatchBlocked() {
  if (!current) return 'dispatch.no_case';
  if (current.left) return 'dispatch.left';
  if (current.live && !current.call.answered) return 'dispatch.not_answered';
  return null;
}

function renderDispatch() {
  const panel = byId('dispatch-panel');
  const list = byId('dispatch-agencies');
  if (!current) {
    panel.dataset.state = 'off';
    fill(list);
    return;
  }
  const c = current.call;
  const blocked = dispatchBlocked();
  panel.dataset.state = blocked ? 'off' : 'on';
  const cat = c.category || null;
  const { suggested, others } = agenciesFor(config, cat);
  let hint;
  if (blocked) hint = t(blocked);
  else if (!cat) hint = t('dispatch.pick_category');
  else if (!suggested.length) hint = t('dispatch.none_suggested', { category: categoryName(config, cat) });
  else hint = t('dispatch.suggested_for', { category: categoryName(config, cat) });
  setText(byId('dispatch-hint'), hint);
  byId('dispatch-note').disabled = !!blocked;
  // One row per agency, in a stable order (suggested first): its button, and once sent its ticket's live status.
  fill(list, suggested.map((a) => agencyRow(a, true, blocked)), others.map((a) => agencyRow(a, false, blocked)));
}

function agencyRow(a, isSuggested, blocked) {
  const tk = current.tickets.get(a.id);
  const open = !!tk && !isFinal(tk);
  const name = a.name || a.id;
  const btn = h('button', {
    type: 'button', class: `btn btn-dispatch${isSuggested ? ' btn-primary' : ''}`, 'data-testid': `dispatch-${a.id}`,
    dataset: { agency: a.id, suggested: String(isSuggested) }, 'aria-label': t('dispatch.send_to', { agency: name }),
    disabled: !!blocked || open, hidden: open, onclick: (ev) => dispatchTo(a.id, ev.currentTarget),
  }, tk ? t('dispatch.send_again') : t('dispatch.send'));
  const attrs = { agency: a.id, suggested: String(isSuggested) };
  let since = null;
  if (tk) {
    attrs.ticket = tk.ticket || `${tk.case}/${tk.agency}`;
    attrs.status = tk.status;
    since = h('span', { class: 'timer da-since', title: t('dispatch.since_sent') });
    const end = isFinal(tk) ? (tk.closed_ms || tk.cancelled_ms) : null;
    setTimer(since, tk.sent_ms, Number.isFinite(end) ? end : null, model);
  }
  const notes = tk ? (tk.history || []).filter((e) => e.note && e.status !== 'sent') : [];
  const last = notes[notes.length - 1];
  return h('li', { class: `dispatch-agency${isSuggested ? ' suggested' : ''}${tk ? ' has-ticket' : ''}`, dataset: attrs },
    h('div', { class: 'da-row' },
      h('span', { class: 'da-name' }, name,
        a.number ? h('span', { class: 'da-number muted' }, t('dispatch.number', { number: a.number })) : null),
      isSuggested ? h('span', { class: 'badge badge-suggested' }, t('dispatch.suggested')) : null,
      tk ? statusBadge(tk.status) : null,
      since,
      btn),
    tk ? stepper(tk) : null,
    last ? h('div', { class: 'da-note' }, t('dispatch.agency_note', { by: last.by || '', note: last.note })) : null);
}

async function dispatchTo(agency, btn) {
  if (!current || dispatchBlocked()) return;
  const id = current.id;
  const status = byId('dispatch-status');
  const noteEl = byId('dispatch-note');
  const note = noteEl.value.trim();
  if (note.length > 500) {
    noteEl.setAttribute('aria-invalid', 'true');
    showStatus(status, 'error', t('dispatch.note_too_long', { max: 500 }));
    return;
  }
  noteEl.removeAttribute('aria-invalid');
  const name = agencyName(config, agency);
  btn.disabled = true;
  showStatus(status, 'busy', t('status.sending'));
  try {
    const tk = await api('POST', `api/cases/${enc(id)}/dispatch`, note ? { agency, note } : { agency });
    if (current && current.id === id) {
      takeTickets([tk]);
      if (tk) model.putTicket(tk);
      noteEl.value = '';
    }
    showStatus(status, 'ok', t('dispatch.done', { agency: name }));
    announce(t('dispatch.done', { agency: name }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 409 && e.state) {
      showStatus(status, 'error', withDetail(t('dispatch.already', { agency: name, status: label('ticket.status', e.state) }), e));
    } else {
      showStatus(status, 'error', errorText(e));
    }
  } finally {
    if (current && current.id === id) renderDispatch();
  }
}

// ---------------------------------------------------------------- callbacks

/** The callback list: abandoned emergency calls waiting for a call back (oldest first). */
let callbacks = null;
let callbacksError = null;
let callbacksLoading = false;
let callbacksAgain = false;

function setupCallbacks() {
  renderCallbacks();
}

async function loadCallbacks() {
  if (callbacksLoading) {
    callbacksAgain = true;
    return;
  }
  callbacksLoading = true;
  try {
    const r = await api('GET', 'api/callbacks');
    callbacks = (r && r.callbacks) || [];
    callbacksError = null;
  } catch (e) {
    callbacksError = e;
  } finally {
    callbacksLoading = false;
  }
  renderCallbacks();
  if (callbacksAgain) {
    callbacksAgain = false;
    loadCallbacks();
  }
}

function renderCallbacks() {
  const list = byId('callbacks');
  const count = byId('op-callback-count');
  const n = callbacks ? callbacks.length : (model && Number.isFinite(model.callbacks) ? model.callbacks : 0);
  count.dataset.count = String(n);
  setText(count, String(n));
  byId('callback-panel').classList.toggle('has-callbacks', n > 0);
  if (callbacksError) {
    fill(list, h('li', { class: 'error' }, errorText(callbacksError)));
    return;
  }
  if (!callbacks) {
    fill(list, h('li', { class: 'muted' }, t('callback.loading')));
    return;
  }
  if (!callbacks.length) {
    fill(list, h('li', { class: 'muted empty' }, t('callback.empty')));
    return;
  }
  // Keyed: a note being typed into an item survives a refresh of the list.
  const keep = new Set();
  for (const cb of callbacks) {
    keep.add(cb.case);
    let li = list.querySelector(`li[data-case="${CSS.escape(cb.case)}"]`);
    if (!li) li = makeCallbackItem(cb.case);
    list.appendChild(li);
    fillCallbackItem(li, cb);
  }
  for (const li of [...list.children]) if (!keep.has(li.dataset.case)) li.remove();
}

function makeCallbackItem(id) {
  const note = h('input', { type: 'text', class: 'cb-note', maxlength: '500', autocomplete: 'off' });
  const buttons = h('div', { class: 'cb-outcomes' }, (config.callback_outcomes || []).map((o) =>
    h('button', { type: 'button', class: `btn btn-small btn-outcome outcome-${o}`, dataset: { outcome: o }, onclick: (ev) => recordCallback(id, o, ev.currentTarget) })));
  return h('li', { class: 'callback', dataset: { case: id } },
    h('div', { class: 'cb-info' }), h('label', { class: 'cb-note-label' }, h('span', { class: 'cb-note-text' }), note), buttons);
}

function fillCallbackItem(li, cb) {
  const number = stripUri(cb.caller);
  const ended = h('span', { class: 'timer' });
  setTimer(ended, cb.ended_ms || cb.opened_ms, null, model);
  const attempts = cb.attempts || [];
  const last = attempts[attempts.length - 1];
  fill(li.querySelector('.cb-info'),
    h('div', { class: 'cb-caller' },
      number ? h('a', { class: 'cb-number mono', href: `tel:${number}`, title: t('callback.dial', { number }) }, number)
        : h('span', { class: 'cb-number' }, t('case.unknown_caller'))),
    h('div', { class: 'cb-when muted' }, t('callback.when', { time: fmtTime(cb.ended_ms || cb.opened_ms), reason: label('reason', cb.reason) }), ' · ', ended),
    attempts.length
      ? h('div', { class: 'cb-attempts' }, t('callback.attempts', { n: attempts.length, outcome: label('callback.outcome', last.outcome), by: last.by || '', time: fmtTime(last.at_ms) }))
      : h('div', { class: 'cb-attempts muted' }, t('callback.no_attempts')));
  li.dataset.attempts = String(attempts.length);
  setText(li.querySelector('.cb-note-text'), t('callback.note'));
  li.querySelector('.cb-note').setAttribute('placeholder', t('callback.note_placeholder'));
  for (const b of li.querySelectorAll('[data-outcome]')) {
    setText(b, label('callback.outcome', b.dataset.outcome));
  }
}

async function recordCallback(id, outcome, btn) {
  const li = btn.closest('li');
  const noteEl = li && li.querySelector('.cb-note');
  const note = noteEl ? noteEl.value.trim() : '';
  const status = byId('callback-status');
  const item = callbacks && callbacks.find((x) => x.case === id);
  const number = item ? stripUri(item.caller) : id;
  for (const b of li.querySelectorAll('button')) b.disabled = true;
  showStatus(status, 'busy', t('status.sending'));
  try {
    await api('POST', `api/cases/${enc(id)}/callback`, note ? { outcome, note } : { outcome });
    if (noteEl) noteEl.value = '';
    showStatus(status, 'ok', t('callback.done', { number, outcome: label('callback.outcome', outcome) }));
  } catch (e) {
    showStatus(status, 'error', errorText(e));
  } finally {
    for (const b of li.querySelectorAll('button')) b.disabled = false;
    loadCallbacks();
  }
}

// ---------------------------------------------------------------- text calls (text-to-112)

const CHAT_MAX = 1000;
/** What the message list shows: {id, n} (case and how many messages), or null to redraw it all. */
let chatShown = null;
let chatUnseen = 0;
let audio = null;

function setupChat() {
  const input = byId('chat-input');
  input.addEventListener('input', updateChatCount);
  input.addEventListener('keydown', (ev) => {
    // Enter sends, Shift+Enter is a new line; not while an input method is composing a word.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.ctrlKey && !ev.altKey && !ev.metaKey) {
      ev.preventDefault();
      sendText();
    }
  });
  byId('chat-send').addEventListener('click', sendText);
  byId('btn-accept-text').addEventListener('click', acceptText);
  byId('chat-end').addEventListener('click', endText);
  const list = byId('chat-messages');
  list.addEventListener('scroll', () => {
    if (atBottom(list)) {
      chatUnseen = 0;
      byId('chat-jump').hidden = true;
    }
  });
  byId('chat-jump').addEventListener('click', () => {
    list.scrollTop = list.scrollHeight;
    chatUnseen = 0;
    byId('chat-jump').hidden = true;
    input.focus();
  });
  updateChatCount();
  // Browsers start a page's audio suspended until a click or key on that page.
  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, wakeAudio, { capture: true });
}

function atBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 24;
}

function updateChatCount() {
  setText(byId('chat-count'), t('chat.count', { n: byId('chat-input').value.length, max: CHAT_MAX }));
}

/** off (a voice call) | ringing (offered, not accepted) | open | ended. */
function chatState() {
  if (!current || current.call.channel !== 'text') return 'off';
  const c = current.call;
  if (!current.live || current.left || (c.text && c.text.open === false)) return 'ended';
  return c.answered ? 'open' : 'ringing';
}

function renderChat() {
  const panel = byId('chat-panel');
  const state = chatState();
  panel.hidden = state === 'off';
  panel.dataset.state = state;
  ringCue(state === 'ringing');
  if (state === 'off') {
    chatShown = null;
    return;
  }
  const c = current.call;
  const badge = byId('chat-state');
  badge.dataset.state = state;
  setText(badge, t(`chat.state.${state}`));
  const accept = byId('btn-accept-text');
  accept.hidden = state !== 'ringing';
  byId('chat-end').hidden = state !== 'open';
  const input = byId('chat-input');
  input.disabled = state !== 'open';
  byId('chat-send').disabled = state !== 'open';
  setText(byId('chat-hint'), t(state === 'open' ? 'chat.hint' : state === 'ringing' ? 'chat.hint_ringing' : 'chat.hint_ended'));
  if (state !== 'open') resetEndConfirm();

  const msgs = (c.text && Array.isArray(c.text.messages)) ? c.text.messages : [];
  const list = byId('chat-messages');
  const rebuild = !chatShown || chatShown.id !== current.id || msgs.length < chatShown.n;
  const wasBottom = rebuild || atBottom(list);
  const fresh = rebuild ? msgs : msgs.slice(chatShown.n);
  if (rebuild) {
    fill(list, msgs.length ? msgs.map(chatItem) : h('li', { class: 'muted empty chat-empty' }, t('chat.no_messages')));
    chatUnseen = 0;
  } else if (fresh.length) {
    const empty = list.querySelector('.chat-empty');
    if (empty) empty.remove();
    for (const m of fresh) list.appendChild(chatItem(m));
  }
  chatShown = { id: current.id, n: msgs.length };
  const fromCaller = rebuild ? [] : fresh.filter((m) => m.from !== 'operator');
  const mine = fresh.some((m) => m.from === 'operator');
  if (wasBottom || (mine && !fromCaller.length)) {
    list.scrollTop = list.scrollHeight;
    byId('chat-jump').hidden = true;
  } else if (fromCaller.length) {
    chatUnseen += fromCaller.length;
    const jump = byId('chat-jump');
    setText(jump, t('chat.jump', { n: chatUnseen }));
    jump.hidden = false;
  }
  if (fromCaller.length) {
    // Screen readers hear the caller's words; the operator's own are not read back.
    setText(byId('chat-live'), fromCaller.map((m) => t('chat.announce', { text: m.text || '' })).join(' '));
    cue();
  }
}

/** A text call has no softphone to ring: while one is offered, a tone every 3 s (once audio may play). */
let ringTimer = null;

function ringCue(on) {
  if (on && !ringTimer) {
    tone(660);
    ringTimer = setInterval(() => tone(660), 3000);
  } else if (!on && ringTimer) {
    clearInterval(ringTimer);
    ringTimer = null;
  }
}

/** A new message from the caller: the panel flashes, and a short tone if the browser lets us play one. */
function cue() {
  const panel = byId('chat-panel');
  panel.classList.remove('chat-flash');
  void panel.offsetWidth;
  panel.classList.add('chat-flash');
  tone(880);
}

function tone(freq) {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state !== 'running') return; // no user gesture yet: stay silent rather than queue tones
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.26);
  } catch {
    /* no sound: the flash and the screen reader still tell */
  }
}

/** A user gesture lets the page's audio run (browsers start it suspended). */
function wakeAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume();
  } catch {
    /* ignore */
  }
}

async function chatPost(kind, body, btn) {
  if (!current) return null;
  const id = current.id;
  const status = byId('chat-status');
  if (btn) btn.disabled = true;
  showStatus(status, 'busy', t('status.sending'));
  try {
    const obj = await api('POST', `api/cases/${enc(id)}/${kind}`, body);
    if (current && current.id === id) {
      mergeResult(obj);
      renderCase();
    }
    showStatus(status, 'info', '');
    return obj || {};
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) showStatus(status, 'error', withDetail(t(kind === 'accept' ? 'chat.accept_conflict' : 'chat.over'), e));
    else showStatus(status, 'error', errorText(e));
    return null;
  } finally {
    if (btn) btn.disabled = false;
    if (current) renderCase();
  }
}

async function acceptText() {
  wakeAudio();
  if (await chatPost('accept', undefined, byId('btn-accept-text'))) {
    showStatus(byId('chat-status'), 'ok', t('chat.accepted'));
    byId('chat-input').focus();
  }
}

async function sendText() {
  wakeAudio();
  const input = byId('chat-input');
  const text = input.value.trim();
  if (!text) {
    showStatus(byId('chat-status'), 'error', t('chat.empty'));
    input.focus();
    return;
  }
  // Length and state are the engine's to judge (its 400 or 409 says why): the screen may be a moment behind.
  if (await chatPost('text', { text }, byId('chat-send'))) {
    input.value = '';
    updateChatCount();
  }
  input.focus();
}

let endConfirmTimer = null;

function resetEndConfirm() {
  const btn = byId('chat-end');
  if (endConfirmTimer) clearTimeout(endConfirmTimer);
  endConfirmTimer = null;
  if (btn.dataset.confirm) {
    delete btn.dataset.confirm;
    setText(btn, t('chat.end'));
  }
}

/** Ending the conversation asks once more (the caller can no longer write). */
async function endText() {
  const btn = byId('chat-end');
  if (!btn.dataset.confirm) {
    btn.dataset.confirm = 'true';
    setText(btn, t('chat.end_confirm'));
    endConfirmTimer = setTimeout(resetEndConfirm, 4000);
    return;
  }
  resetEndConfirm();
  if (await chatPost('end-text', undefined, btn)) {
    showStatus(byId('chat-status'), 'ok', t('chat.ended'));
  }
}
