// Original-view requests (supervisor, admin): pending requests to see unblurred evidence,
// each approved by a supervisor other than the one who asked.

import { get, post, seg } from './api.js';
import { h, shaPath } from './dom.js';
import { t, fmtDateTime } from './i18n.js';
import * as live from './live.js';
import { errorText } from './dialogs.js';
import { session } from './session.js';

const REFRESH_MS = 10000;

export function mountRequests(container) {
  let alive = true;
  const status = h('span', { class: 'queue-status', role: 'status' }, t('common.loading'));
  const errorEl = h('p', { class: 'form-error', role: 'alert', testid: 'requests-error' });
  const body = h('div', { testid: 'requests' });
  container.replaceChildren(h('section', {},
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.requests')), status), errorEl, body));

  function row(r) {
    const own = r.requested_by === session.user?.username;
    const approve = h('button', { type: 'button', class: 'btn primary', testid: 'request-approve', disabled: own,
      title: own ? t('requests.own') : null }, t('requests.approve'));
    approve.addEventListener('click', async () => {
      approve.disabled = true;
      errorEl.textContent = '';
      try {
        await post(`/api/v1/original-requests/${seg(r.id)}/approve`, {});
        load();
      } catch (err) {
        if (err.status !== 401) errorEl.textContent = errorText(err);
        approve.disabled = false;
      }
    });
    const sha = String(r.sha256 ?? '');
    return h('tr', { testid: 'request-row', dataset: { requestId: r.id } },
      h('td', {}, h('img', { class: 'thumb', src: `/api/v1/evidence/${shaPath(sha)}`, alt: t('evidence.alt'), loading: 'lazy' })),
      h('td', { class: 'mono' }, `${sha.replace(/^sha256:/, '').slice(0, 12)}…`),
      h('td', {}, String(r.requested_by ?? '')),
      h('td', { class: 'wrap' }, String(r.reason ?? '')),
      h('td', {}, r.requested_at || r.ts ? fmtDateTime(r.requested_at || r.ts) : ''),
      h('td', {}, approve, own ? h('span', { class: 'muted small' }, ` ${t('requests.own')}`) : null));
  }

  async function load() {
    try {
      const res = await get('/api/v1/original-requests?state=pending');
      if (!alive) return;
      const list = Array.isArray(res) ? res : res?.items || [];
      status.textContent = '';
      if (!list.length) {
        body.replaceChildren(h('p', { class: 'empty', testid: 'requests-empty' }, t('requests.empty')));
        return;
      }
      const cols = ['evidence', 'sha256', 'requested_by', 'reason', 'time', 'action'];
      body.replaceChildren(h('table', { class: 'grid', testid: 'requests-table' },
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, t(`requests.col.${c}`))))),
        h('tbody', {}, list.map(row))));
    } catch (err) {
      if (!alive || err.status === 401) return;
      status.textContent = errorText(err);
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
