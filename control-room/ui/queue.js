// The alarm queue: every open incident in one table, most severe first, then oldest first.
//
// Built for 10,000+ rows with live updates:
// - rows live in a Map (id -> entry) and a sorted array; an update finds its place by
//   binary search and inserts, moves or removes that one row;
// - WebSocket bursts are applied once per animation frame;
// - rows are grouped in <tbody> chunks of at most CHUNK_MAX rows, each with
//   `content-visibility: auto` (app.css), so the browser skips style, layout and paint of
//   the chunks off screen (per-row content-visibility costs more: the browser watches
//   every such element for visibility on each frame);
// - the one-second ticker rewrites the age/timer cells of the rows on screen only, found
//   from the scroll position (every row has the same height, ROW_PX).

import { get, qs } from './api.js';
import { h, setText, sevRank, now, SEVERITIES } from './dom.js';
import { t, applyI18n } from './i18n.js';
import { severityLabel, stateLabel, kindLabel, sourceText, ageText, responseTimer, parseTs } from './format.js';
import { errorText } from './dialogs.js';

const PAGE = 2000;
const ROW_PX = 35; // must match `.queue tbody tr { height }` in app.css
const CHUNK_FILL = 100; // rows per chunk on a full load
const CHUNK_MAX = 200; // a chunk that grows past this is split in two
const COLUMNS = ['severity', 'kind', 'site', 'source', 'alerts', 'age', 'timer', 'state', 'assignee'];

function keyOf(s) {
  return { rank: sevRank(s.severity), first: parseTs(s.first_event_ts) || 0, id: String(s.id) };
}

function compare(a, b) {
  return a.rank - b.rank || a.first - b.first || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// Out of the queue: resolved, or merged by fusion into another incident (which stays).
const isResolved = (s) => s.workflow?.state === 'resolved' || !!s.merged_into;

export function createQueue(section, { open: openIncident }) {
  const entries = new Map(); // incident id -> entry
  const order = []; // entries, sorted by compare(key)
  const rowEntry = new WeakMap(); // tr -> entry
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  let loading = false;
  let again = false;
  let buffer = null; // updates that arrive while a reload is in flight
  let pending = new Map(); // live updates waiting for the next frame
  let flushScheduled = false;
  let loadedOnce = false;
  let retryTimer = null;
  let lastOpened = null; // to put the keyboard back on that row when the operator returns

  const open = (id) => {
    lastOpened = String(id);
    openIncident(id);
  };

  // ---- DOM skeleton --------------------------------------------------------------------
  const countsEl = h('div', { class: 'sev-counts', testid: 'queue-counts' });
  const statusEl = h('span', { class: 'queue-status', role: 'status' });
  const thead = h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, COLUMNS.map((c) =>
    h('th', { scope: 'col', role: 'columnheader', class: `c-${c}`, 'data-i18n': `col.${c}` }))));
  // Explicit roles: the rows are laid out as grids (app.css), which drops the implicit ones.
  const table = h('table', { class: 'grid queue', testid: 'queue-table', role: 'table' }, thead);
  const wrap = h('div', { class: 'table-wrap' }, table);
  const empty = h('p', { class: 'empty', testid: 'queue-empty', 'data-i18n': 'queue.empty', hidden: true });
  section.append(
    h('div', { class: 'view-head' }, h('h1', { 'data-i18n': 'queue.title' }), countsEl, statusEl),
    wrap, empty);
  applyI18n(section);

  // ---- chunks --------------------------------------------------------------------------
  function newChunk() {
    return h('tbody', { role: 'rowgroup', class: 'chunk' });
  }

  /** Skipped (off-screen) chunks take their height from here, so the scrollbar is exact. */
  function sizeChunk(tb) {
    tb.style.containIntrinsicHeight = `${tb.childElementCount * ROW_PX}px`;
  }

  function lastChunk() {
    const tb = table.lastElementChild;
    if (tb && tb !== thead) return tb;
    return table.appendChild(newChunk());
  }

  function splitIfBig(tb) {
    const n = tb.childElementCount;
    if (n <= CHUNK_MAX) return sizeChunk(tb);
    const focused = document.activeElement;
    const tail = newChunk();
    const frag = document.createDocumentFragment();
    for (let r = tb.children[n >> 1]; r;) {
      const nextRow = r.nextElementSibling;
      frag.appendChild(r);
      r = nextRow;
    }
    tail.appendChild(frag);
    tb.after(tail);
    sizeChunk(tb);
    sizeChunk(tail);
    if (focused && tail.contains(focused)) focused.focus({ preventScroll: true });
  }

  // ---- visible rows --------------------------------------------------------------------
  /** Index range of the rows on screen: arithmetic, since every row is ROW_PX high. */
  function visibleRange() {
    const viewH = wrap.clientHeight; // 0 while the queue is hidden behind another screen
    if (!viewH || !order.length) return [0, -1];
    const top = wrap.scrollTop - thead.offsetHeight;
    const from = Math.floor(top / ROW_PX) - 1;
    const to = Math.ceil((top + viewH) / ROW_PX) + 1;
    return [Math.max(0, from), Math.min(order.length - 1, to)];
  }

  function tickVisible() {
    const n = now();
    const [from, to] = visibleRange();
    for (let i = from; i <= to; i++) tickRow(order[i], n);
  }

  // Rows scrolled into view may show ages from when they were last on screen.
  let scrollTick = false;
  wrap.addEventListener('scroll', () => {
    if (scrollTick) return;
    scrollTick = true;
    requestAnimationFrame(() => {
      scrollTick = false;
      tickVisible();
    });
  }, { passive: true });

  // ---- rows ----------------------------------------------------------------------------
  function makeEntry(s) {
    const c = {};
    const tr = h('tr', { tabindex: 0, testid: 'queue-row', role: 'row' },
      COLUMNS.map((col) => (c[col] = h('td', { class: `c-${col}`, role: 'cell' }))));
    const e = { s, key: keyOf(s), tr, c, sig: '', first: 0, due: NaN, overdue: null };
    rowEntry.set(tr, e);
    fillRow(e);
    return e;
  }

  function fillRow(e) {
    const s = e.s;
    const sig = JSON.stringify(s);
    if (sig === e.sig) return;
    e.sig = sig;
    e.first = parseTs(s.first_event_ts);
    e.due = parseTs(s.workflow?.response_due);
    const tr = e.tr;
    tr.dataset.incidentId = s.id;
    tr.dataset.lastAlertId = s.last_alert?.id ?? '';
    tr.dataset.severity = s.severity;
    tr.className = `sev-${s.severity}`;
    const badge = e.c.severity.firstChild || e.c.severity.appendChild(h('span'));
    badge.className = `badge sev-${s.severity}`;
    setText(badge, severityLabel(s.severity));
    setText(e.c.kind, kindLabel(s.kind));
    setText(e.c.site, s.site ?? '');
    setText(e.c.source, sourceText(s));
    setText(e.c.alerts, String(s.alert_count ?? ''));
    const state = s.workflow?.state ?? '';
    setText(e.c.state, stateLabel(state));
    e.c.state.dataset.state = state;
    setText(e.c.assignee, s.workflow?.assignee ?? '');
    e.overdue = null; // set the class again below (className was reset)
    tickRow(e, now());
  }

  function tickRow(e, n) {
    setText(e.c.age, ageText(e.first, n));
    const tm = responseTimer(e.s, e.due, n);
    setText(e.c.timer, tm.text);
    if (tm.overdue !== e.overdue) {
      e.overdue = tm.overdue;
      e.c.timer.classList.toggle('overdue', tm.overdue);
      e.tr.classList.toggle('overdue', tm.overdue);
    }
  }

  /** Index of the first entry whose key is >= key (lower bound). */
  function lowerBound(key) {
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(order[mid].key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Puts an entry into the sorted array and its row into the right chunk. */
  function place(e) {
    const i = lowerBound(e.key);
    order.splice(i, 0, e);
    const next = order[i + 1];
    const tb = next ? next.tr.parentNode : (order[i - 1]?.tr.parentNode ?? lastChunk());
    tb.insertBefore(e.tr, next && next.tr.parentNode === tb ? next.tr : null);
    splitIfBig(tb);
  }

  /** Takes an entry out of the sorted array and its row out of the table. */
  function unplace(e) {
    const i = lowerBound(e.key);
    if (order[i] === e) order.splice(i, 1);
    else order.splice(order.indexOf(e), 1); // not expected; keeps the array right regardless
    const tb = e.tr.parentNode;
    e.tr.remove();
    if (!tb) return;
    if (tb.childElementCount === 0) tb.remove();
    else sizeChunk(tb);
  }

  function upsert(s) {
    if (!s || s.id === undefined) return;
    const id = String(s.id);
    const e = entries.get(id);
    if (isResolved(s)) {
      if (e) remove(e);
      return;
    }
    if (!e) {
      const ne = makeEntry(s);
      entries.set(id, ne);
      counts[s.severity] = (counts[s.severity] || 0) + 1;
      place(ne);
      return;
    }
    const key = keyOf(s);
    if (compare(key, e.key) !== 0) {
      const hadFocus = document.activeElement === e.tr;
      unplace(e);
      counts[e.s.severity]--;
      counts[s.severity] = (counts[s.severity] || 0) + 1;
      e.key = key;
      e.s = s;
      fillRow(e);
      place(e);
      if (hadFocus) e.tr.focus({ preventScroll: true });
    } else {
      e.s = s;
      fillRow(e);
    }
  }

  function remove(e) {
    unplace(e);
    entries.delete(String(e.s.id));
    counts[e.s.severity]--;
  }

  function renderChrome() {
    countsEl.replaceChildren(...SEVERITIES.filter((sv) => counts[sv] > 0).map((sv) =>
      h('span', { class: ['badge', `sev-${sv}`] }, `${severityLabel(sv)} ${counts[sv]}`)));
    setText(statusEl, loadedOnce ? t('queue.total', { n: order.length }) : t('common.loading'));
    empty.hidden = !(loadedOnce && order.length === 0);
    // An empty queue: the table shrinks to its header, with the message right under it.
    wrap.classList.toggle('auto', !empty.hidden);
  }

  // ---- live updates --------------------------------------------------------------------
  function flush() {
    if (!flushScheduled) return;
    flushScheduled = false;
    const batch = pending;
    pending = new Map();
    for (const s of batch.values()) upsert(s);
    renderChrome();
  }

  /** A summary from the WebSocket or from an action's answer. */
  function push(s) {
    if (!s || s.id === undefined) return;
    if (buffer) {
      buffer.set(String(s.id), s);
      return;
    }
    pending.set(String(s.id), s);
    if (!flushScheduled) {
      flushScheduled = true;
      // rAF batches a burst into one layout; the timeout covers a hidden tab, where rAF stops.
      requestAnimationFrame(flush);
      setTimeout(flush, 250);
    }
  }

  // ---- full (re)load -------------------------------------------------------------------
  async function fetchAll() {
    const items = [];
    let cursor = null;
    do {
      const page = await get(`/api/v1/incidents${qs({ state: 'open', limit: PAGE, cursor })}`);
      for (const s of page.items || []) items.push(s);
      cursor = page.next_cursor ?? null;
    } while (cursor);
    return items;
  }

  async function reconcile(items) {
    if (entries.size === 0) {
      // First load: sort once, build rows in chunks of CHUNK_FILL and append each chunk
      // whole; yielding between chunks keeps the page responsive. Live updates are
      // buffered meanwhile, so nothing else touches the table.
      const fresh = items.filter((s) => !isResolved(s)).map((s) => ({ s, key: keyOf(s) }));
      fresh.sort((a, b) => compare(a.key, b.key));
      for (const tb of [...table.tBodies]) tb.remove();
      for (let i = 0; i < fresh.length; i += CHUNK_FILL) {
        const tb = newChunk();
        for (const { s } of fresh.slice(i, i + CHUNK_FILL)) {
          const id = String(s.id);
          if (entries.has(id)) continue;
          const e = makeEntry(s);
          entries.set(id, e);
          counts[s.severity] = (counts[s.severity] || 0) + 1;
          order.push(e);
          tb.appendChild(e.tr);
        }
        if (!tb.childElementCount) continue;
        sizeChunk(tb);
        table.appendChild(tb);
        if (i === 0) renderChrome(); // the most urgent rows are on screen already
        if (i % (CHUNK_FILL * 10) === 0 && i + CHUNK_FILL < fresh.length) await new Promise((r) => setTimeout(r, 0));
      }
      return;
    }
    // After a reconnect: update what changed, drop what was resolved meanwhile.
    const seen = new Set();
    for (const s of items) {
      seen.add(String(s.id));
      upsert(s);
    }
    for (const [id, e] of [...entries]) if (!seen.has(id)) remove(e);
  }

  async function reload() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    clearTimeout(retryTimer);
    buffer = new Map();
    // Updates already waiting belong before the snapshot; the snapshot supersedes them.
    pending = new Map();
    flushScheduled = false;
    if (!loadedOnce) setText(statusEl, t('common.loading'));
    try {
      const items = await fetchAll();
      await reconcile(items);
      loadedOnce = true;
      statusEl.classList.remove('error');
    } catch (err) {
      if (err.status !== 401) {
        setText(statusEl, t('queue.load_failed', { error: errorText(err) }));
        statusEl.classList.add('error');
        retryTimer = setTimeout(reload, 5000);
      }
    } finally {
      const late = buffer;
      buffer = null;
      loading = false;
      for (const s of late.values()) upsert(s);
      if (loadedOnce) renderChrome();
      if (again) {
        again = false;
        reload();
      }
    }
  }

  // ---- interaction ---------------------------------------------------------------------
  const entryOf = (target) => {
    const tr = target.closest?.('tr[data-testid="queue-row"]');
    return tr ? rowEntry.get(tr) : null;
  };
  table.addEventListener('click', (ev) => {
    const e = entryOf(ev.target);
    if (e) open(e.s.id);
  });
  table.addEventListener('keydown', (ev) => {
    const e = entryOf(ev.target);
    if (!e) return;
    if (ev.key === 'Enter') {
      open(e.s.id);
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const i = lowerBound(e.key) + (ev.key === 'ArrowDown' ? 1 : -1);
      order[i]?.tr.focus();
    }
  });

  return {
    push,
    reload,
    get loadedOnce() {
      return loadedOnce;
    },
    get loading() {
      return loading;
    },
    get size() {
      return order.length;
    },
    summary: (id) => entries.get(String(id))?.s ?? null,
    /** The per-second update: ages and timers of the rows on screen only. */
    tick: tickVisible,
    /** After a language change: headers and every row's words. */
    relabel() {
      applyI18n(section);
      for (const e of order) {
        e.sig = '';
        fillRow(e);
      }
      renderChrome();
    },
    /** Back on the queue: fresh ages at once, and the keyboard where the operator left it. */
    shown() {
      tickVisible();
      const back = lastOpened && entries.get(lastOpened);
      if (back) back.tr.focus(); // scrolls it into view if needed
      else order[0]?.tr.focus({ preventScroll: true });
    },
  };
}
