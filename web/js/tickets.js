// Tickets (a case sent to an agency) and the agencies of the config: names,
// order, statuses, and the pieces of a ticket every page draws the same way.
import { t, label, currentLang } from './i18n.js';
import { h } from './dom.js';
import { fmtTime, fmtCoord, osmUrl, stripUri } from './format.js';

export const STATUSES = ['sent', 'acknowledged', 'on-scene', 'closed', 'cancelled'];
const RANK = { sent: 0, acknowledged: 1, 'on-scene': 2, closed: 3, cancelled: 3 };

export function isFinal(tk) {
  return !!tk && (tk.status === 'closed' || tk.status === 'cancelled');
}

/** Whether `action` (acknowledge, on-scene, close, cancel) can be taken on `tk` now. */
export function canDo(tk, action) {
  if (!tk || isFinal(tk)) return false;
  const r = RANK[tk.status] ?? 0;
  switch (action) {
    case 'acknowledge': return r < 1;
    case 'on-scene': return r < 2;
    case 'close':
    case 'cancel': return true;
    default: return false;
  }
}

/** The step an agency takes next (the one drawn as the main button). */
export function nextAction(tk) {
  if (!tk || isFinal(tk)) return null;
  if (tk.status === 'sent') return 'acknowledge';
  if (tk.status === 'acknowledged') return 'on-scene';
  return 'close';
}

export function agencyOf(config, id) {
  return ((config && config.agencies) || []).find((a) => a.id === id) || null;
}

/** The agency's name from the config, else its id as the engine sent it. */
export function agencyName(config, id) {
  const a = agencyOf(config, id);
  return (a && a.name) || id || '';
}

export function categoryName(config, id) {
  if (!id) return '';
  const c = ((config && config.categories) || []).find((x) => x.id === id);
  if (!c) return id;
  return (currentLang() === 'en' ? c.en_label : c.id_label) || c.id_label || c.en_label || c.id;
}

/** Agencies for a case's category: those whose categories hold it first (suggested), then the others, in config order. */
export function agenciesFor(config, category) {
  const all = (config && config.agencies) || [];
  const suggested = category ? all.filter((a) => (a.categories || []).includes(category)) : [];
  const others = all.filter((a) => !suggested.includes(a));
  return { suggested, others };
}

export function statusBadge(status, extra) {
  return h('span', { class: `badge ticket-status${extra ? ` ${extra}` : ''}`, dataset: { status: status || '' } }, label('ticket.status', status));
}

/** When a ticket reached each status (the *_ms fields, else its history). */
export function stepTimes(tk) {
  const out = {
    sent: tk.sent_ms, acknowledged: tk.acknowledged_ms, 'on-scene': tk.on_scene_ms, closed: tk.closed_ms, cancelled: tk.cancelled_ms,
  };
  for (const e of tk.history || []) if (!Number.isFinite(out[e.status])) out[e.status] = e.at_ms;
  return out;
}

/** The ticket's life as a list: time, status, who, note (oldest first). */
export function historyList(tk, attrs) {
  const items = [...(tk.history || [])].sort((a, b) => (a.at_ms || 0) - (b.at_ms || 0));
  return h('ol', { class: 'ticket-history', ...(attrs || {}) }, items.map((e) => h('li', { dataset: { status: e.status || '' } },
    h('span', { class: 'th-time' }, fmtTime(e.at_ms)),
    statusBadge(e.status, 'badge-small'),
    h('span', { class: 'th-by muted' }, e.by || ''),
    e.note ? h('span', { class: 'th-note' }, e.note) : null)));
}

/** The steps sent → acknowledged → on scene → closed (or cancelled), with the times reached. */
export function stepper(tk) {
  const times = stepTimes(tk);
  const steps = tk.status === 'cancelled'
    ? ['sent', ...['acknowledged', 'on-scene'].filter((s) => Number.isFinite(times[s])), 'cancelled']
    : ['sent', 'acknowledged', 'on-scene', 'closed'];
  return h('ol', { class: 'stepper', 'aria-label': t('ticket.steps') }, steps.map((s) => {
    const at = times[s];
    const reached = Number.isFinite(at);
    return h('li', { class: reached ? 'done' : 'todo', dataset: { step: s, current: String(tk.status === s) } },
      h('span', { class: 'step-name' }, label('ticket.status', s)),
      h('span', { class: 'step-time' }, reached ? fmtTime(at) : t('ticket.not_yet')));
  }));
}

/** Address, coordinates with a map link: the brief's, or a case's location. */
export function placeBlock(where) {
  const parts = [];
  if (where && where.address) parts.push(h('div', { class: 'place-address' }, where.address));
  if (where && Number.isFinite(where.lat) && Number.isFinite(where.lon)) {
    parts.push(h('div', { class: 'place-coords' }, t('loc.coords', { lat: fmtCoord(where.lat), lon: fmtCoord(where.lon) }), ' ',
      h('a', { href: osmUrl(where.lat, where.lon), target: '_blank', rel: 'noopener noreferrer' }, t('loc.osm'))));
  }
  if (!parts.length) parts.push(h('div', { class: 'muted' }, t('case.no_location')));
  return parts;
}

export function callerNumber(uri) {
  return stripUri(uri) || t('case.unknown_caller');
}
