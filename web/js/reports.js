// Reports (supervisors): a date range, its totals, and charts drawn as inline
// SVG: calls per day by class, the answer-time distribution, the busiest
// hours, emergencies by category and dispatch times by agency; the cases of
// the range exported as CSV or JSON (api/export, downloaded by the browser).
import { initI18n, t, label, onLangChange, locale } from './i18n.js';
import { api, probe, loadMe, ApiError, homeFor, errorText } from './api.js';
import { h, fill, byId, setText } from './dom.js';
import { fmtPercent, fmtNumber, none } from './format.js';
import { initChrome, showPageError, showStatus } from './chrome.js';
import { barChart, hbarChart, multiChart, onResize } from './charts.js';
import { agencyName, categoryName } from './tickets.js';

const NENA = { answer_15s: 0.9, answer_20s: 0.95, dispatch_60s: 0.9 };
const MAX_DAYS = 366;

let me = null;
let config = null;
let today = null; // the centre's date, YYYY-MM-DD
let report = null;

// ---------------------------------------------------------------- dates (YYYY-MM-DD, calendar arithmetic in UTC)

const isoOf = (d) => d.toISOString().slice(0, 10);
const parseIso = (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s || '') ? new Date(`${s}T00:00:00Z`) : null);
function addDays(s, n) {
  const d = parseIso(s);
  d.setUTCDate(d.getUTCDate() + n);
  return isoOf(d);
}
function monthStart(s) {
  return `${s.slice(0, 8)}01`;
}
function daysBetween(a, b) {
  return Math.round((parseIso(b) - parseIso(a)) / 86400000);
}
function fmtDay(s, opts) {
  const d = parseIso(s);
  return d ? d.toLocaleDateString(locale(), { timeZone: 'UTC', ...opts }) : s;
}

function rangeFor(kind) {
  if (kind === 'last-month') {
    const end = addDays(monthStart(today), -1);
    return [monthStart(end), end];
  }
  if (kind === 'last-7') return [addDays(today, -6), today];
  return [monthStart(today), today];
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
  // "Today" is the centre's day (its time zone), as the engine's figures say.
  try {
    const st = await api('GET', 'api/state');
    today = (st && st.figures && st.figures.date) || null;
  } catch {
    today = null;
  }
  if (!parseIso(today)) today = isoOf(new Date(Date.now() - new Date().getTimezoneOffset() * 60000));

  const q = new URLSearchParams(window.location.search);
  const [f0, t0] = rangeFor('this-month');
  byId('report-from').value = parseIso(q.get('from')) ? q.get('from') : f0;
  byId('report-to').value = parseIso(q.get('to')) ? q.get('to') : t0;
  byId('report-from').max = today;
  byId('report-to').max = today;

  byId('report-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run();
  });
  for (const b of document.querySelectorAll('[data-range]')) {
    b.addEventListener('click', () => {
      const [a, z] = rangeFor(b.dataset.range);
      byId('report-from').value = a;
      byId('report-to').value = z;
      run();
    });
  }
  for (const id of ['report-from', 'report-to']) byId(id).addEventListener('change', updateExports);
  for (const fmt of ['csv', 'json']) byId(`export-${fmt}`).addEventListener('click', (ev) => exportClick(ev, fmt));
  for (const id of ['chart-days', 'chart-answer', 'chart-hours', 'chart-category', 'chart-dispatch']) {
    onResize(byId(id), () => report && renderCharts());
  }
  onLangChange(() => {
    updateExports();
    if (report) renderAll();
  });
  updateExports();
  run();
}

/** The range in the form, or null (and a message) when it is not a valid one. */
function range() {
  const from = byId('report-from').value;
  const to = byId('report-to').value;
  for (const el of [byId('report-from'), byId('report-to')]) el.removeAttribute('aria-invalid');
  const bad = (el, key, p) => {
    el.setAttribute('aria-invalid', 'true');
    return { error: t(key, p) };
  };
  if (!parseIso(from)) return bad(byId('report-from'), 'report.bad_date');
  if (!parseIso(to)) return bad(byId('report-to'), 'report.bad_date');
  if (to < from) return bad(byId('report-to'), 'report.bad_order');
  if (daysBetween(from, to) >= MAX_DAYS) return bad(byId('report-to'), 'report.too_long', { n: MAX_DAYS });
  return { from, to };
}

function updateExports() {
  const r = range();
  for (const fmt of ['csv', 'json']) {
    const a = byId(`export-${fmt}`);
    if (r.error) {
      a.removeAttribute('href');
      a.setAttribute('aria-disabled', 'true');
    } else {
      a.setAttribute('href', `api/export?from=${r.from}&to=${r.to}&format=${fmt}`);
      a.removeAttribute('aria-disabled');
      a.title = t('report.export_title', { from: fmtDay(r.from, { day: 'numeric', month: 'short', year: 'numeric' }), to: fmtDay(r.to, { day: 'numeric', month: 'short', year: 'numeric' }) });
    }
  }
}

/**
 * A download is a plain link, but a refused one (a range the engine will not export, a session
 * that ended) would be saved as a file holding the error: ask first, say why, then follow it.
 */
async function exportClick(ev, fmt) {
  const a = ev.currentTarget;
  if (a.dataset.checked === 'true') {
    delete a.dataset.checked;
    return; // the second, real click
  }
  ev.preventDefault();
  const href = a.getAttribute('href');
  if (!href || a.getAttribute('aria-busy') === 'true') return;
  const status = byId('report-status');
  a.setAttribute('aria-busy', 'true');
  showStatus(status, 'busy', t('report.export_checking', { format: fmt.toUpperCase() }));
  try {
    await probe(href);
    showStatus(status, 'ok', t('report.export_started', { format: fmt.toUpperCase() }));
    a.dataset.checked = 'true';
    a.click();
  } catch (e) {
    showStatus(status, 'error', t('report.export_failed', { format: fmt.toUpperCase(), error: errorText(e) }));
  } finally {
    a.removeAttribute('aria-busy');
  }
}

let runSeq = 0;

async function run() {
  const r = range();
  const status = byId('report-status');
  updateExports();
  if (r.error) {
    showStatus(status, 'error', r.error);
    return;
  }
  const mine = ++runSeq;
  byId('report-run').disabled = true;
  showStatus(status, 'busy', t('report.loading'));
  document.body.classList.add('report-busy');
  try {
    const rep = await api('GET', `api/report?from=${r.from}&to=${r.to}`);
    if (mine !== runSeq) return;
    report = rep;
    window.history.replaceState(null, '', `reports.html?from=${r.from}&to=${r.to}`);
    renderAll();
    showStatus(status, 'ok', t('report.loaded', { n: fmtNumber((rep.totals && rep.totals.offered) || 0) }));
  } catch (e) {
    if (mine !== runSeq) return;
    showStatus(status, 'error', errorText(e));
  } finally {
    if (mine === runSeq) {
      byId('report-run').disabled = false;
      document.body.classList.remove('report-busy');
    }
  }
}

function renderAll() {
  renderTotals();
  renderCharts();
}

// ---------------------------------------------------------------- totals

function setFig(id, value, sub) {
  const el = byId(id);
  setText(el.querySelector('.fig-value'), value);
  if (sub !== undefined) setText(el.querySelector('.fig-sub'), sub);
}

function setSla(el, v, target) {
  setText(el.querySelector('.fig-value'), fmtPercent(v));
  const tgt = el.querySelector('.fig-target');
  if (!Number.isFinite(target)) {
    delete el.dataset.met;
    setText(tgt, '');
  } else if (!Number.isFinite(v)) {
    el.dataset.met = '';
    setText(tgt, t('fig.target', { target: fmtPercent(target, 0) }));
  } else {
    el.dataset.met = String(v >= target);
    setText(tgt, t(v >= target ? 'fig.target_met' : 'fig.target_not_met', { target: fmtPercent(target, 0) }));
  }
}

function renderTotals() {
  const tot = report.totals || {};
  const d = report.dispatch || {};
  const targets = { ...NENA, ...(config.targets || {}) };
  const nDays = (report.days || []).length;
  setText(byId('report-range'), t(nDays === 1 ? 'report.range_one' : 'report.range', {
    from: fmtDay(report.from, { day: 'numeric', month: 'long', year: 'numeric' }),
    to: fmtDay(report.to, { day: 'numeric', month: 'long', year: 'numeric' }), n: nDays,
  }));
  setFig('rep-offered', fmtNumber(tot.offered), Number.isFinite(tot.answered) ? t('fig.answered_count', { n: fmtNumber(tot.answered) }) : '');
  for (const n of [10, 15, 20]) {
    const el = byId(`rep-within-${n}`);
    setText(el.querySelector('.fig-label'), t('fig.within', { n }));
    setSla(el, tot[`within_${n}s`], targets[`answer_${n}s`]);
  }
  setFig('rep-mean-answer', fmtNumber(tot.mean_answer_s, 1));
  setFig('rep-abandoned', fmtPercent(tot.abandoned_share), Number.isFinite(tot.abandoned) ? t('fig.abandoned_count', { n: fmtNumber(tot.abandoned) }) : '');
  setFig('rep-false', fmtPercent(tot.false_share));
  setFig('rep-unclassified', fmtNumber(tot.unclassified));
  setFig('rep-tickets', fmtNumber(d.tickets), Number.isFinite(d.tickets) && nDays ? t('report.per_day', { n: fmtNumber(d.tickets / nDays, 1) }) : '');
  setSla(byId('rep-dispatch-60'), d.within_60s, targets.dispatch_60s);
  setFig('rep-mean-dispatch', fmtNumber(d.mean_answer_to_dispatch_s, 1));

  const byClass = tot.by_class || {};
  const names = classNames(byClass);
  const sum = names.reduce((a, k) => a + (byClass[k] || 0), 0);
  const max = Math.max(1, ...names.map((k) => byClass[k] || 0));
  fill(byId('rep-by-class'), names.map((k) => {
    const n = byClass[k] || 0;
    const bar = h('span', { class: `bar c-${k}`, 'aria-hidden': 'true' });
    bar.style.width = `${Math.round((n / max) * 100)}%`;
    return h('li', { dataset: { class: k }, id: `rep-class-${k}` },
      h('span', { class: 'bc-label' }, label('class', k)),
      h('span', { class: 'bc-bar' }, bar),
      h('span', { class: 'bc-count' }, fmtNumber(n), h('span', { class: 'bc-share muted' }, ` ${fmtPercent(sum ? n / sum : null, 0)}`)));
  }));
}

function classNames(byClass) {
  const names = [...(config.classes || [])];
  for (const k of Object.keys(byClass || {})) if (!names.includes(k)) names.push(k);
  return names;
}

// ---------------------------------------------------------------- charts

function renderCharts() {
  chartDays();
  chartAnswer();
  chartHours();
  chartCategory();
  chartDispatch();
}

function chartDays() {
  const days = report.days || [];
  const classes = classNames(Object.assign({}, ...days.map((d) => d.by_class || {})));
  const series = classes.map((k) => ({ key: k, name: label('class', k), cls: `c-${k}`, values: days.map((d) => (d.by_class || {})[k] || 0) }));
  // What no class accounts for (abandoned, not classified): the bar's total is then the day's calls.
  series.push({
    key: 'none', name: t('report.no_class'), cls: 'c-none',
    values: days.map((d) => Math.max(0, (d.offered || 0) - Object.values(d.by_class || {}).reduce((a, b) => a + b, 0))),
  });
  const short = (s) => fmtDay(s, { day: 'numeric', month: 'short' });
  barChart(byId('chart-days'), {
    labels: days.map((d) => short(d.date)),
    series,
    tip: (i, sr, v, total) => t('report.tip_day', {
      day: fmtDay(days[i].date, { weekday: 'short', day: 'numeric', month: 'short' }), what: sr.name, n: fmtNumber(v), total: fmtNumber(total),
      share: fmtPercent(total ? v / total : null, 0),
    }),
    xName: t('report.axis_date'), yName: t('report.axis_calls'), height: 320,
    ariaLabel: t('report.chart_days'),
  });
  fill(byId('legend-days'), series.filter((sr) => sr.values.some((v) => v > 0)).map((sr) =>
    h('li', { dataset: { series: sr.key } }, h('span', { class: `sw ${sr.cls}`, 'aria-hidden': 'true' }), sr.name)));
}

function bucketName(i, buckets) {
  const le = buckets[i].le_s;
  const prev = i ? buckets[i - 1].le_s : null;
  if (le === null || le === undefined) return t('report.bucket_over', { s: prev });
  if (prev === null) return t('report.bucket_first', { s: le });
  return t('report.bucket', { a: prev, b: le });
}

function chartAnswer() {
  const buckets = report.answer_times || [];
  const total = buckets.reduce((a, b) => a + (b.count || 0), 0);
  let cum = 0;
  const cumul = buckets.map((b) => {
    cum += b.count || 0;
    return total ? cum / total : null;
  });
  const cls = (le) => (le === null || le === undefined ? 'c-bad' : le <= 15 ? 'c-ok' : le <= 20 ? 'c-warn' : 'c-bad');
  barChart(byId('chart-answer'), {
    labels: buckets.map((_, i) => bucketName(i, buckets)),
    series: [{ key: 'answered', name: t('report.answered'), values: buckets.map((b) => b.count || 0) }],
    barClass: (i) => cls(buckets[i].le_s),
    every: 1,
    valueLabels: true,
    below: cumul.map((c) => t('report.cumulative', { share: fmtPercent(c, 0) })),
    tip: (i, sr, v) => t('report.tip_bucket', {
      bucket: bucketName(i, buckets), n: fmtNumber(v), share: fmtPercent(total ? v / total : null), cum: fmtPercent(cumul[i]),
    }),
    xName: t('report.axis_answer'), yName: t('report.axis_answered'), height: 300,
    ariaLabel: t('report.chart_answer'),
  });
  fill(byId('legend-answer'),
    h('li', null, h('span', { class: 'sw c-ok', 'aria-hidden': 'true' }), t('report.legend_15')),
    h('li', null, h('span', { class: 'sw c-warn', 'aria-hidden': 'true' }), t('report.legend_20')),
    h('li', null, h('span', { class: 'sw c-bad', 'aria-hidden': 'true' }), t('report.legend_over')),
    h('li', null, t('report.legend_cumulative')));
}

function chartHours() {
  const hours = report.hours || [];
  const nDays = Math.max(1, (report.days || []).length);
  const top = [...hours].sort((a, b) => (b.offered || 0) - (a.offered || 0)).slice(0, 3).filter((x) => x.offered > 0).map((x) => x.hour);
  const hh = (n) => String(n).padStart(2, '0');
  barChart(byId('chart-hours'), {
    labels: hours.map((x) => hh(x.hour)),
    series: [{ key: 'offered', name: t('fig.offered'), cls: 'c-accent', values: hours.map((x) => x.offered || 0) }],
    highlight: hours.map((x, i) => (top.includes(x.hour) ? i : -1)).filter((i) => i >= 0),
    every: 1,
    tip: (i, sr, v) => t('report.tip_hour', { from: hh(hours[i].hour), to: hh(hours[i].hour), n: fmtNumber(v), avg: fmtNumber(v / nDays, 1) }),
    xName: t('report.axis_hour'), yName: t('report.axis_calls'), height: 300,
    ariaLabel: t('report.chart_hours'),
  });
  setText(byId('hours-note'), top.length
    ? t('report.busiest', { hours: [...top].sort((a, b) => a - b).map((x) => `${hh(x)}.00`).join(', ') })
    : '');
}

function chartCategory() {
  const by = report.by_category || {};
  const ids = (config.categories || []).map((c) => c.id);
  for (const k of Object.keys(by)) if (!ids.includes(k)) ids.push(k);
  const total = ids.reduce((a, k) => a + (by[k] || 0), 0);
  const rows = ids.map((k) => ({ key: k, label: categoryName(config, k), value: by[k] || 0, cls: 'c-emergency' }))
    .sort((a, b) => b.value - a.value);
  for (const r of rows) r.tip = t('report.tip_category', { category: r.label, n: fmtNumber(r.value), share: fmtPercent(total ? r.value / total : null) });
  hbarChart(byId('chart-category'), { rows, xName: t('report.axis_emergencies'), ariaLabel: t('report.chart_category') });
}

/** 42 -> "42 dtk", 750 -> "12,5 mnt", 7600 -> "2,1 jam". */
function fmtSecs(v) {
  if (!Number.isFinite(v)) return none();
  if (v < 120) return t('report.secs', { n: fmtNumber(v, 0) });
  if (v < 7200) return t('report.mins', { n: fmtNumber(v / 60, 1) });
  return t('report.hours', { n: fmtNumber(v / 3600, 1) });
}

function chartDispatch() {
  const by = (report.dispatch && report.dispatch.by_agency) || {};
  const ids = (config.agencies || []).map((a) => a.id);
  for (const k of Object.keys(by)) if (!ids.includes(k)) ids.push(k);
  const rows = ids.map((k) => ({ k, a: by[k] })).filter((x) => x.a).map(({ k, a }) => ({
    key: k,
    label: t('report.agency_row', { agency: agencyName(config, k), n: fmtNumber(a.tickets || 0) }),
    name: agencyName(config, k),
    a,
    values: {
      mean: a.mean_answer_to_dispatch_s, p90: a.p90_answer_to_dispatch_s, ack: a.mean_to_acknowledge_s, scene: a.mean_to_on_scene_s,
    },
  }));
  const target = 60;
  const cols = [
    { key: 'mean', name: t('report.col_mean_dispatch'), fmt: fmtSecs, target, targetName: t('report.target_line') },
    { key: 'p90', name: t('report.col_p90_dispatch'), fmt: fmtSecs, target, targetName: t('report.target_line') },
    { key: 'ack', name: t('report.col_ack'), fmt: fmtSecs },
    { key: 'scene', name: t('report.col_scene'), fmt: fmtSecs },
  ];
  const box = byId('chart-dispatch');
  if (!rows.length) {
    fill(box, h('p', { class: 'muted' }, t('report.no_tickets')));
  } else {
    multiChart(box, {
      rows, cols, noValue: none(), ariaLabel: t('report.chart_dispatch'),
      tip: (r, c, v) => t('report.tip_dispatch', {
        agency: r.name, what: c.name, value: c.fmt(v), n: fmtNumber(r.a.tickets || 0),
        closed: fmtNumber(r.a.closed || 0), cancelled: fmtNumber(r.a.cancelled || 0), within: fmtPercent(r.a.within_60s, 0),
      }),
    });
  }
  fill(byId('legend-dispatch'),
    h('li', null, h('span', { class: 'sw c-ok', 'aria-hidden': 'true' }), t('report.legend_within_60')),
    h('li', null, h('span', { class: 'sw c-bad', 'aria-hidden': 'true' }), t('report.legend_over_60')),
    h('li', null, h('span', { class: 'sw c-accent', 'aria-hidden': 'true' }), t('report.legend_agency_time')),
    h('li', null, h('span', { class: 'sw sw-target', 'aria-hidden': 'true' }), t('report.target_line')));
}

main();
