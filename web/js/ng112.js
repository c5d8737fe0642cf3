// What an NG112 call brings with it, drawn the same way on the operator's
// screen and in the search page's case view: the location the phone network
// sent (with its uncertainty, method and time), the caller's languages, the
// Resource-Priority, the emergency call and incident ids, what could not be
// read; and the conversation of a text call.
import { t, label, currentLang } from './i18n.js';
import { h } from './dom.js';
import { fmtCoord, fmtNumber, fmtTime, fmtDateTime, osmUrl } from './format.js';

/** Civic address elements (RFC 5139 / 4776) in the order a person reads them. */
const CIVIC_ORDER = ['RD', 'STS', 'HNO', 'HNS', 'LMK', 'LOC', 'FLR', 'UNIT', 'ROOM', 'NAM', 'A6', 'A5', 'A4', 'A3', 'A2', 'A1', 'PC', 'country'];

/** A civic address object as one line: "Jalan M.H. Thamrin 10, Menteng, Jakarta Pusat, DKI Jakarta, ID". */
export function civicText(civic) {
  if (!civic || typeof civic !== 'object') return '';
  const parts = [];
  const road = [civic.PRD, civic.RD, civic.STS, civic.POD].filter(Boolean).join(' ');
  const house = [civic.HNO, civic.HNS].filter(Boolean).join('');
  if (road || house) parts.push([road, house].filter(Boolean).join(' '));
  for (const k of ['LMK', 'LOC', 'FLR', 'UNIT', 'ROOM', 'NAM', 'A6', 'A5', 'A4', 'A3', 'A2', 'A1', 'PC', 'country']) {
    const v = civic[k];
    if (v === null || v === undefined || v === '') continue;
    if (k === 'FLR') parts.push(t('ng.floor', { floor: v }));
    else parts.push(String(v));
  }
  // Any element we do not know, so nothing the network sent is lost.
  for (const [k, v] of Object.entries(civic)) {
    if (['PRD', 'POD', ...CIVIC_ORDER].includes(k) || v === null || v === undefined || v === '' || typeof v === 'object') continue;
    parts.push(`${k}: ${v}`);
  }
  return parts.join(', ');
}

function hasPlace(loc) {
  return !!loc && (!!loc.address || (Number.isFinite(loc.lat) && Number.isFinite(loc.lon)) || !!civicText(loc.detail && loc.detail.civic));
}

/** True when the network's location has something an operator can copy into the form. */
export function usableNetwork(loc) {
  return !!loc && (!!loc.address || !!civicText(loc.detail && loc.detail.civic) || (Number.isFinite(loc.lat) && Number.isFinite(loc.lon)));
}

/** The address to copy from the network's location: its address, else the civic one. */
export function networkAddress(loc) {
  if (!loc) return '';
  return loc.address || civicText(loc.detail && loc.detail.civic) || '';
}

/** Same place (address and coordinates) in both? */
export function samePlace(a, b) {
  if (!a || !b) return false;
  const near = (x, y) => (!Number.isFinite(x) && !Number.isFinite(y)) || (Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) < 1e-6);
  return (a.address || '') === (b.address || '') && near(a.lat, b.lat) && near(a.lon, b.lon);
}

/** "±35 m · GPS · 17:00:00" (uncertainty, method, when measured), or '' when there is none of it. */
export function detailLine(detail, nowMs) {
  if (!detail || typeof detail !== 'object') return '';
  const parts = [];
  if (Number.isFinite(detail.radius_m)) parts.push(t('ng.radius', { m: fmtNumber(detail.radius_m, detail.radius_m < 10 ? 1 : 0) }));
  else if (detail.shape && detail.shape !== 'point') parts.push(label('ng.shape', detail.shape));
  else if (detail.shape === 'point') parts.push(t('ng.shape.point'));
  if (detail.method) parts.push(t('ng.method', { method: detail.method }));
  const at = detail.timestamp ? Date.parse(detail.timestamp) : NaN;
  if (Number.isFinite(at)) {
    const ago = Number.isFinite(nowMs) ? Math.round((nowMs - at) / 1000) : NaN;
    const when = ago >= 0 && ago < 86400 ? fmtTime(at) : fmtDateTime(at);
    parts.push(Number.isFinite(ago) && ago >= 0 && ago < 3600
      ? t('ng.measured_ago', { time: when, ago: agoText(ago) })
      : t('ng.measured', { time: when }));
  }
  return parts.join(' · ');
}

function agoText(s) {
  if (s < 60) return t('ng.ago_s', { n: s });
  return t('ng.ago_min', { n: Math.floor(s / 60) });
}

/**
 * The network's location as a block: address (or the civic address), coordinates with an
 * OpenStreetMap link, "±35 m · GPS · time", "by reference (not fetched)", problems.
 */
export function networkLocationBlock(loc, { id, nowMs } = {}) {
  const d = (loc && loc.detail) || {};
  const kids = [];
  const civic = civicText(d.civic);
  if (loc.address) kids.push(h('div', { class: 'loc-address' }, loc.address));
  // The civic address only when it says more than the address line (engines often build one from the other).
  if (civic && !(loc.address && civic.startsWith(loc.address.replace(/[.,\s]+$/, '')))) {
    kids.push(h('div', { class: loc.address ? 'loc-civic muted small' : 'loc-address' },
      loc.address ? t('ng.civic', { civic }) : civic));
  }
  if (Number.isFinite(loc.lat) && Number.isFinite(loc.lon)) {
    kids.push(h('div', { class: 'loc-coords' }, t('loc.coords', { lat: fmtCoord(loc.lat), lon: fmtCoord(loc.lon) }), ' ',
      h('a', { href: osmUrl(loc.lat, loc.lon), target: '_blank', rel: 'noopener noreferrer' }, t('loc.osm'))));
  }
  const line = detailLine(d, nowMs);
  if (line) kids.push(h('div', { class: 'loc-uncertainty', dataset: { radius: Number.isFinite(d.radius_m) ? String(d.radius_m) : '' } }, line));
  if (d.reference) {
    kids.push(h('div', { class: 'loc-reference' }, h('span', { class: 'ref-label' }, t('ng.by_reference')), ' ',
      h('span', { class: 'mono ref-uri copyable' }, d.reference)));
  }
  if (!kids.length) kids.push(h('div', { class: 'muted' }, t('ng.network_empty')));
  const meta = [label('loc.source', loc.source || 'pidf')];
  if (d.provided_by) meta.push(t('ng.provided_by', { by: d.provided_by }));
  kids.push(h('div', { class: 'muted small' }, meta.join(' · ')));
  const problems = (d.problems || []).filter(Boolean);
  if (problems.length) kids.push(h('div', { class: 'warn-line' }, t('ng.loc_problems', { problems: problems.join('; ') })));
  return h('div', { id, class: 'network-location', dataset: { source: loc.source || '', place: String(hasPlace(loc)) } }, kids);
}

/** "id (Indonesia), jv (Jawa)": the codes as sent, with the language's name when the browser knows it. */
export function languagesText(langs) {
  let names = null;
  try {
    names = new Intl.DisplayNames([currentLang() === 'en' ? 'en' : 'id'], { type: 'language' });
  } catch {
    names = null;
  }
  return langs.map((code) => {
    let name = null;
    try {
      name = names ? names.of(code) : null;
    } catch {
      name = null;
    }
    return name && name.toLowerCase() !== String(code).toLowerCase() ? `${code} (${name})` : String(code);
  }).join(', ');
}

/** Whether a language list needs an interpreter hint: anything but Indonesian alone. */
export function needsInterpreter(langs) {
  return langs.some((l) => !/^id(-|$)/i.test(String(l)));
}

/** The priority badge text, or null. */
export function priorityText(info) {
  return info && info.resource_priority ? t('ng.priority', { value: info.resource_priority }) : null;
}

/** The ids block: emergency call id, incident id (small, selectable), History-Info. */
export function idsBlock(info, id) {
  if (!info) return null;
  const rows = [];
  const row = (key, value, kind) => h('div', { class: 'ng-id', dataset: { id: kind } },
    h('dt', null, t(key)), h('dd', null, h('code', { class: 'copyable' }, value),
      h('button', { type: 'button', class: 'btn btn-small btn-copy', 'aria-label': t('ng.copy_named', { what: t(key) }), onclick: (ev) => copy(value, ev.currentTarget) }, t('ng.copy'))));
  if (info.emergency_call_id) rows.push(row('ng.call_id', info.emergency_call_id, 'call'));
  if (info.incident_id) rows.push(row('ng.incident_id', info.incident_id, 'incident'));
  const hist = (info.history || []).filter(Boolean);
  if (!rows.length && !hist.length) return null;
  return h('div', { id, class: 'ng-ids' },
    rows.length ? h('dl', null, rows) : null,
    hist.length ? h('details', { class: 'ng-history' }, h('summary', null, t('ng.history', { n: hist.length })),
      h('ol', null, hist.map((x) => h('li', null, h('code', null, x))))) : null);
}

async function copy(text, btn) {
  const done = (key) => {
    btn.textContent = t(key);
    setTimeout(() => { btn.textContent = t('ng.copy'); }, 1500);
  };
  try {
    await navigator.clipboard.writeText(text);
    done('ng.copied');
  } catch {
    // No clipboard (a page not in a secure context): select the text for Ctrl+C.
    const code = btn.parentElement && btn.parentElement.querySelector('code');
    if (code) {
      const r = document.createRange();
      r.selectNodeContents(code);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
    }
    done('ng.copy_selected');
  }
}

/** "Part of the call could not be read: ...", or null. */
export function unreadText(info) {
  const u = ((info && info.unread) || []).filter(Boolean);
  return u.length ? t('ng.unread', { what: u.join('; ') }) : null;
}

/** One chat message as a list item (operator screen and case view). */
export function chatItem(m) {
  const from = m.from === 'operator' ? 'operator' : 'caller';
  const who = from === 'operator' ? t('chat.from_operator', { by: m.by || '' }) : t('chat.from_caller');
  return h('li', { class: `chat-msg chat-${from}`, dataset: { from, at: String(m.at_ms || '') } },
    h('div', { class: 'chat-meta' }, h('span', { class: 'chat-who' }, who), ' ', h('time', { class: 'chat-time' }, fmtTime(m.at_ms))),
    h('div', { class: 'chat-text' }, m.text || ''));
}
