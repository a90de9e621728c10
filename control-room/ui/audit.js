// Audit log (supervisor, admin), newest first, paged with `before`; admins can check the
// hash chain.

import { get, qs } from './api.js';
import { h } from './dom.js';
import { t, tOr, fmtDateTime } from './i18n.js';
import { errorText } from './dialogs.js';
import { isAdmin } from './session.js';

const PAGE = 200;
const COLS = ['seq', 'ts', 'actor', 'action', 'site', 'target', 'detail', 'hash'];

const text = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function mountAudit(container) {
  let alive = true;
  let oldest = null;
  const status = h('span', { class: 'queue-status', role: 'status' }, t('common.loading'));
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'btn', testid: 'audit-more', hidden: true }, t('audit.more'));
  const verifyOut = h('div', { class: 'verify-result', testid: 'audit-verify-result', role: 'status' });
  const head = h('div', { class: 'view-head' }, h('h1', {}, t('nav.audit')), status);
  if (isAdmin()) {
    const verify = h('button', { type: 'button', class: 'btn', testid: 'audit-verify' }, t('audit.verify'));
    verify.addEventListener('click', async () => {
      verify.disabled = true;
      verifyOut.className = 'verify-result';
      verifyOut.textContent = t('common.loading');
      try {
        const r = await get('/api/v1/audit/verify');
        verifyOut.classList.add(r.ok ? 'ok' : 'bad');
        verifyOut.dataset.ok = String(!!r.ok);
        const problems = Array.isArray(r.problems) ? r.problems : [];
        verifyOut.replaceChildren(
          h('strong', {}, r.ok ? t('audit.verify_ok', { n: r.entries ?? 0 }) : t('audit.verify_bad', { n: r.entries ?? 0 })),
          ...(problems.length ? [h('ul', {}, problems.map((p) => h('li', {}, text(p))))] : []));
      } catch (err) {
        if (err.status !== 401) verifyOut.textContent = errorText(err);
      } finally {
        verify.disabled = false;
      }
    });
    head.append(verify);
  }
  container.replaceChildren(h('section', {}, head, verifyOut,
    h('div', { class: 'table-wrap auto' }, h('table', { class: 'grid audit', testid: 'audit-table' },
      h('thead', {}, h('tr', {}, COLS.map((c) => h('th', { scope: 'col' }, t(`audit.col.${c}`))))), tbody)),
    more));

  async function load(before) {
    try {
      const res = await get(`/api/v1/audit${qs({ limit: PAGE, before })}`);
      if (!alive) return;
      const items = res?.items || [];
      if (before === undefined) tbody.replaceChildren();
      tbody.append(...items.map((e) => h('tr', { testid: 'audit-row', dataset: { seq: e.seq } },
        h('td', { class: 'num' }, text(e.seq)),
        h('td', {}, fmtDateTime(e.ts)),
        h('td', {}, text(e.actor)),
        h('td', {}, tOr(`audit.action.${e.action}`, text(e.action))),
        h('td', {}, text(e.site)),
        h('td', { class: 'mono' }, text(e.target)),
        h('td', { class: 'wrap' }, text(e.detail)),
        h('td', { class: 'mono', title: text(e.hash) }, text(e.hash).slice(0, 12)))));
      for (const e of items) if (Number.isFinite(+e.seq) && (oldest === null || +e.seq < oldest)) oldest = +e.seq;
      more.hidden = items.length < PAGE;
      status.textContent = tbody.children.length ? '' : t('audit.empty');
    } catch (err) {
      if (!alive || err.status === 401) return;
      status.textContent = errorText(err);
    }
  }
  more.addEventListener('click', () => load(oldest ?? undefined));
  load();
  return () => {
    alive = false;
  };
}
