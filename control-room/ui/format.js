// Shared presentation of incident fields (used by the queue, the incident view and the map).

import { h, fmtSpan, now } from './dom.js';
import { t, tOr } from './i18n.js';

export function severityBadge(sev) {
  return h('span', { class: ['badge', `sev-${sev}`], testid: 'severity' }, tOr(`severity.${sev}`, sev));
}

export const severityLabel = (sev) => tOr(`severity.${sev}`, sev);
export const stateLabel = (state) => tOr(`state.${state}`, state);
export const kindLabel = (kind) => tOr(`kind.${kind}`, kind);
export const sourceKindLabel = (kind) => tOr(`source_kind.${kind}`, kind);
export const resolutionLabel = (r) => tOr(`resolution.${r}`, r);
export const roleLabel = (r) => tOr(`role.${r}`, r);

/** "camera/gate" of the incident's last alert. */
export function sourceText(summary) {
  const la = summary.last_alert;
  if (!la) return '—';
  return `${sourceKindLabel(la.source_kind)}/${la.source_id}`;
}

/** Age of an incident (since its first event). */
export function ageText(firstMs, nowMs = now()) {
  if (!Number.isFinite(firstMs)) return '—';
  return fmtSpan(Math.max(0, nowMs - firstMs), t('unit.day'));
}

/**
 * The response timer against workflow.response_due: counts down, negative when overdue,
 * empty once someone has taken the incident (acknowledged, assigned, …).
 */
export function responseTimer(summary, dueMs, nowMs = now()) {
  const wf = summary.workflow || {};
  if (!Number.isFinite(dueMs) || wf.state !== 'new' || wf.acknowledged_at) return { text: '', overdue: false };
  const left = dueMs - nowMs;
  if (left >= 0) return { text: fmtSpan(left, t('unit.day')), overdue: false };
  return { text: `\u2212${fmtSpan(-left, t('unit.day'))}`, overdue: true };
}

export const parseTs = (iso) => (iso ? Date.parse(iso) : NaN);
