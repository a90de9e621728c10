// Customs lane board: one card per X-ray lane with its state and last corridor decision.

import { get } from './api.js';
import { h } from './dom.js';
import { t, tOr, fmtDateTime } from './i18n.js';
import * as live from './live.js';
import { errorText } from './dialogs.js';

const REFRESH_MS = 5000;

/**
 * The corridor of a decision. docs/dashboard.md leaves `decision` open (`{…}`); this looks
 * for the usual field names and a green/red value.
 */
export function corridorOf(decision) {
  if (!decision || typeof decision !== 'object') return null;
  for (const k of ['corridor', 'channel', 'color', 'colour', 'result', 'verdict']) {
    const v = String(decision[k] ?? '').toLowerCase();
    if (v.includes('green')) return 'green';
    if (v.includes('red')) return 'red';
  }
  return null;
}

function valueText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function card(lane) {
  const corridor = corridorOf(lane.decision);
  const d = lane.decision && typeof lane.decision === 'object' ? lane.decision : null;
  const extra = d ? Object.entries(d).filter(([k]) => !['corridor', 'channel', 'color', 'colour'].includes(k)) : [];
  return h('article', { class: ['lane-card', corridor && `corridor-${corridor}`], testid: 'lane-card',
    dataset: { lane: lane.lane, site: lane.site, corridor: corridor || '' } },
    h('header', {}, h('h2', {}, String(lane.lane ?? '')), h('span', { class: 'muted' }, String(lane.site ?? ''))),
    h('p', { class: 'lane-state', testid: 'lane-state' }, tOr(`lane_state.${lane.state}`, lane.state ?? '')),
    h('div', { class: 'corridor', testid: 'lane-corridor' },
      corridor ? t(`corridor.${corridor}`) : d ? t('lanes.decision_other') : t('lanes.no_decision')),
    extra.length
      ? h('dl', { class: 'lane-decision' }, extra.map(([k, v]) => [
        h('dt', {}, tOr(`field.${k}`, k)),
        h('dd', {}, /_ts$|_at$|^ts$|time/.test(k) ? fmtDateTime(v) : valueText(v))]))
      : null,
    h('footer', { class: 'muted' }, `${t('lanes.updated')}: ${fmtDateTime(lane.updated_at)}`));
}

export function mountLanes(container) {
  let alive = true;
  const status = h('span', { class: 'queue-status', role: 'status' }, t('common.loading'));
  const grid = h('div', { class: 'lane-grid', testid: 'lanes' });
  container.replaceChildren(h('section', {},
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.lanes')), status), grid));

  async function load() {
    try {
      const lanes = await get('/api/v1/lanes');
      if (!alive) return;
      status.textContent = '';
      status.classList.remove('error');
      const list = Array.isArray(lanes) ? lanes : [];
      list.sort((a, b) => String(a.site).localeCompare(String(b.site)) || String(a.lane).localeCompare(String(b.lane), undefined, { numeric: true }));
      grid.replaceChildren(...(list.length ? list.map(card) : [h('p', { class: 'empty', testid: 'lanes-empty' }, t('lanes.empty'))]));
    } catch (err) {
      if (!alive || err.status === 401) return;
      status.textContent = errorText(err);
      status.classList.add('error');
    }
  }

  const timer = setInterval(load, REFRESH_MS);
  const offOpen = live.on('open', () => alive && load());
  load();
  return () => {
    alive = false;
    clearInterval(timer);
    offOpen();
  };
}
