// Small DOM helpers. Everything from the server goes in as text nodes: `h` never parses
// HTML, so an operator's note like "<b>x</b>" shows as those characters.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'testid') el.setAttribute('data-testid', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** `h('td', {class: 'x', testid: 'y'}, 'text', child…)`: an HTML element. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Sets text only when it changed, so the per-second ticker causes no needless layout. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const SEV_RANK = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
export const sevRank = (sev) => SEV_RANK[sev] ?? 5;

export const RESOLUTIONS = ['false_alarm', 'true_alarm', 'test', 'duplicate', 'other'];

// Server clock offset (from the WebSocket hello) so ages and timers agree with the server
// even when the control-room PC's clock is off.
let offsetMs = 0;
export function setServerTime(iso) {
  const t = Date.parse(iso);
  if (!Number.isNaN(t)) offsetMs = t - Date.now();
}
export const now = () => Date.now() + offsetMs;

/** `01:02:03`, `02:03`, or `3d 01:02:03` (day unit from the caller) for a span in ms. */
export function fmtSpan(ms, dayUnit = 'd') {
  let sec = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(sec / 86400);
  sec -= d * 86400;
  const hh = Math.floor(sec / 3600);
  const mm = Math.floor((sec % 3600) / 60);
  const ss = sec % 60;
  const p = (n) => String(n).padStart(2, '0');
  const hms = hh > 0 || d > 0 ? `${p(hh)}:${p(mm)}:${p(ss)}` : `${p(mm)}:${p(ss)}`;
  return d > 0 ? `${d}${dayUnit} ${hms}` : hms;
}

/** The path segment for an evidence hash: alerts carry `sha256:<hex>`, URLs take the hex. */
export function shaPath(sha) {
  const hex = String(sha || '').replace(/^sha256:/, '');
  return /^[0-9a-f]{64}$/.test(hex) ? hex : encodeURIComponent(hex);
}

/** Runs `fn` at most once per `ms`, trailing. */
export function debounce(fn, ms) {
  let timer = null;
  const d = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}

// One shared one-second timer for every live clock on screen (queue ages, incident timer,
// node "last seen"); views subscribe while mounted.
const tickers = new Set();
let tickTimer = null;
export function everySecond(fn) {
  tickers.add(fn);
  if (!tickTimer) {
    tickTimer = setInterval(() => {
      for (const f of tickers) {
        try {
          f();
        } catch (e) {
          console.error('ticker', e);
        }
      }
    }, 1000);
  }
  return () => tickers.delete(fn);
}
