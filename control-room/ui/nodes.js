// Edge node health: every node's heartbeat figures; refreshed every 5 s and on each
// {"type":"node"} message, with "last seen" ticking in between.

import { get } from './api.js';
import { h, setText, debounce, everySecond, now } from './dom.js';
import { t, tOr, fmtDateTime, fmtNumber } from './i18n.js';
import * as live from './live.js';
import { errorText } from './dialogs.js';
import { ageText, parseTs } from './format.js';

const REFRESH_MS = 5000;
const COLS = ['node', 'site', 'role', 'version', 'last_seen', 'silent', 'outbox', 'evidence_pending', 'dead_letters', 'sources'];

export function mountNodes(container) {
  let alive = true;
  let seenCells = []; // [td, lastSeenMs] for the ticking "ago"
  const status = h('span', { class: 'queue-status', role: 'status' }, t('common.loading'));
  const tbody = h('tbody');
  const table = h('table', { class: 'grid nodes', testid: 'nodes-table' },
    h('thead', {}, h('tr', {}, COLS.map((c) => h('th', { scope: 'col' }, t(`nodes.col.${c}`))))), tbody);
  const empty = h('p', { class: 'empty', testid: 'nodes-empty', hidden: true }, t('nodes.empty'));
  container.replaceChildren(h('section', {},
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.nodes')), status), h('div', { class: 'table-wrap auto' }, table), empty));

  function row(n) {
    const seen = parseTs(n.last_seen);
    const ago = h('span', { class: 'ago' });
    seenCells.push([ago, seen]);
    const sources = (n.sources || []).map((src) => h('span', { class: ['src-state', `src-${String(src.state).toLowerCase()}`] },
      `${src.id}: ${tOr(`source_state.${src.state}`, src.state ?? '')}`));
    return h('tr', { testid: 'node-row', class: n.silent ? 'silent' : '', dataset: { node: n.node, site: n.site } },
      h('td', {}, String(n.node ?? '')),
      h('td', {}, String(n.site ?? '')),
      h('td', {}, tOr(`node_role.${n.role}`, n.role ?? '')),
      h('td', {}, String(n.version ?? '')),
      h('td', {}, fmtDateTime(n.last_seen), ' ', ago),
      h('td', {}, n.silent ? h('span', { class: 'badge silent', testid: 'node-silent' }, t('nodes.silent')) : t('nodes.ok')),
      h('td', { class: 'num' }, `${fmtNumber(n.outbox_live)} / ${fmtNumber(n.outbox_backlog)}`),
      h('td', { class: 'num' }, fmtNumber(n.evidence_pending)),
      h('td', { class: ['num', n.dead_letters > 0 && 'warn-text'] }, fmtNumber(n.dead_letters)),
      h('td', {}, h('div', { class: 'sources-cell' }, sources)));
  }

  function tick() {
    const n = now();
    for (const [el, ms] of seenCells) setText(el, Number.isFinite(ms) ? `(${t('nodes.ago', { span: ageText(ms, n) })})` : '');
  }

  async function load() {
    try {
      const nodes = await get('/api/v1/nodes');
      if (!alive) return;
      // The server nests the heartbeat ({heartbeat, last_seen, silent}); flat objects work too.
      const list = (Array.isArray(nodes) ? nodes : []).map((v) => ({ ...(v.heartbeat || {}), ...v }));
      // Silent nodes first: they are what the operator must act on.
      list.sort((a, b) => (b.silent ? 1 : 0) - (a.silent ? 1 : 0) || String(a.site).localeCompare(String(b.site)) || String(a.node).localeCompare(String(b.node)));
      seenCells = [];
      tbody.replaceChildren(...list.map(row));
      empty.hidden = list.length > 0;
      tick();
      status.textContent = t('nodes.updated', { time: fmtDateTime(new Date(now()).toISOString()) });
      status.classList.remove('error');
    } catch (err) {
      if (!alive || err.status === 401) return;
      status.textContent = errorText(err);
      status.classList.add('error');
    }
  }

  const soon = debounce(load, 500); // heartbeats of many nodes arrive together
  const offNode = live.on('node', () => alive && soon());
  const offOpen = live.on('open', () => alive && soon());
  const offTick = everySecond(tick);
  const timer = setInterval(load, REFRESH_MS);
  load();
  return () => {
    alive = false;
    clearInterval(timer);
    soon.cancel();
    offNode();
    offOpen();
    offTick();
  };
}
