// Formatting of numbers, times and SIP addresses for display.
import { locale, t } from './i18n.js';

/** What a missing value shows (a dash). */
export function none() {
  return t('value.none');
}

/**
 * The number out of a SIP or tel URI: `"Name" <sip:+62811@telco;user=phone>`
 * -> `+62811`, `tel:+62811;phone-context=x` -> `+62811`.
 */
export function stripUri(uri) {
  if (uri === null || uri === undefined) return '';
  let s = String(uri).trim();
  const lt = s.indexOf('<');
  const gt = s.lastIndexOf('>');
  if (lt >= 0 && gt > lt) s = s.slice(lt + 1, gt);
  s = s.replace(/^(sips?|tel):/i, '');
  const at = s.indexOf('@');
  if (at >= 0) s = s.slice(0, at);
  const semi = s.indexOf(';');
  if (semi >= 0) s = s.slice(0, semi);
  try {
    s = decodeURIComponent(s);
  } catch {
    /* keep as is */
  }
  return s;
}

/** 75000 -> "1:15", 3725000 -> "1:02:05"; negative clamps to 0. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return none();
  let s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  const ss = s - mm * 60;
  const pad = (n) => String(n).padStart(2, '0');
  return hh > 0 ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

export function fmtTime(ms) {
  if (!ms) return none();
  return new Date(ms).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtDateTime(ms) {
  if (!ms) return none();
  return new Date(ms).toLocaleString(locale(), {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(`${iso}T12:00:00`);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleDateString(locale(), { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
}

/** 0.953 -> "95,3%" (id) / "95.3%" (en); null -> "—". */
export function fmtPercent(x, digits = 1) {
  if (x === null || x === undefined || !Number.isFinite(x)) return none();
  return new Intl.NumberFormat(locale(), { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
}

export function fmtNumber(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(x)) return none();
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
}

export function fmtCoord(x) {
  return Number.isFinite(x) ? x.toFixed(6) : none();
}

export function osmUrl(lat, lon) {
  const la = lat.toFixed(6);
  const lo = lon.toFixed(6);
  return `https://www.openstreetmap.org/?mlat=${la}&mlon=${lo}#map=17/${la}/${lo}`;
}
