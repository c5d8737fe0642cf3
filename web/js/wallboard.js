// The supervisor's wallboard: queues, seats, live calls and today's figures,
// from GET api/state and then the live events.
import { initI18n, t, label, onLangChange } from './i18n.js';
import { api, loadMe, ApiError, homeFor, errorText } from './api.js';
import { h, fill, byId, setText } from './dom.js';
import { stripUri, fmtPercent, fmtNumber, fmtDate, fmtTime, none } from './format.js';
import { startLive, startTicker, setTimer, clearTimer } from './live.js';
import { agencyName, isFinal, STATUSES } from './tickets.js';
import { initChrome, showConnection, showPageError } from './chrome.js';

const PHASES = ['available', 'ringing', 'on-call', 'wrap-up', 'paused', 'logged-out'];
const NENA = { answer_15s: 0.9, answer_20s: 0.95, dispatch_60s: 0.9 }; // dispatch: NFPA 1225
// A ticket not yet acknowledged turns its agency amber, then red (seconds since sent).
const ACK_WARN_S = 60;
const ACK_ALERT_S = 120;
// A queue's longest wait turns amber, then red (seconds).
const WAIT_WARN_S = 10;
const WAIT_ALERT_S = 15;

let me = null;
let config = null;
let model = null;

async function main() {
  await initI18n();
  try {
    me = await loadMe();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) showPageError(e);
    return;
  }
  if (me.role !== 'supervisor') {
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
  model = startLive({ onSnapshot: renderAll, onEvent, onConnection: showConnection, resyncMs: 60000 });
  startTicker(model, tick);
  onLangChange(() => {
    if (model.ready) renderAll();
  });
}

function renderAll() {
  renderQueues();
  renderSeats();
  renderCalls();
  renderDispatch();
  renderFigures();
  renderBans();
  tick(model.now());
}

function onEvent(type) {
  switch (type) {
    case 'seat': renderSeats(); break;
    case 'queue': renderQueues(); break;
    case 'call':
    case 'call-ended': renderCalls(); break;
    case 'figures': renderFigures(); renderDispatch(); break;
    case 'ticket': renderDispatch(); break;
    case 'callbacks': renderFigures(); break;
    case 'bans': renderBans(); break;
    default: break;
  }
}

/** Names in the configured order, then any others the engine reports. */
function ordered(configured, map) {
  const names = [...(configured || []).filter((n) => map.has(n))];
  for (const n of map.keys()) if (!names.includes(n)) names.push(n);
  return names;
}

/** Gets or creates the element with `id` inside `parent`, in order. */
function keyed(parent, id, make) {
  let el = document.getElementById(id);
  if (!el || el.parentElement !== parent) {
    el = make();
    el.id = id;
  }
  parent.appendChild(el); // moves it to the end: children end up in render order
  return el;
}

function prune(parent, keep) {
  for (const el of [...parent.children]) if (!keep.has(el.id)) el.remove();
}

// ---------------------------------------------------------------- queues

function renderQueues() {
  const box = byId('queues');
  const keep = new Set();
  for (const name of ordered(config.queues, model.queues)) {
    const q = model.queues.get(name);
    const id = `queue-${name}`;
    keep.add(id);
    const card = keyed(box, id, () => h('div', { class: 'queue-card', 'data-testid': id }));
    card.dataset.queue = name;
    card.dataset.waiting = String(q.waiting);
    const longest = h('span', { class: 'longest timer' });
    if (q.waiting > 0 && Number.isFinite(q.oldest_ms)) {
      setTimer(longest, q.oldest_ms, null, model);
      card.dataset.oldest = String(q.oldest_ms);
    } else {
      clearTimer(longest, '0:00');
      delete card.dataset.oldest;
    }
    fill(card,
      h('h3', { class: 'q-name' }, label('queue', name)),
      h('div', { class: 'q-numbers' },
        h('div', { class: 'q-block' }, h('span', { class: 'waiting big-number' }, String(q.waiting)), h('span', { class: 'q-label' }, t('wb.waiting'))),
        h('div', { class: 'q-block' }, longest, h('span', { class: 'q-label' }, t('wb.longest')))));
  }
  prune(box, keep);
  if (!keep.size) fill(box, h('p', { class: 'empty-note' }, t('wb.no_queues')));
  tick(model.now());
}

// ---------------------------------------------------------------- seats

function renderSeats() {
  const box = byId('seats');
  const keep = new Set();
  const counts = Object.fromEntries(PHASES.map((p) => [p, 0]));
  for (const name of ordered(config.seats, model.seats)) {
    const s = model.seats.get(name);
    counts[s.phase] = (counts[s.phase] || 0) + 1;
    const id = `seat-${name}`;
    keep.add(id);
    const card = keyed(box, id, () => h('a', { class: 'seat-card', href: `operator.html?seat=${encodeURIComponent(name)}`, 'data-testid': id }));
    card.dataset.phase = s.phase;
    card.setAttribute('aria-label', t('wb.seat_aria', { seat: name, phase: label('phase', s.phase) }));
    const since = h('span', { class: 'seat-since timer' });
    if (Number.isFinite(s.since_ms)) setTimer(since, s.since_ms, null, model);
    else clearTimer(since);
    fill(card,
      h('span', { class: 'seat-name' }, name),
      h('span', { class: 'seat-phase' }, label('phase', s.phase)),
      s.reason ? h('span', { class: 'seat-reason' }, label('pause', s.reason))
        : h('span', { class: 'seat-reason seat-case' }, s.case || ''),
      h('span', { class: 'seat-foot' }, since));
  }
  prune(box, keep);
  const phases = [...PHASES, ...Object.keys(counts).filter((p) => !PHASES.includes(p))];
  fill(byId('seat-summary'), phases.map((p) =>
    h('li', { dataset: { phase: p }, class: counts[p] ? '' : 'zero' },
      h('span', { class: 'swatch', 'aria-hidden': 'true' }), label('phase', p), ' ', h('strong', null, String(counts[p])))));
}

// ---------------------------------------------------------------- calls

function callStatus(c) {
  if (c.answered) return 'on-call';
  if (c.seat) return 'ringing';
  return 'waiting';
}

function renderCalls() {
  const calls = [...model.calls.values()];
  const rank = { waiting: 0, ringing: 1, 'on-call': 2 };
  calls.sort((a, b) => rank[callStatus(a)] - rank[callStatus(b)] || (a.opened_ms || 0) - (b.opened_ms || 0));
  fill(byId('live-calls'), calls.map((c) => {
    const st = callStatus(c);
    const timer = h('td', { class: 'num timer' });
    if (st === 'on-call' && Number.isFinite(c.answered_ms)) setTimer(timer, c.answered_ms, null, model);
    else if (Number.isFinite(c.opened_ms)) setTimer(timer, c.opened_ms, null, model);
    else clearTimer(timer);
    const caller = stripUri(c.caller) || t('case.unknown_caller');
    const text = c.channel === 'text';
    const prio = c.info && c.info.resource_priority;
    return h('tr', { dataset: { case: c.case, status: st, opened: String(c.opened_ms || ''), channel: text ? 'text' : 'voice' } },
      h('td', { class: 'mono' }, c.case),
      h('td', { class: 'caller' }, caller,
        text ? h('span', { class: 'badge badge-small badge-text wb-text', title: t('wb.text_call'), 'aria-label': t('wb.text_call') }, t('chat.badge')) : null,
        prio ? h('span', { class: 'badge badge-small badge-priority wb-text', title: t('ng.priority_title', { n: c.priority || 0 }) }, t('ng.priority', { value: prio })) : null,
        c.class ? h('span', { class: 'badge badge-class', dataset: { class: c.class } }, label('class', c.class)) : null),
      h('td', null, c.queue ? label('queue', c.queue) : none()),
      h('td', null, h('span', { class: 'call-status', dataset: { status: st } }, t(`wb.status.${st}`)),
        c.seat ? h('span', { class: 'call-seat', dataset: { seat: c.seat } }, c.seat) : null),
      timer);
  }));
  byId('live-calls-empty').hidden = calls.length > 0;
  setText(byId('live-calls-count'), String(calls.length));
}

// ---------------------------------------------------------------- dispatch

function renderDispatch() {
  const box = byId('dispatch-rows');
  const open = [...model.tickets.values()].filter((tk) => !isFinal(tk));
  const byAgency = (model.figures && model.figures.by_agency) || {};
  const names = (config.agencies || []).map((a) => a.id);
  for (const id of [...open.map((tk) => tk.agency), ...Object.keys(byAgency)]) if (!names.includes(id)) names.push(id);
  const keep = new Set();
  for (const ag of names) {
    const id = `dispatch-${ag}`;
    keep.add(id);
    const mine = open.filter((tk) => tk.agency === ag);
    const unack = mine.filter((tk) => tk.status === 'sent').map((tk) => tk.sent_ms).filter(Number.isFinite);
    const oldest = unack.length ? Math.min(...unack) : null;
    const today = byAgency[ag] || {};
    const row = keyed(box, id, () => h('tr', { 'data-testid': id }));
    row.dataset.agency = ag;
    row.dataset.open = String(mine.length);
    row.dataset.unacknowledged = String(unack.length);
    const timer = h('td', { class: 'num oldest timer' });
    if (oldest !== null) {
      setTimer(timer, oldest, null, model);
      row.dataset.oldest = String(oldest);
    } else {
      clearTimer(timer);
      delete row.dataset.oldest;
    }
    const counts = Object.fromEntries(STATUSES.map((st) => [st, 0]));
    for (const tk of mine) counts[tk.status] = (counts[tk.status] || 0) + 1;
    fill(row,
      h('td', { class: 'd-name', title: agencyName(config, ag) },
        h('a', { href: `agency.html?agency=${encodeURIComponent(ag)}` }, agencyName(config, ag))),
      h('td', { class: 'num open' }, String(mine.length)),
      timer,
      ['sent', 'acknowledged', 'on-scene'].map((st) => h('td', { class: `num d-st${counts[st] ? '' : ' zero'}`, dataset: { status: st } }, String(counts[st]))),
      h('td', { class: 'num d-today', title: t('wb.d_today', { sent: fmtNumber(today.sent), closed: fmtNumber(today.closed) }) },
        Number.isFinite(today.sent) ? t('wb.d_today_short', { sent: fmtNumber(today.sent), closed: fmtNumber(today.closed) }) : none()));
  }
  prune(box, keep);
  setText(byId('dispatch-total'), String(open.length));
  byId('dispatch-total').title = t('wb.d_total', { n: open.length });
  tick(model.now());
}

// ---------------------------------------------------------------- figures

function renderFigures() {
  const f = model.figures || {};
  setText(byId('fig-date'), f.date ? fmtDate(f.date) : '');
  const targets = { ...NENA, ...(config.targets || {}) };
  const slas = [10, 15, 20].map((n) => ({ el: byId(`fig-within-${n}`), v: f[`within_${n}s`], target: targets[`answer_${n}s`], n }));
  slas.push({ el: byId('fig-dispatch-60'), v: f.dispatch_within_60s, target: targets.dispatch_60s, n: null });
  for (const { el, v, target, n } of slas) {
    if (n !== null) setText(el.querySelector('.fig-label'), t('fig.within', { n }));
    setText(el.querySelector('.fig-value'), fmtPercent(v));
    const tgt = el.querySelector('.fig-target');
    if (!Number.isFinite(target)) {
      delete el.dataset.met;
      setText(tgt, '');
    } else if (!Number.isFinite(v)) {
      el.dataset.met = '';
      setText(tgt, t('fig.target', { target: fmtPercent(target, 0) }));
    } else {
      const met = v >= target;
      el.dataset.met = String(met);
      setText(tgt, t(met ? 'fig.target_met' : 'fig.target_not_met', { target: fmtPercent(target, 0) }));
    }
  }
  setText(byId('fig-mean-answer').querySelector('.fig-value'), fmtNumber(f.mean_answer_s, 1));
  setText(byId('fig-abandoned').querySelector('.fig-value'), fmtPercent(f.abandoned_share));
  setText(byId('fig-abandoned').querySelector('.fig-sub'),
    Number.isFinite(f.abandoned) ? t('fig.abandoned_count', { n: fmtNumber(f.abandoned) }) : '');
  setText(byId('fig-false').querySelector('.fig-value'), fmtPercent(f.false_share));
  setText(byId('fig-offered').querySelector('.fig-value'), fmtNumber(f.offered));
  setText(byId('fig-answered'), Number.isFinite(f.answered) ? t('fig.answered_count', { n: fmtNumber(f.answered) }) : '');
  const md = byId('fig-mean-dispatch');
  setText(md.querySelector('.fig-value'), fmtNumber(f.mean_answer_to_dispatch_s, 1));
  setText(md.querySelector('.fig-sub'), Number.isFinite(f.dispatched) ? t('fig.dispatched_count', { n: fmtNumber(f.dispatched) }) : '');
  const cb = byId('callback-count');
  const nCb = Number.isFinite(model.callbacks) ? model.callbacks : null;
  cb.dataset.count = String(nCb ?? '');
  setText(cb.querySelector('.fig-value'), nCb === null ? none() : fmtNumber(nCb));

  const byClass = f.by_class || {};
  const names = [...(config.classes || [])];
  for (const k of Object.keys(byClass)) if (!names.includes(k)) names.push(k);
  const max = Math.max(1, ...names.map((k) => byClass[k] || 0));
  fill(byId('fig-by-class'), names.map((k) => {
    const n = byClass[k] || 0;
    const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
    bar.style.width = `${Math.round((n / max) * 100)}%`;
    return h('li', { dataset: { class: k }, id: `fig-class-${k}` },
      h('span', { class: 'bc-label' }, label('class', k)),
      h('span', { class: 'bc-bar' }, bar),
      h('span', { class: 'bc-count' }, fmtNumber(n)));
  }));
}

// ---------------------------------------------------------------- bans

/** The bans not yet over at `now`. */
function bansInForce(now) {
  return (model.bans || []).filter((b) => b.until_ms > now);
}

function renderBans() {
  const box = byId('bans');
  const bans = bansInForce(model.now());
  box.hidden = bans.length === 0;
  box.dataset.count = String(bans.length);
  // More than the list holds (a flood of bans): the count says so.
  setText(byId('ban-count'), String(Math.max(bans.length, model.bansTotal || 0)));
  fill(byId('ban-rows'), bans.map((b) => {
    const lift = h('button', {
      type: 'button', class: 'btn btn-ghost btn-lift', 'data-testid': `lift-${b.kind}-${b.key}`,
      title: t('bans.lift_title', { key: b.key }),
    }, t('bans.lift'));
    lift.addEventListener('click', () => liftBan(b, lift));
    return h('tr', { dataset: { kind: b.kind, key: b.key, until: String(b.until_ms) } },
      h('td', null,
        h('span', { class: 'badge badge-small' }, t(`bans.kind.${b.kind}`)), ' ',
        h('span', { class: 'mono' }, b.key),
        b.other ? h('span', { class: 'fig-sub ban-other' }, ' ', t(`bans.other.${b.kind}`, { other: b.other })) : null,
        b.strikes > 1 ? h('span', { class: 'fig-sub' }, ' · ', t('bans.strikes', { n: b.strikes })) : null),
      h('td', { class: 'num' }, fmtNumber(b.failures)),
      h('td', { class: 'num' }, fmtTime(b.until_ms)),
      h('td', null, lift));
  }));
}

async function liftBan(b, button) {
  button.disabled = true;
  const err = byId('ban-error');
  err.hidden = true;
  try {
    await api('POST', 'api/bans/lift', { kind: b.kind, key: b.key });
    // The `bans` event brings the new list; take this one off at once.
    model.bans = (model.bans || []).filter((x) => !(x.kind === b.kind && x.key === b.key));
    renderBans();
  } catch (e) {
    button.disabled = false;
    setText(err, errorText(e));
    err.hidden = false;
  }
}

// ---------------------------------------------------------------- every tick

function tick(now) {
  setText(byId('wb-clock'), fmtTime(now));
  if (Number(byId('bans').dataset.count) !== bansInForce(now).length) renderBans();
  for (const card of byId('queues').children) {
    const oldest = Number(card.dataset.oldest);
    const s = Number.isFinite(oldest) && card.dataset.oldest ? (now - oldest) / 1000 : 0;
    card.dataset.level = s >= WAIT_ALERT_S ? 'alert' : s >= WAIT_WARN_S ? 'warn' : 'ok';
  }
  for (const card of byId('dispatch-rows').children) {
    const oldest = Number(card.dataset.oldest);
    const s = card.dataset.oldest && Number.isFinite(oldest) ? (now - oldest) / 1000 : 0;
    card.dataset.level = !card.dataset.oldest ? 'ok' : s >= ACK_ALERT_S ? 'alert' : s >= ACK_WARN_S ? 'warn' : 'ok';
  }
}

main();
