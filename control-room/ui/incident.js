// One incident: header with the live timer, the actions the user's role and the state
// allow, evidence with boxes, the alerts (call details, personal data on request) and the
// timeline. Every server string is inserted as text.

import { get, post, del, seg } from './api.js';
import { h, setText, now, debounce, everySecond, RESOLUTIONS } from './dom.js';
import { t, tOr, fmtDateTime, fmtPercent } from './i18n.js';
import * as live from './live.js';
import { formDialog, reasonDialog, errorText } from './dialogs.js';
import { canAct, canReveal, isSupervisor } from './session.js';
import {
  severityBadge, stateLabel, kindLabel, sourceKindLabel, resolutionLabel, severityLabel,
  ageText, responseTimer, parseTs,
} from './format.js';
import { evidenceFigure } from './evidence.js';

// Attributes of a 102 call shown first, in this order; the rest follow as they come.
const CALL_FIELDS = ['call_type', 'priority', 'address', 'caller_number', 'caller_name', 'narrative'];
// The personal attributes of pipeline::personal (IDENTIFIER_ATTRIBUTES, TEXT_ATTRIBUTES): shown masked.
const PERSONAL = new Set(['plate', 'container', 'vehicle', 'caller_number', 'importer_tin', 'caller_name',
  'importer_name', 'narrative', 'address', 'reasons', 'notes']);

export function mountIncident(container, id, { queue }) {
  let summary = null;
  let detail = null;
  let alive = true;
  let assignable = null;
  const revealed = new Map(); // alert id -> unmasked alert, kept across refreshes
  const expanded = new Set(); // alert ids whose details are open
  let evidenceCleanups = [];
  let evidenceSig = '';

  const view = h('section', { class: 'incident', testid: 'incident-view', dataset: { incidentId: id } });
  const back = h('a', { href: '#/queue', class: 'back', testid: 'back-to-queue' }, `\u2190 ${t('incident.back')}`);
  const head = h('div', { class: 'incident-head' });
  const actions = h('div', { class: 'actions', testid: 'incident-actions' });
  const errorEl = h('p', { class: 'form-error', role: 'alert', testid: 'incident-error' });
  const evidenceEl = h('div', { class: 'evidence-list' });
  const timelineEl = h('ol', { class: 'timeline', testid: 'timeline' });
  const alertsEl = h('div', { class: 'alerts' });
  view.append(back, head, actions, errorEl,
    h('div', { class: 'incident-body' },
      h('div', { class: 'panel evidence-panel' }, h('h2', {}, t('incident.evidence')), evidenceEl),
      h('div', { class: 'panel timeline-panel' }, h('h2', {}, t('incident.timeline')), timelineEl)),
    h('div', { class: 'panel' }, h('h2', {}, t('incident.alerts')), alertsEl));
  container.replaceChildren(h('p', { class: 'muted' }, t('common.loading')));

  // ---- header ------------------------------------------------------------------------
  const hdr = {};
  function renderHead() {
    const s = summary;
    const wf = s.workflow || {};
    hdr.timer = h('span', { class: 'timer', testid: 'incident-timer' });
    hdr.age = h('span', { testid: 'incident-age' });
    const item = (label, value, testid, extra = {}) =>
      h('div', { class: 'meta-item' }, h('span', { class: 'meta-label' }, label),
        h('span', { class: 'meta-value', testid, ...extra }, value));
    head.replaceChildren(
      h('div', { class: 'title-row' }, severityBadge(s.severity),
        h('h1', {}, kindLabel(s.kind)), h('span', { class: 'muted id' }, String(s.id))),
      h('div', { class: 'meta' },
        item(t('col.state'), stateLabel(wf.state), 'incident-state', { dataset: { state: wf.state || '' } }),
        item(t('col.assignee'), wf.assignee || '', 'incident-assignee'), // empty shows a dash (app.css)
        item(t('col.timer'), hdr.timer, null),
        item(t('col.age'), hdr.age, null),
        item(t('col.site'), s.site ?? '', 'incident-site'),
        item(t('incident.sources'), (s.source_kinds || []).map(sourceKindLabel).join(', '), 'incident-sources'),
        item(t('col.alerts'), String(s.alert_count ?? ''), 'incident-alert-count'),
        item(t('incident.first_event'), fmtDateTime(s.first_event_ts), null),
        item(t('incident.last_event'), fmtDateTime(s.last_event_ts), null),
        s.rule ? item(t('incident.rule'), tOr(`rule.${s.rule}`, s.rule), null) : null,
        wf.resolution ? item(t('incident.resolution'), resolutionLabel(wf.resolution), 'incident-resolution') : null,
        s.closed ? item(t('incident.fusion'), t('incident.closed'), null) : null,
        detail?.legal_hold ? item(t('incident.legal_hold'),
          `${detail.legal_hold.held_by}: ${detail.legal_hold.reason}`, 'incident-legal-hold') : null,
        s.merged_into ? item(t('incident.merged_into'),
          h('a', { href: `#/incident/${encodeURIComponent(s.merged_into)}`, testid: 'incident-merged-into' }, String(s.merged_into)), null) : null));
    tick();
  }

  function tick() {
    if (!summary || !hdr.timer) return;
    const n = now();
    const tm = responseTimer(summary, parseTs(summary.workflow?.response_due), n);
    setText(hdr.timer, tm.text || '—');
    hdr.timer.classList.toggle('overdue', tm.overdue);
    setText(hdr.age, ageText(parseTs(summary.first_event_ts), n));
  }

  // ---- actions -----------------------------------------------------------------------
  async function act(path, body) {
    const s = await post(`/api/v1/incidents/${seg(id)}/${path}`, body);
    if (s && s.id !== undefined) applySummary(s);
    refreshDetail(); // notes and actions appear in the timeline
    return s;
  }

  function applySummary(s) {
    summary = s;
    queue.push(s);
    renderHead();
    renderActions();
  }

  function button(testid, label, onClick, cls = '') {
    const b = h('button', { type: 'button', class: `btn ${cls}`, testid }, label);
    b.addEventListener('click', async () => {
      errorEl.textContent = '';
      try {
        await onClick();
      } catch (err) {
        if (err.status !== 401) errorEl.textContent = errorText(err);
      }
    });
    return b;
  }

  function renderActions() {
    const s = summary;
    const state = s.workflow?.state;
    const open = state !== 'resolved';
    const list = [];
    if (canAct(s)) {
      if (state === 'new') {
        list.push(button('action-acknowledge', t('action.acknowledge'), () => act('acknowledge', {}), 'primary'));
      }
      if (open) list.push(button('action-assign', t('action.assign'), openAssign));
      if (open && state !== 'escalated') list.push(button('action-escalate', t('action.escalate'), openEscalate, 'warn'));
      list.push(button('action-note', t('action.note'), openNote));
      if (open) list.push(button('action-resolve', t('action.resolve'), openResolve, 'good'));
    }
    // A legal hold keeps the evidence past retention: supervisors place and lift it.
    if (isSupervisor() && detail) {
      list.push(detail.legal_hold
        ? button('action-release-hold', t('action.release_hold'), async () => {
          await del(`/api/v1/incidents/${seg(id)}/hold`);
          await load(false);
        })
        : button('action-hold', t('action.hold'), () => reasonDialog({
          title: t('action.hold'),
          submitLabel: t('action.hold'),
          onSubmit: async (reason) => {
            await post(`/api/v1/incidents/${seg(id)}/hold`, { reason });
            await load(false);
          },
        })));
    }
    actions.replaceChildren(...list);
    actions.hidden = list.length === 0;
  }

  async function openAssign() {
    if (!assignable) assignable = await get('/api/v1/users/assignable');
    const current = summary.workflow?.assignee;
    return formDialog({
      title: t('action.assign'),
      submitLabel: t('action.assign'),
      submitTestId: 'assign-submit',
      testid: 'assign-dialog',
      fields: [{
        name: 'assignee', label: t('field.assignee'), type: 'select', required: true, testid: 'assign-select',
        value: current && assignable.some((u) => u.username === current) ? current : undefined,
        options: (assignable || []).map((u) => ({
          value: u.username,
          label: u.display_name && u.display_name !== u.username ? `${u.display_name} (${u.username})` : u.username,
        })),
      }],
      onSubmit: (v) => act('assign', { assignee: v.assignee }),
    });
  }

  const openEscalate = () => reasonDialog({
    title: t('action.escalate'),
    submitLabel: t('action.escalate'),
    onSubmit: (reason) => act('escalate', { reason }),
  });

  const openNote = () => formDialog({
    title: t('action.note'),
    submitLabel: t('action.save_note'),
    submitTestId: 'note-submit',
    testid: 'note-dialog',
    fields: [{ name: 'text', label: t('field.note'), type: 'textarea', required: true, maxLength: 4000, testid: 'note-text' }],
    onSubmit: (v) => act('notes', { text: v.text }),
  });

  const openResolve = () => formDialog({
    title: t('action.resolve'),
    submitLabel: t('action.resolve'),
    submitTestId: 'resolve-submit',
    testid: 'resolve-dialog',
    fields: [
      { name: 'category', label: t('field.category'), type: 'select', required: true, testid: 'resolve-category',
        options: RESOLUTIONS.map((r) => ({ value: r, label: resolutionLabel(r) })) },
      { name: 'note', label: t('field.note_optional'), type: 'textarea', maxLength: 4000, testid: 'resolve-note' },
    ],
    onSubmit: (v) => {
      const body = { category: v.category };
      if (v.note.trim()) body.note = v.note.trim();
      return act('resolve', body);
    },
  });

  // ---- detail: evidence, timeline, alerts ----------------------------------------------
  const alertOf = (aid) => revealed.get(aid) || (detail?.alerts || []).find((a) => a.id === aid) || null;

  function renderEvidence() {
    const list = detail.evidence || [];
    const sig = JSON.stringify(list);
    if (sig === evidenceSig) return; // keep loaded images (and original polls) as they are
    evidenceSig = sig;
    for (const c of evidenceCleanups) c();
    evidenceCleanups = [];
    if (!list.length) {
      evidenceEl.replaceChildren(h('p', { class: 'empty' }, t('incident.no_evidence')));
      return;
    }
    evidenceEl.replaceChildren(...list.map((ev) => {
      const f = evidenceFigure(ev, alertOf(ev.alert_id), summary);
      evidenceCleanups.push(f.cleanup);
      return f.el;
    }));
  }

  /** A timeline entry's detail: the workflow writes {text}, {reason}, {assignee}, {category, note}. */
  function detailText(d) {
    if (d === null || d === undefined || d === '') return '';
    if (typeof d !== 'object') return String(d);
    const keys = Object.keys(d).filter((k) => d[k] !== null && d[k] !== undefined && d[k] !== '');
    if (keys.length === 1 && ['text', 'reason', 'assignee'].includes(keys[0])) return String(d[keys[0]]);
    if (d.category && keys.every((k) => k === 'category' || k === 'note')) {
      return d.note ? `${resolutionLabel(d.category)} — ${d.note}` : resolutionLabel(d.category);
    }
    return Object.entries(d)
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => `${tOr(`field.${k}`, k)}: ${k === 'category' ? resolutionLabel(v) : typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(' · ');
  }

  function renderTimeline() {
    const items = [];
    for (const e of detail.timeline || []) {
      items.push({ ts: parseTs(e.ts), iso: e.ts, kind: 'workflow', action: e.action,
        who: e.actor || '', what: tOr(`timeline.${e.action}`, e.action || ''), detail: detailText(e.detail) });
    }
    for (const a of detail.alerts || []) {
      items.push({ ts: parseTs(a.event_ts), iso: a.event_ts, kind: 'alert', action: 'alert',
        who: `${sourceKindLabel(a.source?.kind)}/${a.source?.id ?? ''}`,
        what: t('timeline.alert', { kind: kindLabel(a.kind), phase: tOr(`phase.${a.phase}`, a.phase || '') }),
        detail: severityLabel(a.severity) });
    }
    items.sort((a, b) => (a.ts || 0) - (b.ts || 0));
    if (!items.length) {
      timelineEl.replaceChildren(h('li', { class: 'empty' }, t('incident.no_timeline')));
      return;
    }
    timelineEl.replaceChildren(...items.map((it) =>
      h('li', { class: ['timeline-item', `tl-${it.kind}`], testid: 'timeline-item', dataset: { kind: it.kind, action: it.action || '' } },
        h('time', { datetime: it.iso || '' }, fmtDateTime(it.iso)),
        h('span', { class: 'tl-who' }, it.who),
        h('span', { class: 'tl-what' }, it.what),
        it.detail ? h('span', { class: 'tl-detail', testid: 'timeline-detail' }, it.detail) : null)));
  }

  function kv(label, value, personal) {
    return [h('dt', {}, label), h('dd', { class: personal ? 'personal' : '' },
      typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value ?? ''))];
  }

  function alertDetails(a) {
    const isRevealed = revealed.has(a.id);
    const attrs = a.attributes || {};
    const parts = [];
    if (a.source?.kind === 'call') {
      const fields = CALL_FIELDS.filter((k) => attrs[k] !== undefined);
      parts.push(h('div', { class: 'call-details', testid: 'call-details' },
        h('h3', {}, t('call.title')),
        h('dl', {}, fields.map((k) => kv(t(`call.${k}`), attrs[k], PERSONAL.has(k))))));
    }
    const rest = Object.entries(attrs).filter(([k]) => !(a.source?.kind === 'call' && CALL_FIELDS.includes(k)));
    if (rest.length) {
      parts.push(h('h3', {}, t('alert.attributes')),
        h('dl', {}, rest.map(([k, v]) => kv(tOr(`call.${k}`, k), v, PERSONAL.has(k)))));
    }
    const corr = Object.entries(a.correlation || {});
    if (corr.length) {
      parts.push(h('h3', {}, t('alert.correlation')),
        h('dl', {}, corr.map(([k, v]) => kv(tOr(`corr.${k}`, k),
          k === 'place' && v ? `${v.lat}, ${v.lon}` : v, PERSONAL.has(k)))));
    }
    if ((a.objects || []).length) {
      parts.push(h('h3', {}, t('alert.objects')),
        h('ul', {}, a.objects.map((o) => h('li', {},
          `${o.class ?? '?'} ${fmtPercent(o.score)}${o.track_id !== undefined ? ` #${o.track_id}` : ''}`))));
    }
    if (a.source?.name && a.source.name !== a.source.id) parts.push(h('p', { class: 'muted' }, `${t('alert.source_name')}: ${a.source.name}`));
    if (isRevealed) parts.push(h('p', { class: 'tag warn', testid: 'revealed' }, t('reveal.done')));
    else if (canReveal()) {
      const b = h('button', { type: 'button', class: 'btn small', testid: 'action-reveal' }, t('reveal.button'));
      b.addEventListener('click', () => reasonDialog({
        title: t('reveal.title'),
        submitLabel: t('reveal.button'),
        onSubmit: async (reason) => {
          const full = await post(`/api/v1/alerts/${seg(a.id)}/reveal`, { reason });
          if (full && full.id !== undefined) revealed.set(a.id, full);
          else revealed.set(a.id, a);
          renderAlerts();
          return full;
        },
      }));
      parts.push(h('div', { class: 'reveal' }, b));
    }
    return parts;
  }

  function renderAlerts() {
    const alerts = (detail.alerts || []).map((a) => revealed.get(a.id) || a)
      .sort((x, y) => parseTs(x.event_ts) - parseTs(y.event_ts));
    if (!alerts.length) {
      alertsEl.replaceChildren(h('p', { class: 'empty' }, t('incident.no_alerts')));
      return;
    }
    const cols = ['time', 'source', 'kind', 'severity', 'confidence', 'phase', 'details'];
    const tbody = h('tbody');
    for (const a of alerts) {
      const open = expanded.has(a.id) || a.source?.kind === 'call';
      const toggle = h('button', { type: 'button', class: 'btn small', 'aria-expanded': String(open), testid: 'alert-details-toggle' },
        open ? t('alert.hide') : t('alert.show'));
      const row = h('tr', { testid: 'alert-row', dataset: { alertId: a.id } },
        h('td', {}, fmtDateTime(a.event_ts)),
        h('td', {}, `${sourceKindLabel(a.source?.kind)}/${a.source?.id ?? ''}`),
        h('td', {}, kindLabel(a.kind)),
        h('td', {}, severityBadge(a.severity)),
        h('td', {}, fmtPercent(a.confidence)),
        h('td', {}, tOr(`phase.${a.phase}`, a.phase ?? '')),
        h('td', {}, toggle));
      const more = h('tr', { class: 'alert-more', hidden: !open },
        h('td', { colspan: cols.length }, open ? alertDetails(a) : []));
      toggle.addEventListener('click', () => {
        const nowOpen = more.hidden;
        if (nowOpen) {
          expanded.add(a.id);
          more.firstChild.replaceChildren(...alertDetails(a));
        } else expanded.delete(a.id);
        more.hidden = !nowOpen;
        toggle.setAttribute('aria-expanded', String(nowOpen));
        toggle.textContent = nowOpen ? t('alert.hide') : t('alert.show');
      });
      tbody.append(row, more);
    }
    alertsEl.replaceChildren(h('table', { class: 'grid alerts-table', testid: 'alerts-table' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, t(`alert.col.${c}`))))), tbody));
  }

  // ---- loading -----------------------------------------------------------------------
  async function load(first) {
    try {
      const d = await get(`/api/v1/incidents/${seg(id)}`);
      if (!alive) return;
      detail = d;
      if (first || d.summary) {
        summary = d.summary;
        if (first) container.replaceChildren(view);
        renderHead();
        renderActions();
      }
      renderEvidence();
      renderTimeline();
      renderAlerts();
    } catch (err) {
      if (!alive || err.status === 401) return;
      if (first) {
        container.replaceChildren(h('div', { class: 'panel', testid: 'incident-view' },
          back, h('p', { class: 'form-error', testid: 'incident-error' },
            err.status === 404 ? t('incident.not_found') : errorText(err))));
      } else errorEl.textContent = errorText(err);
    }
  }
  const refreshDetail = debounce(() => load(false), 300);

  const offLive = live.on('incident', (m) => {
    const s = m.summary;
    if (!alive || !s || String(s.id) !== String(id) || !summary) return;
    const changed = s.alert_count !== summary.alert_count
      || JSON.stringify(s.workflow) !== JSON.stringify(summary.workflow);
    summary = s;
    renderHead();
    renderActions();
    if (changed) refreshDetail();
  });
  // On reconnect the incident may have moved on while we were offline.
  const offOpen = live.on('open', () => alive && refreshDetail());
  const offTick = everySecond(tick);

  load(true);

  return () => {
    alive = false;
    offLive();
    offOpen();
    offTick();
    refreshDetail.cancel();
    for (const c of evidenceCleanups) c();
    for (const d of document.querySelectorAll('dialog')) d.close();
  };
}
