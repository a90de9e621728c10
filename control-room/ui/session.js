// The signed-in user and what their role lets the UI offer. The server enforces all of
// this again; the UI only hides buttons that would be refused.

export const session = { user: null };

const role = () => session.user?.role || 'viewer';

/** Supervisor or admin: approves original views, reads the audit log. */
export const isSupervisor = () => role() === 'supervisor' || role() === 'admin';
export const isAdmin = () => role() === 'admin';
export const isViewer = () => role() === 'viewer';

/** Incident actions (acknowledge, assign, …): operators and up everywhere, customs on X-ray incidents. */
export function canAct(summary) {
  const r = role();
  if (r === 'operator' || r === 'supervisor' || r === 'admin') return true;
  if (r === 'customs') return (summary?.source_kinds || []).includes('xray');
  return false;
}

/** Asking to see an original is an operator right, so it follows canAct. */
export const canRequestOriginal = (summary) => canAct(summary);

/** Revealing masked personal data: every role but viewer (the server audits it). */
export const canReveal = () => !isViewer();
