// Interface language. Every string a user sees lives in i18n/<lang>.json and is
// looked up here by key. HTML carries the keys:
//   data-i18n="key"                 -> textContent
//   data-i18n-attr="attr:key;..."   -> attributes (placeholder, aria-label, title)
// Bahasa Indonesia is the default; the choice is remembered in localStorage.

const STORAGE_KEY = 'siaga112.lang';
export const LANGS = ['id', 'en'];
const LOCALES = { id: 'id-ID', en: 'en-GB' };

let lang = 'id';
let dict = {};
let fallback = {};
const listeners = [];

function stored() {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return LANGS.includes(v) ? v : null;
  } catch {
    return null;
  }
}

async function loadDict(code) {
  const res = await fetch(`i18n/${code}.json`, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`i18n ${code}: HTTP ${res.status}`);
  return res.json();
}

async function load(code) {
  const [d, f] = await Promise.all([
    loadDict(code).catch(() => ({})),
    code === 'id' ? Promise.resolve(null) : loadDict('id').catch(() => ({})),
  ]);
  lang = code;
  dict = d;
  fallback = f || d;
  document.documentElement.lang = code;
}

export function currentLang() {
  return lang;
}

export function locale() {
  return LOCALES[lang] || 'id-ID';
}

/** The string for `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params) {
  let s = dict[key];
  if (s === undefined) s = fallback[key];
  if (s === undefined) {
    console.warn('i18n: missing key', key);
    s = key;
  }
  if (params) s = s.replace(/\{(\w+)\}/g, (m, p) => (p in params ? String(params[p]) : m));
  return s;
}

export function has(key) {
  return key in dict || key in fallback;
}

/**
 * For names that come from data (a class, a phase, a queue): the translated
 * label when one exists, else the name itself as the engine sent it.
 */
export function label(prefix, name) {
  if (name === null || name === undefined || name === '') return '';
  const key = `${prefix}.${name}`;
  return has(key) ? t(key) : String(name);
}

/** Fills every [data-i18n] and [data-i18n-attr] under `root`. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

export function onLangChange(fn) {
  listeners.push(fn);
}

async function setLang(code) {
  if (!LANGS.includes(code)) return;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  await load(code);
  applyI18n();
  for (const fn of listeners) fn(code);
}

/**
 * Loads the language (stored choice, else Indonesian), fills the page and
 * wires the #lang-switch select present on every page.
 */
export async function initI18n() {
  await load(stored() || 'id');
  applyI18n();
  const sw = document.getElementById('lang-switch');
  if (sw) {
    sw.value = lang;
    sw.addEventListener('change', () => setLang(sw.value));
  }
  document.body.classList.remove('loading');
}
