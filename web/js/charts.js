// Charts as inline SVG, built with DOM APIs (no library, no innerHTML). Every
// chart is drawn at the pixel size of its box (so text stays readable), with
// axis labels, and a <title> on every mark for its value on hover. Colours
// come from CSS classes (console.css): c-<class>, c-ok, c-warn, c-bad...
import { fmtNumber } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
const FONT_PX = 13; // the charts' text size (console.css .chart text)

/** s('rect', {x: 1, class: 'c-ok'}, child...): an SVG element; strings become text nodes. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function title(text) {
  return s('title', null, text);
}

/** A round axis: max and step for about `n` ticks (1, 2, 2.5 or 5 times a power of ten). */
export function niceScale(max, n = 5) {
  if (!(max > 0)) return { max: 1, step: 1 };
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((x) => x >= raw) || 10 * p;
  return { max: Math.ceil(max / step) * step, step };
}

/** Splits a label into at most two lines of about `chars` characters. */
function wrapLabel(text, chars) {
  const str = String(text);
  if (str.length <= chars) return [str];
  const words = str.split(' ');
  let a = '';
  let i = 0;
  while (i < words.length && (a + (a ? ' ' : '') + words[i]).length <= chars) {
    a += (a ? ' ' : '') + words[i];
    i += 1;
  }
  if (!a) {
    a = str.slice(0, chars - 1);
    return [a, `${str.slice(chars - 1, 2 * chars - 2)}${str.length > 2 * chars - 2 ? '…' : ''}`];
  }
  let b = words.slice(i).join(' ');
  if (b.length > chars) b = `${b.slice(0, chars - 1)}…`;
  return [a, b];
}

/** A <text> of one or two lines (tspans), vertically centred on y. */
function label(x, y, text, attrs, chars) {
  const lines = chars ? wrapLabel(text, chars) : [String(text)];
  const t = s('text', { x, y: y - ((lines.length - 1) * FONT_PX * 1.1) / 2, ...attrs });
  lines.forEach((ln, i) => t.appendChild(s('tspan', { x, dy: i ? FONT_PX * 1.1 : 0 }, ln)));
  return t;
}

function frame(box, height, ariaLabel) {
  const width = Math.max(320, Math.floor(box.clientWidth || box.getBoundingClientRect().width || 600));
  const svg = s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': ariaLabel });
  svg.appendChild(title(ariaLabel));
  return { svg, width, height };
}

/** The y axis with grid lines, from the bottom of the plot (y0) up to its top (y1). */
function yAxis(svg, { x0, x1, y0, y1, max, step, fmt, name }) {
  const g = s('g', { class: 'axis' });
  for (let v = 0; v <= max + 1e-9; v += step) {
    const y = y0 - ((y0 - y1) * v) / max;
    g.appendChild(s('line', { x1: x0, x2: x1, y1: y, y2: y, class: v === 0 ? 'base' : 'grid' }));
    g.appendChild(s('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  if (name) g.appendChild(s('text', { class: 'axis-name', x: 0, y: 0, transform: `translate(14 ${(y0 + y1) / 2}) rotate(-90)`, 'text-anchor': 'middle' }, name));
  svg.appendChild(g);
}

/**
 * Vertical bars, stacked when there are several series.
 *   labels: x labels; series: [{key, name, cls, values: []}];
 *   tip(i, series, value, total): the hover text of a segment;
 *   xName, yName: axis titles; every: show one x label in `every` (auto when absent);
 *   below: optional second line under each x label (e.g. a cumulative share);
 *   valueLabels: write each bar's total above it; highlight: indexes drawn with class 'hi'.
 */
export function barChart(box, opts) {
  const { labels, series, tip, xName, yName, height = 300, valueLabels = false, below, ariaLabel, barClass } = opts;
  const { svg, width } = frame(box, height, ariaLabel);
  const totals = labels.map((_, i) => series.reduce((a, sr) => a + (sr.values[i] || 0), 0));
  const { max, step } = niceScale(Math.max(1, ...totals));
  const fmtY = (v) => fmtNumber(v, step < 1 ? 1 : 0);
  // room for the widest tick label, and the axis title left of it
  const left = 30 + Math.ceil(fmtY(max).length * FONT_PX * 0.62);
  const right = 12;
  const top = valueLabels ? 22 : 12;
  const bottom = (below ? 52 : 36) + (xName ? 16 : 0);
  const y0 = height - bottom;
  const plotW = width - left - right;
  const bw = plotW / Math.max(1, labels.length);
  yAxis(svg, { x0: left, x1: width - right, y0, y1: top, max, step, fmt: fmtY, name: yName });
  const every = opts.every || Math.max(1, Math.ceil(46 / bw));
  const bars = s('g', { class: 'bars' });
  labels.forEach((lab, i) => {
    // at most 72 px wide: a range of one or two days is a few bars, not a wall of colour
    const w = Math.max(1, Math.min(72, bw * 0.76));
    const x = left + i * bw + (bw - w) / 2;
    let y = y0;
    const g = s('g', { class: `bar${opts.highlight && opts.highlight.includes(i) ? ' hi' : ''}`, 'data-index': i });
    for (const sr of series) {
      const v = sr.values[i] || 0;
      if (!v) continue;
      const hgt = ((y0 - top) * v) / max;
      y -= hgt;
      g.appendChild(s('rect', { x, y, width: w, height: Math.max(0.5, hgt), class: typeof barClass === 'function' ? barClass(i, sr) : sr.cls || 'c-accent', 'data-series': sr.key },
        title(tip ? tip(i, sr, v, totals[i]) : `${lab}: ${fmtNumber(v)}`)));
    }
    if (!totals[i]) g.appendChild(s('rect', { x, y: y0 - 1, width: w, height: 1, class: 'c-empty' }, title(tip ? tip(i, series[0], 0, 0) : `${lab}: 0`)));
    bars.appendChild(g);
    if (valueLabels && totals[i]) bars.appendChild(s('text', { class: 'value', x: x + w / 2, y: y - 5, 'text-anchor': 'middle' }, fmtNumber(totals[i])));
    if (i % every === 0) {
      bars.appendChild(s('text', { class: 'xlabel', x: x + w / 2, y: y0 + 17, 'text-anchor': 'middle' }, lab));
      if (below) bars.appendChild(s('text', { class: 'xlabel sub', x: x + w / 2, y: y0 + 33, 'text-anchor': 'middle' }, below[i]));
    }
  });
  svg.appendChild(bars);
  if (xName) svg.appendChild(s('text', { class: 'axis-name', x: left + plotW / 2, y: height - 4, 'text-anchor': 'middle' }, xName));
  box.replaceChildren(svg);
  return svg;
}

/** Horizontal bars, one per row: rows [{label, value, cls, tip}], values written at the bar's end. */
export function hbarChart(box, opts) {
  const { rows, xName, ariaLabel, fmt = (v) => fmtNumber(v) } = opts;
  const rowH = 28;
  const top = 8;
  const bottom = 30 + (xName ? 16 : 0);
  const height = top + rows.length * rowH + bottom;
  const { svg, width } = frame(box, height, ariaLabel);
  const left = Math.min(190, Math.max(110, width * 0.3));
  const right = 54;
  const plotW = width - left - right;
  const { max, step } = niceScale(Math.max(1, ...rows.map((r) => r.value || 0)), 4);
  const y0 = top + rows.length * rowH;
  const g = s('g', { class: 'axis' });
  for (let v = 0; v <= max + 1e-9; v += step) {
    const x = left + (plotW * v) / max;
    g.appendChild(s('line', { x1: x, x2: x, y1: top, y2: y0, class: v === 0 ? 'base' : 'grid' }));
    g.appendChild(s('text', { x, y: y0 + 16, 'text-anchor': 'middle' }, fmt(v)));
  }
  svg.appendChild(g);
  const chars = Math.max(8, Math.floor((left - 10) / (FONT_PX * 0.56)));
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const w = (plotW * (r.value || 0)) / max;
    svg.appendChild(label(left - 8, y + rowH / 2 + 4, r.label, { class: 'ylabel', 'text-anchor': 'end' }, chars));
    svg.appendChild(s('rect', { x: left, y: y + 5, width: Math.max(r.value ? 1 : 0, w), height: rowH - 10, class: r.cls || 'c-accent', 'data-row': r.key || i },
      title(r.tip || `${r.label}: ${fmt(r.value || 0)}`)));
    svg.appendChild(s('text', { class: 'value', x: left + w + 6, y: y + rowH / 2 + 4 }, fmt(r.value || 0)));
  });
  if (xName) svg.appendChild(s('text', { class: 'axis-name', x: left + plotW / 2, y: height - 4, 'text-anchor': 'middle' }, xName));
  box.replaceChildren(svg);
  return svg;
}

/**
 * Small multiples: one row per item, one column per measure, each column with its own scale.
 *   rows: [{key, label, values: {measure: number|null}, extra: text}];
 *   cols: [{key, name, fmt(v), target: number|null, targetName}]
 */
export function multiChart(box, opts) {
  const { rows, cols, ariaLabel, noValue = '—', tip } = opts;
  const rowH = 34;
  const top = 44;
  const height = top + rows.length * rowH + 10;
  const { svg, width } = frame(box, height, ariaLabel);
  const left = Math.min(230, Math.max(130, width * 0.22));
  const gap = 18;
  const colW = (width - left - 8 - gap * (cols.length - 1)) / cols.length;
  const room = 74; // for the value written after each bar
  const chars = Math.max(8, Math.floor((left - 10) / (FONT_PX * 0.56)));
  const nameChars = Math.max(8, Math.floor(colW / (FONT_PX * 0.66))); // bold: wider letters
  cols.forEach((c, j) => {
    const x0 = left + j * (colW + gap);
    const vals = rows.map((r) => r.values[c.key]).filter(Number.isFinite);
    const max = Math.max(1, ...vals, Number.isFinite(c.target) ? c.target : 0) * 1.08;
    svg.appendChild(label(x0, 18, c.name, { class: 'colname' }, nameChars));
    svg.appendChild(s('line', { x1: x0, x2: x0, y1: top - 4, y2: top + rows.length * rowH, class: 'base' }));
    if (Number.isFinite(c.target)) {
      const tx = x0 + (colW - room) * (c.target / max);
      svg.appendChild(s('line', { x1: tx, x2: tx, y1: top - 4, y2: top + rows.length * rowH, class: 'target' }, title(c.targetName || '')));
    }
    rows.forEach((r, i) => {
      const v = r.values[c.key];
      const y = top + i * rowH;
      if (!Number.isFinite(v)) {
        svg.appendChild(s('text', { class: 'value muted', x: x0 + 6, y: y + rowH / 2 + 4 }, noValue));
        return;
      }
      const w = Math.max(1, (colW - room) * (v / max));
      const cls = Number.isFinite(c.target) ? (v <= c.target ? 'c-ok' : 'c-bad') : 'c-accent';
      svg.appendChild(s('rect', { x: x0, y: y + 7, width: w, height: rowH - 14, class: cls, 'data-row': r.key, 'data-col': c.key },
        title(tip ? tip(r, c, v) : `${r.label} — ${c.name}: ${c.fmt(v)}`)));
      svg.appendChild(s('text', { class: 'value', x: x0 + w + 5, y: y + rowH / 2 + 4 }, c.fmt(v)));
    });
  });
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    svg.appendChild(label(left - 10, y + rowH / 2 + 4, r.label, { class: 'ylabel', 'text-anchor': 'end' }, chars));
    if (i) svg.appendChild(s('line', { x1: 0, x2: width, y1: y, y2: y, class: 'grid' }));
  });
  box.replaceChildren(svg);
  return svg;
}

/** Redraws `draw` when `box` changes width (debounced), e.g. a window resize. */
export function onResize(box, draw) {
  let w = box.clientWidth;
  let timer = null;
  const ro = new ResizeObserver(() => {
    if (Math.abs(box.clientWidth - w) < 4) return;
    w = box.clientWidth;
    clearTimeout(timer);
    timer = setTimeout(draw, 120);
  });
  ro.observe(box);
  return ro;
}
