// Sources: every camera, X-ray lane, call line and sensor that has sent an alert, with its
// last alert and its mute. Supervisors and admins mute a source for maintenance (its alerts
// are still stored but raise no alarm until the mute ends) and lift the mute early.
// Refreshed on new alerts (last alert time, new sources) and every 15 s (mutes that ended).

import { get, post, del, seg } from './api.js';
import { h, now, debounce } from './dom.js';
import { t, fmtDateTime, fmtNumber } from './i18n.js';
import * as live from './live.js';
import { formDialog, errorText } from './dialogs.js';
import { isSupervisor } from './session.js';
import { sourceKindLabel } from './format.js';

const REFRESH_MS = 15000;
/** Mute durations offered, in minutes, with their labels. */
export const MUTE_DURATIONS = [[30, 'mute.d30m'], [120, 'mute.d2h'], [480, 'mute.d8h'], [1440, 'mute.d24h']];
const DEFAULT_DURATION = 120;
const REASON_MIN = 4; // the server takes 4 to 500 characters
const REASON_MAX = 500;

const sourceKey = (src) => `${src.site}/${src.kind}/${src.id}`;
const mutePath = (src) => `/api/v1/sources/${seg(src.site)}/${seg(src.kind)}/${seg(src.id)}/mute`;

function locationText(loc) {
  if (!loc || !Number.isFinite(+loc.lat) || !Number.isFinite(+loc.lon)) return '—';
  return `${(+loc.lat).toFixed(5)}, ${(+loc.lon).toFixed(5)}`;
}

export function mountSources(container) {
  let alive = true;
  const canMute = isSupervisor();
  const cols = ['site', 'kind', 'id', 'name', 'location', 'last_alert', 'muted', ...(canMute ? ['action'] : [])];
  const status = h('span', { class: 'queue-status', role: 'status' }, t('common.loading'));
  const errorEl = h('p', { class: 'form-error', role: 'alert', testid: 'sources-error' });
  const tbody = h('tbody');
  const table = h('table', { class: 'grid sources', testid: 'sources-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, t(`sources.col.${c}`))))), tbody);
  const empty = h('p', { class: 'empty', testid: 'sources-empty', hidden: true }, t('sources.empty'));
  container.replaceChildren(h('section', {},
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.sources')), status),
    errorEl, h('div', { class: 'table-wrap auto' }, table), empty));

  function mutedCell(m) {
    if (!m) return h('td', { class: 'muted' }, t('sources.active'));
    return h('td', { class: 'mute-cell' },
      h('span', { class: 'badge muted-src', testid: 'source-muted' }, t('sources.muted')),
      ' ',
      h('span', { class: 'mute-by', testid: 'source-muted-detail' },
        t('sources.muted_by', { by: String(m.by ?? ''), until: fmtDateTime(m.until) })),
      m.reason ? h('div', { class: 'mute-reason wrap', testid: 'source-muted-reason' }, String(m.reason)) : null);
  }

  function actionCell(src) {
    const muted = !!src.muted;
    const b = h('button', { type: 'button', class: ['btn', 'small', !muted && 'warn'], testid: muted ? 'source-unmute' : 'source-mute' },
      muted ? t('sources.unmute') : t('sources.mute'));
    b.addEventListener('click', async () => {
      errorEl.textContent = '';
      if (!muted) {
        if (await openMute(src)) load();
        return;
      }
      b.disabled = true;
      try {
        await del(mutePath(src));
        load();
      } catch (err) {
        if (err.status !== 401) errorEl.textContent = errorText(err);
        b.disabled = false;
      }
    });
    return h('td', {}, b);
  }

  function openMute(src) {
    return formDialog({
      title: t('sources.mute_title', { source: `${src.name || src.id} (${sourceKindLabel(src.kind)}/${src.id}, ${src.site})` }),
      intro: t('sources.mute_hint'),
      submitLabel: t('sources.mute'),
      submitTestId: 'mute-submit',
      testid: 'mute-dialog',
      fields: [
        { name: 'reason', label: t('field.reason'), type: 'textarea', required: true, minLength: REASON_MIN,
          maxLength: REASON_MAX, testid: 'mute-reason' },
        { name: 'duration', label: t('field.duration'), type: 'select', required: true, testid: 'mute-duration',
          value: String(DEFAULT_DURATION),
          options: MUTE_DURATIONS.map(([min, key]) => ({ value: String(min), label: t(key) })) },
      ],
      onSubmit: (v) => {
        // Server time (the WebSocket hello), so a control-room PC with a wrong clock still
        // mutes for the chosen span.
        const until = new Date(now() + Number(v.duration) * 60000).toISOString();
        return post(mutePath(src), { reason: v.reason.trim(), until });
      },
    });
  }

  function row(src) {
    return h('tr', { testid: 'source-row', class: src.muted ? 'is-muted' : '',
      dataset: { source: sourceKey(src), muted: String(!!src.muted) } },
      h('td', {}, String(src.site ?? '')),
      h('td', {}, sourceKindLabel(src.kind)),
      h('td', { class: 'mono' }, String(src.id ?? '')),
      h('td', {}, String(src.name ?? '')),
      h('td', { class: 'mono' }, locationText(src.location)),
      h('td', {}, fmtDateTime(src.last_alert_ts)),
      mutedCell(src.muted),
      canMute ? actionCell(src) : null);
  }

  let seq = 0;
  async function load() {
    const mine = ++seq; // a slow answer must not overwrite a newer one
    try {
      const list = await get('/api/v1/sources');
      if (!alive || mine !== seq) return;
      const sources = Array.isArray(list) ? list : [];
      tbody.replaceChildren(...sources.map(row));
      empty.hidden = sources.length > 0;
      status.textContent = t('sources.counts', {
        n: fmtNumber(sources.length), muted: fmtNumber(sources.filter((x) => x.muted).length) });
      status.classList.remove('error');
    } catch (err) {
      if (!alive || err.status === 401) return;
      status.textContent = errorText(err);
      status.classList.add('error');
    }
  }

  const soon = debounce(load, 1000); // a burst of alerts -> one fetch
  const offAlert = live.on('alert', () => alive && soon());
  const offOpen = live.on('open', () => alive && soon());
  const timer = setInterval(load, REFRESH_MS);
  load();
  return () => {
    alive = false;
    clearInterval(timer);
    soon.cancel();
    offAlert();
    offOpen();
    for (const d of document.querySelectorAll('dialog')) d.close();
  };
}
